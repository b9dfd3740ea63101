//! The launch queue, concurrency limits and reconciliation through the real DynamoDB
//! adapter (DynamoDB Local), with a scripted ECS for what the emulators cannot do on
//! demand: throttle, fall silent, forget tasks, lose events.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use shared::adapters::dynamodb::DynamoJobStore;
use shared::app::{JobRequest, JobService};
use shared::domain::{EcsTaskStatus, Job, JobId, JobStatus, Owner, SlotPool, StartedBy, TaskObservation, WaitReason};
use shared::ports::{JobStore, LaunchMessage};
use shared::testing::fargate::TaskTimeline;
use shared::testing::launcher::{InMemoryTaskLauncher, ScriptedLaunch};
use shared::testing::queue::RecordingLaunchQueue;
use tests::emulators::fresh_dynamo_store;
use tests::world::{definitions, recorded_job};

type Service = JobService<Arc<DynamoJobStore>, Arc<InMemoryTaskLauncher>, Arc<RecordingLaunchQueue>>;

struct Setup {
    store: Arc<DynamoJobStore>,
    ecs: Arc<InMemoryTaskLauncher>,
    queue: Arc<RecordingLaunchQueue>,
    definitions_json: String,
}

impl Setup {
    async fn new(script: Vec<ScriptedLaunch>, definitions_json: &str) -> Self {
        Self {
            store: Arc::new(fresh_dynamo_store().await),
            ecs: Arc::new(InMemoryTaskLauncher::answering(script)),
            queue: Arc::new(RecordingLaunchQueue::default()),
            definitions_json: definitions_json.to_owned(),
        }
    }

    /// One function's service (create-job, job-events and job-reconciler each hold one).
    fn service(&self) -> Service {
        JobService::new(
            self.store.clone(),
            self.ecs.clone(),
            definitions(&self.definitions_json),
        )
        .with_queue(self.queue.clone())
        .with_quiet_for(Duration::ZERO)
    }

    async fn job(&self, id: JobId) -> Job {
        self.store.get(id).await.expect("store answers").expect("job exists")
    }
}

const REPORT: &str = r#"{"report": {"taskDefinition": "report", "container": "app"}}"#;

fn alice() -> Owner {
    Owner::new("arn:aws:iam::111122223333:user/alice").expect("owner")
}

fn request() -> JobRequest {
    JobRequest::new("report", Default::default())
}

/// ECS's story of one task, from PROVISIONING to STOPPED with `exit_code`.
fn timeline(task_arn: &str, started_by: StartedBy, exit_code: i32) -> Vec<TaskObservation> {
    let mut task = TaskTimeline::new(
        task_arn,
        "arn:aws:ecs:us-east-1:111122223333:cluster/jobs",
        Some(started_by.to_string()),
        &["app"],
        Utc::now(),
    );
    let mut observed = Vec::new();
    for status in EcsTaskStatus::ALL {
        if status == EcsTaskStatus::Deactivating {
            task.container_exited("app", exit_code);
            task.stopping_because("EssentialContainerExited", "Essential container in task exited");
        }
        observed.push(task.advance(status, Utc::now()).observation());
    }
    observed
}

fn started_by(job: &Job) -> StartedBy {
    StartedBy {
        job_id: job.id,
        attempt: job.current_attempt().number,
    }
}

#[tokio::test]
async fn throttled_launches_are_retried_until_one_task_starts() {
    let setup = Setup::new(vec![ScriptedLaunch::Throttle; 3], REPORT).await;
    let service = setup.service();
    let job = service.submit(alice(), request(), None).await.expect("201");
    assert_eq!(job.status, JobStatus::Submitted);
    assert_eq!(job.queue.as_ref().map(|q| q.reason), Some(WaitReason::Throttled));

    // Each due message is one more try; the queue carries it to the reconciler.
    for _ in 0..3 {
        let sent = setup.queue.take();
        let [(LaunchMessage::Due { job_id }, Some(at))] = &sent[..] else {
            panic!("one due message with a time: {sent:?}");
        };
        let wait = (*at - Utc::now()).to_std().unwrap_or_default();
        assert!(
            wait <= Duration::from_secs(4),
            "backoff stays short for throttling: {wait:?}"
        );
        tokio::time::sleep(wait).await;
        service
            .handle_launch_message(&LaunchMessage::Due { job_id: job_id.clone() })
            .await
            .expect("launch try");
    }
    let started = setup.job(job.id).await;
    assert_eq!(started.status, JobStatus::Starting, "{started:?}");
    assert_eq!(setup.ecs.requests().len(), 4);
    assert_eq!(setup.ecs.tasks_started(), 1);
    assert!(started.queue.is_none());
}

#[tokio::test]
async fn a_launch_ecs_never_answered_is_started_by_the_reconciler_with_the_same_token() {
    let setup = Setup::new(vec![ScriptedLaunch::StartUnanswered], REPORT).await;
    let service = setup.service();
    let job = service.submit(alice(), request(), None).await.expect("201");
    assert_eq!(job.status, JobStatus::Submitted);
    let queue = job.queue.clone().expect("waits");
    assert_eq!(queue.reason, WaitReason::NoAnswer);
    assert!(queue.outcome_unknown_since.is_some());

    // The due message is lost; the reconciler's pass finds the job once it is due.
    setup.queue.take();
    let due = queue.next_try_at.expect("a next try");
    tokio::time::sleep((due - Utc::now()).to_std().unwrap_or_default()).await;
    let report = service.reconcile().await.expect("pass");
    assert_eq!(report.launches, 1, "{report:?}");

    let started = setup.job(job.id).await;
    assert_eq!(started.status, JobStatus::Starting);
    let requests = setup.ecs.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[0].started_by.client_token(),
        requests[1].started_by.client_token()
    );
    assert_eq!(setup.ecs.tasks_started(), 1, "the same task, not a second one");
}

#[tokio::test]
async fn with_every_event_lost_the_reconciler_ends_each_job_with_its_true_verdict() {
    let setup = Setup::new(vec![], REPORT).await;
    let service = setup.service();
    let mut jobs = Vec::new();
    for exit_code in [0, 3] {
        let job = service.submit(alice(), request(), None).await.expect("201");
        let task_arn = job.current_attempt().task_arn.clone().expect("started");
        // ECS ran the task to its end; not one event arrived.
        let story = timeline(&task_arn, started_by(&job), exit_code);
        setup.ecs.describe_as(story.last().expect("stopped").clone());
        jobs.push((job.id, exit_code));
    }
    let report = service.reconcile().await.expect("pass");
    assert_eq!(
        (report.described, report.describe_calls, report.moved),
        (2, 1, 2),
        "{report:?}"
    );

    for (id, exit_code) in jobs {
        let job = setup.job(id).await;
        let expected = if exit_code == 0 {
            JobStatus::Succeeded
        } else {
            JobStatus::Failed
        };
        assert_eq!(job.status, expected, "{job:?}");
        assert_eq!(job.current_attempt().exit_code, Some(exit_code));
    }
    // Finished jobs leave the index: the next pass reads nothing.
    assert_eq!(service.reconcile().await.expect("pass").unfinished, 0);
}

#[tokio::test]
async fn a_task_ecs_no_longer_knows_fails_its_job_saying_the_state_was_lost() {
    let setup = Setup::new(vec![], REPORT).await;
    let service = setup.service();
    let job = service.submit(alice(), request(), None).await.expect("201");
    let report = service.reconcile().await.expect("pass");
    assert_eq!(report.lost, 1, "{report:?}");
    let lost = setup.job(job.id).await;
    assert_eq!(lost.status, JobStatus::Failed);
    assert!(
        lost.status_reason
            .as_deref()
            .unwrap_or_default()
            .contains("final state was lost"),
        "{lost:?}"
    );
}

#[tokio::test]
async fn a_job_that_cannot_start_within_its_queue_timeout_fails() {
    let definitions = r#"{"report": {"taskDefinition": "report", "container": "app", "queueTimeoutSeconds": 1}}"#;
    let setup = Setup::new(vec![ScriptedLaunch::Throttle; 100], definitions).await;
    let service = setup.service();
    let job = service.submit(alice(), request(), None).await.expect("201");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let report = service.reconcile().await.expect("pass");
    assert_eq!(report.expired, 1, "{report:?}");
    let expired = setup.job(job.id).await;
    assert_eq!(expired.status, JobStatus::Failed);
    let reason = expired.status_reason.unwrap_or_default();
    assert!(
        reason.contains("queueTimeoutSeconds (1 s)") && reason.contains("throttling"),
        "{reason}"
    );
}

#[tokio::test]
async fn thirty_two_simultaneous_submissions_never_exceed_max_running_and_leak_no_slot() {
    const LIMIT: usize = 3;
    let definitions = r#"{"report": {"taskDefinition": "report", "container": "app", "maxRunning": 3}}"#;
    let setup = Arc::new(Setup::new(vec![], definitions).await);
    let mut submissions = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let setup = setup.clone();
        submissions.spawn(async move { setup.service().submit(alice(), request(), None).await.expect("201") });
    }
    let jobs = submissions.join_all().await;
    let running = |jobs: &[Job]| jobs.iter().filter(|j| j.current_attempt().task_arn.is_some()).count();
    assert_eq!(running(&jobs), LIMIT, "exactly the limit started");
    assert_eq!(setup.ecs.tasks_started(), LIMIT);

    // Jobs end (their STOPPED events), each freed slot starts the oldest waiting job,
    // concurrently, until every job has run; never more than the limit at once.
    let service = setup.service();
    let pool = SlotPool::Definition("report".into()).key();
    let mut finished = 0;
    while finished < jobs.len() {
        let ids: Vec<JobId> = jobs.iter().map(|j| j.id).collect();
        let current = setup.store.get_many(&ids).await.expect("read");
        let holding = current.iter().filter(|j| !j.slots.is_empty()).count();
        assert!(holding <= LIMIT, "{holding} jobs hold a slot of {pool}");
        let ending: Vec<Job> = current
            .into_iter()
            .filter(|j| j.current_attempt().task_arn.is_some() && !j.status.is_terminal())
            .collect();
        assert!(!ending.is_empty(), "jobs wait but none runs: a slot leaked");
        let mut ends = tokio::task::JoinSet::new();
        for job in ending {
            let service = setup.service();
            ends.spawn(async move {
                let arn = job.current_attempt().task_arn.clone().expect("task");
                for observed in timeline(&arn, started_by(&job), 0) {
                    service.observe_task(&observed).await.expect("event");
                }
            });
        }
        finished += ends.join_all().await.len();
        for (message, _) in setup.queue.take() {
            service.handle_launch_message(&message).await.expect("slot freed");
        }
    }
    let ids: Vec<JobId> = jobs.iter().map(|j| j.id).collect();
    let all = setup.store.get_many(&ids).await.expect("read");
    assert!(all
        .iter()
        .all(|j| j.status == JobStatus::Succeeded && j.slots.is_empty()));
    assert_eq!(setup.ecs.tasks_started(), 32, "each job ran once");
    assert_eq!(service.reconcile().await.expect("pass").unfinished, 0);
}

#[tokio::test]
async fn two_reconcilers_at_once_do_what_one_does() {
    let setup = Setup::new(vec![], REPORT).await;
    let service = setup.service();
    let mut ids = Vec::new();
    for exit_code in [0, 1, 0, 2] {
        let job = service.submit(alice(), request(), None).await.expect("201");
        let task_arn = job.current_attempt().task_arn.clone().expect("started");
        setup
            .ecs
            .describe_as(timeline(&task_arn, started_by(&job), exit_code).pop().expect("stopped"));
        ids.push((job.id, exit_code));
    }
    let (a, b) = (setup.service(), setup.service());
    let (first, second) = tokio::join!(a.reconcile(), b.reconcile());
    let moved = first.expect("pass").moved + second.expect("pass").moved;
    assert!(moved >= 4, "every job moved once at least: {moved}");
    for (id, exit_code) in ids {
        let job = setup.job(id).await;
        assert_eq!(job.current_attempt().exit_code, Some(exit_code));
        assert!(job.status.is_terminal());
    }
    assert_eq!(setup.ecs.tasks_started(), 4);
}

/// A process that dies at one step boundary: calls before the crash point go through,
/// the call at the crash point either never happens or happens with its answer lost,
/// and every later call fails, as nothing runs after a crash.
struct Crashing<T> {
    inner: T,
    calls: std::sync::atomic::AtomicUsize,
    /// The call that crashes, and whether it took effect first.
    crash_at: usize,
    after: bool,
}

impl<T> Crashing<T> {
    fn new(inner: T, crash_at: usize, after: bool) -> Self {
        Self {
            inner,
            calls: Default::default(),
            crash_at,
            after,
        }
    }

    /// Whether this call happens, and whether its caller hears back.
    fn step(&self) -> (bool, bool) {
        let n = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        match n.cmp(&self.crash_at) {
            std::cmp::Ordering::Less => (true, true),
            std::cmp::Ordering::Equal => (self.after, false),
            std::cmp::Ordering::Greater => (false, false),
        }
    }

    fn crashed(&self) -> bool {
        self.calls.load(std::sync::atomic::Ordering::SeqCst) > self.crash_at
    }
}

fn dead() -> shared::ports::StoreError {
    shared::ports::StoreError::Unavailable {
        operation: "any",
        source: "the process crashed".into(),
    }
}

macro_rules! through {
    ($self:ident, $call:expr) => {{
        let (happens, answered) = $self.step();
        if !happens {
            return Err(dead());
        }
        let result = $call.await;
        if !answered {
            return Err(dead());
        }
        result
    }};
}

impl<S: JobStore> JobStore for Crashing<S> {
    async fn create(
        &self,
        job: &Job,
        claims: &[shared::domain::SlotClaim],
    ) -> Result<shared::ports::Created, shared::ports::StoreError> {
        through!(self, self.inner.create(job, claims))
    }
    async fn get(&self, id: JobId) -> Result<Option<Job>, shared::ports::StoreError> {
        through!(self, self.inner.get(id))
    }
    async fn get_many(&self, ids: &[JobId]) -> Result<Vec<Job>, shared::ports::StoreError> {
        through!(self, self.inner.get_many(ids))
    }
    async fn update(
        &self,
        id: JobId,
        update: &shared::domain::JobUpdate,
    ) -> Result<shared::ports::Updated, shared::ports::StoreError> {
        through!(self, self.inner.update(id, update))
    }
    async fn unfinished(&self) -> Result<Vec<JobId>, shared::ports::StoreError> {
        through!(self, self.inner.unfinished())
    }
    async fn queued(&self, definition: &str, limit: usize) -> Result<Vec<JobId>, shared::ports::StoreError> {
        through!(self, self.inner.queued(definition, limit))
    }
    async fn list(
        &self,
        request: &shared::domain::ListRequest,
    ) -> Result<shared::domain::JobPage, shared::ports::StoreError> {
        through!(self, self.inner.list(request))
    }
}

/// Slots taken in `pool`, read from the table as the counter item stores it.
async fn slots_taken(client: &aws_sdk_dynamodb::Client, table: &str, pool: &SlotPool) -> i64 {
    let item = client
        .get_item()
        .table_name(table)
        .key("jobId", aws_sdk_dynamodb::types::AttributeValue::S(pool.key()))
        .consistent_read(true)
        .send()
        .await
        .expect("counter readable")
        .item;
    item.and_then(|i| {
        i.get("running")
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
    })
    .unwrap_or(0)
}

#[tokio::test]
async fn a_crash_at_any_step_of_submit_launch_events_and_reconcile_loses_no_job_starts_no_second_task_leaks_no_slot() {
    let definitions = r#"{"report": {"taskDefinition": "report", "container": "app", "maxRunning": 1}}"#;
    let sdk = tests::emulators::sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let pool = SlotPool::Definition("report".into());
    let mut boundaries = 0;
    // Every store call of the whole life of a job, crashed before and after it happens.
    for crash_at in 0..12 {
        for after in [false, true] {
            let table = tests::emulators::fresh_table(&client).await;
            let store = Arc::new(DynamoJobStore::new(client.clone(), &table));
            let ecs = Arc::new(InMemoryTaskLauncher::default());
            let queue = Arc::new(RecordingLaunchQueue::default());
            let crashing = Arc::new(Crashing::new(store.clone(), crash_at, after));

            // The first process: submit, the task's events, a pass; until it dies.
            let first = JobService::new(crashing.clone(), ecs.clone(), tests::world::definitions(definitions))
                .with_queue(queue.clone())
                .with_quiet_for(Duration::ZERO);
            let submitted = first.submit(alice(), request(), None).await;
            let known_id = submitted.as_ref().ok().map(|job| job.id);
            if let Ok(job) = &submitted {
                if let Some(arn) = job.current_attempt().task_arn.clone() {
                    for observed in timeline(&arn, started_by(job), 0) {
                        let _ = first.observe_task(&observed).await;
                    }
                }
            }
            let _ = first.reconcile().await;
            if !crashing.crashed() {
                continue;
            }
            boundaries += 1;

            // After the restart: the next process's passes, queue messages and the events
            // EventBridge delivers again, until nothing is left to do.
            let next = JobService::new(store.clone(), ecs.clone(), tests::world::definitions(definitions))
                .with_queue(queue.clone())
                .with_quiet_for(Duration::ZERO)
                .with_launch_grace(Duration::ZERO);
            for _ in 0..4 {
                // ECS knows every task it started, and ran each to its end.
                let mut stories = Vec::new();
                for id in store.unfinished().await.expect("unfinished") {
                    let job = store.get(id).await.expect("read").expect("job");
                    if let Some(arn) = ecs.task_of(started_by(&job)) {
                        let story = timeline(&arn, started_by(&job), 0);
                        ecs.describe_as(story.last().expect("stopped").clone());
                        stories.push(story);
                    }
                }
                for (message, _) in queue.take() {
                    let _ = next.handle_launch_message(&message).await;
                }
                next.reconcile().await.expect("pass after the restart");
                for observed in stories.iter().flatten() {
                    next.observe_task(observed).await.expect("event");
                }
            }

            let case = format!(
                "crash at call {crash_at} ({})",
                if after { "after it" } else { "before it" }
            );
            let jobs = store.unfinished().await.expect("unfinished");
            assert!(jobs.is_empty(), "{case}: jobs left unfinished: {jobs:?}");
            if let Some(id) = known_id {
                let job = store
                    .get(id)
                    .await
                    .expect("read")
                    .expect("{case}: the client's job is lost");
                assert_eq!(job.status, JobStatus::Succeeded, "{case}: {job:?}");
            }
            assert!(ecs.tasks_started() <= 1, "{case}: a second task");
            assert_eq!(slots_taken(&client, &table, &pool).await, 0, "{case}: a slot leaked");
        }
    }
    assert!(boundaries >= 16, "only {boundaries} crash points were reached");
}

fn waiting_job(created_minutes_ago: i64, queue: shared::domain::Queued) -> Job {
    let mut job = recorded_job(alice(), Utc::now() - chrono::Duration::minutes(created_minutes_ago));
    job.queue = Some(queue);
    job
}

#[tokio::test]
async fn a_younger_job_holding_its_slot_is_relaunched_even_while_older_jobs_wait_for_one() {
    let definitions = r#"{"report": {"taskDefinition": "report", "container": "app", "maxRunning": 1}}"#;
    let setup = Setup::new(vec![], definitions).await;
    let claims = [shared::domain::SlotClaim {
        pool: SlotPool::Definition("report".into()),
        limit: 1,
    }];
    // The older job waits for a slot; the younger holds the only one, its launch outcome
    // lost and its due message lost with it.
    let older = waiting_job(
        10,
        shared::domain::Queued {
            reason: WaitReason::ConcurrencyLimit,
            tries: 0,
            next_try_at: None,
            outcome_unknown_since: None,
        },
    );
    setup.store.create(&older, &[]).await.expect("older");
    let younger = waiting_job(
        5,
        shared::domain::Queued {
            reason: WaitReason::NoAnswer,
            tries: 1,
            next_try_at: Some(Utc::now() - chrono::Duration::minutes(4)),
            outcome_unknown_since: Some(Utc::now() - chrono::Duration::minutes(5)),
        },
    )
    .holding(&claims);
    setup.store.create(&younger, &claims).await.expect("younger");

    let report = setup.service().reconcile().await.expect("pass");
    assert_eq!(report.launches, 2, "{report:?}");
    let younger = setup.job(younger.id).await;
    assert_eq!(younger.status, JobStatus::Starting, "{younger:?}");
    assert_eq!(setup.job(older.id).await.status, JobStatus::Submitted);
    assert_eq!(setup.ecs.tasks_started(), 1);
}

#[tokio::test]
async fn a_task_found_for_a_job_without_its_slot_takes_the_slot_even_past_the_limit() {
    let definitions = r#"{"report": {"taskDefinition": "report", "container": "app", "maxRunning": 1}}"#;
    let setup = Setup::new(vec![ScriptedLaunch::StartUnanswered], definitions).await;
    let service = setup.service();
    // A job that holds the only slot and runs.
    let running = service.submit(alice(), request(), None).await.expect("201");
    let pool = SlotPool::Definition("report".into());
    // Another job whose earlier launch started a task that nobody recorded, and which
    // gave its slot back since (a concurrent launcher's try was throttled).
    let lost = waiting_job(
        30,
        shared::domain::Queued {
            reason: WaitReason::Throttled,
            tries: 2,
            next_try_at: Some(Utc::now() - chrono::Duration::minutes(1)),
            outcome_unknown_since: Some(Utc::now() - chrono::Duration::minutes(30)),
        },
    );
    setup.store.create(&lost, &[]).await.expect("lost");
    let task = shared::ports::TaskRequest::for_current_attempt(&lost, "report");
    use shared::ports::TaskLauncher;
    let _ = setup.ecs.launch(&task).await; // ECS starts it; nothing records it

    service.launch_due(lost.id).await.expect("launch due");
    let found = setup.job(lost.id).await;
    assert_eq!(found.status, JobStatus::Starting, "{found:?}");
    assert_eq!(found.slots, [pool], "the running task is counted");
    assert_eq!(setup.ecs.tasks_started(), 2, "no second task for the lost launch");
    let holding = setup
        .store
        .get_many(&[running.id, lost.id])
        .await
        .expect("read")
        .iter()
        .filter(|j| !j.slots.is_empty())
        .count();
    assert_eq!(
        holding, 2,
        "one past the limit, counted, rather than a task nobody counts"
    );
}
