//! create-job and job-events with the in-memory adapters, for what the emulators cannot
//! produce: ECS not answering, and exact write counts.

use serde_json::Value;
use shared::adapters::memory::InMemoryJobStore;
use shared::domain::{Job, JobUpdate, SlotClaim};
use shared::domain::{JobId, StartedBy};
use shared::ports::{Created, JobStore, LaunchMessage, LaunchRefusal, StoreError, Updated};
use shared::testing::launcher::{InMemoryTaskLauncher, ScriptedLaunch};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tests::api::{assert_problem, json_body, ALICE};
use tests::events::{sequence, shuffled_with_duplicates, Task};
use tests::world::{definitions, World};

const DEFINITIONS: &str =
    r#"{"report": {"taskDefinition": "report", "container": "app", "parameters": ["REPORT_DATE", "FORMAT"]}}"#;
const REPORT: &str = r#"{"definition": "report", "parameters": {"REPORT_DATE": "2026-11-01"}}"#;

type MemoryWorld = World<Arc<InMemoryJobStore>, Arc<InMemoryTaskLauncher>>;

fn world(script: Vec<ScriptedLaunch>) -> (MemoryWorld, Arc<InMemoryJobStore>, Arc<InMemoryTaskLauncher>) {
    let store = Arc::new(InMemoryJobStore::default());
    let launcher = Arc::new(InMemoryTaskLauncher::answering(script));
    let world = World::new(store.clone(), launcher.clone(), definitions(DEFINITIONS));
    (world, store, launcher)
}

fn events(name: &str, job: &Value) -> Vec<Value> {
    let job_id = JobId::parse(job["jobId"].as_str().expect("jobId")).expect("job id");
    let started_by = StartedBy { job_id, attempt: 1 }.to_string();
    sequence(
        name,
        &Task {
            task_arn: job["taskArn"].as_str().expect("taskArn"),
            cluster_arn: "arn:aws:ecs:us-east-1:000000000000:cluster/local",
            started_by: Some(&started_by),
            container: "app",
        },
    )
}

fn job_id(id: &str) -> JobId {
    JobId::parse(id).expect("job id")
}

/// Sleeps until the job's `nextAttemptAt`.
async fn wait_until_due(world: &MemoryWorld, id: &str) {
    let job = world.job(id, ALICE).await;
    let due: chrono::DateTime<chrono::Utc> = job["nextAttemptAt"]
        .as_str()
        .and_then(|at| at.parse().ok())
        .expect("a next try");
    let wait = (due - chrono::Utc::now()).to_std().unwrap_or_default();
    assert!(wait <= std::time::Duration::from_secs(5), "{job}");
    // `nextAttemptAt` is shown to the millisecond; the time kept is finer.
    tokio::time::sleep(wait + std::time::Duration::from_millis(5)).await;
}

#[tokio::test]
async fn ecs_not_answering_queues_the_job_and_its_next_try_starts_it_once() {
    let (world, store, launcher) = world(vec![ScriptedLaunch::StartUnanswered]);

    let first = world.post(REPORT, ALICE, Some("k1")).await;
    assert_eq!(first.status(), 201, "{}", json_body(&first));
    let job = json_body(&first);
    let id = job["jobId"].as_str().expect("job id").to_owned();
    assert_eq!(job["status"], "SUBMITTED");
    let reason = job["statusReason"].as_str().expect("a reason");
    assert!(reason.contains("ECS did not answer"), "{reason}");
    assert!(job["nextAttemptAt"].as_str().is_some(), "{job}");
    let queued = world.queue.take();
    assert!(
        matches!(&queued[..], [(LaunchMessage::Due { job_id }, Some(_))] if *job_id == id),
        "{queued:?}"
    );

    // A keyed retry answers the same job and launches nothing.
    let retry = world.post(REPORT, ALICE, Some("k1")).await;
    assert_eq!(retry.status(), 201);
    assert_eq!(json_body(&retry)["jobId"], id.as_str());
    assert_eq!(launcher.requests().len(), 1);

    // The due message tries again, with the same token: the task the unanswered call
    // started, not a second one.
    wait_until_due(&world, &id).await;
    world.reconciler.launch_due(job_id(&id)).await.expect("launch");
    let started = world.job(&id, ALICE).await;
    assert_eq!(started["status"], "STARTING", "{started}");
    assert_eq!(started["nextAttemptAt"], Value::Null);
    let requests = launcher.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].started_by, requests[1].started_by, "the same RunTask token");
    assert_eq!(launcher.tasks_started(), 1);
    assert_eq!(store.writes(), 3, "create, queued, launched");
}

#[tokio::test]
async fn throttled_and_capacity_refusals_queue_the_job_instead_of_failing_it() {
    let (world, _, launcher) = world(vec![
        ScriptedLaunch::Refuse(LaunchRefusal::NoCapacity),
        ScriptedLaunch::Throttle,
    ]);
    let job = json_body(&world.post(REPORT, ALICE, None).await);
    let id = job["jobId"].as_str().expect("jobId").to_owned();
    assert_eq!(job["status"], "SUBMITTED");
    assert!(
        job["statusReason"].as_str().expect("reason").contains("no capacity"),
        "{job}"
    );

    // Backing off, it is not tried early, not even for a freed slot.
    world.reconciler.slot_freed("report").await.expect("nothing to start");
    assert_eq!(launcher.requests().len(), 1);
    wait_until_due(&world, &id).await;
    world.reconciler.launch_due(job_id(&id)).await.expect("second try");
    let waiting = world.job(&id, ALICE).await;
    assert_eq!(waiting["status"], "SUBMITTED");
    assert!(
        waiting["statusReason"].as_str().expect("reason").contains("throttling"),
        "{waiting}"
    );

    wait_until_due(&world, &id).await;
    world.reconciler.launch_due(job_id(&id)).await.expect("third try");
    assert_eq!(world.job(&id, ALICE).await["status"], "STARTING");
    assert_eq!(launcher.tasks_started(), 1);
}

#[tokio::test]
async fn a_job_refused_after_it_waited_is_replayed_as_first_answered() {
    let (world, _, _) = world(vec![
        ScriptedLaunch::Throttle,
        ScriptedLaunch::Refuse(LaunchRefusal::TaskDefinitionNotFound),
    ]);
    let first = world.post(REPORT, ALICE, Some("k3")).await;
    assert_eq!(first.status(), 201);
    let id = json_body(&first)["jobId"].as_str().expect("jobId").to_owned();
    wait_until_due(&world, &id).await;
    world.reconciler.launch_due(job_id(&id)).await.expect("second try");
    assert_eq!(world.job(&id, ALICE).await["status"], "FAILED");

    // The same request again: the same status code as the first answer, with the job.
    let replay = world.post(REPORT, ALICE, Some("k3")).await;
    assert_eq!(replay.status(), 201, "{}", json_body(&replay));
    assert_eq!(json_body(&replay)["status"], "FAILED");
}

#[tokio::test]
async fn a_refused_launch_is_recorded_once_and_replayed_without_launching_again() {
    let (world, _, launcher) = world(vec![ScriptedLaunch::Refuse(LaunchRefusal::TaskDefinitionNotFound)]);

    let first = world.post(REPORT, ALICE, Some("k2")).await;
    let replay = world.post(REPORT, ALICE, Some("k2")).await;

    let problem = assert_problem(&first, 502, "launch-refused");
    assert!(
        problem["detail"]
            .as_str()
            .expect("detail")
            .ends_with("ECS refused to run the task: the task definition does not exist or has no ACTIVE revision."),
        "{problem}"
    );
    assert_eq!(json_body(&replay), json_body(&first));
    assert_eq!(launcher.requests().len(), 1);
}

#[tokio::test]
async fn the_container_gets_job_id_attempt_and_parameters() {
    let (world, _, launcher) = world(vec![]);
    let job = json_body(&world.post(REPORT, ALICE, None).await);

    let request = launcher.requests().remove(0);
    assert_eq!(request.task_definition, "report");
    assert_eq!(request.container, "app");
    let id = job["jobId"].as_str().expect("jobId").to_owned();
    assert_eq!(
        request.environment,
        vec![
            ("JOB_ID".to_owned(), id),
            ("JOB_ATTEMPT".to_owned(), "1".to_owned()),
            ("REPORT_DATE".to_owned(), "2026-11-01".to_owned()),
        ]
    );
}

#[tokio::test]
async fn rejected_requests_record_nothing_and_launch_nothing() {
    let (world, store, launcher) = world(vec![]);
    let oversize = format!(
        r#"{{"definition": "report", "parameters": {{"REPORT_DATE": "{}", "FORMAT": "{}"}}}}"#,
        "x".repeat(4096),
        "y".repeat(4096)
    );
    assert_problem(&world.post(&oversize, ALICE, None).await, 413, "overrides-too-large");
    assert_problem(
        &world.post(r#"{"definition": "x"}"#, ALICE, None).await,
        400,
        "unknown-definition",
    );
    assert_eq!(store.writes(), 0);
    assert!(launcher.requests().is_empty());
}

#[tokio::test]
async fn a_successful_job_costs_five_writes_and_duplicates_cost_none() {
    let (world, store, _) = world(vec![]);
    let job = json_body(&world.post(REPORT, ALICE, None).await);
    let in_order = events("success", &job);

    world.deliver(&in_order).await;
    assert_eq!(store.writes(), 5, "create, launch, RUNNING, STOPPING, SUCCEEDED");
    let finished = world.job(job["jobId"].as_str().expect("jobId"), ALICE).await;

    world.deliver(&shuffled_with_duplicates(&in_order, 9)).await;
    assert_eq!(store.writes(), 5, "replayed events write nothing");
    assert_eq!(world.job(job["jobId"].as_str().expect("jobId"), ALICE).await, finished);
}

#[tokio::test]
async fn under_a_concurrency_limit_a_job_that_starts_at_once_still_costs_five_writes() {
    let store = Arc::new(InMemoryJobStore::default());
    let limited = r#"{"report": {"taskDefinition": "report", "container": "app", "parameters": ["REPORT_DATE"],
                     "maxRunning": 2}}"#;
    let world = World::new(
        store.clone(),
        Arc::new(InMemoryTaskLauncher::default()),
        definitions(limited),
    );
    let job = json_body(&world.post(REPORT, ALICE, None).await);
    assert_eq!(store.slots_taken("slots#definition#report"), 1, "taken with the create");

    world.deliver(&events("success", &job)).await;
    assert_eq!(
        store.writes(),
        5,
        "create with its slot, launch, RUNNING, STOPPING, SUCCEEDED with the slot back"
    );
    assert_eq!(store.slots_taken("slots#definition#report"), 0);
    let freed = world.queue.take();
    assert!(
        matches!(&freed[..], [(LaunchMessage::SlotFreed { definition }, None)] if definition == "report"),
        "{freed:?}"
    );
}

/// The in-memory store, except that its first `fails` updates find the table unavailable.
struct FlakyUpdates {
    store: InMemoryJobStore,
    fails: AtomicUsize,
}

impl JobStore for FlakyUpdates {
    async fn create(&self, job: &Job, claims: &[SlotClaim]) -> Result<Created, StoreError> {
        self.store.create(job, claims).await
    }

    async fn get(&self, id: JobId) -> Result<Option<Job>, StoreError> {
        self.store.get(id).await
    }

    async fn get_many(&self, ids: &[JobId]) -> Result<Vec<Job>, StoreError> {
        self.store.get_many(ids).await
    }

    async fn unfinished(&self) -> Result<Vec<JobId>, StoreError> {
        self.store.unfinished().await
    }

    async fn queued(&self, definition: &str, limit: usize) -> Result<Vec<JobId>, StoreError> {
        self.store.queued(definition, limit).await
    }

    async fn list(&self, request: &shared::domain::ListRequest) -> Result<shared::domain::JobPage, StoreError> {
        self.store.list(request).await
    }

    async fn update(&self, id: JobId, update: &JobUpdate) -> Result<Updated, StoreError> {
        if self
            .fails
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(StoreError::Unavailable {
                operation: "UpdateItem",
                source: "throttled".into(),
            });
        }
        self.store.update(id, update).await
    }
}

#[tokio::test]
async fn a_task_that_started_but_was_not_recorded_still_gives_the_client_its_job() {
    let store = Arc::new(FlakyUpdates {
        store: InMemoryJobStore::default(),
        fails: AtomicUsize::new(1),
    });
    let launcher = Arc::new(InMemoryTaskLauncher::default());
    let world = World::new(store.clone(), launcher.clone(), definitions(DEFINITIONS));

    let response = world.post(REPORT, ALICE, None).await;

    assert_eq!(response.status(), 201, "{}", json_body(&response));
    let job = json_body(&response);
    assert_eq!(job["status"], "STARTING");
    assert!(job["taskArn"].as_str().is_some());
    let id = job["jobId"].as_str().expect("jobId");
    assert_eq!(
        world.job(id, ALICE).await["status"],
        "SUBMITTED",
        "the ARN was not recorded"
    );
    // The task's own events record it.
    world.deliver(&events("success", &job)).await;
    let finished = world.job(id, ALICE).await;
    assert_eq!(finished["status"], "SUCCEEDED");
    assert_eq!(finished["taskArn"], job["taskArn"]);
    assert_eq!(launcher.tasks_started(), 1);
}
