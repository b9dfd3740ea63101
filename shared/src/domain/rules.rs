//! The pure rules that move a job: launch outcomes and ECS task observations become
//! [`JobUpdate`]s, each with the [`UpdateGuard`] under which a store may write it.

use std::fmt;

use chrono::{DateTime, Utc};

use super::job::{Attempt, Job, JobStatus};
use super::launch::{after, at_text, Queued, SlotClaim, SlotPool, WaitReason};
use super::policy::{AttemptFailure, ExitWhy, RetryDecision};
use super::task::{EcsTaskStatus, StopCode, TaskObservation};

impl Job {
    /// ECS accepted the task: the job is STARTING from here on, so the PROVISIONING event
    /// that follows costs no write. RunTask creates tasks in PROVISIONING; whatever
    /// status its answer echoes carries no event version, so only events move the job on.
    pub fn launched(&self, task_arn: String, now: DateTime<Utc>) -> JobUpdate {
        let mut attempt = self.current_attempt().clone();
        attempt.task_arn = Some(task_arn);
        attempt.task_status = Some(EcsTaskStatus::Provisioning);
        JobUpdate {
            owner: self.owner.clone(),
            attempt,
            status: JobStatus::Starting,
            status_reason: None,
            updated_at: now.max(self.updated_at),
            queue: None,
            slots: SlotChange::Keep,
            holds_slots: !self.slots.is_empty(),
            next_attempt: None,
            cancel_requested_at: self.cancel_requested_at,
            decided_after_cancel: self.cancel_requested_at.is_some(),
            guard: UpdateGuard::AwaitingLaunch,
        }
    }

    /// ECS refused the task for good: the job fails with a reason a person can act on.
    pub fn launch_refused(&self, reason: String, now: DateTime<Utc>) -> JobUpdate {
        self.finished_without_task(reason, now)
    }

    /// ECS no longer knows the current attempt's task (DescribeTasks says MISSING): its
    /// final state is lost for good, and the job fails saying so. Written only if nothing
    /// moved the job since it was read.
    pub fn task_lost(&self, task_arn: &str, now: DateTime<Utc>) -> JobUpdate {
        let current = self.current_attempt();
        let slots = if self.slots.is_empty() {
            SlotChange::Keep
        } else {
            SlotChange::Release(self.slots.clone())
        };
        // A job its owner cancelled ends CANCELLED however its task ended; one the service
        // stopped for its timeout failed for that.
        const LOST: &str =
            "the task's final state was lost: ECS no longer knows the task and no event recorded how it ended";
        let (status, reason) = match (self.cancel_requested_at, current.timed_out_after) {
            (Some(_), _) => (JobStatus::Cancelled, CANCELLED.to_owned()),
            (None, Some(seconds)) => (JobStatus::Failed, format!("{}; {LOST}", timed_out_after(seconds))),
            (None, None) => (JobStatus::Failed, LOST.to_owned()),
        };
        JobUpdate {
            owner: self.owner.clone(),
            attempt: current.clone(),
            status,
            status_reason: Some(reason),
            updated_at: now.max(self.updated_at),
            queue: None,
            slots,
            holds_slots: !self.slots.is_empty(),
            next_attempt: None,
            cancel_requested_at: self.cancel_requested_at,
            decided_after_cancel: self.cancel_requested_at.is_some(),
            guard: UpdateGuard::Unchanged {
                task_arn: task_arn.to_owned(),
                version: current.event_version,
            },
        }
    }

    /// Whether a store may apply `update` to this job now. Stores that cannot express
    /// the guard as a native condition (the in-memory one) call this under their lock.
    pub fn guard_holds(&self, update: &JobUpdate) -> bool {
        let current = self.current_attempt();
        // Every update is for the job's current attempt: a late write decided for attempt
        // N never lands once attempt N+1 exists.
        if current.number != update.attempt.number || self.slots.is_empty() == update.holds_slots {
            return false;
        }
        // A cancel changes what every other update must do: one decided before it is
        // decided again.
        if self.cancel_requested_at.is_some() != update.decided_after_cancel {
            return false;
        }
        match &update.guard {
            UpdateGuard::AwaitingLaunch => self.awaiting_launch(),
            UpdateGuard::Unchanged { task_arn, version } => {
                current.task_arn.as_deref() == Some(task_arn.as_str())
                    && current.event_version == *version
                    && !self.status.is_terminal()
            }
            UpdateGuard::TaskEvent(guard) => {
                let same_task = current.task_arn.as_deref().is_none_or(|arn| arn == guard.task_arn);
                let newer = current.event_version.is_none_or(|v| v < guard.version);
                let open = !self.status.is_terminal() || (guard.stopped && self.verdict_of_a_stopped_task());
                let same_timeout = current.timed_out_after.is_some() == guard.timed_out;
                same_task && newer && open && same_timeout
            }
        }
    }

    /// The job is SUCCEEDED or FAILED because a STOPPED event of its current task said
    /// so, and a newer STOPPED event of that task may still correct the verdict. Never
    /// true of a CANCELLED job or of a launch refusal.
    fn verdict_of_a_stopped_task(&self) -> bool {
        matches!(self.status, JobStatus::Succeeded | JobStatus::Failed)
            && self.current_attempt().task_status == Some(EcsTaskStatus::Stopped)
    }

    /// The job after `update` (the caller has checked the guard).
    pub fn apply(&mut self, update: &JobUpdate) {
        self.attempts.replace(update.attempt.clone());
        self.status = update.status;
        self.status_reason.clone_from(&update.status_reason);
        self.updated_at = update.updated_at;
        self.queue.clone_from(&update.queue);
        self.was_queued |= update.queue.is_some();
        match &update.slots {
            SlotChange::Keep => {}
            SlotChange::Take(claims) => self.slots = claims.iter().map(|c| c.pool.clone()).collect(),
            SlotChange::Release(_) => self.slots.clear(),
        }
        if let Some(next) = &update.next_attempt {
            self.attempts.push(next.clone());
        }
        self.cancel_requested_at = self.cancel_requested_at.or(update.cancel_requested_at);
    }
}

/// A change to one attempt and the job status derived from it, with the condition under
/// which a store may write it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobUpdate {
    /// Whose job it is: the store's listing by status moves with the job's status.
    pub owner: super::Owner,
    /// Replaces the stored attempt with the same number.
    pub attempt: Attempt,
    pub status: JobStatus,
    pub status_reason: Option<String>,
    pub updated_at: DateTime<Utc>,
    /// The job's queue entry after the update (`None`: not waiting).
    pub queue: Option<super::launch::Queued>,
    /// What happens to the job's concurrency slots, in the same atomic write.
    pub slots: SlotChange,
    /// Part of the guard: whether the job holds slots when the update is written, as it
    /// did when the update was decided. A slot taken or given back in between changes
    /// what the update must do, so the update is decided again.
    pub holds_slots: bool,
    /// A retry: the attempt that follows, added in the same write.
    pub next_attempt: Option<Attempt>,
    /// When the owner asked to cancel the job, after the update.
    pub cancel_requested_at: Option<DateTime<Utc>>,
    /// Part of the guard: whether the job's cancel was requested when the update was
    /// decided. An update decided before a cancel is never written after it.
    pub decided_after_cancel: bool,
    pub guard: UpdateGuard,
}

/// What an update does to the job's concurrency slots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotChange {
    Keep,
    /// Take one slot of each pool, each only if fewer than its limit are taken.
    Take(Vec<SlotClaim>),
    /// Give back the slots the job holds.
    Release(Vec<SlotPool>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateGuard {
    /// The job is SUBMITTED and its current attempt has no task yet (launch outcomes).
    AwaitingLaunch,
    /// An ECS event of the current attempt's own task (see [`TaskEventGuard`]).
    TaskEvent(TaskEventGuard),
    /// The job is unfinished, runs `task_arn`, and no event was written since it was read
    /// (its stored version is still `version`): a lost task, a cancel or a timeout of a
    /// job with a task, each decided on the job as read.
    Unchanged { task_arn: String, version: Option<u64> },
}

/// When an ECS event may be written: the attempt is the job's current one; its task is
/// this event's task, or none is recorded yet (the first task wins the race with the
/// launch); the stored version of that task is lower; the attempt's timeout and the job's
/// cancel are as they were when the event was decided (either changes the verdict); and
/// the job is not terminal, except that a newer STOPPED event may replace the verdict an
/// older STOPPED event of the same task wrote (the reason and timeline only: a terminal
/// job never becomes unfinished again). `version` is counted per task, so comparing it is only meaningful once
/// the task is known to be the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskEventGuard {
    pub task_arn: String,
    pub version: u64,
    /// The event reports the task STOPPED.
    pub stopped: bool,
    /// Whether the attempt was stopped for its timeout when the event was decided: a
    /// timeout recorded in between changes the verdict, so the event is decided again.
    pub timed_out: bool,
}

/// What the service does with one ECS observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventDecision {
    /// Boxed: an update is large, and most events are ignored.
    Apply(Box<JobUpdate>),
    Ignore(Ignored),
}

/// Why an event changes nothing. None of these is an error: at-least-once, unordered
/// delivery produces all of them in normal operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ignored {
    /// `startedBy` names an attempt this job does not have (or no longer runs).
    NotCurrentAttempt { attempt: u32 },
    /// Another task carries this attempt's `startedBy` (a task run by hand, a launch
    /// whose client token ECS had forgotten): the attempt's recorded task decides.
    OtherTask { recorded: String, received: String },
    /// The same version was already written.
    Duplicate { version: u64 },
    /// A newer version was already written.
    Stale { stored: u64, received: u64 },
    /// Terminal statuses never change.
    JobTerminal { status: JobStatus },
    /// Newer, but nothing a client sees would change: ECS's cumulative events let a
    /// later one rebuild whatever this one would have written.
    NothingVisibleChanged,
}

impl fmt::Display for Ignored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotCurrentAttempt { attempt } => {
                write!(f, "attempt {attempt} is not the job's current attempt")
            }
            Self::OtherTask { recorded, received } => {
                write!(f, "event of task {received}, but the attempt runs task {recorded}")
            }
            Self::Duplicate { version } => write!(f, "duplicate of version {version}"),
            Self::Stale { stored, received } => {
                write!(f, "stale: version {received} is older than stored {stored}")
            }
            Self::JobTerminal { status } => write!(f, "job is already {status}"),
            Self::NothingVisibleChanged => f.write_str("nothing a client can see changes"),
        }
    }
}

/// The pure transition rule: job + ECS event for one of its attempts → change or no-op.
///
/// Only the fields that make the job's status and timeline decide whether to write
/// (status, reason, task ARN, start and stop times); the rest of the observation (ECS
/// lastStatus, stop code, exit code) rides along with those writes, so a running job's
/// `attempts[].taskStatus` is the one recorded with its last status or timeline change. That keeps a successful job at one write per status:
/// created, STARTING, RUNNING, STOPPING, SUCCEEDED. Because the decisive fields are
/// monotonic in `version`, the final decisive state is that of the highest version,
/// whatever the delivery order. A STOPPED event is always written (ECS may send several
/// for one task, later ones filling in exit codes and reasons), so the highest STOPPED
/// version of the attempt's own task is the finished job, whatever the order.
///
/// A failed attempt goes through the job's retry policy: another attempt (the job waits
/// SUBMITTED, added in the same write) or the final verdict. A retry is decided on the
/// first STOPPED observation of the attempt that is written; once the next attempt
/// exists, the earlier one's events move nothing, and a later STOPPED observation of a
/// finished job's attempt never turns its verdict into a retry. `jitter` (in [0, 1)) draws the retry
/// delay when the policy asks for jitter.
pub fn decide(job: &Job, attempt_number: u32, observed: &TaskObservation, jitter: f64) -> EventDecision {
    let current = job.current_attempt();
    if current.number != attempt_number {
        return EventDecision::Ignore(Ignored::NotCurrentAttempt {
            attempt: attempt_number,
        });
    }
    if let Some(recorded) = current.task_arn.as_deref().filter(|arn| *arn != observed.task_arn) {
        return EventDecision::Ignore(Ignored::OtherTask {
            recorded: recorded.to_owned(),
            received: observed.task_arn.clone(),
        });
    }
    if let Some(stored) = current.event_version {
        if stored == observed.version {
            return EventDecision::Ignore(Ignored::Duplicate { version: stored });
        }
        if stored > observed.version {
            return EventDecision::Ignore(Ignored::Stale {
                stored,
                received: observed.version,
            });
        }
    }
    let stopped = observed.last_status == EcsTaskStatus::Stopped;
    if job.status.is_terminal() && !(stopped && job.verdict_of_a_stopped_task()) {
        return EventDecision::Ignore(Ignored::JobTerminal { status: job.status });
    }

    let attempt = Attempt {
        number: current.number,
        task_arn: Some(observed.task_arn.clone()),
        task_status: Some(observed.last_status),
        stop_code: observed.stop_code.clone(),
        stopped_reason: observed.stopped_reason.clone(),
        exit_code: observed.container(&job.container).and_then(|c| c.exit_code),
        created_at: current.created_at,
        started_at: observed.started_at,
        stopped_at: observed.stopped_at,
        event_version: Some(observed.version),
        timed_out_after: current.timed_out_after,
    };
    let (task_status, task_reason) = status_for(observed, &job.container);
    let entered = entered_at(observed, task_status)
        .unwrap_or(job.updated_at)
        .max(job.created_at);
    let (status, status_reason, retry) = lifecycle(job, observed, task_status, task_reason, entered, jitter);

    let before = Visible::of(job.status, job.status_reason.as_deref(), current);
    let after = Visible::of(status, status_reason.as_deref(), &attempt);
    if before == after && !stopped {
        return EventDecision::Ignore(Ignored::NothingVisibleChanged);
    }

    // A task that stopped gives its slots back in the write that records it; a retry
    // takes them again when its attempt launches.
    let slots = if stopped && !job.slots.is_empty() {
        SlotChange::Release(job.slots.clone())
    } else {
        SlotChange::Keep
    };
    let (queue, next_attempt) = match retry {
        Some(at) => (
            Some(Queued {
                reason: WaitReason::Retry,
                tries: 0,
                next_try_at: Some(at),
                outcome_unknown_since: None,
            }),
            Some(Attempt::new(current.number + 1, at)),
        ),
        // The task exists: whatever the queue said, the job no longer waits for a launch.
        None => (None, None),
    };
    EventDecision::Apply(Box::new(JobUpdate {
        owner: job.owner.clone(),
        updated_at: entered,
        attempt,
        status,
        status_reason,
        queue,
        slots,
        holds_slots: !job.slots.is_empty(),
        next_attempt,
        cancel_requested_at: job.cancel_requested_at,
        decided_after_cancel: job.cancel_requested_at.is_some(),
        guard: UpdateGuard::TaskEvent(TaskEventGuard {
            task_arn: observed.task_arn.clone(),
            version: observed.version,
            stopped,
            timed_out: current.timed_out_after.is_some(),
        }),
    }))
}

/// What the job's own lifecycle makes of its task's status: a cancel the owner asked for,
/// a timeout the service enforced, and the retry policy's verdict on a failed attempt.
/// Answers the job's status and reason, and when the next attempt starts if there is one.
fn lifecycle(
    job: &Job,
    observed: &TaskObservation,
    status: JobStatus,
    reason: Option<String>,
    entered_at: DateTime<Utc>,
    jitter: f64,
) -> (JobStatus, Option<String>, Option<DateTime<Utc>>) {
    let current = job.current_attempt();
    if job.cancel_requested_at.is_some() {
        return if status.is_terminal() {
            (JobStatus::Cancelled, Some(CANCELLED.to_owned()), None)
        } else {
            (JobStatus::Stopping, Some(CANCELLING.to_owned()), None)
        };
    }
    let timed_out = current.timed_out_after.map(timed_out_after);
    if status != JobStatus::Failed {
        let reason = match (&timed_out, status.is_terminal()) {
            (Some(timed_out), false) => Some(format!("{timed_out}; stopping the task")),
            _ => reason,
        };
        return (status, reason, None);
    }

    let reason = timed_out.clone().or(reason).unwrap_or_default();
    let container_reason = observed.container(&job.container).and_then(|c| c.reason.as_deref());
    let failure = AttemptFailure {
        exit_code: observed.container(&job.container).and_then(|c| c.exit_code),
        stop_code: observed.stop_code.as_deref(),
        reasons: [observed.stopped_reason.as_deref(), container_reason, Some(&reason)],
        timed_out: timed_out.is_some(),
    };
    let number = current.number;
    let policy = &job.retry;
    // A newer STOPPED report correcting a verdict already written (ECS filling in an exit
    // code) may change the reason, never reopen the job: a finished job left the index
    // of unfinished work, and nothing brings a terminal status back.
    let decision = match policy.decide(number, &failure) {
        RetryDecision::Retry if job.status.is_terminal() => RetryDecision::Exit(ExitWhy::AlreadyFinal),
        decision => decision,
    };
    match decision {
        RetryDecision::Retry => {
            let at = after(entered_at, policy.delay(number, jitter));
            let text = format!(
                "attempt {number} of {} failed: {reason}; attempt {} starts at {}",
                policy.attempts,
                number + 1,
                at_text(at)
            );
            (JobStatus::Submitted, Some(text), Some(at))
        }
        RetryDecision::Exit(why) => {
            let mut text = reason;
            if let ExitWhy::Rule(rule) = why {
                text.push_str(&format!("; not retried: retry rule {rule} says EXIT"));
            }
            if number > 1 {
                text.push_str(&format!("; {number} attempts ran"));
            }
            (JobStatus::Failed, Some(text), None)
        }
    }
}

/// The reason of an attempt the service stopped for its timeout; also what StopTask is
/// told, and so ECS's `stoppedReason`.
pub(super) fn timed_out_after(seconds: u64) -> String {
    format!("timed out after {seconds} s")
}

/// The reason of a job whose cancel is under way, and of one cancelled.
pub const CANCELLING: &str = "cancelling: its owner asked to stop it; waiting for ECS to stop the task";
pub const CANCELLED: &str = "cancelled by its owner";

/// The fields whose change is worth a write.
#[derive(PartialEq, Eq)]
struct Visible<'a> {
    status: JobStatus,
    status_reason: Option<&'a str>,
    task_arn: Option<&'a str>,
    started_at: Option<DateTime<Utc>>,
    stopped_at: Option<DateTime<Utc>>,
}

impl<'a> Visible<'a> {
    fn of(status: JobStatus, status_reason: Option<&'a str>, attempt: &'a Attempt) -> Self {
        Self {
            status,
            status_reason,
            task_arn: attempt.task_arn.as_deref(),
            started_at: attempt.started_at,
            stopped_at: attempt.stopped_at,
        }
    }
}

/// The job status an ECS task status means, with the verdict for a stopped task.
pub fn status_for(observed: &TaskObservation, container: &str) -> (JobStatus, Option<String>) {
    use EcsTaskStatus::*;
    match observed.last_status {
        Provisioning | Pending | Activating => (JobStatus::Starting, None),
        Running => (JobStatus::Running, None),
        Deactivating | Stopping | Deprovisioning => (JobStatus::Stopping, None),
        Stopped => verdict(observed, container),
    }
}

/// SUCCEEDED only when the task stopped because its essential container exited and the
/// job's container exited 0; every other stop is a failure with a reason to act on.
fn verdict(observed: &TaskObservation, container: &str) -> (JobStatus, Option<String>) {
    let stop_code = observed.stop_code();
    let job_container = observed.container(container);
    let exit_code = job_container.and_then(|c| c.exit_code);
    if stop_code == Some(StopCode::EssentialContainerExited) && exit_code == Some(0) {
        return (JobStatus::Succeeded, None);
    }

    let what = match (stop_code.as_ref(), job_container, exit_code) {
        (Some(StopCode::TaskFailedToStart), _, _) => "the task failed to start".to_owned(),
        (Some(StopCode::SpotInterruption), _, _) => "the Spot capacity was reclaimed".to_owned(),
        (Some(StopCode::TerminationNotice), _, _) => "the task received a termination notice".to_owned(),
        (Some(StopCode::InfrastructureHealth), _, _) => {
            "ECS stopped the task: its infrastructure was unhealthy".to_owned()
        }
        (Some(StopCode::UserInitiated), _, _) => "the task was stopped through the ECS API".to_owned(),
        (Some(StopCode::ServiceSchedulerInitiated), _, _) => "the ECS service scheduler stopped the task".to_owned(),
        (_, Some(_), Some(code)) => format!("container '{container}' exited with code {code}"),
        (_, Some(_), None) => format!("container '{container}' stopped without an exit code"),
        (_, None, _) => format!("container '{container}' is missing from the stopped task"),
    };
    // ECS's own words stay in the attempt's `stoppedReason`; the job's reason names only
    // their error class, because ECS's text carries account ids, image URIs and subnet ids.
    let error_class = observed
        .stopped_reason
        .as_deref()
        .or(job_container.and_then(|c| c.reason.as_deref()))
        .and_then(error_class);
    let code = observed.stop_code.as_deref().unwrap_or("no stop code");
    let reason = match error_class {
        Some(class) => format!("{what} ({code}: {class})"),
        None => format!("{what} ({code})"),
    };
    (JobStatus::Failed, Some(reason))
}

/// The error name an ECS message starts with ("CannotPullContainerError: pull image
/// manifest …" → "CannotPullContainerError"), if it starts with one.
fn error_class(message: &str) -> Option<&str> {
    let name = message.split(|c: char| !c.is_ascii_alphanumeric()).next()?;
    let is_class = ["Error", "Exception"]
        .iter()
        .any(|suffix| name.len() > suffix.len() && name.ends_with(suffix));
    is_class.then_some(name)
}

/// When the task entered the state that gives `status`, from the event's cumulative
/// timestamps, so that the same state always yields the same `updatedAt`.
fn entered_at(observed: &TaskObservation, status: JobStatus) -> Option<DateTime<Utc>> {
    let stamp = match status {
        JobStatus::Submitted | JobStatus::Starting => observed.created_at,
        JobStatus::Running => observed.started_at,
        JobStatus::Stopping => observed.stopping_at.or(observed.execution_stopped_at),
        JobStatus::Succeeded | JobStatus::Failed | JobStatus::Cancelled => observed.stopped_at,
    };
    stamp.or(observed.updated_at)
}
