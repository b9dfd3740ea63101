//! Waiting for a job to finish: poll `GET /jobs/{id}`, show a live line on a terminal,
//! and turn the terminal status into the exit code.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

use crate::cli::{EXIT_CANCELLED, EXIT_FAILED, EXIT_OK};
use crate::client::{Answer, Client};
use crate::render::one_line;
use crate::Failure;

/// Poll quickly at first (jobs move STARTING → RUNNING in seconds) and after every
/// change, then back off: a long job costs one request every 5 s, not one a second.
pub const FIRST_DELAY: Duration = Duration::from_secs(1);
pub const MAX_DELAY: Duration = Duration::from_secs(5);
/// Polls in a row that may find the service unreachable before `wait` gives up (exit 4).
const MAX_MISSES: u32 = 3;

pub enum Outcome {
    /// The job reached a terminal status: its last answer.
    Finished(Answer),
    /// `--timeout` passed first: the last answer seen.
    TimedOut(Answer),
}

/// The exit code of a terminal status; `None` while the job can still move.
pub fn exit_code(status: &str) -> Option<u8> {
    match status {
        "SUCCEEDED" => Some(EXIT_OK),
        "FAILED" => Some(EXIT_FAILED),
        "CANCELLED" => Some(EXIT_CANCELLED),
        _ => None,
    }
}

/// 1 s, 1.5 s, 2.25 s, ... at most 5 s.
pub fn next_delay(current: Duration) -> Duration {
    (current * 3 / 2).min(MAX_DELAY)
}

/// `attempt 2/3`: attempts made so far out of the retry policy's.
pub fn attempt_text(job: &Value) -> String {
    let made = job["attempts"].as_array().map_or(1, |a| a.len().max(1));
    match job["retry"]["attempts"].as_u64() {
        Some(allowed) => format!("attempt {made}/{allowed}"),
        None => format!("attempt {made}"),
    }
}

/// Polls until the job is terminal or `timeout` (zero: none) has passed. `first` is an
/// answer already in hand (submit's), so a job that is already finished costs no request.
pub async fn wait(client: &Client, id: &str, timeout: Duration, first: Option<Answer>) -> Result<Outcome, Failure> {
    let progress = Progress::new();
    let started = Instant::now();
    let deadline = (!timeout.is_zero()).then(|| started + timeout);
    // How long until the next poll may start, and whether the deadline has passed.
    let pause = |delay: Duration| match deadline {
        Some(deadline) => {
            let left = deadline.saturating_duration_since(Instant::now());
            (!left.is_zero()).then(|| delay.min(left))
        }
        None => Some(delay),
    };
    let mut delay = FIRST_DELAY;
    let mut seen: Option<(String, String)> = None;
    let mut answer = match first {
        Some(answer) => answer,
        None => client.get_job(id).await?,
    };
    loop {
        let status = answer.json["status"].as_str().unwrap_or("UNKNOWN").to_owned();
        progress.show(id, &status, &answer.json, None);
        if exit_code(&status).is_some() {
            return Ok(Outcome::Finished(answer));
        }
        let now_seen = (status.clone(), attempt_text(&answer.json));
        if seen.as_ref() != Some(&now_seen) {
            delay = FIRST_DELAY;
        }
        seen = Some(now_seen);
        let mut misses = 0;
        let next = loop {
            let Some(sleep) = pause(delay) else {
                return Ok(Outcome::TimedOut(answer));
            };
            tokio::time::sleep(sleep).await;
            delay = next_delay(delay);
            match client.get_job(id).await {
                Ok(next) => break next,
                // A wait may last an hour: a dropped connection or a slow answer is
                // retried a few times before the wait gives up.
                Err(Failure::Unreachable(problem)) if misses < MAX_MISSES => {
                    misses += 1;
                    progress.show(id, &status, &answer.json, Some(&problem));
                }
                Err(failure) => return Err(failure),
            }
        };
        answer = next;
    }
}

/// The live line on stderr: spinner, job, status, attempt, elapsed time. Hidden when
/// stderr is not a terminal, so logs and pipes get no control characters.
struct Progress(ProgressBar);

impl Progress {
    fn new() -> Self {
        if !std::io::stderr().is_terminal() {
            return Self(ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden()));
        }
        let bar = ProgressBar::new_spinner();
        // The template is a constant: it always parses; the default style is a fine fallback.
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg}  {elapsed}") {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(120));
        Self(bar)
    }

    fn show(&self, id: &str, status: &str, job: &Value, trouble: Option<&str>) {
        let mut message = format!("{id}  {status}  {}", attempt_text(job));
        if let Some(reason) = job["statusReason"].as_str() {
            message.push_str("  ");
            message.push_str(&one_line(reason, 80));
        }
        if let Some(trouble) = trouble {
            message.push_str("  (retrying: ");
            message.push_str(&one_line(trouble, 60));
            message.push(')');
        }
        self.0.set_message(message);
    }
}

impl Drop for Progress {
    /// Whatever ends the wait (done, timed out, an error), the line goes away before
    /// the result is printed.
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn terminal_statuses_map_to_exit_codes() {
        assert_eq!(exit_code("SUCCEEDED"), Some(0));
        assert_eq!(exit_code("FAILED"), Some(1));
        assert_eq!(exit_code("CANCELLED"), Some(2));
        for status in ["SUBMITTED", "STARTING", "RUNNING", "STOPPING", "SOMETHING_NEW"] {
            assert_eq!(exit_code(status), None);
        }
    }

    #[test]
    fn polling_backs_off_from_one_to_five_seconds() {
        let mut delay = FIRST_DELAY;
        let mut seen = vec![delay];
        for _ in 0..6 {
            delay = next_delay(delay);
            seen.push(delay);
        }
        assert_eq!(seen[1], Duration::from_millis(1500));
        assert!(seen.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(seen.last(), Some(&MAX_DELAY));
    }

    #[test]
    fn attempts_read_as_made_over_allowed() {
        assert_eq!(
            attempt_text(&json!({"attempts": [{}, {}], "retry": {"attempts": 3}})),
            "attempt 2/3"
        );
        assert_eq!(attempt_text(&json!({"attempts": [{}]})), "attempt 1");
    }
}
