//! The two things the service needs from the outside world, in domain terms only.
//!
//! Adapters: [`crate::adapters::dynamodb`] and [`crate::adapters::ecs`] in production,
//! [`crate::adapters::memory`] and `crate::testing::launcher` on one machine.
//! Conditional-write failures are outcomes here, not errors: under at-least-once delivery
//! they are normal, and only the adapter knows how its engine reports them.

use std::future::Future;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{
    Job, JobId, JobPage, JobUpdate, ListRequest, SlotClaim, StartedBy, TaskObservation, JOB_ATTEMPT_VARIABLE,
    JOB_ID_VARIABLE,
};

/// The cause of an adapter's failure, kept for the log.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// An error and its causes, outermost first ("a: b: c"), for the log.
pub fn with_causes(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// What happened to a create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    Inserted,
    /// A job with this id exists already (a replayed idempotent request): here it is.
    AlreadyExists(Box<Job>),
    /// A slot the job was to take with its creation is not free: nothing was written.
    LimitReached,
}

/// What happened to a conditional update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Updated {
    Applied,
    /// The update's guard no longer held (a newer event, a terminal job, a launch already
    /// recorded): the store is unchanged.
    GuardFailed,
    /// The update was to take a concurrency slot and none is free: the store is unchanged.
    LimitReached,
}

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store did not answer (throttled, unreachable, timed out): the operation may or
    /// may not have happened, and retrying it is safe.
    #[error("the job store did not answer to {operation}")]
    Unavailable {
        operation: &'static str,
        #[source]
        source: Cause,
    },
    /// What the store holds is not a job this service wrote, or a job cannot be written:
    /// a defect, not a passing condition.
    #[error("job {job_id}: {problem}")]
    Invalid {
        job_id: String,
        problem: &'static str,
        #[source]
        source: Option<Cause>,
    },
}

/// Where jobs live. Every write is conditional, so that concurrent and repeated callers
/// cannot lose each other's updates.
///
/// Concurrency slots are counters beside the jobs: taking one (with a job's creation or
/// an update) and giving it back happen in the same atomic write as the job's change, so
/// a crash can never leave a slot taken by nobody or a job running without its slot.
pub trait JobStore: Send + Sync {
    /// Inserts `job` unless a job with its id exists, taking one slot of each claim in the
    /// same write (`job` already lists them as held), only if every pool has one free.
    fn create(&self, job: &Job, claims: &[SlotClaim]) -> impl Future<Output = Result<Created, StoreError>> + Send;

    fn get(&self, id: JobId) -> impl Future<Output = Result<Option<Job>, StoreError>> + Send;

    /// The jobs among `ids` that exist, in no particular order (read in batches, and
    /// possibly a moment stale: callers write only under guards).
    fn get_many(&self, ids: &[JobId]) -> impl Future<Output = Result<Vec<Job>, StoreError>> + Send;

    /// Applies `update` to the job `id` only if the update's guard holds at write time.
    fn update(&self, id: JobId, update: &JobUpdate) -> impl Future<Output = Result<Updated, StoreError>> + Send;

    /// Every job that is not finished: what the reconciler looks at. Costs in proportion
    /// to unfinished jobs, never to the table.
    fn unfinished(&self) -> impl Future<Output = Result<Vec<JobId>, StoreError>> + Send;

    /// Up to `limit` jobs of `definition` waiting for their launch, oldest first.
    fn queued(&self, definition: &str, limit: usize) -> impl Future<Output = Result<Vec<JobId>, StoreError>> + Send;

    /// One page of an owner's jobs, newest first: exactly [`crate::domain::page_of`] over
    /// the owner's jobs. Reads in proportion to the page, never to the owner's other jobs
    /// (the DynamoDB adapter answers from indexes by owner, status and definition). A job
    /// may appear a moment after its creation or status change (the indexes are
    /// eventually consistent), never in a page it does not belong to.
    fn list(&self, request: &ListRequest) -> impl Future<Output = Result<JobPage, StoreError>> + Send;
}

/// One task to run for one attempt of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRequest {
    pub task_definition: String,
    pub container: String,
    /// The container's extra environment: `JOB_ID`, `JOB_ATTEMPT` and the parameters.
    pub environment: Vec<(String, String)>,
    /// Names job and attempt; also the source of the idempotency token of the launch.
    pub started_by: StartedBy,
}

impl TaskRequest {
    /// The task of `job`'s current attempt: the container gets `JOB_ID`, `JOB_ATTEMPT` and
    /// the job's parameters.
    pub fn for_current_attempt(job: &Job, task_definition: &str) -> Self {
        let started_by = StartedBy {
            job_id: job.id,
            attempt: job.current_attempt().number,
        };
        let mut environment = vec![
            (JOB_ID_VARIABLE.to_owned(), job.id.to_string()),
            (JOB_ATTEMPT_VARIABLE.to_owned(), started_by.attempt.to_string()),
        ];
        environment.extend(job.parameters.iter().map(|(k, v)| (k.clone(), v.clone())));
        Self {
            task_definition: task_definition.to_owned(),
            container: job.container.clone(),
            environment,
            started_by,
        }
    }

    /// ECS's limit on a RunTask's `overrides`, counted on their JSON including the
    /// formatting characters.
    pub const MAX_OVERRIDES_BYTES: usize = 8192;

    /// The size ECS counts against [`Self::MAX_OVERRIDES_BYTES`]: the whole task override
    /// as the launcher sends it, `{"containerOverrides":[{"name":…,"environment":[…]}]}`,
    /// in bytes of its JSON.
    pub fn overrides_bytes(&self) -> usize {
        let environment: Vec<_> = self
            .environment
            .iter()
            .map(|(name, value)| serde_json::json!({ "name": name, "value": value }))
            .collect();
        let overrides = serde_json::json!({
            "containerOverrides": [{ "name": self.container, "environment": environment }]
        });
        overrides.to_string().len()
    }
}

/// ECS's answer to a launch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Launched {
    /// The task exists (or existed already for this attempt's token).
    Started { task_arn: String },
    /// ECS refused the call for its rate limit: no task was started.
    Throttled,
    /// ECS refused for good (`failures[]`, missing task definition or cluster, invalid
    /// parameters, access denied): no task exists and none will.
    Refused(LaunchRefusal),
}

/// Why ECS refused a task, by category. Each has a fixed text a person can act on: ECS's
/// own messages carry account ids, role ARNs and subnet ids, so they go to the log only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaunchRefusal {
    /// `failures[]` with a `RESOURCE:*` reason or "Capacity is unavailable".
    NoCapacity,
    /// The account's quota of concurrently running tasks.
    TaskQuotaReached,
    TaskDefinitionNotFound,
    ClusterNotFound,
    /// `iam:PassRole` on the task or execution role was denied.
    CannotPassRole,
    /// ECS's service-linked role `AWSServiceRoleForECS` is missing or cannot be assumed.
    ServiceLinkedRole,
    AccessDenied,
    /// A subnet or security group does not exist or does not fit the task.
    InvalidNetwork,
    /// Any other invalid parameter of the request.
    InvalidRequest,
    /// The task definition cannot run on the Fargate platform or this account's features.
    PlatformUnsupported,
    AccountBlocked,
    /// Any other `failures[]` entry.
    NotPlaced,
}

impl LaunchRefusal {
    /// Capacity comes back: the launch waits and is tried again. Every other refusal
    /// needs a person to change something, so the job fails at once.
    pub fn is_transient(self) -> bool {
        matches!(self, Self::NoCapacity | Self::TaskQuotaReached)
    }

    pub fn describe(self) -> &'static str {
        match self {
            Self::NoCapacity => "no capacity in the chosen subnets",
            Self::TaskQuotaReached => "the account's quota of running tasks is reached",
            Self::TaskDefinitionNotFound => "the task definition does not exist or has no ACTIVE revision",
            Self::ClusterNotFound => "the ECS cluster does not exist",
            Self::CannotPassRole => "ECS could not pass the task role",
            Self::ServiceLinkedRole => "ECS cannot use its service-linked role AWSServiceRoleForECS",
            Self::AccessDenied => "the service is not allowed to run this task",
            Self::InvalidNetwork => "the configured subnets or security groups are invalid",
            Self::InvalidRequest => "ECS rejected the task's parameters",
            Self::PlatformUnsupported => "the task definition cannot run on this Fargate platform",
            Self::AccountBlocked => "the AWS account is blocked from running tasks",
            Self::NotPlaced => "ECS could not place the task",
        }
    }
}

impl std::fmt::Display for LaunchRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.describe())
    }
}

/// ECS did not give a definite answer (throttled, unavailable, timed out, a concurrent
/// launch with the same token in flight): the task may or may not exist, and retrying
/// with the same request is safe.
#[derive(Debug, thiserror::Error)]
#[error("the launch outcome is unknown")]
pub struct LaunchError {
    #[source]
    pub source: Cause,
}

impl LaunchError {
    pub fn new(source: impl Into<Cause>) -> Self {
        Self { source: source.into() }
    }
}

/// Runs tasks.
pub trait TaskLauncher: Send + Sync {
    /// Runs the task, idempotently per `request.started_by`.
    fn launch(&self, request: &TaskRequest) -> impl Future<Output = Result<Launched, LaunchError>> + Send;
}

/// What ECS says about one task it was asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskLookup {
    Found(TaskObservation),
    /// ECS does not know the task (any more): its final state is lost.
    Missing {
        task_arn: String,
    },
}

/// ECS could not be asked (throttled, unavailable): try again on the next pass.
#[derive(Debug, thiserror::Error)]
#[error("ECS did not answer {operation}")]
pub struct InspectError {
    pub operation: &'static str,
    #[source]
    pub source: Cause,
}

/// Asks ECS about tasks, for the reconciler.
pub trait TaskInspector: Send + Sync {
    /// The most tasks one call may ask about (DescribeTasks takes 100).
    const BATCH: usize = 100;

    /// What ECS knows about each of `task_arns` (at most [`Self::BATCH`]).
    fn describe(&self, task_arns: &[String]) -> impl Future<Output = Result<Vec<TaskLookup>, InspectError>> + Send;

    /// The task an attempt's launch started, if ECS knows one (running or stopped).
    fn find(&self, started_by: StartedBy) -> impl Future<Output = Result<Option<String>, InspectError>> + Send;
}

/// ECS did not take a StopTask (throttled, unavailable). It is asked again: by the
/// reconciler for a cancel or a timeout (the job records it), by the launch queue's
/// redelivery for a task no job wants.
#[derive(Debug, thiserror::Error)]
#[error("ECS did not stop task {task_arn}")]
pub struct StopError {
    pub task_arn: String,
    #[source]
    pub source: Cause,
}

/// Stops tasks: a cancel, a timeout, a task whose job no longer wants it.
pub trait TaskStopper: Send + Sync {
    /// Asks ECS to stop `task_arn`, giving `reason` (ECS shows it as the task's
    /// `stoppedReason`). Stopping a task that has stopped already is not an error.
    fn stop(&self, task_arn: &str, reason: &str) -> impl Future<Output = Result<(), StopError>> + Send;
}

/// What time it is. The system clock in production; tests move a manual one.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A message on the launch queue: what the launcher should look at, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum LaunchMessage {
    /// The job's next launch try is due.
    #[serde(rename_all = "camelCase")]
    Due { job_id: String },
    /// A job of `definition` gave its slot back: start the oldest job waiting for one.
    #[serde(rename_all = "camelCase")]
    SlotFreed { definition: String },
    /// A task runs that no job wants (its job was cancelled, or finished, while its
    /// launch was in flight, or a second task carries an attempt's `startedBy`): stop it.
    /// Sent wherever such a task is seen, so that only the launcher needs the right to
    /// stop tasks.
    #[serde(rename_all = "camelCase")]
    StopTask { task_arn: String, reason: String },
    /// Attempt `attempt` of job `job_id` was cancelled before any task was recorded for
    /// it, but a launch of it may have started one (in flight, or its answer lost): look
    /// for that task by `startedBy` and stop it. Sent delayed past any launch in flight.
    #[serde(rename_all = "camelCase")]
    CancelledLaunch { job_id: String, attempt: u32 },
}

/// The launch queue could not take a message. Never fatal: the reconciler finds every
/// waiting job on its next pass.
#[derive(Debug, thiserror::Error)]
#[error("the launch queue did not take the message")]
pub struct QueueError {
    #[source]
    pub source: Cause,
}

/// Delivers [`LaunchMessage`]s to the launcher, each no earlier than asked.
pub trait LaunchQueue: Send + Sync {
    fn send(
        &self,
        message: &LaunchMessage,
        not_before: Option<DateTime<Utc>>,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;
}

/// One line of a container's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEvent {
    pub timestamp: DateTime<Utc>,
    pub message: String,
}

/// A stretch of a log, and where the next one starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogPage {
    pub events: Vec<LogEvent>,
    /// The reader's own position after these events, to pass back as `from`.
    pub next: String,
    /// Nothing was left to read at `from` when the page was read: a stopped container's
    /// log is complete.
    pub caught_up: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The position given is not one this reader handed out, or it has expired.
    #[error("the log position is not valid")]
    InvalidPosition,
    #[error("the log store did not answer")]
    Unavailable(#[source] Cause),
}

/// Where container logs are read: CloudWatch Logs on AWS, files on one machine.
pub trait LogReader: Send + Sync {
    /// The lines of `at` from `from` (`None`: the stream's start), oldest first. A stream
    /// that does not exist yet (its container has not started or not logged) reads as
    /// empty and caught up at `from`.
    fn read(
        &self,
        at: &crate::domain::LogLocation,
        from: Option<&str>,
    ) -> impl Future<Output = Result<LogPage, LogError>> + Send;
}

/// A shared adapter is still an adapter: one store can serve several handlers.
impl<T: JobStore + ?Sized> JobStore for std::sync::Arc<T> {
    fn create(&self, job: &Job, claims: &[SlotClaim]) -> impl Future<Output = Result<Created, StoreError>> + Send {
        (**self).create(job, claims)
    }

    fn get(&self, id: JobId) -> impl Future<Output = Result<Option<Job>, StoreError>> + Send {
        (**self).get(id)
    }

    fn get_many(&self, ids: &[JobId]) -> impl Future<Output = Result<Vec<Job>, StoreError>> + Send {
        (**self).get_many(ids)
    }

    fn update(&self, id: JobId, update: &JobUpdate) -> impl Future<Output = Result<Updated, StoreError>> + Send {
        (**self).update(id, update)
    }

    fn unfinished(&self) -> impl Future<Output = Result<Vec<JobId>, StoreError>> + Send {
        (**self).unfinished()
    }

    fn queued(&self, definition: &str, limit: usize) -> impl Future<Output = Result<Vec<JobId>, StoreError>> + Send {
        (**self).queued(definition, limit)
    }

    fn list(&self, request: &ListRequest) -> impl Future<Output = Result<JobPage, StoreError>> + Send {
        (**self).list(request)
    }
}

impl<T: LogReader + ?Sized> LogReader for std::sync::Arc<T> {
    fn read(
        &self,
        at: &crate::domain::LogLocation,
        from: Option<&str>,
    ) -> impl Future<Output = Result<LogPage, LogError>> + Send {
        (**self).read(at, from)
    }
}

impl<T: TaskLauncher + ?Sized> TaskLauncher for std::sync::Arc<T> {
    fn launch(&self, request: &TaskRequest) -> impl Future<Output = Result<Launched, LaunchError>> + Send {
        (**self).launch(request)
    }
}

impl<T: TaskInspector + ?Sized> TaskInspector for std::sync::Arc<T> {
    fn describe(&self, task_arns: &[String]) -> impl Future<Output = Result<Vec<TaskLookup>, InspectError>> + Send {
        (**self).describe(task_arns)
    }

    fn find(&self, started_by: StartedBy) -> impl Future<Output = Result<Option<String>, InspectError>> + Send {
        (**self).find(started_by)
    }
}

impl<T: TaskStopper + ?Sized> TaskStopper for std::sync::Arc<T> {
    fn stop(&self, task_arn: &str, reason: &str) -> impl Future<Output = Result<(), StopError>> + Send {
        (**self).stop(task_arn, reason)
    }
}

impl<T: LaunchQueue + ?Sized> LaunchQueue for std::sync::Arc<T> {
    fn send(
        &self,
        message: &LaunchMessage,
        not_before: Option<DateTime<Utc>>,
    ) -> impl Future<Output = Result<(), QueueError>> + Send {
        (**self).send(message, not_before)
    }
}
