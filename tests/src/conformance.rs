//! The behaviour every `JobStore` adapter must have, as one suite run against each
//! (`store_conformance_tests!`): the in-memory store and DynamoDB on DynamoDB Local.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use shared::domain::EcsTaskStatus;
use shared::domain::{
    decide, page_of, Cancel, EventDecision, Job, JobFilter, JobId, JobStatus, JobUpdate, ListRequest, NewJob, Owner,
    RetryAction, RetryPolicy, RetryRule, SlotClaim, SlotPool, TaskEventGuard, UpdateGuard,
};
use shared::inbound::ecs_event::TaskStateChange;
use shared::ports::{Created, JobStore, Updated};
use shared::testing::fargate::TaskTimeline;

const TASK_ARN: &str = "arn:aws:ecs:us-east-1:111122223333:task/jobs/0123456789abcdef0123456789abcdef";
const OTHER_TASK_ARN: &str = "arn:aws:ecs:us-east-1:111122223333:task/jobs/ffffffffffffffffffffffffffffffff";
const CLUSTER_ARN: &str = "arn:aws:ecs:us-east-1:111122223333:cluster/jobs";

fn at(second: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0)
        .single()
        .expect("valid time")
        + Duration::seconds(second)
}

fn new_job() -> Job {
    Job::submitted(
        NewJob {
            id: JobId::random(),
            owner: Owner::new("arn:aws:iam::111122223333:user/alice").expect("owner"),
            definition: "report".into(),
            container: "app".into(),
            parameters: BTreeMap::from([("REPORT_DATE".into(), "2026-11-01".into())]),
            idempotency_key: None,
            retry: RetryPolicy::default(),
            timeout: None,
            logs: None,
        },
        at(0),
    )
}

async fn stored<S: JobStore>(store: &S, id: JobId) -> Job {
    store.get(id).await.expect("store answers").expect("job exists")
}

/// A recorded job whose task ECS accepted.
async fn launched_job<S: JobStore>(store: &S) -> Job {
    let job = new_job();
    assert_eq!(store.create(&job, &[]).await.expect("create"), Created::Inserted);
    let update = job.launched(TASK_ARN.into(), at(1));
    assert_eq!(store.update(job.id, &update).await.expect("update"), Updated::Applied);
    stored(store, job.id).await
}

fn event_update(job: &Job, event: &TaskStateChange) -> JobUpdate {
    match decide(job, 1, &event.observation(), 0.0) {
        EventDecision::Apply(update) => *update,
        EventDecision::Ignore(why) => panic!("expected a write for version {}: {why}", event.version),
    }
}

/// A successful task's events: versions 1 to 8.
fn lifecycle() -> Vec<TaskStateChange> {
    use EcsTaskStatus::*;
    let mut task = TaskTimeline::new(TASK_ARN, CLUSTER_ARN, None, &["app"], at(1));
    let mut events: Vec<_> = [Provisioning, Pending, Activating, Running]
        .into_iter()
        .zip(2..)
        .map(|(status, t)| task.advance(status, at(t)))
        .collect();
    task.container_exited("app", 0);
    task.stopping_because("EssentialContainerExited", "Essential container in task exited");
    for (status, t) in [(Deactivating, 20), (Stopping, 21), (Deprovisioning, 22), (Stopped, 30)] {
        events.push(task.advance(status, at(t)));
    }
    events
}

pub async fn create_then_get_returns_the_same_job<S: JobStore>(store: Arc<S>) {
    let job = new_job();
    assert_eq!(store.create(&job, &[]).await.expect("create"), Created::Inserted);
    assert_eq!(stored(&*store, job.id).await, job);
}

pub async fn get_of_an_unknown_job_is_none<S: JobStore>(store: Arc<S>) {
    assert_eq!(store.get(JobId::random()).await.expect("get"), None);
}

pub async fn create_of_an_existing_id_returns_the_stored_job_unchanged<S: JobStore>(store: Arc<S>) {
    let first = new_job();
    store.create(&first, &[]).await.expect("create");
    let mut second = new_job();
    second.id = first.id;
    second.definition = "backup".into();
    match store.create(&second, &[]).await.expect("create") {
        Created::AlreadyExists(existing) => assert_eq!(*existing, first),
        other => panic!("a second create of the same id must return the stored job, not {other:?}"),
    }
    assert_eq!(stored(&*store, first.id).await, first);
}

pub async fn sixteen_concurrent_creates_of_one_id_insert_once<S: JobStore + 'static>(store: Arc<S>) {
    let job = new_job();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (store, job) = (store.clone(), job.clone());
        tasks.spawn(async move { store.create(&job, &[]).await.expect("create") });
    }
    let outcomes = tasks.join_all().await;
    let inserted = outcomes.iter().filter(|o| **o == Created::Inserted).count();
    assert_eq!(inserted, 1, "{outcomes:?}");
}

pub async fn a_launch_is_recorded_at_most_once<S: JobStore>(store: Arc<S>) {
    let job = launched_job(&*store).await;
    let again = new_job().launched("arn:aws:ecs:us-east-1:1:task/jobs/other".into(), at(2));
    assert_eq!(
        store.update(job.id, &again).await.expect("update"),
        Updated::GuardFailed
    );
    let refused = job.launch_refused("too late".into(), at(2));
    assert_eq!(
        store.update(job.id, &refused).await.expect("update"),
        Updated::GuardFailed
    );
    let now = stored(&*store, job.id).await;
    assert_eq!(now.status, JobStatus::Starting);
    assert_eq!(now.attempts.current().task_arn.as_deref(), Some(TASK_ARN));
}

pub async fn a_refused_launch_fails_the_job<S: JobStore>(store: Arc<S>) {
    let job = new_job();
    store.create(&job, &[]).await.expect("create");
    let refused = job.launch_refused("RESOURCE:MEMORY".into(), at(1));
    assert_eq!(store.update(job.id, &refused).await.expect("update"), Updated::Applied);
    let now = stored(&*store, job.id).await;
    assert_eq!(now.status, JobStatus::Failed);
    assert_eq!(now.status_reason.as_deref(), Some("RESOURCE:MEMORY"));
    assert!(now.failed_at_launch());
}

pub async fn updates_apply_in_version_order_and_stale_or_duplicate_ones_are_rejected<S: JobStore>(store: Arc<S>) {
    let events = lifecycle();
    let job = launched_job(&*store).await;
    let running = event_update(&job, &events[3]);
    let stopping = event_update(&job, &events[4]);

    assert_eq!(store.update(job.id, &stopping).await.expect("update"), Updated::Applied);
    assert_eq!(
        store.update(job.id, &stopping).await.expect("update"),
        Updated::GuardFailed,
        "duplicate"
    );
    assert_eq!(
        store.update(job.id, &running).await.expect("update"),
        Updated::GuardFailed,
        "stale"
    );

    let now = stored(&*store, job.id).await;
    assert_eq!(now.status, JobStatus::Stopping);
    assert_eq!(now.attempts.current().event_version, Some(events[4].version));
    let mut expected = job.clone();
    expected.apply(&stopping);
    assert_eq!(now, expected);
}

pub async fn a_terminal_job_never_changes<S: JobStore>(store: Arc<S>) {
    let events = lifecycle();
    let job = launched_job(&*store).await;
    let stopped = event_update(&job, &events[7]);
    assert_eq!(store.update(job.id, &stopped).await.expect("update"), Updated::Applied);
    let finished = stored(&*store, job.id).await;
    assert_eq!(finished.status, JobStatus::Succeeded);

    // An update decided before the job finished, even with a newer version, is refused.
    let mut later = event_update(&job, &events[3]);
    later.guard = UpdateGuard::TaskEvent(TaskEventGuard {
        timed_out: false,
        task_arn: TASK_ARN.to_owned(),
        version: events[7].version + 1,
        stopped: false,
    });
    assert_eq!(
        store.update(job.id, &later).await.expect("update"),
        Updated::GuardFailed
    );
    assert_eq!(stored(&*store, job.id).await, finished);
}

pub async fn sixteen_concurrent_conflicting_updates_lose_none<S: JobStore + 'static>(store: Arc<S>) {
    // Sixteen RUNNING events of the same task, versions 1..=16, all decided against the
    // same read and written at once: the highest version must be what remains.
    let job = launched_job(&*store).await;
    let mut task = TaskTimeline::new(TASK_ARN, CLUSTER_ARN, None, &["app"], at(1));
    let updates: Vec<JobUpdate> = (1..=16)
        .map(|i| event_update(&job, &task.advance(EcsTaskStatus::Running, at(10 + i))))
        .collect();
    let highest = updates.last().expect("sixteen updates").clone();

    let mut writers = tokio::task::JoinSet::new();
    for update in updates.into_iter().rev() {
        let store = store.clone();
        writers.spawn(async move { store.update(job.id, &update).await.expect("update") });
    }
    let outcomes = writers.join_all().await;
    assert!(outcomes.contains(&Updated::Applied), "{outcomes:?}");

    let mut expected = job.clone();
    expected.apply(&highest);
    assert_eq!(stored(&*store, job.id).await, expected);
}

/// The events of a task other than the attempt's, carrying the same `startedBy`.
fn other_task_running() -> TaskStateChange {
    let mut task = TaskTimeline::new(OTHER_TASK_ARN, CLUSTER_ARN, None, &["app"], at(1));
    for (status, t) in [(EcsTaskStatus::Provisioning, 2), (EcsTaskStatus::Pending, 3)] {
        task.advance(status, at(t));
    }
    task.advance(EcsTaskStatus::Running, at(40))
}

pub async fn an_event_of_another_task_never_moves_an_attempt_whose_task_is_recorded<S: JobStore>(store: Arc<S>) {
    let job = launched_job(&*store).await;
    // Decided against a read from before the launch was recorded (the race the store's
    // condition must close): the attempt had no task yet, so the rule let it through.
    let mut before_launch = job.clone();
    before_launch.status = JobStatus::Submitted;
    before_launch.attempts.current_mut().task_arn = None;
    let intruder = event_update(&before_launch, &other_task_running());
    assert_eq!(
        store.update(job.id, &intruder).await.expect("update"),
        Updated::GuardFailed
    );
    let now = stored(&*store, job.id).await;
    assert_eq!(now, job);
    assert_eq!(now.attempts.current().task_arn.as_deref(), Some(TASK_ARN));
    // Against the stored job the rule itself ignores it.
    assert!(matches!(
        decide(&now, 1, &other_task_running().observation(), 0.0),
        EventDecision::Ignore(shared::domain::Ignored::OtherTask { .. })
    ));
}

pub async fn before_the_launch_is_recorded_the_first_task_wins<S: JobStore>(store: Arc<S>) {
    let job = new_job();
    store.create(&job, &[]).await.expect("create");
    let first = event_update(&job, &lifecycle()[3]);
    let second = event_update(&job, &other_task_running());
    assert_eq!(store.update(job.id, &first).await.expect("update"), Updated::Applied);
    assert_eq!(
        store.update(job.id, &second).await.expect("update"),
        Updated::GuardFailed
    );
    let late_launch = job.launched(OTHER_TASK_ARN.into(), at(2));
    assert_eq!(
        store.update(job.id, &late_launch).await.expect("update"),
        Updated::GuardFailed
    );
    let now = stored(&*store, job.id).await;
    assert_eq!(now.attempts.current().task_arn.as_deref(), Some(TASK_ARN));
    assert_eq!(now.status, JobStatus::Running);
}

/// Two STOPPED events of one task: the first without the container's exit code, the
/// second (one version higher) with exit code 0.
fn two_stopped_events() -> (TaskStateChange, TaskStateChange) {
    use EcsTaskStatus::*;
    let mut task = TaskTimeline::new(TASK_ARN, CLUSTER_ARN, None, &["app"], at(1));
    for (status, t) in [(Provisioning, 2), (Pending, 3), (Running, 4)] {
        task.advance(status, at(t));
    }
    task.stopping_because("EssentialContainerExited", "Essential container in task exited");
    task.container_stopped_without_exit_code("app");
    let without_exit_code = task.advance(Stopped, at(30));
    task.container_exited("app", 0);
    let with_exit_code = task.advance(Stopped, at(30));
    (without_exit_code, with_exit_code)
}

pub async fn a_newer_stopped_event_of_the_same_task_replaces_the_verdict<S: JobStore>(store: Arc<S>) {
    let job = launched_job(&*store).await;
    let (without_exit_code, with_exit_code) = two_stopped_events();
    let failed = event_update(&job, &without_exit_code);
    assert_eq!(store.update(job.id, &failed).await.expect("update"), Updated::Applied);
    let first_verdict = stored(&*store, job.id).await;
    assert_eq!(first_verdict.status, JobStatus::Failed);

    let succeeded = event_update(&first_verdict, &with_exit_code);
    assert_eq!(
        store.update(job.id, &succeeded).await.expect("update"),
        Updated::Applied
    );
    let now = stored(&*store, job.id).await;
    assert_eq!(now.status, JobStatus::Succeeded);
    assert_eq!(now.attempts.current().exit_code, Some(0));

    // Nothing but a newer STOPPED event of that task reopens the verdict.
    assert_eq!(
        store.update(job.id, &failed).await.expect("update"),
        Updated::GuardFailed,
        "older STOPPED"
    );
    let mut not_stopped = succeeded.clone();
    not_stopped.guard = UpdateGuard::TaskEvent(TaskEventGuard {
        timed_out: false,
        task_arn: TASK_ARN.to_owned(),
        version: with_exit_code.version + 1,
        stopped: false,
    });
    assert_eq!(
        store.update(job.id, &not_stopped).await.expect("update"),
        Updated::GuardFailed,
        "newer, but not STOPPED"
    );
    assert_eq!(stored(&*store, job.id).await, now);
}

pub async fn a_cancelled_job_is_never_reopened<S: JobStore>(store: Arc<S>) {
    let (without_exit_code, with_exit_code) = two_stopped_events();
    let mut job = new_job();
    let stop = event_update(&job, &without_exit_code);
    job.apply(&stop);
    job.status = JobStatus::Cancelled;
    store.create(&job, &[]).await.expect("create");
    let mut decided_as_if_failed = job.clone();
    decided_as_if_failed.status = JobStatus::Failed;
    let update = event_update(&decided_as_if_failed, &with_exit_code);
    assert_eq!(
        store.update(job.id, &update).await.expect("update"),
        Updated::GuardFailed
    );
    assert_eq!(stored(&*store, job.id).await, job);
}

pub async fn a_refused_launch_is_never_reopened_by_a_stopped_event<S: JobStore>(store: Arc<S>) {
    let job = new_job();
    store.create(&job, &[]).await.expect("create");
    let refused = job.launch_refused("no capacity".into(), at(1));
    assert_eq!(store.update(job.id, &refused).await.expect("update"), Updated::Applied);
    let failed = stored(&*store, job.id).await;
    // A STOPPED event decided as if the job had been waiting for its task.
    let (_, with_exit_code) = two_stopped_events();
    let update = event_update(&job, &with_exit_code);
    assert_eq!(
        store.update(job.id, &update).await.expect("update"),
        Updated::GuardFailed
    );
    assert_eq!(stored(&*store, job.id).await, failed);
}

pub async fn a_late_event_of_an_earlier_attempt_never_moves_the_next_attempt<S: JobStore>(store: Arc<S>) {
    let first_attempt = new_job();
    let mut job = first_attempt.clone();
    job.attempts.start_next(at(2));
    store.create(&job, &[]).await.expect("create");
    // Decided when attempt 1 was still the current one.
    let late = event_update(&first_attempt, &lifecycle()[3]);
    assert_eq!(store.update(job.id, &late).await.expect("update"), Updated::GuardFailed);
    let launch_of_attempt_1 = first_attempt.launched(TASK_ARN.into(), at(2));
    assert_eq!(
        store.update(job.id, &launch_of_attempt_1).await.expect("update"),
        Updated::GuardFailed
    );
    assert_eq!(stored(&*store, job.id).await, job);
}

/// A job that retries every failure, up to 3 attempts, 10 s apart.
fn retrying_job() -> Job {
    let mut job = new_job();
    job.retry = RetryPolicy {
        attempts: 3,
        rules: vec![RetryRule {
            on_exit_code: None,
            on_stop_code: None,
            on_reason: Some("*".into()),
            action: RetryAction::Retry,
        }],
        ..RetryPolicy::default()
    };
    job
}

/// A failed task's STOPPED event (exit code 1), version 3.
fn failed_stop() -> TaskStateChange {
    let mut task = TaskTimeline::new(TASK_ARN, CLUSTER_ARN, None, &["app"], at(1));
    task.advance(EcsTaskStatus::Provisioning, at(2));
    task.advance(EcsTaskStatus::Running, at(3));
    task.container_exited("app", 1);
    task.stopping_because("EssentialContainerExited", "Essential container in task exited");
    task.advance(EcsTaskStatus::Stopped, at(5))
}

pub async fn a_retry_adds_the_next_attempt_in_the_same_write_as_the_failure<S: JobStore>(store: Arc<S>) {
    let claims = claim(1);
    let job = retrying_job().holding(&claims);
    assert_eq!(store.create(&job, &claims).await.expect("create"), Created::Inserted);
    let launch = job.launched(TASK_ARN.into(), at(1));
    assert_eq!(store.update(job.id, &launch).await.expect("update"), Updated::Applied);
    let running = stored(&*store, job.id).await;
    let retry = event_update(&running, &failed_stop());
    assert!(retry.next_attempt.is_some(), "{retry:?}");
    assert_eq!(store.update(job.id, &retry).await.expect("update"), Updated::Applied);
    let mut expected = running.clone();
    expected.apply(&retry);
    let waiting = stored(&*store, job.id).await;
    assert_eq!(waiting, expected);
    assert_eq!((waiting.status, waiting.attempts.count()), (JobStatus::Submitted, 2));
    assert!(waiting.slots.is_empty(), "the failed attempt's slot went back with it");
    // The same STOPPED event again is for an attempt that is no longer current.
    assert_eq!(
        store.update(job.id, &retry).await.expect("update"),
        Updated::GuardFailed
    );
    // The next attempt takes the slot again: the pool had it back.
    let take = waiting.take_slots(claims.clone(), at(20));
    assert_eq!(store.update(job.id, &take).await.expect("update"), Updated::Applied);
}

pub async fn an_update_decided_before_a_cancel_never_lands_after_it<S: JobStore>(store: Arc<S>) {
    let job = launched_job(&*store).await;
    let event = event_update(&job, &lifecycle()[3]);
    let Cancel::Write { update: cancel, .. } = job.cancel(at(10)) else {
        panic!("a running job can be cancelled")
    };
    assert_eq!(store.update(job.id, &cancel).await.expect("update"), Updated::Applied);
    let cancelling = stored(&*store, job.id).await;
    assert_eq!(cancelling.status, JobStatus::Stopping);
    assert!(cancelling.cancel_requested_at.is_some());
    // The event was decided on the job before the cancel: refused, decided again after.
    assert_eq!(
        store.update(job.id, &event).await.expect("update"),
        Updated::GuardFailed
    );
    let again = event_update(&cancelling, &lifecycle()[3]);
    assert_eq!(store.update(job.id, &again).await.expect("update"), Updated::Applied);
    assert_eq!(stored(&*store, job.id).await.status, JobStatus::Stopping);
    // A second cancel decided on the job before the first is refused too.
    assert_eq!(
        store.update(job.id, &cancel).await.expect("update"),
        Updated::GuardFailed
    );
    // A cancel decided before an event landed is refused too: it would write back the
    // attempt as it was read.
    let running = launched_job(&*store).await;
    let Cancel::Write {
        update: late_cancel, ..
    } = running.cancel(at(10))
    else {
        panic!("a running job can be cancelled")
    };
    let event = event_update(&running, &lifecycle()[3]);
    assert_eq!(
        store.update(running.id, &event).await.expect("update"),
        Updated::Applied
    );
    assert_eq!(
        store.update(running.id, &late_cancel).await.expect("update"),
        Updated::GuardFailed
    );
    assert_eq!(stored(&*store, running.id).await.status, JobStatus::Running);
    // A launch decided before a cancel of a waiting job never lands.
    let waiting = new_job();
    store.create(&waiting, &[]).await.expect("create");
    let launch = waiting.launched(TASK_ARN.into(), at(1));
    let Cancel::Write { update: cancel, .. } = waiting.cancel(at(1)) else {
        panic!("a waiting job can be cancelled")
    };
    assert_eq!(
        store.update(waiting.id, &cancel).await.expect("update"),
        Updated::Applied
    );
    assert_eq!(
        store.update(waiting.id, &launch).await.expect("update"),
        Updated::GuardFailed
    );
    assert_eq!(stored(&*store, waiting.id).await.status, JobStatus::Cancelled);
}

pub async fn a_timeout_is_recorded_once_and_an_event_decided_before_it_is_decided_again<S: JobStore>(store: Arc<S>) {
    let mut job = new_job();
    job.timeout = Some(std::time::Duration::from_secs(60));
    store.create(&job, &[]).await.expect("create");
    let launch = job.launched(TASK_ARN.into(), at(1));
    assert_eq!(store.update(job.id, &launch).await.expect("update"), Updated::Applied);
    let running = {
        let job = stored(&*store, job.id).await;
        let update = event_update(&job, &lifecycle()[3]);
        assert_eq!(store.update(job.id, &update).await.expect("update"), Updated::Applied);
        stored(&*store, job.id).await
    };
    let (timeout, _) = running.timeout_due(at(100)).expect("past its timeout");
    let stop = event_update(&running, &failed_stop_of_version(9));
    assert_eq!(store.update(job.id, &timeout).await.expect("update"), Updated::Applied);
    assert_eq!(
        store.update(job.id, &timeout).await.expect("update"),
        Updated::Applied,
        "idempotent under its guard"
    );
    assert_eq!(store.update(job.id, &stop).await.expect("update"), Updated::GuardFailed);
    let timed_out = stored(&*store, job.id).await;
    assert_eq!(timed_out.current_attempt().timed_out_after, Some(60));
    let stop = event_update(&timed_out, &failed_stop_of_version(9));
    assert_eq!(store.update(job.id, &stop).await.expect("update"), Updated::Applied);
    let failed = stored(&*store, job.id).await;
    assert_eq!(
        (failed.status, failed.status_reason.as_deref()),
        (JobStatus::Failed, Some("timed out after 60 s"))
    );
}

/// A STOPPED event of [`TASK_ARN`] with version `version`, exit code 143.
fn failed_stop_of_version(version: u64) -> TaskStateChange {
    let mut event = failed_stop();
    event.version = version;
    event.containers[0].exit_code = Some(143);
    event
}

/// Declares one `#[tokio::test]` per conformance case, each on a store from `$make`.
fn claim(limit: u32) -> Vec<SlotClaim> {
    vec![SlotClaim {
        pool: SlotPool::Definition("report".into()),
        limit,
    }]
}

pub async fn a_slot_is_taken_with_the_create_and_a_full_pool_refuses_it<S: JobStore>(store: Arc<S>) {
    let claims = claim(1);
    let first = new_job().holding(&claims);
    assert_eq!(store.create(&first, &claims).await.expect("create"), Created::Inserted);
    assert_eq!(
        stored(&*store, first.id).await.slots,
        [SlotPool::Definition("report".into())]
    );
    let second = new_job().holding(&claims);
    assert_eq!(
        store.create(&second, &claims).await.expect("create"),
        Created::LimitReached
    );
    assert_eq!(store.get(second.id).await.expect("get"), None, "nothing written");
    // A pool of its own is not full.
    let other = vec![SlotClaim {
        pool: SlotPool::Service,
        limit: 1,
    }];
    let third = new_job().holding(&other);
    assert_eq!(store.create(&third, &other).await.expect("create"), Created::Inserted);
}

pub async fn a_finished_job_gives_its_slot_back_once<S: JobStore>(store: Arc<S>) {
    let claims = claim(1);
    let job = new_job().holding(&claims);
    store.create(&job, &claims).await.expect("create");
    let refused = job.launch_refused("no".into(), at(1));
    assert_eq!(store.update(job.id, &refused).await.expect("update"), Updated::Applied);
    assert!(stored(&*store, job.id).await.slots.is_empty());
    // The same release again (a retried write) finds no slot held.
    assert_eq!(
        store.update(job.id, &refused).await.expect("update"),
        Updated::GuardFailed
    );
    // Exactly one slot came back: one more job fits, a second does not.
    let next = new_job().holding(&claims);
    assert_eq!(store.create(&next, &claims).await.expect("create"), Created::Inserted);
    let after = new_job().holding(&claims);
    assert_eq!(
        store.create(&after, &claims).await.expect("create"),
        Created::LimitReached
    );
}

pub async fn a_waiting_job_takes_a_slot_only_when_one_is_free<S: JobStore>(store: Arc<S>) {
    let claims = claim(1);
    let holder = new_job().holding(&claims);
    store.create(&holder, &claims).await.expect("create");
    let waiting = new_job().waiting_for_slot(&claims);
    store.create(&waiting, &[]).await.expect("create");
    let take = waiting.take_slots(claims.clone(), at(2));
    assert_eq!(
        store.update(waiting.id, &take).await.expect("update"),
        Updated::LimitReached
    );
    assert_eq!(stored(&*store, waiting.id).await, waiting, "unchanged");

    let done = holder.launch_refused("no".into(), at(3));
    store.update(holder.id, &done).await.expect("release");
    assert_eq!(store.update(waiting.id, &take).await.expect("update"), Updated::Applied);
    let taken = stored(&*store, waiting.id).await;
    assert_eq!(taken.slots, [SlotPool::Definition("report".into())]);
    // Taking twice is refused by the guard: the job holds its slot already.
    assert_eq!(
        store.update(waiting.id, &take).await.expect("update"),
        Updated::GuardFailed
    );
}

pub async fn the_unfinished_and_the_waiting_are_listed_and_the_finished_are_not<S: JobStore>(store: Arc<S>) {
    let mut ids = Vec::new();
    for second in [5, 1, 3] {
        let mut job = new_job().waiting_for_slot(&claim(1));
        job.created_at = at(second);
        store.create(&job, &[]).await.expect("create");
        ids.push((second, job.id));
    }
    let running = launched_job(&*store).await;
    let finished = new_job();
    store.create(&finished, &[]).await.expect("create");
    store
        .update(finished.id, &finished.launch_refused("no".into(), at(1)))
        .await
        .expect("update");

    let mut unfinished = store.unfinished().await.expect("unfinished");
    unfinished.sort();
    let mut expected: Vec<JobId> = ids.iter().map(|(_, id)| *id).chain([running.id]).collect();
    expected.sort();
    assert_eq!(unfinished, expected);

    ids.sort();
    let oldest_first: Vec<JobId> = ids.iter().map(|(_, id)| *id).collect();
    assert_eq!(store.queued("report", 10).await.expect("queued"), oldest_first);
    assert_eq!(store.queued("report", 2).await.expect("queued"), oldest_first[..2]);
    assert!(store.queued("backup", 10).await.expect("queued").is_empty());

    // Launched, a job leaves the queue.
    let first = stored(&*store, oldest_first[0]).await;
    let launch = first.launched(OTHER_TASK_ARN.into(), at(6));
    store.update(first.id, &launch).await.expect("launch");
    assert_eq!(store.queued("report", 10).await.expect("queued"), oldest_first[1..]);
}

/// Applies `event` to the stored job as the event path does: written only if it changes
/// what a client sees.
async fn deliver<S: JobStore>(store: &S, id: JobId, event: &TaskStateChange) {
    let job = stored(store, id).await;
    if let EventDecision::Apply(update) = decide(&job, 1, &event.observation(), 0.0) {
        assert_eq!(store.update(id, &update).await.expect("event"), Updated::Applied);
    }
}

/// A job of `owner`'s for `definition`, recorded at `at`.
fn job_of(owner: &str, definition: &str, at: DateTime<Utc>) -> Job {
    let mut job = new_job();
    job.id = JobId::random();
    job.owner = Owner::new(owner).expect("owner");
    job.definition = definition.to_owned();
    job.created_at = at;
    job.updated_at = at;
    job
}

const ALICE: &str = "arn:aws:iam::111122223333:user/alice";
/// An owner whose name holds the separator of the stores' listing keys.
const CAROL: &str = "jwt:https://issuer.example#carol";

/// Every page of `request`, followed to the end: the ids in listed order. Each page
/// holds at most `limit` jobs, and only the last has no `next`.
async fn all_pages<S: JobStore>(store: &S, mut request: ListRequest) -> Vec<JobId> {
    let mut ids = Vec::new();
    for _ in 0..100 {
        let page = store.list(&request).await.expect("list");
        assert!(
            page.jobs.len() <= request.limit as usize,
            "a page holds at most its limit"
        );
        ids.extend(page.jobs.iter().map(|j| j.id));
        match page.next {
            Some(next) => request.after = Some(next),
            None => return ids,
        }
    }
    panic!("the listing never ended")
}

fn list_request(owner: &str, filter: JobFilter, limit: u32) -> ListRequest {
    ListRequest {
        owner: Owner::new(owner).expect("owner"),
        filter,
        limit,
        after: None,
    }
}

/// The reference answer: what `page_of` lists of `jobs`, every page.
fn expected(jobs: &[Job], owner: &str, filter: &JobFilter) -> Vec<JobId> {
    let request = list_request(owner, filter.clone(), 1000);
    page_of(jobs, &request).jobs.iter().map(|j| j.id).collect()
}

pub async fn a_listing_pages_through_the_owners_jobs_newest_first_and_nobody_elses<S: JobStore>(store: Arc<S>) {
    let mut jobs = Vec::new();
    // Three of them in one millisecond: the id orders them.
    for (owner, second) in [
        (ALICE, 1),
        (ALICE, 2),
        (ALICE, 2),
        (ALICE, 2),
        (CAROL, 3),
        (ALICE, 4),
        (ALICE, 5),
    ] {
        let job = job_of(owner, "report", at(second));
        assert_eq!(store.create(&job, &[]).await.expect("create"), Created::Inserted);
        jobs.push(job);
    }
    for limit in [1, 2, 3, 20] {
        let listed = all_pages(&*store, list_request(ALICE, JobFilter::default(), limit)).await;
        assert_eq!(listed, expected(&jobs, ALICE, &JobFilter::default()), "limit {limit}");
        assert_eq!(listed.len(), 6);
    }
    let created: Vec<_> = all_pages(&*store, list_request(ALICE, JobFilter::default(), 100)).await;
    let times: Vec<_> = created
        .iter()
        .map(|id| jobs.iter().find(|j| j.id == *id).expect("listed job").created_at)
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
    assert_eq!(
        all_pages(&*store, list_request(CAROL, JobFilter::default(), 5)).await,
        vec![jobs[4].id],
        "an owner whose name holds the key separator sees their own job only"
    );
    let nobody = all_pages(
        &*store,
        list_request("arn:aws:iam::111122223333:user/nobody", JobFilter::default(), 5),
    )
    .await;
    assert!(nobody.is_empty());
}

pub async fn a_filtered_listing_lists_exactly_the_matching_jobs<S: JobStore>(store: Arc<S>) {
    let mut ids = Vec::new();
    for (i, definition) in ["report", "other", "report", "other", "report", "report"]
        .into_iter()
        .enumerate()
    {
        let job = job_of(ALICE, definition, at(10 * i as i64));
        store.create(&job, &[]).await.expect("create");
        ids.push(job.id);
    }
    // Job 1 runs, job 2 succeeds, job 3 fails at launch, job 4 is cancelled; 0 and 5 wait.
    let running = stored(&*store, ids[1]).await;
    let launch = running.launched(TASK_ARN.into(), at(100));
    store.update(running.id, &launch).await.expect("launch");
    let events = lifecycle();
    for event in &events[..4] {
        deliver(&*store, ids[1], event).await;
    }
    let succeeded = stored(&*store, ids[2]).await;
    store
        .update(succeeded.id, &succeeded.launched(TASK_ARN.into(), at(100)))
        .await
        .expect("launch");
    for event in &events {
        deliver(&*store, ids[2], event).await;
    }
    let refused = stored(&*store, ids[3]).await;
    store
        .update(refused.id, &refused.launch_refused("no".into(), at(100)))
        .await
        .expect("refusal");
    let cancelled = stored(&*store, ids[4]).await;
    match cancelled.cancel(at(100)) {
        Cancel::Write { update, .. } => {
            store.update(cancelled.id, &update).await.expect("cancel");
        }
        other => panic!("a waiting job is cancelled at once, not {other:?}"),
    }
    let mut jobs = Vec::new();
    for id in &ids {
        jobs.push(stored(&*store, *id).await);
    }
    assert_eq!(jobs[1].status, JobStatus::Running);
    assert_eq!(jobs[2].status, JobStatus::Succeeded);
    assert_eq!(jobs[3].status, JobStatus::Failed);
    assert_eq!(jobs[4].status, JobStatus::Cancelled);

    let statuses = |list: &[JobStatus]| list.iter().copied().collect();
    let filters = [
        JobFilter {
            statuses: statuses(&[JobStatus::Running]),
            ..Default::default()
        },
        JobFilter {
            statuses: statuses(&[JobStatus::Succeeded, JobStatus::Failed, JobStatus::Cancelled]),
            ..Default::default()
        },
        JobFilter {
            statuses: statuses(&[JobStatus::Submitted]),
            ..Default::default()
        },
        JobFilter {
            definition: Some("other".into()),
            ..Default::default()
        },
        JobFilter {
            statuses: statuses(&[JobStatus::Succeeded, JobStatus::Submitted]),
            definition: Some("report".into()),
            ..Default::default()
        },
        JobFilter {
            created_after: Some(at(10)),
            created_before: Some(at(40)),
            ..Default::default()
        },
        JobFilter {
            created_after: Some(at(20)),
            ..Default::default()
        },
        JobFilter {
            created_before: Some(at(20)),
            definition: Some("report".into()),
            ..Default::default()
        },
        JobFilter {
            created_after: Some(at(40)),
            created_before: Some(at(10)),
            ..Default::default()
        },
        JobFilter {
            definition: Some("nothing-of-that-name".into()),
            ..Default::default()
        },
    ];
    for filter in filters {
        let want = expected(&jobs, ALICE, &filter);
        for limit in [1, 2, 100] {
            let listed = all_pages(&*store, list_request(ALICE, filter.clone(), limit)).await;
            assert_eq!(listed, want, "{filter:?}, limit {limit}");
        }
    }
    // The half-open window: createdAfter is in, createdBefore is out.
    let window = JobFilter {
        created_after: Some(at(10)),
        created_before: Some(at(40)),
        ..Default::default()
    };
    assert_eq!(expected(&jobs, ALICE, &window), vec![ids[3], ids[2], ids[1]]);
}

pub async fn a_rare_definition_under_a_status_is_listed_whole<S: JobStore>(store: Arc<S>) {
    // Three old jobs of `report` under 40 newer ones of `other`, all SUBMITTED: every
    // first read of a status partition finds only `other`.
    let mut jobs = Vec::new();
    for i in 0..43 {
        let definition = if i < 3 { "report" } else { "other" };
        let job = job_of(ALICE, definition, at(i));
        store.create(&job, &[]).await.expect("create");
        jobs.push(job);
    }
    let filter = JobFilter {
        statuses: [JobStatus::Submitted].into_iter().collect(),
        definition: Some("report".into()),
        ..Default::default()
    };
    let want = expected(&jobs, ALICE, &filter);
    assert_eq!(want.len(), 3);
    for limit in [1, 2, 20] {
        assert_eq!(
            all_pages(&*store, list_request(ALICE, filter.clone(), limit)).await,
            want,
            "limit {limit}"
        );
    }
}

pub async fn a_status_change_moves_the_job_between_status_listings<S: JobStore>(store: Arc<S>) {
    let job = launched_job(&*store).await;
    let by = |status: JobStatus| JobFilter {
        statuses: [status].into_iter().collect(),
        ..Default::default()
    };
    let events = lifecycle();
    for event in &events[..4] {
        deliver(&*store, job.id, event).await;
    }
    let current = stored(&*store, job.id).await;
    assert_eq!(
        all_pages(&*store, list_request(ALICE, by(JobStatus::Running), 10)).await,
        vec![current.id]
    );
    for event in &events[4..] {
        deliver(&*store, job.id, event).await;
    }
    let current = stored(&*store, job.id).await;
    assert_eq!(current.status, JobStatus::Succeeded);
    assert!(all_pages(&*store, list_request(ALICE, by(JobStatus::Running), 10))
        .await
        .is_empty());
    assert_eq!(
        all_pages(&*store, list_request(ALICE, by(JobStatus::Succeeded), 10)).await,
        vec![current.id]
    );
}

#[macro_export]
macro_rules! store_conformance_tests {
    ($make:expr) => {
        $crate::store_conformance_tests!(@cases $make;
            create_then_get_returns_the_same_job,
            get_of_an_unknown_job_is_none,
            create_of_an_existing_id_returns_the_stored_job_unchanged,
            sixteen_concurrent_creates_of_one_id_insert_once,
            a_launch_is_recorded_at_most_once,
            a_refused_launch_fails_the_job,
            updates_apply_in_version_order_and_stale_or_duplicate_ones_are_rejected,
            a_terminal_job_never_changes,
            sixteen_concurrent_conflicting_updates_lose_none,
            an_event_of_another_task_never_moves_an_attempt_whose_task_is_recorded,
            before_the_launch_is_recorded_the_first_task_wins,
            a_newer_stopped_event_of_the_same_task_replaces_the_verdict,
            a_cancelled_job_is_never_reopened,
            a_refused_launch_is_never_reopened_by_a_stopped_event,
            a_late_event_of_an_earlier_attempt_never_moves_the_next_attempt,
            a_slot_is_taken_with_the_create_and_a_full_pool_refuses_it,
            a_finished_job_gives_its_slot_back_once,
            a_waiting_job_takes_a_slot_only_when_one_is_free,
            the_unfinished_and_the_waiting_are_listed_and_the_finished_are_not,
            a_retry_adds_the_next_attempt_in_the_same_write_as_the_failure,
            an_update_decided_before_a_cancel_never_lands_after_it,
            a_timeout_is_recorded_once_and_an_event_decided_before_it_is_decided_again,
            a_listing_pages_through_the_owners_jobs_newest_first_and_nobody_elses,
            a_filtered_listing_lists_exactly_the_matching_jobs,
            a_status_change_moves_the_job_between_status_listings,
            a_rare_definition_under_a_status_is_listed_whole,
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                $crate::conformance::$case(std::sync::Arc::new($make.await)).await;
            }
        )*
    };
}
