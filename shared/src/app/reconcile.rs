//! The launcher and reconciler use cases: what makes every job reach its true terminal
//! state whatever is lost, throttled or duplicated on the way.
//!
//! - [`JobService::launch_due`]: a job's next launch try is due (a launch queue message);
//! - [`JobService::slot_freed`]: a job gave its slot back: start the oldest waiting one;
//! - [`JobService::reconcile`]: one pass over every unfinished job, on a schedule: start
//!   what is due, expire what waited too long, and ask ECS about every task whose events
//!   have not moved its job for a while, feeding the answer through the same rule as
//!   events.
//!
//! Every write is the same conditional write the other paths make, so any number of
//! passes and messages may run at once, and a crash anywhere leaves nothing half done.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::service::{EventOutcome, JobService, ServiceError};
use crate::domain::{
    Job, JobId, LaunchStep, StartedBy, UpdateGuard, WaitReason, CANCEL_STOP_REASON, DEFAULT_QUEUE_TIMEOUT,
};
use crate::ports::{
    with_causes, JobStore, LaunchMessage, LaunchQueue, TaskInspector, TaskLauncher, TaskLookup, TaskStopper, Updated,
};

/// A task whose job no event has moved for this long is described on the next pass.
/// ECS sends an event within seconds of every change, so this is far past a late one.
pub const QUIET_FOR: Duration = Duration::from_secs(60);

/// How many waiting jobs of one definition a freed slot looks at, oldest first.
const QUEUE_PAGE: usize = 25;

/// What one reconciliation pass did, for the log and the benchmark.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Unfinished jobs looked at.
    pub unfinished: usize,
    /// Jobs whose launch was tried (started, deferred or refused).
    pub launches: usize,
    /// Jobs failed because they waited longer than their `queueTimeoutSeconds`.
    pub expired: usize,
    /// Tasks asked about, and the DescribeTasks calls that took.
    pub described: usize,
    pub describe_calls: usize,
    /// Jobs an ECS answer moved, and jobs failed because ECS forgot their task.
    pub moved: usize,
    pub lost: usize,
    /// Attempts stopped for their timeout, and stops asked again (a cancel or timeout
    /// whose task is not yet seen stopped).
    pub timed_out: usize,
    pub stops_repeated: usize,
    /// Jobs that could not be handled this pass (ECS or the store did not answer).
    pub deferred: usize,
}

impl<S, L, Q> JobService<S, L, Q>
where
    S: JobStore,
    L: TaskLauncher + TaskInspector + TaskStopper,
    Q: LaunchQueue,
{
    /// A launch queue message: the job's next try may be due.
    pub async fn handle_launch_message(&self, message: &LaunchMessage) -> Result<(), ServiceError> {
        match message {
            LaunchMessage::Due { job_id } => match JobId::parse(job_id) {
                Some(id) => self.launch_due(id).await.map(|_| ()),
                None => {
                    tracing::warn!(job_id, "launch message names no job id; dropped");
                    Ok(())
                }
            },
            LaunchMessage::SlotFreed { definition } => self.slot_freed(definition).await,
            LaunchMessage::StopTask { task_arn, reason } => {
                tracing::info!(task_arn, reason, "stopping a task no job wants");
                Ok(self.launcher.stop(task_arn, reason).await?)
            }
            LaunchMessage::CancelledLaunch { job_id, attempt } => {
                let Some(job_id) = JobId::parse(job_id) else {
                    tracing::warn!(job_id, "cancelled launch message names no job id; dropped");
                    return Ok(());
                };
                let started_by = StartedBy {
                    job_id,
                    attempt: *attempt,
                };
                // An error is the message's failure: the queue delivers it again.
                let found = self.launcher.find(started_by).await.map_err(|err| {
                    ServiceError::Internal(format!(
                        "cannot look for the task of {started_by}: {}",
                        with_causes(&err)
                    ))
                })?;
                match found {
                    Some(task_arn) => {
                        tracing::warn!(%started_by, task_arn, "a cancelled job's launch had started a task; stopping it");
                        Ok(self.launcher.stop(&task_arn, CANCEL_STOP_REASON).await?)
                    }
                    None => Ok(()),
                }
            }
        }
    }

    /// Tries the launch of job `id` if it is due; re-queues a message that came early
    /// (the queue delays messages 15 minutes at most); expires a job that waited too long.
    pub async fn launch_due(&self, id: JobId) -> Result<Option<Job>, ServiceError> {
        let Some(job) = self.store.get(id).await? else {
            return Ok(None);
        };
        let now = self.clock.now();
        match job.launch_step(self.queue_timeout(&job), self.launch_grace, now) {
            LaunchStep::NotWaiting => Ok(Some(job)),
            LaunchStep::NotDue { at } => {
                if let Some(at) = at {
                    let message = LaunchMessage::Due { job_id: id.to_string() };
                    if let Err(err) = self.queue.send(&message, Some(at)).await {
                        tracing::warn!(job_id = %id, error = with_causes(&err), "launch queue unavailable");
                    }
                }
                Ok(Some(job))
            }
            LaunchStep::Expire => self.expire(job, now).await.map(Some),
            LaunchStep::Launch { look_first } => self.relaunch(job, look_first).await.map(Some),
        }
    }

    /// A slot of `definition` (or of the service) was given back: start the oldest job
    /// of `definition` that waits for one; if none can use it and a service-wide limit
    /// is set, the oldest of another definition.
    pub async fn slot_freed(&self, definition: &str) -> Result<(), ServiceError> {
        if self.start_oldest_waiting(definition).await? != Waiting::NoneStarted {
            return Ok(());
        }
        if self.service_limit.is_some() {
            let others: Vec<String> = self
                .definitions
                .iter()
                .map(|(name, _)| name.to_owned())
                .filter(|name| name != definition)
                .collect();
            for other in others {
                if self.start_oldest_waiting(&other).await? == Waiting::Started {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Tries the oldest job of `definition` that needs a slot and may start now. Jobs that
    /// hold their slot already, or back off from throttling or missing capacity, are left
    /// to their own next try.
    async fn start_oldest_waiting(&self, definition: &str) -> Result<Waiting, ServiceError> {
        let now = self.clock.now();
        for id in self.store.queued(definition, QUEUE_PAGE).await? {
            let Some(job) = self.store.get(id).await? else { continue };
            if !job.slots.is_empty() {
                continue;
            }
            match job.launch_step(self.queue_timeout(&job), self.launch_grace, now) {
                LaunchStep::Expire => {
                    self.expire(job, now).await?;
                }
                LaunchStep::NotWaiting | LaunchStep::NotDue { .. } => {}
                LaunchStep::Launch { look_first } => {
                    let tried = self.relaunch(job, look_first).await?;
                    tracing::info!(job_id = %tried.id, waits = waits_for_slot(&tried), "slot freed; oldest waiting job tried");
                    return Ok(if waits_for_slot(&tried) {
                        Waiting::Full
                    } else {
                        Waiting::Started
                    });
                }
            }
        }
        Ok(Waiting::NoneStarted)
    }

    /// One reconciliation pass over every unfinished job.
    pub async fn reconcile(&self) -> Result<PassReport, ServiceError> {
        let now = self.clock.now();
        let mut report = PassReport::default();

        // Waiting jobs first, oldest first per definition, so that a slot a pass frees
        // goes to the job that waited longest.
        let names: Vec<String> = self.definitions.iter().map(|(name, _)| name.to_owned()).collect();
        for name in &names {
            self.pass_over_queue(name, now, &mut report).await;
        }

        let ids = self.store.unfinished().await?;
        report.unfinished = ids.len();
        let mut quiet_tasks: Vec<(Job, String)> = Vec::new();
        for chunk in ids.chunks(L::BATCH) {
            let jobs = match self.store.get_many(chunk).await {
                Ok(jobs) => jobs,
                Err(err) => {
                    tracing::warn!(error = with_causes(&err), "unfinished jobs not readable this pass");
                    report.deferred += chunk.len();
                    continue;
                }
            };
            for job in jobs {
                if job.status.is_terminal() {
                    continue;
                }
                if let Some(task_arn) = job.current_attempt().task_arn.clone() {
                    if let Some((update, task_arn)) = job.timeout_due(now) {
                        self.time_out(job, &update, &task_arn, &mut report).await;
                        continue;
                    }
                    let quiet = quiet_since(&job, self.quiet_for, now);
                    if let (Some((task_arn, reason)), true) = (job.stop_pending(), quiet) {
                        report.stops_repeated += 1;
                        self.stop_task(&job, &task_arn, &reason).await;
                    }
                    if quiet {
                        quiet_tasks.push((job, task_arn));
                        // Asked about as soon as a DescribeTasks call's worth is known, so a
                        // pass holds at most one batch of jobs at a time.
                        if quiet_tasks.len() == L::BATCH {
                            self.describe_batch(&quiet_tasks, &mut report).await;
                            quiet_tasks.clear();
                        }
                    }
                    continue;
                }
                // Jobs of definitions no longer configured, and jobs recorded by a
                // request that crashed before queueing them: the queue pass saw neither.
                let configured = self.definitions.get(&job.definition).is_some();
                if configured && job.queue.is_some() {
                    continue;
                }
                let step = job.launch_step(self.queue_timeout(&job), self.launch_grace, now);
                self.take_step(job, step, now, &mut report).await;
            }
        }

        if !quiet_tasks.is_empty() {
            self.describe_batch(&quiet_tasks, &mut report).await;
        }
        let idle = report.unfinished == 0 && report.launches == 0 && report.expired == 0;
        if idle {
            tracing::debug!(?report, "reconciliation pass done");
        } else {
            tracing::info!(?report, "reconciliation pass done");
        }
        Ok(report)
    }

    async fn pass_over_queue(&self, definition: &str, now: DateTime<Utc>, report: &mut PassReport) {
        let ids = match self.store.queued(definition, usize::MAX).await {
            Ok(ids) => ids,
            Err(err) => {
                tracing::warn!(definition, error = with_causes(&err), "queue not readable this pass");
                return;
            }
        };
        let mut full = false;
        for chunk in ids.chunks(L::BATCH) {
            let mut jobs = match self.store.get_many(chunk).await {
                Ok(jobs) => jobs,
                Err(err) => {
                    tracing::warn!(
                        definition,
                        error = with_causes(&err),
                        "queued jobs not readable this pass"
                    );
                    report.deferred += chunk.len();
                    continue;
                }
            };
            jobs.sort_by_key(|job| (job.created_at, job.id));
            for job in jobs {
                let step = job.launch_step(self.queue_timeout(&job), self.launch_grace, now);
                // Once the limit is reached, younger jobs that need a slot would wait too;
                // jobs that hold theirs (a launch whose outcome was lost) are still tried,
                // and every job may expire.
                if full && job.slots.is_empty() && step != LaunchStep::Expire {
                    continue;
                }
                if let Some(after) = self.take_step(job, step, now, report).await {
                    if waits_for_slot(&after) && after.slots.is_empty() {
                        full = true;
                    }
                }
            }
        }
    }

    /// Does what `step` says for a job without a task; the job after it, if it was tried.
    async fn take_step(&self, job: Job, step: LaunchStep, now: DateTime<Utc>, report: &mut PassReport) -> Option<Job> {
        let id = job.id;
        let result = match step {
            LaunchStep::NotWaiting | LaunchStep::NotDue { .. } => return None,
            LaunchStep::Expire => {
                report.expired += 1;
                self.expire(job, now).await
            }
            LaunchStep::Launch { look_first } => {
                report.launches += 1;
                self.relaunch(job, look_first).await
            }
        };
        match result {
            Ok(job) => Some(job),
            Err(err) => {
                tracing::warn!(job_id = %id, error = with_causes(&err), "launch step failed; next pass retries it");
                report.deferred += 1;
                None
            }
        }
    }

    /// Launches a job that waited. When its earlier launch may have started a task that
    /// ECS's client token no longer answers for, the task is looked for by `startedBy`
    /// first: found, it is recorded; never blindly started a second time.
    async fn relaunch(&self, job: Job, look_first: bool) -> Result<Job, ServiceError> {
        if look_first {
            let started_by = StartedBy {
                job_id: job.id,
                attempt: job.current_attempt().number,
            };
            match self.launcher.find(started_by).await {
                Ok(Some(task_arn)) => {
                    tracing::info!(job_id = %job.id, task_arn, "found the task of a launch whose outcome was lost");
                    return self.record_started_task(job.id, &task_arn).await;
                }
                Ok(None) => {}
                Err(err) => {
                    // Not knowing whether a task exists, launching could start a second one.
                    let update = job.launch_deferred(
                        WaitReason::NoAnswer,
                        "ECS did not say whether an earlier launch started a task",
                        self.clock.now(),
                        fastrand::f64(),
                    );
                    tracing::warn!(job_id = %job.id, error = with_causes(&err), "cannot look for the task by startedBy");
                    return self.write(job, &update).await;
                }
            }
        }
        self.start(job).await
    }

    async fn expire(&self, job: Job, now: DateTime<Utc>) -> Result<Job, ServiceError> {
        // A launch whose outcome was lost may have started a task: a running task is
        // recorded (its job then ends as the task does), never left untracked.
        if job.queue.as_ref().is_some_and(|q| q.outcome_unknown_since.is_some()) {
            let started_by = StartedBy {
                job_id: job.id,
                attempt: job.current_attempt().number,
            };
            match self.launcher.find(started_by).await {
                Ok(Some(task_arn)) => return self.record_started_task(job.id, &task_arn).await,
                Ok(None) => {}
                Err(err) => {
                    tracing::warn!(job_id = %job.id, error = with_causes(&err), "cannot look for the task before expiring the job; next pass retries");
                    return Ok(job);
                }
            }
        }
        let update = job.queue_expired(self.queue_timeout(&job), now);
        tracing::warn!(job_id = %job.id, reason = update.status_reason.as_deref(), "job expired in the queue");
        self.write(job, &update).await
    }

    /// Writes `update`, announces what it calls for, and answers the job as stored.
    async fn write(&self, job: Job, update: &crate::domain::JobUpdate) -> Result<Job, ServiceError> {
        match self.store.update(job.id, update).await? {
            Updated::Applied => Ok(self.applied(job, update).await),
            Updated::GuardFailed | Updated::LimitReached => self.reread(job.id).await,
        }
    }

    /// Asks ECS about up to 100 quiet tasks, and feeds each answer through the rule.
    async fn describe_batch(&self, batch: &[(Job, String)], report: &mut PassReport) {
        let arns: Vec<String> = batch.iter().map(|(_, arn)| arn.clone()).collect();
        report.describe_calls += 1;
        report.described += arns.len();
        let lookups = match self.launcher.describe(&arns).await {
            Ok(lookups) => lookups,
            Err(err) => {
                tracing::warn!(
                    error = with_causes(&err),
                    tasks = arns.len(),
                    "DescribeTasks failed; next pass retries"
                );
                report.deferred += arns.len();
                return;
            }
        };
        for lookup in lookups {
            let arn = match &lookup {
                TaskLookup::Found(task) => &task.task_arn,
                TaskLookup::Missing { task_arn } => task_arn,
            };
            let Some((job, _)) = batch.iter().find(|(_, a)| a == arn) else {
                continue;
            };
            let result = match lookup {
                TaskLookup::Found(task) => {
                    let attempt = job.current_attempt().number;
                    self.observe(job.clone(), attempt, &task).await.map(|outcome| {
                        if let EventOutcome::Applied { job_id, status } = outcome {
                            tracing::info!(%job_id, %status, task_arn = task.task_arn, version = task.version, "job moved by ECS's description of its task");
                            report.moved += 1;
                        }
                    })
                }
                TaskLookup::Missing { task_arn } => self.task_lost(job, &task_arn).await.map(|lost| {
                    if lost {
                        report.lost += 1;
                    }
                }),
            };
            if let Err(err) = result {
                tracing::warn!(job_id = %job.id, error = with_causes(&err), "reconciled state not recorded; next pass retries");
                report.deferred += 1;
            }
        }
    }

    /// Records that the current attempt ran past its timeout, then stops its task. The
    /// task's STOPPED report then fails the attempt as timed out (and the retry policy
    /// decides what follows). Recorded first, so that a crash in between leaves a stop the
    /// next pass asks for again, never a timeout forgotten.
    async fn time_out(&self, job: Job, update: &crate::domain::JobUpdate, task_arn: &str, report: &mut PassReport) {
        match self.store.update(job.id, update).await {
            Ok(Updated::Applied) => {
                report.timed_out += 1;
                let job = self.applied(job, update).await;
                let reason = job.timeout_stop_reason().unwrap_or_default();
                tracing::warn!(job_id = %job.id, task_arn, reason, "attempt timed out");
                self.stop_task(&job, task_arn, &reason).await;
            }
            Ok(Updated::GuardFailed | Updated::LimitReached) => {}
            Err(err) => {
                tracing::warn!(job_id = %job.id, error = with_causes(&err), "timeout not recorded; next pass retries");
                report.deferred += 1;
            }
        }
    }

    /// ECS no longer knows the task: its final state is lost for good, and the job fails
    /// saying so, unless an event moved it meanwhile (the write's guard).
    async fn task_lost(&self, job: &Job, task_arn: &str) -> Result<bool, crate::ports::StoreError> {
        let update = job.task_lost(task_arn, self.clock.now());
        debug_assert!(matches!(update.guard, UpdateGuard::Unchanged { .. }));
        tracing::warn!(job_id = %job.id, task_arn, "ECS no longer knows the task; its final state is lost");
        match self.store.update(job.id, &update).await? {
            Updated::Applied => {
                self.applied(job.clone(), &update).await;
                Ok(true)
            }
            Updated::GuardFailed | Updated::LimitReached => Ok(false),
        }
    }
}

impl<S, L, Q> JobService<S, L, Q> {
    /// The job's definition's `queueTimeoutSeconds`, or the default for a definition no
    /// longer configured.
    fn queue_timeout(&self, job: &Job) -> Duration {
        self.definitions
            .get(&job.definition)
            .map_or(DEFAULT_QUEUE_TIMEOUT, |d| d.queue_timeout)
    }
}

/// What trying the oldest waiting job of a definition came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waiting {
    /// A job took the slot (or its launch ended it otherwise).
    Started,
    /// The definition's limit is reached again.
    Full,
    /// No job of the definition could use the slot now.
    NoneStarted,
}

fn waits_for_slot(job: &Job) -> bool {
    job.awaiting_launch()
        && job
            .queue
            .as_ref()
            .is_some_and(|q| q.reason == WaitReason::ConcurrencyLimit)
}

/// No write has moved the job for `quiet_for`.
fn quiet_since(job: &Job, quiet_for: Duration, now: DateTime<Utc>) -> bool {
    chrono::Duration::from_std(quiet_for)
        .ok()
        .and_then(|quiet| job.updated_at.checked_add_signed(quiet))
        .is_some_and(|until| until <= now)
}
