//! Stopping a job before it ends by itself: its owner's cancel, and its attempt timeout.
//! Both are recorded first and the task stopped after, so that whichever way the task's
//! end is learnt (an event, DescribeTasks), the rules know why it stopped.

use chrono::{DateTime, Utc};

use super::job::{Job, JobStatus};
use super::launch::after;
use super::rules::{timed_out_after, JobUpdate, SlotChange, UpdateGuard, CANCELLED, CANCELLING};
use super::task::{EcsTaskStatus, TaskObservation};

/// What the owner's cancel does to a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cancel {
    /// The job has finished: nothing to cancel (`409`).
    Finished,
    /// A cancel was requested already: answered as the first one was. If the task may
    /// still run, it is asked to stop again (StopTask is idempotent).
    AlreadyRequested { task_arn: Option<String> },
    /// Write this; then stop `task_arn` if the job has a task, or, if it has none, look
    /// for one its launch may have started.
    Write {
        update: Box<JobUpdate>,
        task_arn: Option<String>,
    },
}

/// The reason StopTask is given for a cancel; ECS shows it as the task's `stoppedReason`.
pub const CANCEL_STOP_REASON: &str = "cancelled";

impl Job {
    /// The owner's cancel at `now`. A job without a task (queued, or waiting for its next
    /// attempt) is CANCELLED at once, under the launch's own guard so that a launch racing
    /// with it loses; a job with a task shows STOPPING until ECS reports the task stopped,
    /// and then ends CANCELLED whatever its exit code.
    pub fn cancel(&self, now: DateTime<Utc>) -> Cancel {
        let current = self.current_attempt();
        let running_task = current
            .task_arn
            .clone()
            .filter(|_| current.task_status != Some(EcsTaskStatus::Stopped));
        // Before the terminal check: a repeated cancel is answered as the first one was,
        // even once the job is CANCELLED (a cancelled job never ends otherwise).
        if self.cancel_requested_at.is_some() {
            return Cancel::AlreadyRequested { task_arn: running_task };
        }
        if self.status.is_terminal() {
            return Cancel::Finished;
        }
        let (status, reason, slots, guard) = match &current.task_arn {
            None => {
                let slots = if self.slots.is_empty() {
                    SlotChange::Keep
                } else {
                    SlotChange::Release(self.slots.clone())
                };
                (JobStatus::Cancelled, CANCELLED, slots, UpdateGuard::AwaitingLaunch)
            }
            Some(task_arn) => {
                let guard = UpdateGuard::Unchanged {
                    task_arn: task_arn.clone(),
                    version: current.event_version,
                };
                (JobStatus::Stopping, CANCELLING, SlotChange::Keep, guard)
            }
        };
        let update = JobUpdate {
            owner: self.owner.clone(),
            attempt: current.clone(),
            status,
            status_reason: Some(reason.to_owned()),
            updated_at: now.max(self.updated_at),
            queue: None,
            slots,
            holds_slots: !self.slots.is_empty(),
            next_attempt: None,
            cancel_requested_at: Some(now),
            decided_after_cancel: false,
            guard,
        };
        Cancel::Write {
            update: Box::new(update),
            task_arn: running_task,
        }
    }

    /// The current attempt has run past the job's `timeoutSeconds` at `now` and has not
    /// been stopped for it yet: the update that records the timeout (written only if no
    /// event moved the job since it was read), and the task to stop with
    /// [`Self::timeout_stop_reason`].
    pub fn timeout_due(&self, now: DateTime<Utc>) -> Option<(JobUpdate, String)> {
        let timeout = self.timeout?;
        let current = self.current_attempt();
        let task_arn = current.task_arn.clone()?;
        let started_at = current.started_at?;
        let due = !self.status.is_terminal()
            && self.cancel_requested_at.is_none()
            && current.timed_out_after.is_none()
            && current.task_status != Some(EcsTaskStatus::Stopped)
            && after(started_at, timeout) <= now;
        if !due {
            return None;
        }
        let mut attempt = current.clone();
        attempt.timed_out_after = Some(timeout.as_secs());
        let update = JobUpdate {
            owner: self.owner.clone(),
            attempt,
            status: self.status,
            status_reason: Some(format!("{}; stopping the task", timed_out_after(timeout.as_secs()))),
            updated_at: now.max(self.updated_at),
            queue: None,
            slots: SlotChange::Keep,
            holds_slots: !self.slots.is_empty(),
            next_attempt: None,
            cancel_requested_at: None,
            decided_after_cancel: false,
            guard: UpdateGuard::Unchanged {
                task_arn: task_arn.clone(),
                version: current.event_version,
            },
        };
        Some((update, task_arn))
    }

    /// What StopTask is told when the current attempt timed out ("timed out after N s").
    pub fn timeout_stop_reason(&self) -> Option<String> {
        self.current_attempt().timed_out_after.map(timed_out_after)
    }

    /// The task the service asked ECS to stop (a cancel or a timeout) and which no
    /// observation has yet shown stopped, with the reason to give StopTask again.
    pub fn stop_pending(&self) -> Option<(String, String)> {
        let current = self.current_attempt();
        let task_arn = current.task_arn.clone()?;
        if self.status.is_terminal() || current.task_status == Some(EcsTaskStatus::Stopped) {
            return None;
        }
        let reason = if self.cancel_requested_at.is_some() {
            CANCEL_STOP_REASON.to_owned()
        } else {
            self.timeout_stop_reason()?
        };
        Some((task_arn, reason))
    }

    /// Whether a task ECS reports as not yet stopped, started for attempt
    /// `attempt_number` of this job, runs without the job wanting it: another task is
    /// recorded for that attempt (a duplicate launch), or the attempt never recorded one
    /// and never will (the job finished, was cancelled, or moved on to a later attempt
    /// while the launch was in flight). Such a task is stopped, never left running.
    pub fn disowns(&self, attempt_number: u32, observed: &TaskObservation) -> bool {
        if observed.last_status == EcsTaskStatus::Stopped {
            return false;
        }
        let recorded = self
            .attempts
            .iter()
            .find(|a| a.number == attempt_number)
            .map(|a| a.task_arn.as_deref());
        match recorded {
            Some(Some(arn)) => arn != observed.task_arn,
            Some(None) => attempt_number < self.current_attempt().number || self.status.is_terminal(),
            None => false,
        }
    }

    /// What StopTask is told about a task this job disowns.
    pub fn disowned_stop_reason(&self) -> &'static str {
        if self.status == JobStatus::Cancelled {
            CANCEL_STOP_REASON
        } else {
            "job-tracker: the job no longer runs this task"
        }
    }
}
