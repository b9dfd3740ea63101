//! The two things the service needs from the outside world, in domain terms only.
//!
//! Adapters: [`crate::dynamodb`] and [`crate::ecs`] in production, [`crate::memory`] in
//! tests. Conditional-write failures are outcomes here, not errors: under at-least-once
//! delivery they are normal, and only the adapter knows how its engine reports them.

use std::future::Future;

use crate::domain::{Job, JobId, JobUpdate, StartedBy};

/// What happened to a create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    Inserted,
    /// A job with this id exists already (a replayed idempotent request): here it is.
    AlreadyExists(Box<Job>),
}

/// What happened to a conditional update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Updated {
    Applied,
    /// The update's guard no longer held (a newer event, a terminal job, a launch already
    /// recorded): the store is unchanged.
    GuardFailed,
}

/// The store could not answer; the operation may or may not have happened.
#[derive(Debug, thiserror::Error)]
#[error("job store unavailable: {0}")]
pub struct StoreError(pub String);

/// Where jobs live. Every write is conditional, so that concurrent and repeated callers
/// cannot lose each other's updates.
pub trait JobStore: Send + Sync {
    /// Inserts `job` unless a job with its id exists.
    fn create(&self, job: &Job) -> impl Future<Output = Result<Created, StoreError>> + Send;

    fn get(&self, id: JobId) -> impl Future<Output = Result<Option<Job>, StoreError>> + Send;

    /// Applies `update` to the job `id` only if the update's guard holds at write time.
    fn update(&self, id: JobId, update: &JobUpdate) -> impl Future<Output = Result<Updated, StoreError>> + Send;
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
    /// ECS's limit on the JSON of a RunTask's `overrides.containerOverrides`.
    pub const MAX_OVERRIDES_CHARS: usize = 8192;

    /// The size ECS counts against [`Self::MAX_OVERRIDES_CHARS`]: the container overrides
    /// as JSON, exactly as the launcher sends them.
    pub fn overrides_chars(&self) -> usize {
        let environment: Vec<_> = self
            .environment
            .iter()
            .map(|(name, value)| serde_json::json!({ "name": name, "value": value }))
            .collect();
        let overrides = serde_json::json!([{ "name": self.container, "environment": environment }]);
        overrides.to_string().chars().count()
    }
}

/// ECS's answer to a launch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Launched {
    /// The task exists (or existed already for this attempt's token).
    Started { task_arn: String },
    /// ECS refused for good (`failures[]`, missing task definition, bad network
    /// configuration, access denied): no task exists and none will.
    Refused { reason: String },
}

/// ECS did not give a definite answer (throttled, unavailable, timed out): the task may
/// or may not exist, and retrying with the same request is safe.
#[derive(Debug, thiserror::Error)]
#[error("task launcher unavailable: {0}")]
pub struct LaunchError(pub String);

/// Runs tasks.
pub trait TaskLauncher: Send + Sync {
    /// Runs the task, idempotently per `request.started_by`.
    fn launch(&self, request: &TaskRequest) -> impl Future<Output = Result<Launched, LaunchError>> + Send;
}

/// A shared adapter is still an adapter: one store can serve several handlers.
impl<T: JobStore + ?Sized> JobStore for std::sync::Arc<T> {
    fn create(&self, job: &Job) -> impl Future<Output = Result<Created, StoreError>> + Send {
        (**self).create(job)
    }

    fn get(&self, id: JobId) -> impl Future<Output = Result<Option<Job>, StoreError>> + Send {
        (**self).get(id)
    }

    fn update(&self, id: JobId, update: &JobUpdate) -> impl Future<Output = Result<Updated, StoreError>> + Send {
        (**self).update(id, update)
    }
}

impl<T: TaskLauncher + ?Sized> TaskLauncher for std::sync::Arc<T> {
    fn launch(&self, request: &TaskRequest) -> impl Future<Output = Result<Launched, LaunchError>> + Send {
        (**self).launch(request)
    }
}
