//! [`JobService`]: the use cases over the ports.

use std::collections::BTreeMap;

use std::sync::Arc;
use std::time::Duration;

use crate::domain::{
    decide, Cancel, EventDecision, IdempotencyKey, Ignored, Job, JobDefinition, JobDefinitions, JobId, JobPage,
    JobStatus, JobUpdate, Limits, ListRequest, NewJob, Owner, SlotChange, SlotPool, TaskObservation, WaitReason,
    CANCEL_STOP_REASON,
};
use crate::ports::{
    with_causes, Clock, Created, JobStore, LaunchMessage, LaunchQueue, Launched, StoreError, SystemClock, TaskLauncher,
    TaskRequest, TaskStopper, Updated,
};

/// A validated-to-be request body of `POST /jobs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRequest {
    pub definition: String,
    pub parameters: BTreeMap<String, String>,
    /// `retry.attempts`: fewer attempts than the definition allows, if set.
    pub attempts: Option<u32>,
    /// `timeoutSeconds`: a shorter attempt timeout than the definition's, if set.
    pub timeout: Option<Duration>,
}

impl JobRequest {
    /// A request for `definition` with `parameters` and the definition's own policy.
    pub fn new(definition: impl Into<String>, parameters: BTreeMap<String, String>) -> Self {
        Self {
            definition: definition.into(),
            parameters,
            attempts: None,
            timeout: None,
        }
    }
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
    /// A log was asked of an attempt the job does not have.
    #[error("the job has {attempts} attempt(s)")]
    AttemptNotFound { attempts: u32 },
    #[error(transparent)]
    Logs(#[from] crate::ports::LogError),
    /// The request asks for more than its definition allows (`retry.attempts`,
    /// `timeoutSeconds`): a request may lower them, never raise them.
    #[error("{field} {requested} is more than job definition {definition:?} allows ({allowed})")]
    PolicyRaised {
        definition: String,
        field: &'static str,
        requested: u64,
        allowed: u64,
    },
    /// A cancel of a job that has finished: nothing changes.
    #[error("job {} has finished ({})", job.id, job.status)]
    JobFinished { job: Box<Job> },
    /// The job kept changing under a cancel (events, launches): nothing was written, and
    /// trying again is safe.
    #[error("job {job_id} kept changing while it was being cancelled")]
    Contended { job_id: JobId },
    /// ECS refused the task for good; the job is recorded as FAILED.
    #[error("ECS refused to run job {}: {}", job.id, job.status_reason.as_deref().unwrap_or("no reason given"))]
    LaunchRefused { job: Box<Job> },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Stop(#[from] crate::ports::StopError),
    /// Something that cannot happen did: a defect, reported as such.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The use cases, holding what they need across invocations: the job store, the task
/// launcher, the launch queue and the configured job definitions. Functions that never
/// launch a task hold [`NoLauncher`], and those that never queue one [`NoQueue`], so the
/// use cases they must not run cannot even be written there.
pub struct JobService<S, L = NoLauncher, Q = NoQueue> {
    pub(super) store: S,
    pub(super) launcher: L,
    pub(super) queue: Q,
    pub(super) definitions: JobDefinitions,
    /// The service-wide `maxRunning`.
    pub(super) service_limit: Option<u32>,
    /// How long no write may move a job with a task before the reconciler asks ECS.
    pub(super) quiet_for: std::time::Duration,
    /// How long a job without a task or queue entry is left to the request launching it.
    pub(super) launch_grace: std::time::Duration,
    pub(super) clock: Arc<dyn Clock>,
}

/// The launcher of a [`JobService`] that does not launch tasks.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoLauncher;

/// The launch queue of a [`JobService`] that never defers a launch nor frees a slot.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoQueue;

impl<S: JobStore> JobService<S> {
    /// A service that reads jobs, and launches and queues nothing.
    pub fn without_launcher(store: S) -> Self {
        Self {
            store,
            launcher: NoLauncher,
            queue: NoQueue,
            definitions: JobDefinitions::default(),
            service_limit: None,
            quiet_for: super::QUIET_FOR,
            launch_grace: crate::domain::LAUNCH_GRACE,
            clock: Arc::new(SystemClock),
        }
    }
}

impl<S: JobStore, L> JobService<S, L> {
    pub fn new(store: S, launcher: L, definitions: JobDefinitions) -> Self {
        Self {
            store,
            launcher,
            queue: NoQueue,
            definitions,
            service_limit: None,
            quiet_for: super::QUIET_FOR,
            launch_grace: crate::domain::LAUNCH_GRACE,
            clock: Arc::new(SystemClock),
        }
    }
}

impl<S, L> JobService<S, L, NoQueue> {
    /// The same service, deferring launches and announcing freed slots on `queue`.
    pub fn with_queue<Q: LaunchQueue>(self, queue: Q) -> JobService<S, L, Q> {
        JobService {
            store: self.store,
            launcher: self.launcher,
            queue,
            definitions: self.definitions,
            service_limit: self.service_limit,
            quiet_for: self.quiet_for,
            launch_grace: self.launch_grace,
            clock: self.clock,
        }
    }
}

impl<S, L, Q> JobService<S, L, Q> {
    /// The same service, with a service-wide limit on jobs whose task may be running.
    pub fn with_service_limit(mut self, max_running: Option<u32>) -> Self {
        self.service_limit = max_running;
        self
    }

    /// The same service, asking ECS about a task once no write moved its job for
    /// `quiet_for` (default [`super::QUIET_FOR`]).
    pub fn with_quiet_for(mut self, quiet_for: std::time::Duration) -> Self {
        self.quiet_for = quiet_for;
        self
    }

    /// The same service, leaving a recorded job without a task `grace` to the request
    /// launching it before the reconciler takes over (default [`crate::domain::LAUNCH_GRACE`]).
    pub fn with_launch_grace(mut self, grace: std::time::Duration) -> Self {
        self.launch_grace = grace;
        self
    }

    /// The same service, telling time by `clock` (tests move it by hand).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub(super) fn limits(&self, definition: &JobDefinition) -> Limits {
        Limits {
            definition: definition.max_running,
            service: self.service_limit,
        }
    }
}

impl<S: JobStore, L: TaskLauncher, Q: LaunchQueue> JobService<S, L, Q> {
    /// Records the job, then runs its first attempt and records the task, or records why
    /// it waits: the service, not the client, owns getting it started.
    ///
    /// The order makes every crash safe: a job is recorded (with its concurrency slot, in
    /// the same write) before anything runs, so no task runs unrecorded and no slot is
    /// taken by nobody; the launch carries a token derived from job and attempt, so any
    /// later try (a replayed request, the launch queue, the reconciler) reaches the same
    /// task through ECS's `clientToken`.
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

        let (retry, timeout) = job_policy(&request, definition)?;
        let (asked_attempts, asked_timeout) = (request.attempts, request.timeout);

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
                retry,
                timeout,
                logs: definition.logs.clone(),
            },
            self.clock.now(),
        );
        let task = TaskRequest::for_current_attempt(&job, &definition.task_definition);
        let bytes = task.overrides_bytes();
        if bytes > TaskRequest::MAX_OVERRIDES_BYTES {
            return Err(ServiceError::OverridesTooLarge {
                bytes,
                limit: TaskRequest::MAX_OVERRIDES_BYTES,
            });
        }

        let claims = job.slot_claims(self.limits(definition));
        let holding = job.clone().holding(&claims);
        let created = match self.store.create(&holding, &claims).await? {
            Created::LimitReached => {
                // Every slot is taken: the job is recorded waiting, oldest first.
                let waiting = job.waiting_for_slot(&claims);
                match self.store.create(&waiting, &[]).await? {
                    Created::Inserted => {
                        tracing::info!(job_id = %waiting.id, "job waits for a free slot");
                        return Ok(waiting);
                    }
                    other => other,
                }
            }
            other => other,
        };
        let job = match created {
            Created::Inserted => holding,
            Created::AlreadyExists(existing) => {
                // What the request asked for, not what the definition now gives: a replay
                // after a configuration change is still the same request.
                let same_policy = asked_attempts.is_none_or(|attempts| attempts == existing.retry.attempts)
                    && asked_timeout.is_none_or(|timeout| Some(timeout) == existing.timeout);
                if existing.owner != holding.owner
                    || !existing.matches_request(&holding.definition, &holding.parameters)
                    || !same_policy
                {
                    return Err(ServiceError::IdempotencyKeyReused);
                }
                // A job that has its task, has finished, or waits in the queue is
                // answered as it is; one recorded by a request whose launch outcome was
                // lost is launched again, with the same token.
                if !existing.awaiting_launch() || existing.queue.is_some() {
                    return replayed(*existing);
                }
                *existing
            }
            Created::LimitReached => return Err(ServiceError::Internal("a create without claims hit a limit".into())),
        };
        replayed(self.start(job).await?)
    }

    /// Takes the job's slots if it has none yet, runs its task and records the outcome:
    /// started, waiting (with the next try on the launch queue), or failed for good.
    /// The job returned is the one recorded (or, if recording failed, the one that will be
    /// once the next event or pass records it).
    pub(super) async fn start(&self, mut job: Job) -> Result<Job, ServiceError> {
        let now = self.clock.now();
        let Some(definition) = self.definitions.get(&job.definition) else {
            let update = job.finished_without_task(
                format!("job definition '{}' is no longer configured", job.definition),
                now,
            );
            return self.record(job, update, false).await;
        };
        let claims = job.slot_claims(self.limits(definition));
        if !claims.is_empty() {
            let update = job.take_slots(claims.clone(), now);
            match self.store.update(job.id, &update).await? {
                Updated::Applied => job.apply(&update),
                Updated::GuardFailed => return self.reread(job.id).await,
                Updated::LimitReached => {
                    if job
                        .queue
                        .as_ref()
                        .is_some_and(|q| q.reason == WaitReason::ConcurrencyLimit)
                    {
                        return Ok(job);
                    }
                    let update = job.wait_for_slot(&claims, now);
                    return self.record(job, update, false).await;
                }
            }
        }

        let task = TaskRequest::for_current_attempt(&job, &definition.task_definition);
        let launched = self.launcher.launch(&task).await;
        let now = self.clock.now();
        let jitter = fastrand::f64();
        let (update, task_started) = match launched {
            Ok(Launched::Started { task_arn }) => {
                tracing::info!(job_id = %job.id, task_arn, "task started");
                (job.launched(task_arn, now), true)
            }
            Ok(Launched::Throttled) => (
                job.launch_deferred(WaitReason::Throttled, "ECS is throttling RunTask", now, jitter),
                false,
            ),
            Ok(Launched::Refused(refusal)) if refusal.is_transient() => (
                job.launch_deferred(WaitReason::NoCapacity, refusal.describe(), now, jitter),
                false,
            ),
            Ok(Launched::Refused(refusal)) => (
                job.launch_refused(format!("ECS refused to run the task: {refusal}"), now),
                false,
            ),
            Err(err) => {
                tracing::warn!(
                    job_id = %job.id,
                    error = with_causes(&err),
                    "launch outcome unknown; the job waits and keeps its slot"
                );
                (
                    job.launch_deferred(WaitReason::NoAnswer, "ECS did not answer", now, jitter),
                    false,
                )
            }
        };
        self.record(job, update, task_started).await
    }

    /// Writes the outcome of a launch step, then does what it calls for: a deferred
    /// launch goes on the queue for its next try, a freed slot is announced.
    async fn record(&self, mut job: Job, update: JobUpdate, task_started: bool) -> Result<Job, ServiceError> {
        match self.store.update(job.id, &update).await {
            Ok(Updated::Applied) => Ok(self.applied(job, &update).await),
            // The job moved since it was read. A task that exists is still recorded (see
            // `record_started_task`); otherwise an ECS event or a concurrent launcher
            // recorded something first: report what is stored.
            Ok(Updated::GuardFailed | Updated::LimitReached) if task_started => {
                let task_arn = update.attempt.task_arn.clone().unwrap_or_default();
                match self.record_started_task(job.id, &task_arn).await {
                    Ok(stored) => Ok(stored),
                    Err(err) => Ok(launched_but_not_recorded(job, &update, &with_causes(&err))),
                }
            }
            Ok(Updated::GuardFailed | Updated::LimitReached) => self.reread(job.id).await,
            Err(err) if task_started => Ok(launched_but_not_recorded(job, &update, &with_causes(&err))),
            // The job is recorded; it is the write of its next step that failed. The
            // reconciler finds it and tries again.
            Err(err) => {
                tracing::warn!(job_id = %job.id, error = with_causes(&err), "launch step not recorded; the reconciler will retry it");
                job.apply(&update);
                Ok(job)
            }
        }
    }
}

impl<S: JobStore, L, Q: LaunchQueue> JobService<S, L, Q> {
    /// Records `task_arn`, a task ECS runs for the job's current attempt, on the job as
    /// stored now: done if the job has a task already (its events or another launcher
    /// recorded it) or has finished. A concurrent launcher may have given the job's slots
    /// back meanwhile (its own try was throttled): the task runs all the same, so it takes
    /// them again without the limit's condition. Counting a running task matters more
    /// than the limit it may exceed for a moment.
    pub(super) async fn record_started_task(&self, id: JobId, task_arn: &str) -> Result<Job, ServiceError> {
        const DECISIONS: usize = 3;
        for _ in 0..DECISIONS {
            let Some(mut job) = self.store.get(id).await? else {
                return Err(ServiceError::Internal(format!("job {id} vanished after its launch")));
            };
            if !job.awaiting_launch() {
                // Cancelled (or finished) while the launch was in flight: the task it
                // started must not run.
                if job.status.is_terminal() && job.current_attempt().task_arn.as_deref() != Some(task_arn) {
                    self.stop_disowned(&job, task_arn).await;
                }
                return Ok(job);
            }
            let mut update = job.launched(task_arn.to_owned(), self.clock.now());
            if let Some(definition) = self.definitions.get(&job.definition) {
                let mut claims = job.slot_claims(self.limits(definition));
                if !claims.is_empty() {
                    claims.iter_mut().for_each(|claim| claim.limit = u32::MAX);
                    tracing::warn!(job_id = %id, task_arn, "a task started for a job without its slot; taking it regardless of the limit");
                    update.slots = SlotChange::Take(claims);
                }
            }
            if self.store.update(id, &update).await? == Updated::Applied {
                job.apply(&update);
                return Ok(job);
            }
        }
        self.reread(id).await
    }

    /// The job after `update` was written, with what the update calls for announced.
    pub(super) async fn applied(&self, mut job: Job, update: &JobUpdate) -> Job {
        job.apply(update);
        self.announce(&job, update).await;
        job
    }

    /// After a write: the next launch try goes on the queue; a freed slot is announced so
    /// that the oldest job waiting for one starts now, not at the next reconciliation.
    /// A message the queue does not take is not lost work: the reconciler finds every
    /// waiting job.
    pub(super) async fn announce(&self, job: &Job, update: &JobUpdate) {
        let mut messages = Vec::new();
        if let Some(at) = update.queue.as_ref().and_then(|q| q.next_try_at) {
            messages.push((
                LaunchMessage::Due {
                    job_id: job.id.to_string(),
                },
                Some(at),
            ));
        }
        if let SlotChange::Release(pools) = &update.slots {
            let definition = pools.iter().find_map(|pool| match pool {
                SlotPool::Definition(name) => Some(name.clone()),
                SlotPool::Service => None,
            });
            messages.push((
                LaunchMessage::SlotFreed {
                    definition: definition.unwrap_or_else(|| job.definition.clone()),
                },
                None,
            ));
        }
        for (message, at) in messages {
            if let Err(err) = self.queue.send(&message, at).await {
                tracing::warn!(job_id = %job.id, ?message, error = with_causes(&err), "launch queue unavailable; the reconciler will pick the job up");
            }
        }
    }

    /// A task of this job runs that the job does not want (see [`Job::disowns`]): it is
    /// handed to the launcher to stop, through the launch queue, so that functions without
    /// the right to stop tasks can report it too. If the queue does not take it, the
    /// task's next event (or EventBridge's redelivery of this one) tries again.
    pub(super) async fn stop_disowned(&self, job: &Job, task_arn: &str) {
        tracing::warn!(job_id = %job.id, task_arn, status = %job.status, "a task runs that its job no longer wants; stopping it");
        let message = LaunchMessage::StopTask {
            task_arn: task_arn.to_owned(),
            reason: job.disowned_stop_reason().to_owned(),
        };
        if let Err(err) = self.queue.send(&message, None).await {
            tracing::warn!(job_id = %job.id, task_arn, error = with_causes(&err), "launch queue unavailable; the task's next event asks again");
        }
    }

    /// Applies one observation of a task (an ECS event, or ECS's DescribeTasks answer
    /// through the reconciler): one keyed read through `startedBy`, then at most one
    /// conditional write. A write whose guard fails because the job moved in between is
    /// decided again on the job as it now is.
    pub async fn observe_task(&self, task: &TaskObservation) -> Result<EventOutcome, StoreError> {
        let Some(started_by) = task.started_by else {
            return Ok(EventOutcome::Foreign);
        };
        let job_id = started_by.job_id;
        let Some(job) = self.store.get(job_id).await? else {
            return Ok(EventOutcome::UnknownJob { job_id });
        };
        self.observe(job, started_by.attempt, task).await
    }

    pub(super) async fn observe(
        &self,
        mut job: Job,
        attempt: u32,
        task: &TaskObservation,
    ) -> Result<EventOutcome, StoreError> {
        const DECISIONS: usize = 3;
        let job_id = job.id;
        for _ in 0..DECISIONS {
            let update = match decide(&job, attempt, task, fastrand::f64()) {
                EventDecision::Ignore(why) => {
                    if job.disowns(attempt, task) {
                        self.stop_disowned(&job, &task.task_arn).await;
                    }
                    return Ok(EventOutcome::Ignored { job_id, why });
                }
                EventDecision::Apply(update) => *update,
            };
            match self.store.update(job_id, &update).await? {
                Updated::Applied => {
                    self.applied(job, &update).await;
                    return Ok(EventOutcome::Applied {
                        job_id,
                        status: update.status,
                    });
                }
                Updated::GuardFailed | Updated::LimitReached => match self.store.get(job_id).await? {
                    Some(stored) => job = stored,
                    None => return Ok(EventOutcome::UnknownJob { job_id }),
                },
            }
        }
        Ok(EventOutcome::Superseded { job_id })
    }
}

impl<S: JobStore, L: TaskStopper, Q: LaunchQueue> JobService<S, L, Q> {
    /// The owner's cancel of job `id`: a job without a task is CANCELLED at once, in a
    /// write that a launch racing with it cannot pass; a job with a task is recorded as
    /// being cancelled and its task stopped, and it ends CANCELLED when ECS reports the task
    /// stopped. A repeated cancel is answered as the first; a finished job is left as it is.
    pub async fn cancel(&self, owner: &Owner, id: &str) -> Result<Job, ServiceError> {
        const DECISIONS: usize = 5;
        let mut job = self.get(owner, id).await?;
        for _ in 0..DECISIONS {
            let (update, task_arn) = match job.cancel(self.clock.now()) {
                Cancel::Finished => return Err(ServiceError::JobFinished { job: Box::new(job) }),
                Cancel::AlreadyRequested { task_arn } => {
                    if let Some(task_arn) = task_arn {
                        self.stop_task(&job, &task_arn, CANCEL_STOP_REASON).await;
                    }
                    return Ok(job);
                }
                Cancel::Write { update, task_arn } => (update, task_arn),
            };
            match self.store.update(job.id, &update).await? {
                Updated::Applied => {
                    tracing::info!(job_id = %job.id, status = %update.status, "cancel requested by the owner");
                    let job = self.applied(job, &update).await;
                    match task_arn {
                        Some(task_arn) => self.stop_task(&job, &task_arn, CANCEL_STOP_REASON).await,
                        None => self.look_for_a_launched_task(&job).await,
                    }
                    return Ok(job);
                }
                // An event, a launch or a retry moved the job since it was read.
                Updated::GuardFailed | Updated::LimitReached => job = self.reread(job.id).await?,
            }
        }
        Err(ServiceError::Contended { job_id: job.id })
    }

    /// A job cancelled before any task was recorded may still have one: a launch in
    /// flight, or one whose answer was lost. Its launch can no longer record it, and its
    /// events, if they arrive, have it stopped; the launcher also looks for it by
    /// `startedBy`, once any launch in flight has surely ended.
    async fn look_for_a_launched_task(&self, job: &Job) {
        let message = LaunchMessage::CancelledLaunch {
            job_id: job.id.to_string(),
            attempt: job.current_attempt().number,
        };
        let after_launches = chrono::Duration::from_std(self.launch_grace)
            .ok()
            .and_then(|grace| self.clock.now().checked_add_signed(grace));
        if let Err(err) = self.queue.send(&message, after_launches).await {
            tracing::warn!(job_id = %job.id, error = with_causes(&err), "launch queue unavailable; a task the cancelled launch started is stopped by its events");
        }
    }

    /// Asks ECS to stop a task the service decided to stop. A failure is logged, not
    /// returned: what was decided is recorded, and the reconciler asks again.
    pub(super) async fn stop_task(&self, job: &Job, task_arn: &str, reason: &str) {
        match self.launcher.stop(task_arn, reason).await {
            Ok(()) => tracing::info!(job_id = %job.id, task_arn, reason, "task asked to stop"),
            Err(err) => {
                tracing::warn!(job_id = %job.id, task_arn, error = with_causes(&err), "StopTask failed; the reconciler asks again")
            }
        }
    }
}

impl<S: JobStore, L, Q> JobService<S, L, Q> {
    /// The job `id` if it exists and belongs to `owner`; another owner's job is "not
    /// found", so that ids of other callers' jobs cannot be probed.
    pub async fn get(&self, owner: &Owner, id: &str) -> Result<Job, ServiceError> {
        let id = JobId::parse(id).ok_or(ServiceError::JobNotFound)?;
        match self.store.get(id).await? {
            Some(job) if &job.owner == owner => Ok(job),
            _ => Err(ServiceError::JobNotFound),
        }
    }

    /// One page of the owner's jobs, newest first.
    pub async fn list(&self, request: &ListRequest) -> Result<JobPage, ServiceError> {
        Ok(self.store.list(request).await?)
    }

    /// The job as stored, after a write lost a race.
    pub(super) async fn reread(&self, id: JobId) -> Result<Job, ServiceError> {
        self.store
            .get(id)
            .await?
            .ok_or_else(|| ServiceError::Internal(format!("job {id} vanished")))
    }
}

/// The retry policy and attempt timeout of a job submitted by `request`: the definition's,
/// with fewer attempts or a shorter timeout if the request asks; never more.
fn job_policy(
    request: &JobRequest,
    definition: &JobDefinition,
) -> Result<(crate::domain::RetryPolicy, Option<Duration>), ServiceError> {
    let raised = |field, requested: u64, allowed: u64| ServiceError::PolicyRaised {
        definition: request.definition.clone(),
        field,
        requested,
        allowed,
    };
    let mut retry = definition.retry.clone();
    if let Some(attempts) = request.attempts {
        if attempts > retry.attempts {
            return Err(raised("retry.attempts", attempts.into(), retry.attempts.into()));
        }
        retry.attempts = attempts;
    }
    let timeout = match (request.timeout, definition.timeout) {
        (Some(requested), Some(allowed)) if requested > allowed => {
            return Err(raised("timeoutSeconds", requested.as_secs(), allowed.as_secs()))
        }
        (Some(requested), _) => Some(requested),
        (None, allowed) => allowed,
    };
    Ok((retry, timeout))
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
    if job.refused_at_submission() {
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
