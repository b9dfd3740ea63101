//! Getting a job's task started: concurrency slots, the launch queue and its backoff,
//! and the queue timeout. The service owns the launch: whatever ECS answers, a recorded
//! job either starts, waits here with a reason and a time for its next try, or fails
//! with a reason a person can act on.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::job::{Job, JobStatus};
use super::rules::{JobUpdate, SlotChange, UpdateGuard};

/// A pool of concurrency slots: at most `limit` jobs of the pool have a task that is not
/// yet stopped (or a launch whose outcome is not yet known).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SlotPool {
    /// The jobs of one definition (`maxRunning` of the definition).
    Definition(String),
    /// Every job of the service (the service-wide `MAX_RUNNING`).
    Service,
}

impl SlotPool {
    const DEFINITION_PREFIX: &'static str = "slots#definition#";
    const SERVICE: &'static str = "slots#service";

    /// The pool's name in a store: never a job id (job ids are UUIDs).
    pub fn key(&self) -> String {
        match self {
            Self::Definition(name) => format!("{}{name}", Self::DEFINITION_PREFIX),
            Self::Service => Self::SERVICE.to_owned(),
        }
    }

    pub fn parse(key: &str) -> Option<Self> {
        if key == Self::SERVICE {
            return Some(Self::Service);
        }
        key.strip_prefix(Self::DEFINITION_PREFIX)
            .filter(|name| !name.is_empty())
            .map(|name| Self::Definition(name.to_owned()))
    }
}

impl fmt::Display for SlotPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Definition(name) => write!(f, "definition '{name}'"),
            Self::Service => f.write_str("the service"),
        }
    }
}

/// One slot to take before a launch: from `pool`, if fewer than `limit` are taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotClaim {
    pub pool: SlotPool,
    pub limit: u32,
}

/// The concurrency limits in force for one job: its definition's `maxRunning` and the
/// service-wide one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    pub definition: Option<u32>,
    pub service: Option<u32>,
}

/// Why a recorded job has no task yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WaitReason {
    /// ECS refused RunTask for its rate limit: no task exists.
    Throttled,
    /// ECS had no capacity (or the account's task quota was reached): no task exists.
    NoCapacity,
    /// A concurrency limit is reached: the job starts when a slot frees.
    ConcurrencyLimit,
    /// ECS did not answer (5xx, timeout, a launch with this token in flight): a task may
    /// exist, so the job keeps its slot and the next try uses the same client token.
    NoAnswer,
    /// The previous attempt failed and the retry policy gave the job another: it starts
    /// at the time the policy's backoff set.
    Retry,
}

impl WaitReason {
    pub const ALL: [WaitReason; 5] = [
        Self::Throttled,
        Self::NoCapacity,
        Self::ConcurrencyLimit,
        Self::NoAnswer,
        Self::Retry,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Throttled => "THROTTLED",
            Self::NoCapacity => "NO_CAPACITY",
            Self::ConcurrencyLimit => "CONCURRENCY_LIMIT",
            Self::NoAnswer => "NO_ANSWER",
            Self::Retry => "RETRY",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == value)
    }

    /// The first delay and the longest one between two tries. A rate limit frees within
    /// seconds, so throttled launches come back soon (which is what keeps a burst draining
    /// at ECS's rate); capacity takes longer to appear, and hammering it helps nobody.
    fn backoff(self) -> (Duration, Duration) {
        match self {
            Self::Throttled => (Duration::from_millis(500), Duration::from_secs(4)),
            Self::NoCapacity => (Duration::from_secs(5), Duration::from_secs(60)),
            Self::NoAnswer => (Duration::from_secs(2), Duration::from_secs(30)),
            Self::ConcurrencyLimit | Self::Retry => (Duration::ZERO, Duration::ZERO),
        }
    }
}

/// The delay before try `tries + 1`, after `tries` tries that did not start a task:
/// exponential from the reason's first delay up to its cap, with "equal jitter" (half
/// fixed, half random, `jitter` in [0, 1)) so that a burst of throttled launches spreads
/// out instead of coming back at once.
pub fn launch_delay(reason: WaitReason, tries: u32, jitter: f64) -> Duration {
    let (first, cap) = reason.backoff();
    let exponent = tries.saturating_sub(1).min(16);
    let delay = first.saturating_mul(1 << exponent).min(cap);
    let jitter = jitter.clamp(0.0, 1.0);
    delay / 2 + delay.mul_f64(jitter / 2.0)
}

/// A job waiting for its launch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    pub reason: WaitReason,
    /// Tries of the current attempt that did not start a task.
    pub tries: u32,
    /// When the next try is due; `None` while the job waits for a free slot.
    pub next_try_at: Option<DateTime<Utc>>,
    /// Since when a launch of this attempt may have started a task nobody recorded.
    pub outcome_unknown_since: Option<DateTime<Utc>>,
}

/// The default of a definition's `queueTimeoutSeconds`: one hour.
pub const DEFAULT_QUEUE_TIMEOUT: Duration = Duration::from_secs(3600);

/// How long ECS's `clientToken` is trusted to return the task an earlier launch started.
/// ECS keeps a RunTask token for at most 24 hours, less if the task is gone: past this, a
/// launch whose outcome was unknown is looked for by `startedBy` before it is repeated.
pub const CLIENT_TOKEN_TRUSTED_FOR: Duration = Duration::from_secs(15 * 60);

/// How long a recorded job without a task and without a queue entry is left to the
/// request that is launching it, before the reconciler takes over (create-job's worst
/// case is 10 s; its Lambda timeout is at least 15 s). The local server, whose requests
/// take milliseconds, shortens it.
pub const LAUNCH_GRACE: Duration = Duration::from_secs(30);

pub(super) fn after(at: DateTime<Utc>, delay: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(delay)
        .ok()
        .and_then(|d| at.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

pub(super) fn at_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// What to do with a job that has no task yet, at `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LaunchStep {
    /// Launch it now (after looking for a lost task by `startedBy` if `look_first`).
    Launch { look_first: bool },
    /// Its next try is not due yet.
    NotDue { at: Option<DateTime<Utc>> },
    /// It waited longer than its definition allows: fail it.
    Expire,
    /// It has a task, or is finished: nothing to launch.
    NotWaiting,
}

impl Job {
    /// The slots to take before launching this job: none if it holds them already.
    pub fn slot_claims(&self, limits: Limits) -> Vec<SlotClaim> {
        if !self.slots.is_empty() {
            return Vec::new();
        }
        let definition = limits.definition.map(|limit| SlotClaim {
            pool: SlotPool::Definition(self.definition.clone()),
            limit,
        });
        let service = limits.service.map(|limit| SlotClaim {
            pool: SlotPool::Service,
            limit,
        });
        definition.into_iter().chain(service).collect()
    }

    /// The job as recorded with the slots it took in the same write as its creation.
    pub fn holding(mut self, claims: &[SlotClaim]) -> Self {
        self.slots = claims.iter().map(|c| c.pool.clone()).collect();
        self
    }

    /// The job as recorded when its creation found a limit reached: it waits for a slot.
    pub fn waiting_for_slot(mut self, claims: &[SlotClaim]) -> Self {
        let (queue, reason) = slot_wait(claims, self.queue.as_ref());
        self.queue = Some(queue);
        self.status_reason = Some(reason);
        self.was_queued = true;
        self
    }

    /// Take `claims` before launching a job that waited.
    pub fn take_slots(&self, claims: Vec<SlotClaim>, now: DateTime<Utc>) -> JobUpdate {
        let mut update = self.launch_update(self.status, self.status_reason.clone(), self.queue.clone(), now);
        update.status_reason = Some("starting: a slot is free".to_owned());
        update.slots = SlotChange::Take(claims);
        update
    }

    /// A limit is reached: the job waits (oldest first) until a slot frees.
    pub fn wait_for_slot(&self, claims: &[SlotClaim], now: DateTime<Utc>) -> JobUpdate {
        let (queue, reason) = slot_wait(claims, self.queue.as_ref());
        self.launch_update(JobStatus::Submitted, Some(reason), Some(queue), now)
    }

    /// The launch did not start a task: try again after a backoff. Without a task the job
    /// gives its slots back; when ECS did not answer, a task may exist, so it keeps them.
    pub fn launch_deferred(&self, reason: WaitReason, detail: &str, now: DateTime<Utc>, jitter: f64) -> JobUpdate {
        let earlier = self.queue.as_ref();
        let tries = earlier.map_or(0, |q| q.tries) + 1;
        let next_try_at = after(now, launch_delay(reason, tries, jitter));
        let task_may_exist =
            reason == WaitReason::NoAnswer || earlier.is_some_and(|q| q.outcome_unknown_since.is_some());
        let queue = Queued {
            reason,
            tries,
            next_try_at: Some(next_try_at),
            outcome_unknown_since: earlier
                .and_then(|q| q.outcome_unknown_since)
                .or((reason == WaitReason::NoAnswer).then_some(now)),
        };
        let text = format!(
            "waiting to start: {detail} (try {tries}); next try at {}",
            at_text(next_try_at)
        );
        let mut update = self.launch_update(JobStatus::Submitted, Some(text), Some(queue), now);
        if !task_may_exist && !self.slots.is_empty() {
            update.slots = SlotChange::Release(self.slots.clone());
        }
        update
    }

    /// The job could not start within its definition's `queueTimeoutSeconds`.
    pub fn queue_expired(&self, timeout: Duration, now: DateTime<Utc>) -> JobUpdate {
        let why = self
            .queue
            .as_ref()
            .map_or("its launch was never confirmed", |q| match q.reason {
                WaitReason::Throttled => "ECS kept throttling RunTask",
                WaitReason::NoCapacity => "ECS had no capacity",
                WaitReason::ConcurrencyLimit => "its concurrency limit stayed reached",
                WaitReason::NoAnswer => "ECS did not answer",
                WaitReason::Retry => "its retry never started",
            });
        let reason = format!(
            "could not start within queueTimeoutSeconds ({} s): {why}",
            timeout.as_secs()
        );
        self.finished_without_task(reason, now)
    }

    /// A recorded launch failed for good, or the job cannot be launched at all.
    pub fn finished_without_task(&self, reason: String, now: DateTime<Utc>) -> JobUpdate {
        let mut update = self.launch_update(JobStatus::Failed, Some(reason), None, now);
        if !self.slots.is_empty() {
            update.slots = SlotChange::Release(self.slots.clone());
        }
        update
    }

    /// What to do with this job's launch at `now`: a job without a queue entry is left
    /// `grace` (normally [`LAUNCH_GRACE`]) to the request launching it.
    pub fn launch_step(&self, queue_timeout: Duration, grace: Duration, now: DateTime<Utc>) -> LaunchStep {
        if !self.awaiting_launch() {
            return LaunchStep::NotWaiting;
        }
        let waiting_since = self.current_attempt().created_at;
        if after(waiting_since, queue_timeout) <= now {
            return LaunchStep::Expire;
        }
        let unknown_since = match &self.queue {
            Some(queue) => match queue.next_try_at {
                Some(at) if at > now => return LaunchStep::NotDue { at: Some(at) },
                _ => queue.outcome_unknown_since,
            },
            // No queue entry: a request is launching it, or crashed while it did.
            None if after(self.updated_at, grace) > now => {
                return LaunchStep::NotDue {
                    at: Some(after(self.updated_at, grace)),
                }
            }
            None => Some(self.updated_at),
        };
        let look_first = unknown_since.is_some_and(|since| after(since, CLIENT_TOKEN_TRUSTED_FOR) <= now);
        LaunchStep::Launch { look_first }
    }

    /// An update of a job awaiting its launch, under that guard.
    fn launch_update(
        &self,
        status: JobStatus,
        status_reason: Option<String>,
        queue: Option<Queued>,
        now: DateTime<Utc>,
    ) -> JobUpdate {
        JobUpdate {
            owner: self.owner.clone(),
            attempt: self.current_attempt().clone(),
            status,
            status_reason,
            updated_at: now.max(self.updated_at),
            queue,
            slots: SlotChange::Keep,
            holds_slots: !self.slots.is_empty(),
            next_attempt: None,
            cancel_requested_at: self.cancel_requested_at,
            decided_after_cancel: self.cancel_requested_at.is_some(),
            guard: UpdateGuard::AwaitingLaunch,
        }
    }
}

fn slot_wait(claims: &[SlotClaim], earlier: Option<&Queued>) -> (Queued, String) {
    let limits: Vec<String> = claims
        .iter()
        .map(|c| format!("{} runs at most {} at once", c.pool, c.limit))
        .collect();
    let queue = Queued {
        reason: WaitReason::ConcurrencyLimit,
        tries: earlier.map_or(0, |q| q.tries),
        next_try_at: None,
        outcome_unknown_since: earlier.and_then(|q| q.outcome_unknown_since),
    };
    (queue, format!("waiting for a free slot: {}", limits.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_cap_and_jitter_spreads_half_of_it() {
        let d = |tries, jitter| launch_delay(WaitReason::Throttled, tries, jitter);
        assert_eq!(d(1, 0.0), Duration::from_millis(250));
        assert_eq!(d(1, 1.0), Duration::from_millis(500));
        assert_eq!(d(2, 0.0), Duration::from_millis(500));
        assert_eq!(d(10, 1.0), Duration::from_secs(4));
        assert_eq!(d(u32::MAX, 0.5), Duration::from_secs(3));
        assert_eq!(launch_delay(WaitReason::NoCapacity, 30, 1.0), Duration::from_secs(60));
    }

    #[test]
    fn pool_keys_round_trip_and_never_look_like_job_ids() {
        for pool in [SlotPool::Service, SlotPool::Definition("report".to_owned())] {
            assert_eq!(SlotPool::parse(&pool.key()), Some(pool.clone()));
            assert!(super::super::JobId::parse(&pool.key()).is_none());
        }
        assert_eq!(SlotPool::parse("slots#definition#"), None);
    }
}
