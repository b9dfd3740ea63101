//! The job domain: what a job is, and the pure rules that move it.
//!
//! Nothing here performs I/O or sees an SDK type. Stores apply a [`JobUpdate`] only if
//! its [`UpdateGuard`] still holds at write time (a conditional write in DynamoDB), which
//! is what makes the rules safe under concurrent, duplicated and reordered deliveries.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ecs_event::{EcsTaskStatus, StopCode, TaskStateChange};

/// Namespace for job ids derived from an `Idempotency-Key` (UUID v5): the same owner and
/// key always name the same job, so a replay is caught by the create's own condition.
const IDEMPOTENT_JOB_NAMESPACE: Uuid = Uuid::from_u128(0x6a0b_3c1e_52f4_4c8e_9d7a_2f61_0b9e_44d3);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(Uuid);

impl JobId {
    pub fn random() -> Self {
        Self(Uuid::new_v4())
    }

    /// The job a keyed request names. The owner is part of the name, so two callers
    /// using the same key never meet.
    pub fn for_idempotency_key(owner: &Owner, key: &IdempotencyKey) -> Self {
        let name = format!("{}\n{}", owner.as_str(), key.as_str());
        Self(Uuid::new_v5(&IDEMPOTENT_JOB_NAMESPACE, name.as_bytes()))
    }

    /// Accepts only the canonical hyphenated form this service hands out.
    pub fn parse(value: &str) -> Option<Self> {
        if value.len() != 36 {
            return None;
        }
        Uuid::try_parse(value).ok().map(Self)
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// The stable identity a job belongs to, derived from the authenticated caller.
///
/// What identifies a caller is what stays the same across its credential refreshes and
/// what the caller cannot choose: an IAM user or root as its ARN; an assumed-role session
/// as its role (the session name is picked by whoever assumes the role and changes with
/// every refresh); a JWT caller as issuer and subject together, so that two identity
/// providers' subjects never meet.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Owner(String);

impl Owner {
    /// An owner exactly as given (a stored owner, or a fixed local principal).
    pub fn new(principal: impl Into<String>) -> Option<Self> {
        let principal = principal.into();
        (!principal.trim().is_empty()).then_some(Self(principal))
    }

    /// The owner for an IAM caller ARN: `arn:aws:sts::<account>:assumed-role/<role>/<session>`
    /// owns jobs as `arn:aws:iam::<account>:role/<role>`; users, roots and federated
    /// users own them as their ARN. A malformed assumed-role ARN is no identity.
    pub fn from_iam_caller(caller_arn: &str) -> Option<Self> {
        let caller_arn = caller_arn.trim();
        let parts: Vec<&str> = caller_arn.splitn(6, ':').collect();
        let [arn, partition, "sts", "", account, resource] = parts.as_slice() else {
            return Self::new(caller_arn);
        };
        let Some(role_and_session) = resource.strip_prefix("assumed-role/") else {
            return Self::new(caller_arn);
        };
        let (role, session) = role_and_session.split_once('/')?;
        let valid = *arn == "arn" && !partition.is_empty() && !account.is_empty();
        (valid && !role.is_empty() && !session.is_empty())
            .then(|| Self(format!("arn:{partition}:iam::{account}:role/{role}")))
    }

    /// The owner for a JWT caller: `jwt:<issuer>#<subject>`. `#` and `%` in the issuer are
    /// percent-encoded, so the first `#` always ends the issuer and no two (issuer,
    /// subject) pairs share an owner.
    pub fn from_jwt(issuer: &str, subject: &str) -> Option<Self> {
        if issuer.trim().is_empty() || subject.trim().is_empty() {
            return None;
        }
        let issuer = issuer.replace('%', "%25").replace('#', "%23");
        Some(Self(format!("jwt:{issuer}#{subject}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A client's `Idempotency-Key`: 1 to 255 printable ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub const MAX_LEN: usize = 255;

    pub fn parse(value: &str) -> Option<Self> {
        let valid = (1..=Self::MAX_LEN).contains(&value.len()) && value.bytes().all(|b| (0x20..=0x7e).contains(&b));
        valid.then(|| Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A kind of job clients may run: the ECS task definition behind it, the container that
/// does the work, and the parameters (environment variables) a request may set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobDefinition {
    /// A family (latest ACTIVE revision), `family:revision` or an ARN.
    pub task_definition: String,
    /// The container whose exit code decides the job, and which gets the parameters.
    pub container: String,
    pub parameters: BTreeSet<String>,
}

impl JobDefinition {
    /// Environment variables the service sets in every job's container.
    pub const RESERVED: [&'static str; 2] = ["JOB_ID", "JOB_ATTEMPT"];

    /// Why this definition cannot be offered to clients, if it cannot.
    pub fn problem(&self) -> Option<String> {
        if self.task_definition.trim().is_empty() || self.container.trim().is_empty() {
            return Some("needs a task definition and a container".to_owned());
        }
        if let Some(bad) = self.parameters.iter().find(|p| !is_environment_name(p)) {
            return Some(format!(
                "declares {bad:?}, which is not a valid environment variable name"
            ));
        }
        if let Some(reserved) = self.parameters.iter().find(|p| Self::RESERVED.contains(&p.as_str())) {
            return Some(format!("declares {reserved:?}, which the service sets itself"));
        }
        None
    }
}

/// Letters, digits and `_`, not starting with a digit: what every shell accepts.
fn is_environment_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The configured job definitions, by the name clients use.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JobDefinitions(BTreeMap<String, JobDefinition>);

impl JobDefinitions {
    pub fn new(definitions: BTreeMap<String, JobDefinition>) -> Self {
        Self(definitions)
    }

    pub fn get(&self, name: &str) -> Option<&JobDefinition> {
        self.0.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &JobDefinition)> {
        self.0.iter().map(|(name, definition)| (name.as_str(), definition))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    Submitted,
    Starting,
    Running,
    Stopping,
    Succeeded,
    Failed,
    Cancelled,
}

impl JobStatus {
    pub const NON_TERMINAL: [JobStatus; 4] = [Self::Submitted, Self::Starting, Self::Running, Self::Stopping];

    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submitted => "SUBMITTED",
            Self::Starting => "STARTING",
            Self::Running => "RUNNING",
            Self::Stopping => "STOPPING",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::Cancelled => "CANCELLED",
        }
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One run of the job as one ECS task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub number: u32,
    pub task_arn: Option<String>,
    pub task_status: Option<EcsTaskStatus>,
    pub stop_code: Option<String>,
    pub stopped_reason: Option<String>,
    /// Exit code of the job's own container (not of sidecars).
    pub exit_code: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub stopped_at: Option<DateTime<Utc>>,
    /// `detail.version` of the last ECS event written into this attempt; internal.
    pub event_version: Option<u64>,
}

impl Attempt {
    fn new(number: u32, now: DateTime<Utc>) -> Self {
        Self {
            number,
            task_arn: None,
            task_status: None,
            stop_code: None,
            stopped_reason: None,
            exit_code: None,
            created_at: now,
            started_at: None,
            stopped_at: None,
            event_version: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: JobId,
    pub owner: Owner,
    pub definition: String,
    /// The definition's job container, recorded at creation so that a later change of
    /// configuration never reinterprets the events of a job already running.
    pub container: String,
    pub parameters: BTreeMap<String, String>,
    pub idempotency_key: Option<String>,
    pub status: JobStatus,
    pub status_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Never empty: a job is created with its first attempt.
    pub attempts: Vec<Attempt>,
}

/// What a new job is made of, once the request has been validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    pub id: JobId,
    pub owner: Owner,
    pub definition: String,
    pub container: String,
    pub parameters: BTreeMap<String, String>,
    pub idempotency_key: Option<IdempotencyKey>,
}

impl Job {
    pub fn submitted(new: NewJob, now: DateTime<Utc>) -> Self {
        Self {
            id: new.id,
            owner: new.owner,
            definition: new.definition,
            container: new.container,
            parameters: new.parameters,
            idempotency_key: new.idempotency_key.map(|k| k.0),
            status: JobStatus::Submitted,
            status_reason: None,
            created_at: now,
            updated_at: now,
            attempts: vec![Attempt::new(1, now)],
        }
    }

    pub fn current_attempt(&self) -> Option<&Attempt> {
        self.attempts.last()
    }

    /// Recorded, but no task is known for the current attempt yet: the launch has not
    /// happened, or its outcome was lost (crash, timeout) and may be retried.
    pub fn awaiting_launch(&self) -> bool {
        self.status == JobStatus::Submitted && self.current_attempt().is_some_and(|a| a.task_arn.is_none())
    }

    /// ECS refused to run the current attempt: no task exists and none ever will.
    pub fn failed_at_launch(&self) -> bool {
        self.status == JobStatus::Failed && self.current_attempt().is_some_and(|a| a.task_arn.is_none())
    }

    /// Whether a request carries the same body as the one that created this job.
    pub fn matches_request(&self, definition: &str, parameters: &BTreeMap<String, String>) -> bool {
        self.definition == definition && &self.parameters == parameters
    }

    /// When the job started running: its first attempt that reached a container.
    pub fn started_at(&self) -> Option<DateTime<Utc>> {
        self.attempts.iter().find_map(|a| a.started_at)
    }

    /// When the job reached its terminal status.
    pub fn stopped_at(&self) -> Option<DateTime<Utc>> {
        if !self.status.is_terminal() {
            return None;
        }
        Some(
            self.current_attempt()
                .and_then(|a| a.stopped_at)
                .unwrap_or(self.updated_at),
        )
    }

    /// ECS accepted the task: the job is STARTING from here on, so the PROVISIONING event
    /// that follows costs no write. RunTask creates tasks in PROVISIONING; whatever
    /// status its answer echoes carries no event version, so only events move the job on.
    pub fn launched(&self, task_arn: String, now: DateTime<Utc>) -> Option<JobUpdate> {
        let mut attempt = self.current_attempt()?.clone();
        attempt.task_arn = Some(task_arn);
        attempt.task_status = Some(EcsTaskStatus::Provisioning);
        Some(JobUpdate {
            attempt,
            status: JobStatus::Starting,
            status_reason: None,
            updated_at: now,
            guard: UpdateGuard::AwaitingLaunch,
        })
    }

    /// ECS refused the task for good: the job fails with a reason a person can act on.
    pub fn launch_refused(&self, reason: String, now: DateTime<Utc>) -> Option<JobUpdate> {
        Some(JobUpdate {
            attempt: self.current_attempt()?.clone(),
            status: JobStatus::Failed,
            status_reason: Some(reason),
            updated_at: now,
            guard: UpdateGuard::AwaitingLaunch,
        })
    }

    /// Whether a store may apply `update` to this job now. Stores that cannot express
    /// the guard as a native condition (the in-memory one) call this under their lock.
    pub fn guard_holds(&self, update: &JobUpdate) -> bool {
        let Some(current) = self.current_attempt() else {
            return false;
        };
        // Every update is for the job's current attempt: a late write decided for attempt
        // N never lands once attempt N+1 exists.
        if current.number != update.attempt.number {
            return false;
        }
        match &update.guard {
            UpdateGuard::AwaitingLaunch => self.status == JobStatus::Submitted && current.task_arn.is_none(),
            UpdateGuard::TaskEvent(event) => {
                let same_task = current.task_arn.as_deref().is_none_or(|arn| arn == event.task_arn);
                let newer = current.event_version.is_none_or(|v| v < event.version);
                let open = !self.status.is_terminal() || (event.stopped && self.verdict_of_a_stopped_task());
                same_task && newer && open
            }
        }
    }

    /// The job is SUCCEEDED or FAILED because a STOPPED event of its current task said
    /// so, and a newer STOPPED event of that task may still correct the verdict. Never
    /// true of a CANCELLED job or of a launch refusal.
    fn verdict_of_a_stopped_task(&self) -> bool {
        matches!(self.status, JobStatus::Succeeded | JobStatus::Failed)
            && self
                .current_attempt()
                .is_some_and(|a| a.task_status == Some(EcsTaskStatus::Stopped))
    }

    /// The job after `update` (the caller has checked the guard).
    pub fn apply(&mut self, update: &JobUpdate) {
        if let Some(slot) = self.attempts.iter_mut().find(|a| a.number == update.attempt.number) {
            *slot = update.attempt.clone();
        }
        self.status = update.status;
        self.status_reason.clone_from(&update.status_reason);
        self.updated_at = update.updated_at;
    }
}

/// A change to one attempt and the job status derived from it, with the condition under
/// which a store may write it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobUpdate {
    /// Replaces the stored attempt with the same number.
    pub attempt: Attempt,
    pub status: JobStatus,
    pub status_reason: Option<String>,
    pub updated_at: DateTime<Utc>,
    pub guard: UpdateGuard,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateGuard {
    /// The job is SUBMITTED and its current attempt has no task yet (launch outcomes).
    AwaitingLaunch,
    /// An ECS event of the current attempt's own task (see [`TaskEventGuard`]).
    TaskEvent(TaskEventGuard),
}

/// When an ECS event may be written: the attempt is the job's current one; its task is
/// this event's task, or none is recorded yet (the first task wins the race with the
/// launch); the stored version of that task is lower; and the job is not terminal, except
/// that a newer STOPPED event may replace the verdict an older STOPPED event of the same
/// task wrote. `version` is counted per task, so comparing it is only meaningful once
/// the task is known to be the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskEventGuard {
    pub task_arn: String,
    pub version: u64,
    /// The event reports the task STOPPED.
    pub stopped: bool,
}

/// What the service does with one ECS event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventDecision {
    Apply(JobUpdate),
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
/// Only fields a client sees decide whether to write (status, reason, task ARN, start
/// and stop times); the rest of the event (ECS lastStatus, stop code, exit code) rides
/// along with those writes. That keeps a successful job at one write per status:
/// created, STARTING, RUNNING, STOPPING, SUCCEEDED. Because the decisive fields are
/// monotonic in `version`, the final decisive state is that of the highest version,
/// whatever the delivery order. A STOPPED event is always written (ECS may send several
/// for one task, later ones filling in exit codes and reasons), so the highest STOPPED
/// version of the attempt's own task is the finished job, whatever the order.
pub fn decide(job: &Job, attempt_number: u32, event: &TaskStateChange) -> EventDecision {
    let current = match job.current_attempt() {
        Some(a) if a.number == attempt_number => a,
        _ => {
            return EventDecision::Ignore(Ignored::NotCurrentAttempt {
                attempt: attempt_number,
            })
        }
    };
    if let Some(recorded) = current.task_arn.as_deref().filter(|arn| *arn != event.task_arn) {
        return EventDecision::Ignore(Ignored::OtherTask {
            recorded: recorded.to_owned(),
            received: event.task_arn.clone(),
        });
    }
    if let Some(stored) = current.event_version {
        if stored == event.version {
            return EventDecision::Ignore(Ignored::Duplicate { version: stored });
        }
        if stored > event.version {
            return EventDecision::Ignore(Ignored::Stale {
                stored,
                received: event.version,
            });
        }
    }
    let stopped = event.last_status == EcsTaskStatus::Stopped;
    if job.status.is_terminal() && !(stopped && job.verdict_of_a_stopped_task()) {
        return EventDecision::Ignore(Ignored::JobTerminal { status: job.status });
    }

    let attempt = Attempt {
        number: current.number,
        task_arn: Some(event.task_arn.clone()),
        task_status: Some(event.last_status),
        stop_code: event.stop_code.clone(),
        stopped_reason: event.stopped_reason.clone(),
        exit_code: event.container(&job.container).and_then(|c| c.exit_code),
        created_at: current.created_at,
        started_at: event.started_at,
        stopped_at: event.stopped_at,
        event_version: Some(event.version),
    };
    let (status, status_reason) = status_for(event, &job.container);

    let before = Visible::of(job.status, job.status_reason.as_deref(), current);
    let after = Visible::of(status, status_reason.as_deref(), &attempt);
    if before == after && !stopped {
        return EventDecision::Ignore(Ignored::NothingVisibleChanged);
    }

    EventDecision::Apply(JobUpdate {
        updated_at: entered_at(event, status).unwrap_or(job.updated_at).max(job.created_at),
        attempt,
        status,
        status_reason,
        guard: UpdateGuard::TaskEvent(TaskEventGuard {
            task_arn: event.task_arn.clone(),
            version: event.version,
            stopped,
        }),
    })
}

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
pub fn status_for(event: &TaskStateChange, container: &str) -> (JobStatus, Option<String>) {
    use EcsTaskStatus::*;
    match event.last_status {
        Provisioning | Pending | Activating => (JobStatus::Starting, None),
        Running => (JobStatus::Running, None),
        Deactivating | Stopping | Deprovisioning => (JobStatus::Stopping, None),
        Stopped => verdict(event, container),
    }
}

/// SUCCEEDED only when the task stopped because its essential container exited and the
/// job's container exited 0; every other stop is a failure with a reason to act on.
fn verdict(event: &TaskStateChange, container: &str) -> (JobStatus, Option<String>) {
    let stop_code = event.stop_code();
    let job_container = event.container(container);
    let exit_code = job_container.and_then(|c| c.exit_code);
    if stop_code == Some(StopCode::EssentialContainerExited) && exit_code == Some(0) {
        return (JobStatus::Succeeded, None);
    }

    let what = match (stop_code.as_ref(), job_container, exit_code) {
        (Some(StopCode::TaskFailedToStart), _, _) => "the task failed to start".to_owned(),
        (Some(StopCode::SpotInterruption), _, _) => "the Spot capacity was reclaimed".to_owned(),
        (Some(StopCode::TerminationNotice), _, _) => "the task received a termination notice".to_owned(),
        (Some(StopCode::UserInitiated), _, _) => "the task was stopped through the ECS API".to_owned(),
        (Some(StopCode::ServiceSchedulerInitiated), _, _) => "the ECS service scheduler stopped the task".to_owned(),
        (_, Some(_), Some(code)) => format!("container '{container}' exited with code {code}"),
        (_, Some(_), None) => format!("container '{container}' stopped without an exit code"),
        (_, None, _) => format!("container '{container}' is missing from the stopped task"),
    };
    // ECS's own words stay in the attempt's `stoppedReason`; the job's reason names only
    // their error class, because ECS's text carries account ids, image URIs and subnet ids.
    let error_class = event
        .stopped_reason
        .as_deref()
        .or(job_container.and_then(|c| c.reason.as_deref()))
        .and_then(error_class);
    let code = event.stop_code.as_deref().unwrap_or("no stop code");
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
fn entered_at(event: &TaskStateChange, status: JobStatus) -> Option<DateTime<Utc>> {
    let stamp = match status {
        JobStatus::Submitted | JobStatus::Starting => event.created_at,
        JobStatus::Running => event.started_at,
        JobStatus::Stopping => event.stopping_at.or(event.execution_stopped_at),
        JobStatus::Succeeded | JobStatus::Failed | JobStatus::Cancelled => event.stopped_at,
    };
    stamp.or(event.updated_at)
}

/// `startedBy` of the tasks this service runs: names the job and the attempt, so an
/// event finds its job with one keyed read whether or not the task ARN is recorded yet.
/// Letters, digits, `-` and `/` only, well under ECS's 128 characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartedBy {
    pub job_id: JobId,
    pub attempt: u32,
}

impl StartedBy {
    /// Prefix the EventBridge rule filters on; tasks without it are not ours.
    pub const PREFIX: &'static str = "job-tracker/";

    pub fn parse(value: &str) -> Option<Self> {
        let (job_id, attempt) = value.strip_prefix(Self::PREFIX)?.split_once('/')?;
        let attempt: u32 = attempt.parse().ok().filter(|n| *n > 0)?;
        Some(Self {
            job_id: JobId::parse(job_id)?,
            attempt,
        })
    }

    /// RunTask's `clientToken` (≤ 64 ASCII): a retried launch of the same attempt gets
    /// the same task back from ECS instead of a second one.
    pub fn client_token(&self) -> String {
        format!("{}-{}", self.job_id, self.attempt)
    }
}

impl fmt::Display for StartedBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}/{}", Self::PREFIX, self.job_id, self.attempt)
    }
}

#[cfg(test)]
mod tests;
