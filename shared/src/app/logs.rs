//! Reading an attempt's log for its owner.

use super::ServiceError;
use crate::domain::Job;
use crate::ports::{LogEvent, LogReader};

/// A stretch of one attempt's log, as the owner reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptLog {
    pub attempt: u32,
    pub events: Vec<LogEvent>,
    /// Where to read on from; `None` once the attempt is over and everything was read.
    pub next: Option<String>,
}

/// The log use case: which stream an attempt wrote to, and whether more can come.
pub struct AttemptLogs<R> {
    reader: R,
}

impl<R: LogReader> AttemptLogs<R> {
    pub fn new(reader: R) -> Self {
        Self { reader }
    }

    /// The lines of `job`'s attempt `number` (`None`: its current attempt) from `from`
    /// (`None`: the start). The caller has checked that the job is the reader's.
    pub async fn read(&self, job: &Job, number: Option<u32>, from: Option<String>) -> Result<AttemptLog, ServiceError> {
        let attempts = job.attempts.count();
        let number = number.unwrap_or(job.current_attempt().number);
        let attempt = job
            .attempts
            .iter()
            .find(|a| a.number == number)
            .ok_or(ServiceError::AttemptNotFound { attempts })?;
        let over = job.attempt_over(attempt);
        let Some(location) = job.log_location(attempt) else {
            // No task yet (or no log kept): nothing to read, and more may come while the
            // attempt can still start.
            return Ok(AttemptLog {
                attempt: number,
                events: Vec::new(),
                next: (!over).then(|| from.unwrap_or_default()),
            });
        };
        let page = self
            .reader
            .read(&location, from.as_deref().filter(|f| !f.is_empty()))
            .await?;
        Ok(AttemptLog {
            attempt: number,
            next: (!(over && page.caught_up)).then_some(page.next),
            events: page.events,
        })
    }
}
