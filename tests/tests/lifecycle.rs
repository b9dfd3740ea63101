//! Retries, attempt timeouts and cancellation through the real DynamoDB adapter
//! (DynamoDB Local), with a scripted ECS and a clock moved by hand, so that a policy of
//! minutes runs in milliseconds with every instant known.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use shared::adapters::dynamodb::DynamoJobStore;
use shared::app::{EventOutcome, JobRequest, JobService, ServiceError};
use shared::domain::{Cancel, EcsTaskStatus, Ignored, Job, JobId, JobStatus, Owner, StartedBy, CANCELLED, CANCELLING};
use shared::ports::{
    JobStore, LaunchError, LaunchMessage, Launched, StopError, TaskLauncher, TaskRequest, TaskStopper,
};
use shared::testing::clock::ManualClock;
use shared::testing::fargate::TaskTimeline;
use shared::testing::launcher::{InMemoryTaskLauncher, ScriptedLaunch};
use shared::testing::queue::RecordingLaunchQueue;
use tests::api::{assert_problem, json_body, Caller, ALICE};
use tests::emulators::fresh_dynamo_store;
use tests::world::{definitions, World};

type Service = JobService<Arc<DynamoJobStore>, Arc<InMemoryTaskLauncher>, Arc<RecordingLaunchQueue>>;

const CLUSTER_ARN: &str = "arn:aws:ecs:us-east-1:111122223333:cluster/jobs";

/// The Step Functions workflow this service replaces: a failed task retried 3 times,
/// 10 s apart with backoff rate 2, each try given 1,200 s. `onReason: "*"` retries every
/// failure, as Step Functions' `States.ALL` does.
const STEP_FUNCTIONS: &str = r#"{"etl": {"taskDefinition": "etl", "container": "app", "timeoutSeconds": 1200,
    "retry": {"attempts": 4, "intervalSeconds": 10, "backoffRate": 2, "jitter": false,
              "rules": [{"onReason": "*", "action": "RETRY"}]}}}"#;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).single().expect("a time")
}

fn secs(n: i64) -> chrono::Duration {
    chrono::Duration::seconds(n)
}

fn alice() -> Owner {
    Owner::new("arn:aws:iam::111122223333:user/alice").expect("owner")
}

struct Setup {
    store: Arc<DynamoJobStore>,
    ecs: Arc<InMemoryTaskLauncher>,
    queue: Arc<RecordingLaunchQueue>,
    clock: Arc<ManualClock>,
    service: Service,
}

impl Setup {
    async fn new(definitions_json: &str) -> Self {
        let store = Arc::new(fresh_dynamo_store().await);
        let ecs = Arc::new(InMemoryTaskLauncher::answering([]));
        let queue = Arc::new(RecordingLaunchQueue::default());
        let clock = Arc::new(ManualClock::at(t0()));
        let service = JobService::new(store.clone(), ecs.clone(), definitions(definitions_json))
            .with_queue(queue.clone())
            .with_quiet_for(Duration::from_secs(60))
            .with_clock(clock.clone());
        Self {
            store,
            ecs,
            queue,
            clock,
            service,
        }
    }

    async fn submit(&self, request: JobRequest) -> Job {
        self.service.submit(alice(), request, None).await.expect("submitted")
    }

    async fn job(&self, id: JobId) -> Job {
        self.store.get(id).await.expect("store answers").expect("job exists")
    }

    fn at(&self, at: DateTime<Utc>) {
        self.clock.set(at);
    }

    /// The timeline of the task ECS runs for attempt `n` of `job`, created at `at`.
    fn task(&self, job: &Job, n: u32, at: DateTime<Utc>) -> TaskTimeline {
        let started_by = StartedBy {
            job_id: job.id,
            attempt: n,
        };
        let arn = self.ecs.task_of(started_by).expect("the attempt's task was started");
        TaskTimeline::new(arn, CLUSTER_ARN, Some(started_by.to_string()), &["app"], at)
    }

    /// The task reaches `status` at `at`: ECS reports it (an event), and DescribeTasks
    /// answers it from then on.
    async fn report(&self, task: &mut TaskTimeline, status: EcsTaskStatus, at: DateTime<Utc>) -> EventOutcome {
        let observed = task.advance(status, at).observation();
        self.ecs.describe_as(observed.clone());
        self.service.observe_task(&observed).await.expect("store answers")
    }

    /// The task runs from `at` and its job container exits `exit_code` 5 s later.
    async fn run_and_exit(&self, task: &mut TaskTimeline, at: DateTime<Utc>, exit_code: i32) {
        self.report(task, EcsTaskStatus::Running, at).await;
        task.container_exited("app", exit_code);
        task.stopping_because("EssentialContainerExited", "Essential container in task exited");
        self.report(task, EcsTaskStatus::Stopped, at + secs(5)).await;
    }

    /// The `Due` messages sent since the last call, with when each is to be delivered.
    fn due_messages(&self) -> Vec<DateTime<Utc>> {
        self.queue
            .take()
            .into_iter()
            .filter_map(|(message, at)| matches!(message, LaunchMessage::Due { .. }).then_some(at).flatten())
            .collect()
    }
}

fn request(definition: &str) -> JobRequest {
    JobRequest::new(definition, Default::default())
}

#[tokio::test]
async fn the_step_functions_policy_runs_end_to_end_with_its_delays_and_timeout() {
    let s = Setup::new(STEP_FUNCTIONS).await;
    let job = s.submit(request("etl")).await;
    assert_eq!(job.status, JobStatus::Starting);
    assert_eq!((job.retry.attempts, job.timeout), (4, Some(Duration::from_secs(1200))));

    // Attempt 1 fails: the job waits for attempt 2, 10 s after the failure.
    let mut task1 = s.task(&job, 1, t0());
    s.run_and_exit(&mut task1, t0() + secs(2), 1).await;
    let waiting = s.job(job.id).await;
    assert_eq!(waiting.status, JobStatus::Submitted);
    assert_eq!(waiting.attempts.count(), 2);
    let retry_at = t0() + secs(7 + 10);
    assert_eq!(waiting.queue.as_ref().and_then(|q| q.next_try_at), Some(retry_at));
    let reason = waiting.status_reason.clone().unwrap_or_default();
    assert!(
        reason.starts_with("attempt 1 of 4 failed: container 'app' exited with code 1"),
        "{reason}"
    );
    assert!(waiting.slots.is_empty());
    // The next try is on the launch queue for exactly that time (SQS delivers it then).
    assert_eq!(s.due_messages(), [retry_at]);

    // Early, nothing starts; on time, attempt 2 runs with its own startedBy and token.
    s.at(retry_at - secs(1));
    let early = s.service.launch_due(job.id).await.expect("launch").expect("job");
    assert_eq!((early.status, s.ecs.tasks_started()), (JobStatus::Submitted, 1));
    s.at(retry_at);
    let second = s.service.launch_due(job.id).await.expect("launch").expect("job");
    assert_eq!(second.status, JobStatus::Starting);
    let launched = s.ecs.requests().last().cloned().expect("a launch");
    assert_eq!(launched.started_by.to_string(), format!("job-tracker/{}/2", job.id));
    assert_eq!(launched.started_by.client_token(), format!("{}-2", job.id));
    assert!(launched
        .environment
        .contains(&("JOB_ATTEMPT".to_owned(), "2".to_owned())));

    // A late duplicate of attempt 1's STOPPED report moves nothing.
    let late = s.report(&mut task1, EcsTaskStatus::Stopped, t0() + secs(8)).await;
    assert!(
        matches!(
            late,
            EventOutcome::Ignored {
                why: Ignored::NotCurrentAttempt { attempt: 1 },
                ..
            }
        ),
        "{late:?}"
    );

    // Attempt 2 hangs: the pass that comes 1,200 s after it started stops it, once.
    let mut task2 = s.task(&job, 2, retry_at);
    let started = retry_at + secs(1);
    s.report(&mut task2, EcsTaskStatus::Running, started).await;
    s.at(started + secs(1199));
    assert_eq!(s.service.reconcile().await.expect("pass").timed_out, 0);
    s.at(started + secs(1200));
    let pass = s.service.reconcile().await.expect("pass");
    assert_eq!(pass.timed_out, 1, "{pass:?} {:?}", s.job(job.id).await);
    let stopping = s.job(job.id).await;
    assert_eq!(
        stopping.status_reason.as_deref(),
        Some("timed out after 1200 s; stopping the task")
    );
    let task2_arn = s
        .ecs
        .task_of(StartedBy {
            job_id: job.id,
            attempt: 2,
        })
        .expect("task 2");
    assert_eq!(
        s.ecs.stops(),
        [(task2_arn.clone(), "timed out after 1200 s".to_owned())]
    );
    // ECS stops it as asked (SIGTERM: exit code 143); the timeout is retried in 20 s.
    task2.container_exited("app", 143);
    task2.stopping_because("UserInitiated", "timed out after 1200 s");
    let stopped_at = started + secs(1203);
    s.report(&mut task2, EcsTaskStatus::Stopped, stopped_at).await;
    let waiting = s.job(job.id).await;
    let reason = waiting.status_reason.clone().unwrap_or_default();
    assert!(
        reason.starts_with("attempt 2 of 4 failed: timed out after 1200 s"),
        "{reason}"
    );
    let retry_at = stopped_at + secs(20);
    assert_eq!(waiting.queue.as_ref().and_then(|q| q.next_try_at), Some(retry_at));

    // Attempt 3 fails after 40 s more; attempt 4 is started by the scheduled pass.
    s.at(retry_at);
    s.service.launch_due(job.id).await.expect("launch");
    let mut task3 = s.task(&job, 3, retry_at);
    s.run_and_exit(&mut task3, retry_at + secs(1), 2).await;
    let retry_at = retry_at + secs(6 + 40);
    assert_eq!(s.job(job.id).await.queue.and_then(|q| q.next_try_at), Some(retry_at));
    s.at(retry_at);
    assert_eq!(s.service.reconcile().await.expect("pass").launches, 1);
    let mut task4 = s.task(&job, 4, retry_at);
    s.run_and_exit(&mut task4, retry_at + secs(1), 3).await;

    let finished = s.job(job.id).await;
    assert_eq!(finished.status, JobStatus::Failed);
    assert_eq!(
        finished.status_reason.as_deref(),
        Some("container 'app' exited with code 3 (EssentialContainerExited); 4 attempts ran")
    );
    let arns: std::collections::BTreeSet<_> = finished.attempts.iter().filter_map(|a| a.task_arn.clone()).collect();
    assert_eq!(
        (finished.attempts.count(), arns.len(), s.ecs.tasks_started()),
        (4, 4, 4)
    );
    assert_eq!(finished.current_attempt().exit_code, Some(3));
    assert!(finished.queue.is_none() && finished.slots.is_empty());
    // Finished: a later pass neither launches nor stops anything.
    s.at(retry_at + secs(10_000));
    let pass = s.service.reconcile().await.expect("pass");
    assert_eq!((pass.launches, pass.timed_out, s.ecs.stops().len()), (0, 0, 1));
}

const RULES: &str = r#"{
  "batch": {"taskDefinition": "batch", "container": "app",
            "retry": {"attempts": 3, "intervalSeconds": 1,
                      "rules": [{"onExitCode": "137", "action": "RETRY"},
                                {"onReason": "CannotPullContainerError*", "action": "EXIT"}]}},
  "report": {"taskDefinition": "report", "container": "app"}}"#;

#[tokio::test]
async fn exit_code_and_reason_rules_decide_and_the_default_retries_only_platform_failures() {
    let s = Setup::new(RULES).await;

    // Exit code 137 matches rule 1: retried. Exit 1 on attempt 2 matches nothing and is
    // an application's own failure: final.
    let job = s.submit(request("batch")).await;
    let mut task = s.task(&job, 1, t0());
    s.run_and_exit(&mut task, t0() + secs(1), 137).await;
    assert_eq!(s.job(job.id).await.status, JobStatus::Submitted);
    s.at(t0() + secs(10));
    s.service.launch_due(job.id).await.expect("launch");
    let mut task = s.task(&job, 2, t0() + secs(10));
    s.run_and_exit(&mut task, t0() + secs(11), 1).await;
    let failed = s.job(job.id).await;
    assert_eq!(
        (failed.status, failed.status_reason.as_deref()),
        (
            JobStatus::Failed,
            Some("container 'app' exited with code 1 (EssentialContainerExited); 2 attempts ran")
        )
    );

    // An image pull throttled by the registry is a platform failure the default would
    // retry, but rule 2 says EXIT for every CannotPullContainerError.
    let job = s.submit(request("batch")).await;
    let mut task = s.task(&job, 1, t0());
    task.failed_to_start("CannotPullContainerError: pull image manifest: toomanyrequests: rate limit");
    s.report(&mut task, EcsTaskStatus::Stopped, t0() + secs(3)).await;
    let reason = s.job(job.id).await.status_reason.unwrap_or_default();
    assert!(reason.ends_with("not retried: retry rule 2 says EXIT"), "{reason}");

    // A Spot reclaim matches no rule: the default retries it.
    let job = s.submit(request("batch")).await;
    let mut task = s.task(&job, 1, t0());
    s.report(&mut task, EcsTaskStatus::Running, t0() + secs(1)).await;
    task.stopping_because("SpotInterruption", "Your Spot Task was interrupted.");
    s.report(&mut task, EcsTaskStatus::Stopped, t0() + secs(2)).await;
    let spot = s.job(job.id).await;
    assert_eq!((spot.status, spot.attempts.count()), (JobStatus::Submitted, 2));
    assert!(spot
        .status_reason
        .is_some_and(|r| r.starts_with("attempt 1 of 3 failed: the Spot capacity was reclaimed")));

    // A definition that says nothing: 3 attempts for platform failures (a network
    // interface not ready in time), none for an exit code.
    let job = s.submit(request("report")).await;
    let mut task = s.task(&job, 1, t0());
    task.failed_to_start("Timeout waiting for network interface provisioning to complete.");
    s.report(&mut task, EcsTaskStatus::Stopped, t0() + secs(3)).await;
    assert_eq!(s.job(job.id).await.status, JobStatus::Submitted);
    let job = s.submit(request("report")).await;
    let mut task = s.task(&job, 1, t0());
    s.run_and_exit(&mut task, t0() + secs(1), 1).await;
    assert_eq!(s.job(job.id).await.status, JobStatus::Failed);

    // A request may lower the attempts (here to one: the Spot reclaim is final) and the
    // timeout, never raise them.
    let lowered = JobRequest {
        attempts: Some(1),
        timeout: Some(Duration::from_secs(60)),
        ..request("batch")
    };
    let job = s.submit(lowered).await;
    assert_eq!((job.retry.attempts, job.timeout), (1, Some(Duration::from_secs(60))));
    let mut task = s.task(&job, 1, t0());
    s.report(&mut task, EcsTaskStatus::Running, t0() + secs(1)).await;
    task.stopping_because("SpotInterruption", "Your Spot Task was interrupted.");
    s.report(&mut task, EcsTaskStatus::Stopped, t0() + secs(2)).await;
    assert_eq!(s.job(job.id).await.status, JobStatus::Failed);
    let raised = JobRequest {
        attempts: Some(4),
        ..request("batch")
    };
    let refused = s.service.submit(alice(), raised, None).await;
    assert!(
        matches!(
            refused,
            Err(ServiceError::PolicyRaised {
                field: "retry.attempts",
                requested: 4,
                allowed: 3,
                ..
            })
        ),
        "{refused:?}"
    );
}

const LIMITED: &str = r#"{"report": {"taskDefinition": "report", "container": "app", "maxRunning": 1,
    "retry": {"attempts": 2, "intervalSeconds": 30, "rules": [{"onExitCode": "1", "action": "RETRY"}]}}}"#;

#[tokio::test]
async fn cancel_in_every_status() {
    let s = Setup::new(LIMITED).await;
    let cancel = |job: &Job| {
        let id = job.id.to_string();
        let service = &s.service;
        async move { service.cancel(&alice(), &id).await }
    };

    // STARTING (it holds the only slot); a second job waits for the slot.
    let starting = s.submit(request("report")).await;
    let queued = s.submit(request("report")).await;
    assert_eq!(
        (starting.status, queued.status),
        (JobStatus::Starting, JobStatus::Submitted)
    );
    s.queue.take();

    // Queued: CANCELLED at once, no task, never launched even when the slot frees.
    let cancelled = cancel(&queued).await.expect("cancelled");
    assert_eq!(
        (cancelled.status, cancelled.status_reason.as_deref()),
        (JobStatus::Cancelled, Some(CANCELLED))
    );
    assert!(cancelled.cancel_requested_at.is_some());

    // STARTING: STOPPING with its reason, its task asked to stop; a RUNNING report that
    // was on its way keeps it STOPPING; STOPPED with exit code 0 still ends CANCELLED.
    let stopping = cancel(&starting).await.expect("cancelling");
    assert_eq!(
        (stopping.status, stopping.status_reason.as_deref()),
        (JobStatus::Stopping, Some(CANCELLING))
    );
    let task_arn = stopping.current_attempt().task_arn.clone().expect("a task");
    assert_eq!(s.ecs.stops(), [(task_arn.clone(), "cancelled".to_owned())]);
    let mut task = s.task(&starting, 1, t0());
    s.report(&mut task, EcsTaskStatus::Running, t0() + secs(1)).await;
    assert_eq!(s.job(starting.id).await.status, JobStatus::Stopping);
    // A repeated cancel answers the same, and asks ECS again.
    let again = cancel(&starting).await.expect("repeated");
    assert_eq!(again.status, JobStatus::Stopping);
    assert_eq!(s.ecs.stops().len(), 2);
    task.container_exited("app", 0);
    task.stopping_because("EssentialContainerExited", "Essential container in task exited");
    s.report(&mut task, EcsTaskStatus::Stopped, t0() + secs(2)).await;
    assert_eq!(s.job(starting.id).await.status, JobStatus::Cancelled);
    // Its slot went back and was announced; the cancelled queued job does not take it.
    let freed = s.queue.take();
    assert!(
        freed.iter().any(|(m, _)| matches!(m, LaunchMessage::SlotFreed { .. })),
        "{freed:?}"
    );
    s.service.slot_freed("report").await.expect("slot freed");
    assert_eq!(s.ecs.tasks_started(), 1, "the cancelled job was never launched");
    assert_eq!(s.job(queued.id).await.status, JobStatus::Cancelled);

    // RUNNING, then STOPPING on its own (exit 1, which the policy would retry): the cancel
    // wins, no retry.
    for stop_first in [false, true] {
        let job = s.submit(request("report")).await;
        let mut task = s.task(&job, 1, t0());
        s.report(&mut task, EcsTaskStatus::Running, t0() + secs(1)).await;
        task.container_exited("app", 1);
        task.stopping_because("EssentialContainerExited", "Essential container in task exited");
        if stop_first {
            s.report(&mut task, EcsTaskStatus::Stopping, t0() + secs(2)).await;
        }
        assert_eq!(cancel(&job).await.expect("cancelling").status, JobStatus::Stopping);
        s.report(&mut task, EcsTaskStatus::Stopped, t0() + secs(3)).await;
        let ended = s.job(job.id).await;
        assert_eq!((ended.status, ended.attempts.count()), (JobStatus::Cancelled, 1));
    }

    // Waiting for its next attempt: CANCELLED at once; the retry never starts.
    let job = s.submit(request("report")).await;
    let mut task = s.task(&job, 1, t0());
    s.run_and_exit(&mut task, t0() + secs(1), 1).await;
    let waiting = s.job(job.id).await;
    assert_eq!((waiting.status, waiting.attempts.count()), (JobStatus::Submitted, 2));
    assert_eq!(cancel(&job).await.expect("cancelled").status, JobStatus::Cancelled);
    s.at(t0() + secs(3600));
    s.service.launch_due(job.id).await.expect("due");
    s.service.reconcile().await.expect("pass");
    let after = s.job(job.id).await;
    assert_eq!(
        (after.status, after.current_attempt().task_arn.clone()),
        (JobStatus::Cancelled, None)
    );

    // Finished: unchanged, refused; another owner's job is not found.
    let job = s.submit(request("report")).await;
    let mut task = s.task(&job, 1, t0());
    s.run_and_exit(&mut task, t0() + secs(1), 0).await;
    let finished = s.job(job.id).await;
    assert!(matches!(cancel(&job).await, Err(ServiceError::JobFinished { .. })));
    assert_eq!(s.job(job.id).await, finished);
    let bob = Owner::new("arn:aws:iam::111122223333:user/bob").expect("owner");
    let running = s.submit(request("report")).await;
    assert!(matches!(
        s.service.cancel(&bob, &running.id.to_string()).await,
        Err(ServiceError::JobNotFound)
    ));
}

#[tokio::test]
async fn a_retry_waits_for_its_definitions_concurrency_slot() {
    let s = Setup::new(LIMITED).await;
    // A runs and holds the only slot; B waits for it.
    let a = s.submit(request("report")).await;
    let b = s.submit(request("report")).await;
    assert_eq!((a.status, b.status), (JobStatus::Starting, JobStatus::Submitted));
    // A fails (exit 1, retried in 30 s): its slot goes back and B takes it.
    let mut task_a = s.task(&a, 1, t0());
    s.run_and_exit(&mut task_a, t0() + secs(1), 1).await;
    s.service.slot_freed("report").await.expect("slot freed");
    assert_eq!(s.job(b.id).await.status, JobStatus::Starting);
    // A's retry is due while B runs: it waits for the slot, saying so.
    s.at(t0() + secs(36));
    let waiting = s.service.launch_due(a.id).await.expect("due").expect("job");
    assert_eq!(waiting.status, JobStatus::Submitted);
    assert_eq!(
        waiting.status_reason.as_deref(),
        Some("waiting for a free slot: definition 'report' runs at most 1 at once")
    );
    assert!(s
        .ecs
        .task_of(StartedBy {
            job_id: a.id,
            attempt: 2
        })
        .is_none());
    // B ends; its slot goes to A's second attempt.
    let mut task_b = s.task(&b, 1, t0());
    s.run_and_exit(&mut task_b, t0() + secs(37), 0).await;
    s.service.slot_freed("report").await.expect("slot freed");
    let retried = s.job(a.id).await;
    assert_eq!((retried.status, retried.attempts.count()), (JobStatus::Starting, 2));
    assert!(s
        .ecs
        .task_of(StartedBy {
            job_id: a.id,
            attempt: 2
        })
        .is_some());
}

/// ECS that, while it starts a task, lets the owner's cancel land first: the launch and
/// the cancel race, and the cancel wins the write.
struct CancelledWhileLaunching {
    ecs: Arc<InMemoryTaskLauncher>,
    store: Arc<DynamoJobStore>,
}

impl TaskLauncher for CancelledWhileLaunching {
    async fn launch(&self, request: &TaskRequest) -> Result<Launched, LaunchError> {
        let job = self
            .store
            .get(request.started_by.job_id)
            .await
            .expect("read")
            .expect("job");
        if let Cancel::Write { update, .. } = job.cancel(Utc::now()) {
            self.store.update(job.id, &update).await.expect("cancel written");
        }
        self.ecs.launch(request).await
    }
}

impl TaskStopper for CancelledWhileLaunching {
    async fn stop(&self, task_arn: &str, reason: &str) -> Result<(), StopError> {
        self.ecs.stop(task_arn, reason).await
    }
}

#[tokio::test]
async fn a_launch_racing_with_a_cancel_never_leaves_its_task_running() {
    let s = Setup::new(LIMITED).await;
    let racing = JobService::new(
        s.store.clone(),
        Arc::new(CancelledWhileLaunching {
            ecs: s.ecs.clone(),
            store: s.store.clone(),
        }),
        definitions(LIMITED),
    )
    .with_queue(s.queue.clone());
    let job = racing.submit(alice(), request("report"), None).await.expect("answered");
    // The cancel landed first: the job is CANCELLED, its task never recorded, its slot
    // given back, and the task it started is handed over to be stopped.
    assert_eq!(job.status, JobStatus::Cancelled);
    let stored = s.job(job.id).await;
    assert_eq!(
        (stored.status, stored.current_attempt().task_arn.clone()),
        (JobStatus::Cancelled, None)
    );
    assert!(stored.slots.is_empty());
    let task_arn = s
        .ecs
        .task_of(StartedBy {
            job_id: job.id,
            attempt: 1,
        })
        .expect("a task was started");
    let stop = LaunchMessage::StopTask {
        task_arn: task_arn.clone(),
        reason: "cancelled".to_owned(),
    };
    let sent: Vec<LaunchMessage> = s.queue.take().into_iter().map(|(m, _)| m).collect();
    assert!(sent.contains(&stop), "{sent:?}");
    s.service.handle_launch_message(&stop).await.expect("stopped");
    assert_eq!(s.ecs.stops(), [(task_arn.clone(), "cancelled".to_owned())]);
    // Had that message been lost, the task's own events ask again.
    let mut task = s.task(&job, 1, t0());
    let outcome = s.report(&mut task, EcsTaskStatus::Running, t0() + secs(1)).await;
    assert!(matches!(outcome, EventOutcome::Ignored { .. }), "{outcome:?}");
    let sent: Vec<LaunchMessage> = s.queue.take().into_iter().map(|(m, _)| m).collect();
    assert_eq!(sent, [stop]);
}

#[tokio::test]
async fn a_cancel_after_a_launch_whose_answer_was_lost_finds_and_stops_its_task() {
    let s = Setup::new(LIMITED).await;
    // ECS started the task but its answer was lost: the job waits keeping its slot.
    let lost = Arc::new(InMemoryTaskLauncher::answering([ScriptedLaunch::StartUnanswered]));
    let creator = JobService::new(s.store.clone(), lost.clone(), definitions(LIMITED))
        .with_queue(s.queue.clone())
        .with_clock(s.clock.clone());
    let job = creator
        .submit(alice(), request("report"), None)
        .await
        .expect("answered");
    assert_eq!((job.status, job.slots.len()), (JobStatus::Submitted, 1));
    s.queue.take();

    let cancelled = creator.cancel(&alice(), &job.id.to_string()).await.expect("cancelled");
    assert_eq!(cancelled.status, JobStatus::Cancelled);
    assert!(s.job(job.id).await.slots.is_empty(), "the slot went back");
    // The launcher is told to look for the task once any launch in flight has ended.
    let sent = s.queue.take();
    let look = sent
        .iter()
        .find(|(m, _)| matches!(m, LaunchMessage::CancelledLaunch { .. }))
        .cloned()
        .unwrap_or_else(|| panic!("{sent:?}"));
    assert_eq!(look.1, Some(t0() + secs(30)));
    let reconciler = JobService::new(s.store.clone(), lost.clone(), definitions(LIMITED)).with_queue(s.queue.clone());
    reconciler.handle_launch_message(&look.0).await.expect("looked");
    let task_arn = lost
        .task_of(StartedBy {
            job_id: job.id,
            attempt: 1,
        })
        .expect("the lost launch's task");
    assert_eq!(lost.stops(), [(task_arn, "cancelled".to_owned())]);
}

/// `DELETE /jobs/{id}` through job-api's handler: `202` with the job, `409 job-finished`
/// for a finished job, `404` for another owner's.
#[tokio::test]
async fn delete_answers_202_with_the_job_409_once_finished_and_404_to_others() {
    let store = Arc::new(fresh_dynamo_store().await);
    let ecs = Arc::new(InMemoryTaskLauncher::answering([ScriptedLaunch::Start]));
    let world = World::new(store, ecs.clone(), definitions(LIMITED));
    let created = json_body(
        &world
            .post(
                r#"{"definition": "report", "retry": {"attempts": 1}, "timeoutSeconds": 30}"#,
                ALICE,
                None,
            )
            .await,
    );
    assert_eq!(created["retry"]["attempts"], 1);
    assert_eq!(created["timeoutSeconds"], 30);
    let id = created["jobId"].as_str().expect("jobId");

    let bob = Caller::Iam("arn:aws:iam::111122223333:user/bob");
    assert_problem(&world.cancel(id, bob).await, 404, "job-not-found");
    let accepted = world.cancel(id, ALICE).await;
    assert_eq!(accepted.status(), 202);
    let body = json_body(&accepted);
    assert_eq!(body["status"], "STOPPING");
    assert_eq!(body["statusReason"], CANCELLING);
    assert!(body["cancelRequestedAt"].is_string(), "{body}");
    assert_eq!(world.cancel(id, ALICE).await.status(), 202, "a repeated cancel");
    assert_eq!(ecs.stops().len(), 2);

    let raised = world
        .post(r#"{"definition": "report", "retry": {"attempts": 3}}"#, ALICE, None)
        .await;
    let problem = assert_problem(&raised, 400, "policy-raised");
    assert_eq!(problem["field"], "retry.attempts");
    let zero = world
        .post(r#"{"definition": "report", "timeoutSeconds": 0}"#, ALICE, None)
        .await;
    assert_problem(&zero, 400, "malformed-body");

    // The task stops (the events of a cancelled task): CANCELLED, whatever the exit code;
    // a cancel now is still answered as the first was.
    let task_arn = body["taskArn"].as_str().expect("taskArn");
    deliver_stopped(&world, id, task_arn, "UserInitiated", 143).await;
    assert_eq!(world.job(id, ALICE).await["status"], "CANCELLED");
    let repeated = world.cancel(id, ALICE).await;
    assert_eq!(repeated.status(), 202);
    assert_eq!(json_body(&repeated)["status"], "CANCELLED");

    // A job that finished on its own: 409, unchanged.
    let created = json_body(&world.post(r#"{"definition": "report"}"#, ALICE, None).await);
    let id = created["jobId"].as_str().expect("jobId");
    deliver_stopped(
        &world,
        id,
        created["taskArn"].as_str().expect("taskArn"),
        "EssentialContainerExited",
        0,
    )
    .await;
    let finished = world.job(id, ALICE).await;
    assert_eq!(finished["status"], "SUCCEEDED");
    let problem = assert_problem(&world.cancel(id, ALICE).await, 409, "job-finished");
    assert_eq!(
        (problem["jobId"].as_str(), problem["jobStatus"].as_str()),
        (Some(id), Some("SUCCEEDED"))
    );
    assert_eq!(world.job(id, ALICE).await, finished);
}

/// Delivers the STOPPED event of attempt 1's task of job `id` through job-events.
async fn deliver_stopped<S, L>(world: &World<S, L>, id: &str, task_arn: &str, stop_code: &str, exit_code: i32)
where
    S: JobStore + Clone,
    L: TaskLauncher + TaskStopper + Clone,
{
    let started_by = format!("job-tracker/{id}/1");
    let mut task = TaskTimeline::new(task_arn, CLUSTER_ARN, Some(started_by), &["app"], Utc::now());
    task.stopping_because(stop_code, "stopped");
    task.container_exited("app", exit_code);
    let stopped = task.advance(EcsTaskStatus::Stopped, Utc::now());
    let event = shared::testing::fargate::eventbridge_envelope(&stopped, "e1", "111122223333", "us-east-1");
    world.deliver(&[event]).await;
}
