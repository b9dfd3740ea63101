//! [`JobService`]: the use cases over the ports.

use std::collections::BTreeMap;

use chrono::Utc;

use crate::domain::{
    decide, EventDecision, IdempotencyKey, Ignored, Job, JobDefinitions, JobId, JobStatus, JobUpdate, NewJob, Owner,
    TaskObservation,
};
use crate::ports::{
    with_causes, Created, JobStore, LaunchError, Launched, StoreError, TaskLauncher, TaskRequest, Updated,
};

/// A validated-to-be request body of `POST /jobs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRequest {
    pub definition: String,
    pub parameters: BTreeMap<String, String>,
}

/// Why a use case did not give the caller what they asked for.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("unknown job definition {definition:?}")]
    UnknownDefinition { definition: String, known: Vec<String> },
    #[error("parameters {undeclared:?} are not declared by job definition {definition:?}")]
    UndeclaredParameters {
        definition: String,
        undeclared: Vec<String>,
        declared: Vec<String>,
    },
    #[error("parameter {parameter:?} contains a control character")]
    InvalidParameterValue { parameter: String },
    #[error("task overrides would be {bytes} bytes; ECS accepts at most {limit}")]
    OverridesTooLarge { bytes: usize, limit: usize },
    #[error("the Idempotency-Key was already used with a different request body")]
    IdempotencyKeyReused,
    #[error("job not found")]
    JobNotFound,
    /// ECS refused the task for good; the job is recorded as FAILED.
    #[error("ECS refused to run job {}: {}", job.id, job.status_reason.as_deref().unwrap_or("no reason given"))]
    LaunchRefused { job: Box<Job> },
    /// ECS gave no definite answer; the job is recorded SUBMITTED and its task may exist.
    /// `keyed` says whether the request carried an Idempotency-Key, with which a retry
    /// launches the job at most once.
    #[error("could not reach ECS to run job {job_id}")]
    LaunchUnavailable {
        job_id: JobId,
        keyed: bool,
        #[source]
        source: LaunchError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Something that cannot happen did: a defect, reported as such.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The use cases, holding what they need across invocations: the job store, the task
/// launcher and the configured job definitions. Functions that never launch a task (the
/// read API, the event handler) hold [`NoLauncher`], so submitting cannot even be written
/// there.
pub struct JobService<S, L = NoLauncher> {
    store: S,
    launcher: L,
    definitions: JobDefinitions,
}

/// The launcher of a [`JobService`] that does not launch tasks.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoLauncher;

impl<S: JobStore> JobService<S> {
    /// A service that reads jobs and applies task observations, and launches nothing.
    pub fn without_launcher(store: S) -> Self {
        Self {
            store,
            launcher: NoLauncher,
            definitions: JobDefinitions::default(),
        }
    }
}

impl<S: JobStore, L: TaskLauncher> JobService<S, L> {
    pub fn new(store: S, launcher: L, definitions: JobDefinitions) -> Self {
        Self {
            store,
            launcher,
            definitions,
        }
    }

    /// Records the job, then runs its first attempt and records the task.
    ///
    /// The order makes every crash safe: a job is recorded before anything runs, so no
    /// task runs unrecorded; the launch carries a token derived from job and attempt, so a
    /// client retrying with its `Idempotency-Key` reaches the same job and, through ECS's
    /// `clientToken`, the same task.
    pub async fn submit(
        &self,
        owner: Owner,
        request: JobRequest,
        idempotency_key: Option<IdempotencyKey>,
    ) -> Result<Job, ServiceError> {
        let definitions = &self.definitions;
        let definition = definitions
            .get(&request.definition)
            .ok_or_else(|| ServiceError::UnknownDefinition {
                definition: request.definition.clone(),
                known: definitions.iter().map(|(name, _)| name.to_owned()).collect(),
            })?;
        let undeclared: Vec<String> = request
            .parameters
            .keys()
            .filter(|name| !definition.parameters.contains(*name))
            .cloned()
            .collect();
        if !undeclared.is_empty() {
            return Err(ServiceError::UndeclaredParameters {
                definition: request.definition,
                undeclared,
                declared: definition.parameters.iter().cloned().collect(),
            });
        }
        // NUL, line breaks and other C0/C1 characters are refused rather than handed to
        // ECS and to the job's shell, where they would truncate or split the value.
        if let Some((parameter, _)) = request
            .parameters
            .iter()
            .find(|(_, value)| value.chars().any(char::is_control))
        {
            return Err(ServiceError::InvalidParameterValue {
                parameter: parameter.clone(),
            });
        }

        let id = match &idempotency_key {
            Some(key) => JobId::for_idempotency_key(&owner, key),
            None => JobId::random(),
        };
        let job = Job::submitted(
            NewJob {
                id,
                owner,
                definition: request.definition,
                container: definition.container.clone(),
                parameters: request.parameters,
                idempotency_key,
            },
            Utc::now(),
        );
        let task = TaskRequest::for_current_attempt(&job, &definition.task_definition);
        let bytes = task.overrides_bytes();
        if bytes > TaskRequest::MAX_OVERRIDES_BYTES {
            return Err(ServiceError::OverridesTooLarge {
                bytes,
                limit: TaskRequest::MAX_OVERRIDES_BYTES,
            });
        }

        let job = match self.store.create(&job).await? {
            Created::Inserted => job,
            Created::AlreadyExists(existing) => {
                if existing.owner != job.owner || !existing.matches_request(&job.definition, &job.parameters) {
                    return Err(ServiceError::IdempotencyKeyReused);
                }
                if !existing.awaiting_launch() {
                    return replayed(*existing);
                }
                // Recorded by an earlier request whose launch outcome was lost: launch
                // again. The same token means ECS answers with the task it may already
                // have started.
                *existing
            }
        };
        self.launch(job, &task).await
    }

    async fn launch(&self, mut job: Job, task: &TaskRequest) -> Result<Job, ServiceError> {
        let launched = match self.launcher.launch(task).await {
            Ok(launched) => launched,
            Err(source) => {
                tracing::warn!(
                    job_id = %job.id,
                    error = with_causes(&source),
                    "launch outcome unknown; the job stays SUBMITTED"
                );
                return Err(ServiceError::LaunchUnavailable {
                    job_id: job.id,
                    keyed: job.idempotency_key.is_some(),
                    source,
                });
            }
        };
        let now = Utc::now();
        let (update, task_started) = match launched {
            Launched::Started { task_arn } => {
                tracing::info!(job_id = %job.id, task_arn, "task started");
                (job.launched(task_arn, now), true)
            }
            Launched::Refused(refusal) => (
                job.launch_refused(format!("ECS refused to run the task: {refusal}"), now),
                false,
            ),
        };

        match self.store.update(job.id, &update).await {
            Ok(Updated::Applied) => {
                job.apply(&update);
                replayed(job)
            }
            // An ECS event or a concurrent retry recorded the launch first: report what
            // is stored.
            Ok(Updated::GuardFailed) => match self.store.get(job.id).await {
                Ok(Some(stored)) => replayed(stored),
                Ok(None) if !task_started => Err(ServiceError::Internal(format!(
                    "job {} vanished after its launch",
                    job.id
                ))),
                Err(err) if !task_started => Err(err.into()),
                Ok(None) => Ok(launched_but_not_recorded(job, &update, "the job is not in the store")),
                Err(err) => Ok(launched_but_not_recorded(job, &update, &with_causes(&err))),
            },
            Err(err) if task_started => Ok(launched_but_not_recorded(job, &update, &with_causes(&err))),
            Err(err) => Err(err.into()),
        }
    }
}

impl<S: JobStore, L> JobService<S, L> {
    /// The job `id` if it exists and belongs to `owner`; another owner's job is "not
    /// found", so that ids of other callers' jobs cannot be probed.
    pub async fn get(&self, owner: &Owner, id: &str) -> Result<Job, ServiceError> {
        let id = JobId::parse(id).ok_or(ServiceError::JobNotFound)?;
        match self.store.get(id).await? {
            Some(job) if &job.owner == owner => Ok(job),
            _ => Err(ServiceError::JobNotFound),
        }
    }

    /// Applies one observation of a task (an ECS event, later a DescribeTasks answer):
    /// one keyed read through `startedBy`, then at most one conditional write.
    pub async fn observe_task(&self, task: &TaskObservation) -> Result<EventOutcome, StoreError> {
        let Some(started_by) = task.started_by else {
            return Ok(EventOutcome::Foreign);
        };
        let job_id = started_by.job_id;
        let Some(job) = self.store.get(job_id).await? else {
            return Ok(EventOutcome::UnknownJob { job_id });
        };
        match decide(&job, started_by.attempt, task) {
            EventDecision::Ignore(why) => Ok(EventOutcome::Ignored { job_id, why }),
            EventDecision::Apply(update) => match self.store.update(job_id, &update).await? {
                Updated::Applied => Ok(EventOutcome::Applied {
                    job_id,
                    status: update.status,
                }),
                Updated::GuardFailed => Ok(EventOutcome::Superseded { job_id }),
            },
        }
    }
}

/// The task runs and its events will record its ARN: the client gets its job, not an
/// error that hides a running task.
fn launched_but_not_recorded(mut job: Job, update: &JobUpdate, error: &str) -> Job {
    tracing::warn!(job_id = %job.id, error, "task started but not recorded; its events will record it");
    job.apply(update);
    job
}

/// The answer a replayed request gets: the same as the first request got.
fn replayed(job: Job) -> Result<Job, ServiceError> {
    if job.failed_at_launch() {
        Err(ServiceError::LaunchRefused { job: Box::new(job) })
    } else {
        Ok(job)
    }
}

/// What one observation of a task did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventOutcome {
    /// The job moved (or its timeline changed); the status after the write.
    Applied { job_id: JobId, status: JobStatus },
    /// Not a task this service started: acknowledged without touching the table.
    Foreign,
    /// `startedBy` is ours but no such job exists (deleted, or another deployment's).
    UnknownJob { job_id: JobId },
    /// Nothing to write: duplicate, stale, another task's, terminal job, or nothing
    /// visible changed.
    Ignored { job_id: JobId, why: Ignored },
    /// A concurrent delivery wrote a newer state between our read and our write.
    Superseded { job_id: JobId },
}
