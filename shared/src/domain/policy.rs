//! A job definition's retry policy: how many attempts a job gets, how long it waits
//! between them, and which failures are worth another attempt. The shape is AWS Batch's
//! `retryStrategy` (attempts and `evaluateOnExit` rules, first match decides) with Step
//! Functions' backoff (`IntervalSeconds`, `BackoffRate`, `MaxDelaySeconds`, jitter).

use std::time::Duration;

use wildmatch::WildMatch;

use super::task::StopCode;

/// What a rule does with a failed attempt it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAction {
    Retry,
    Exit,
}

impl RetryAction {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "RETRY" => Some(Self::Retry),
            "EXIT" => Some(Self::Exit),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Retry => "RETRY",
            Self::Exit => "EXIT",
        }
    }
}

/// One rule: every pattern it sets must match (`*` any run of characters, `?` one).
/// `on_reason` matches any of the attempt's reasons: ECS's `stoppedReason`, the job
/// container's reason, and the service's own reason (for example "timed out after 60 s").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryRule {
    pub on_exit_code: Option<String>,
    pub on_stop_code: Option<String>,
    pub on_reason: Option<String>,
    pub action: RetryAction,
}

impl RetryRule {
    /// Whether the rule sets a pattern at all (an empty one is none).
    fn has_pattern(&self) -> bool {
        [&self.on_exit_code, &self.on_stop_code, &self.on_reason]
            .iter()
            .any(|p| p.as_deref().is_some_and(|p| !p.is_empty()))
    }

    fn matches(&self, failure: &AttemptFailure<'_>) -> bool {
        let exit_code = failure.exit_code.map(|code| code.to_string());
        let pattern_matches = |pattern: &Option<String>, values: &[Option<&str>]| match pattern.as_deref() {
            None | Some("") => true,
            Some(pattern) => {
                let pattern = WildMatch::new(pattern);
                values.iter().flatten().any(|value| pattern.matches(value))
            }
        };
        self.has_pattern()
            && pattern_matches(&self.on_exit_code, &[exit_code.as_deref()])
            && pattern_matches(&self.on_stop_code, &[failure.stop_code])
            && pattern_matches(&self.on_reason, &failure.reasons)
    }
}

/// A definition's retry policy. [`RetryPolicy::default`] is what a definition that says
/// nothing gets: platform failures retried, up to 3 attempts, 10 s apart doubling.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first one included.
    pub attempts: u32,
    /// The delay before the second attempt.
    pub interval: Duration,
    /// Each later delay is the previous one times this (at least 1).
    pub backoff_rate: f64,
    /// No delay is longer than this.
    pub max_delay: Option<Duration>,
    /// "Full jitter": each delay is drawn uniformly between zero and its computed value,
    /// so that jobs failed by one event (a Spot reclaim) do not all come back at once.
    pub jitter: bool,
    /// Looked at in order; the first that matches decides.
    pub rules: Vec<RetryRule>,
}

/// `backoffRate` is never NaN (see [`RetryPolicy::problem`]), so equality is total.
impl Eq for RetryPolicy {}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: Self::DEFAULT_ATTEMPTS,
            interval: Duration::from_secs(10),
            backoff_rate: 2.0,
            max_delay: None,
            jitter: false,
            rules: Vec::new(),
        }
    }
}

impl RetryPolicy {
    pub const DEFAULT_ATTEMPTS: u32 = 3;
    /// AWS Batch's ceiling, and more than any job that is not broken needs.
    pub const MAX_ATTEMPTS: u32 = 10;
    /// At most this many rules, as Terraform's variable validation also says.
    pub const MAX_RULES: usize = 10;
    /// The longest delay the service keeps between two attempts.
    pub const MAX_DELAY: Duration = Duration::from_secs(24 * 3600);

    /// Why this policy cannot be used, if it cannot.
    pub fn problem(&self) -> Option<String> {
        if !(1..=Self::MAX_ATTEMPTS).contains(&self.attempts) {
            return Some(format!(
                "sets retry.attempts {}; it must be 1 to {}",
                self.attempts,
                Self::MAX_ATTEMPTS
            ));
        }
        if !(self.backoff_rate.is_finite() && (1.0..=10.0).contains(&self.backoff_rate)) {
            return Some(format!(
                "sets retry.backoffRate {}; it must be 1 to 10",
                self.backoff_rate
            ));
        }
        if self.interval > Self::MAX_DELAY {
            return Some(format!(
                "sets retry.intervalSeconds {}; it must be 0 to 86400",
                self.interval.as_secs()
            ));
        }
        if let Some(max_delay) = self.max_delay.filter(|d| d.is_zero() || *d > Self::MAX_DELAY) {
            return Some(format!(
                "sets retry.maxDelaySeconds {}; it must be 1 to 86400",
                max_delay.as_secs()
            ));
        }
        if self.rules.len() > Self::MAX_RULES {
            return Some(format!(
                "sets {} retry rules; at most {} are allowed",
                self.rules.len(),
                Self::MAX_RULES
            ));
        }
        if let Some(position) = self.rules.iter().position(|r| !r.has_pattern()) {
            return Some(format!(
                "sets retry rule {} without onExitCode, onStopCode or onReason: it would match nothing",
                position + 1
            ));
        }
        None
    }

    /// Whether attempt `number`, failed as `failure`, is followed by another.
    pub fn decide(&self, number: u32, failure: &AttemptFailure<'_>) -> RetryDecision {
        if number >= self.attempts {
            return RetryDecision::Exit(ExitWhy::OutOfAttempts);
        }
        match self.rules.iter().position(|rule| rule.matches(failure)) {
            Some(index) => match self.rules[index].action {
                RetryAction::Retry => RetryDecision::Retry,
                RetryAction::Exit => RetryDecision::Exit(ExitWhy::Rule(index + 1)),
            },
            None if failure.is_platform_failure() => RetryDecision::Retry,
            None => RetryDecision::Exit(ExitWhy::NotRetryable),
        }
    }

    /// The delay after attempt `number` failed: `interval × backoffRate^(number − 1)`,
    /// at most `maxDelay`, drawn down by `jitter` (in [0, 1)) when jitter is on.
    pub fn delay(&self, number: u32, jitter: f64) -> Duration {
        let exponent = i32::try_from(number.saturating_sub(1)).unwrap_or(i32::MAX);
        let seconds = self.interval.as_secs_f64() * self.backoff_rate.powi(exponent);
        let cap = self.max_delay.unwrap_or(Self::MAX_DELAY).min(Self::MAX_DELAY);
        let delay = Duration::try_from_secs_f64(seconds).map_or(cap, |d| d.min(cap));
        if self.jitter {
            delay.mul_f64(jitter.clamp(0.0, 1.0))
        } else {
            delay
        }
    }
}

/// The policy's verdict on a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    Retry,
    Exit(ExitWhy),
}

/// Why a failed attempt is the job's last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitWhy {
    /// The job has had every attempt it may.
    OutOfAttempts,
    /// Rule `n` (counted from 1) said `EXIT`.
    Rule(usize),
    /// No rule matched and the default does not retry this failure.
    NotRetryable,
    /// A later report of an attempt whose failure was already final: the verdict stays
    /// final whatever the policy would now say.
    AlreadyFinal,
}

/// What the rules see of a failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptFailure<'a> {
    pub exit_code: Option<i32>,
    pub stop_code: Option<&'a str>,
    /// ECS's `stoppedReason`, the job container's reason, the service's own reason.
    pub reasons: [Option<&'a str>; 3],
    /// The service stopped the attempt for its timeout: never a platform failure.
    pub timed_out: bool,
}

/// Words of ECS's reasons for a task that failed to start for something passing: no
/// capacity, a network interface not provisioned in time, image pulls throttled by the
/// registry. Lowercase; matched anywhere in the reason.
/// A `ResourceInitializationError` that times out reaching a registry or Secrets Manager
/// ("i/o timeout") is not among them: AWS's stopped-task error codes page traces it to
/// routes, endpoints and security groups, which another attempt does not fix.
const TRANSIENT_START_FAILURES: [&str; 9] = [
    "capacity is unavailable",
    "insufficient capacity",
    "network interface",
    "eni provisioning",
    "toomanyrequests",
    "too many requests",
    "rate exceeded",
    "throttl",
    "requestlimitexceeded",
];

impl AttemptFailure<'_> {
    /// The default's notion of a failure that is not the job's fault: the platform took
    /// the task away (Spot reclaim, termination notice, an unhealthy host) or could not
    /// start it for a passing reason.
    pub fn is_platform_failure(&self) -> bool {
        if self.timed_out {
            return false;
        }
        match self.stop_code.map(StopCode::parse) {
            Some(StopCode::SpotInterruption | StopCode::TerminationNotice | StopCode::InfrastructureHealth) => true,
            Some(StopCode::TaskFailedToStart) => self.reasons[..2].iter().flatten().any(|reason| {
                let reason = reason.to_ascii_lowercase();
                TRANSIENT_START_FAILURES.iter().any(|word| reason.contains(word))
            }),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(
        exit_code: Option<i32>,
        stop_code: &'static str,
        reason: Option<&'static str>,
    ) -> AttemptFailure<'static> {
        AttemptFailure {
            exit_code,
            stop_code: Some(stop_code),
            reasons: [reason, None, None],
            timed_out: false,
        }
    }

    fn rule(exit: Option<&str>, stop: Option<&str>, reason: Option<&str>, action: RetryAction) -> RetryRule {
        RetryRule {
            on_exit_code: exit.map(str::to_owned),
            on_stop_code: stop.map(str::to_owned),
            on_reason: reason.map(str::to_owned),
            action,
        }
    }

    #[test]
    fn by_default_platform_failures_are_retried_and_exit_codes_are_not() {
        let policy = RetryPolicy::default();
        let spot = failure(None, "SpotInterruption", Some("Your Spot Task was interrupted."));
        assert_eq!(policy.decide(1, &spot), RetryDecision::Retry);
        assert_eq!(policy.decide(3, &spot), RetryDecision::Exit(ExitWhy::OutOfAttempts));
        let eni = failure(
            None,
            "TaskFailedToStart",
            Some("Timeout waiting for network interface provisioning to complete."),
        );
        assert_eq!(policy.decide(1, &eni), RetryDecision::Retry);
        let pull = failure(
            None,
            "TaskFailedToStart",
            Some(
                "CannotPullContainerError: pull image manifest: toomanyrequests: You have reached your pull rate limit",
            ),
        );
        assert_eq!(policy.decide(2, &pull), RetryDecision::Retry);
        let missing_image = failure(
            None,
            "TaskFailedToStart",
            Some("CannotPullContainerError: manifest unknown"),
        );
        assert_eq!(
            policy.decide(1, &missing_image),
            RetryDecision::Exit(ExitWhy::NotRetryable)
        );
        let exit_1 = failure(
            Some(1),
            "EssentialContainerExited",
            Some("Essential container in task exited"),
        );
        assert_eq!(policy.decide(1, &exit_1), RetryDecision::Exit(ExitWhy::NotRetryable));
        let timed_out = AttemptFailure {
            timed_out: true,
            ..failure(Some(143), "UserInitiated", Some("timed out after 60 s"))
        };
        assert_eq!(policy.decide(1, &timed_out), RetryDecision::Exit(ExitWhy::NotRetryable));
    }

    #[test]
    fn the_first_matching_rule_decides_and_every_pattern_it_sets_must_match() {
        let policy = RetryPolicy {
            rules: vec![
                rule(Some("137"), None, None, RetryAction::Retry),
                rule(None, Some("SpotInterruption"), None, RetryAction::Exit),
                rule(Some("1?"), Some("Essential*"), None, RetryAction::Retry),
                rule(None, None, Some("timed out*"), RetryAction::Retry),
            ],
            ..RetryPolicy::default()
        };
        let exit = |code| failure(Some(code), "EssentialContainerExited", None);
        assert_eq!(policy.decide(1, &exit(137)), RetryDecision::Retry);
        assert_eq!(policy.decide(1, &exit(12)), RetryDecision::Retry);
        assert_eq!(policy.decide(1, &exit(1)), RetryDecision::Exit(ExitWhy::NotRetryable));
        let spot = failure(None, "SpotInterruption", None);
        assert_eq!(policy.decide(1, &spot), RetryDecision::Exit(ExitWhy::Rule(2)));
        let timed_out = AttemptFailure {
            reasons: [Some("stopped"), None, Some("timed out after 60 s")],
            timed_out: true,
            ..failure(Some(143), "UserInitiated", None)
        };
        assert_eq!(policy.decide(1, &timed_out), RetryDecision::Retry);
        // A rule on exit codes never matches an attempt without one.
        assert_eq!(
            policy.decide(1, &failure(None, "EssentialContainerExited", None)),
            RetryDecision::Exit(ExitWhy::NotRetryable)
        );
    }

    #[test]
    fn delays_grow_by_the_backoff_rate_up_to_the_cap() {
        let step_functions = RetryPolicy {
            attempts: 4,
            ..RetryPolicy::default()
        };
        let delays: Vec<u64> = (1..=3).map(|n| step_functions.delay(n, 0.0).as_secs()).collect();
        assert_eq!(delays, [10, 20, 40]);
        let capped = RetryPolicy {
            max_delay: Some(Duration::from_secs(25)),
            jitter: true,
            ..step_functions
        };
        assert_eq!(capped.delay(3, 0.999_999), Duration::from_secs(25).mul_f64(0.999_999));
        assert_eq!(capped.delay(3, 0.0), Duration::ZERO);
        assert_eq!(capped.delay(u32::MAX, 0.5), Duration::from_secs_f64(12.5));
    }

    #[test]
    fn a_rule_without_a_pattern_is_refused() {
        let policy = RetryPolicy {
            rules: vec![rule(None, None, None, RetryAction::Retry)],
            ..RetryPolicy::default()
        };
        assert!(policy.problem().unwrap().contains("rule 1"));
        assert!(RetryPolicy {
            attempts: 0,
            ..RetryPolicy::default()
        }
        .problem()
        .is_some());
        assert!(RetryPolicy::default().problem().is_none());
    }
}
