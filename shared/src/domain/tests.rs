use super::*;
use crate::inbound::ecs_event::TaskStateChange;
use crate::testing::fargate::TaskTimeline;
use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;
use std::collections::BTreeMap;

const CONTAINER: &str = "app";
const TASK_ARN: &str = "arn:aws:ecs:us-east-1:111122223333:task/jobs/0123456789abcdef";
const OTHER_TASK_ARN: &str = "arn:aws:ecs:us-east-1:111122223333:task/jobs/fedcba9876543210";
const CLUSTER_ARN: &str = "arn:aws:ecs:us-east-1:111122223333:cluster/jobs";

fn at(second: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap() + chrono::Duration::seconds(second.into())
}

/// A job of one attempt: the rules of a single task, without retries.
fn new_job() -> Job {
    job_with(RetryPolicy {
        attempts: 1,
        ..RetryPolicy::default()
    })
}

fn job_with(retry: RetryPolicy) -> Job {
    let owner = Owner::new("arn:aws:iam::111122223333:user/alice").unwrap();
    Job::submitted(
        NewJob {
            id: JobId::random(),
            owner,
            definition: "report".into(),
            container: CONTAINER.into(),
            parameters: BTreeMap::from([("REPORT_DATE".into(), "2026-11-01".into())]),
            idempotency_key: None,
            retry,
            timeout: None,
        },
        at(0),
    )
}

fn launched_job() -> Job {
    let mut job = new_job();
    let update = job.launched(TASK_ARN.into(), at(1));
    assert!(job.guard_holds(&update));
    job.apply(&update);
    job
}

fn timeline(containers: &[&str]) -> TaskTimeline {
    TaskTimeline::new(TASK_ARN, CLUSTER_ARN, None, containers, at(1))
}

/// A whole Fargate lifecycle whose job container exits with `exit_code`.
fn lifecycle(exit_code: i32) -> Vec<TaskStateChange> {
    use EcsTaskStatus::*;
    let mut t = timeline(&[CONTAINER, "sidecar"]);
    let mut events = vec![
        t.advance(Provisioning, at(2)),
        t.advance(Pending, at(5)),
        t.advance(Activating, at(8)),
        t.advance(Running, at(10)),
    ];
    t.container_exited(CONTAINER, exit_code);
    t.stopping_because("EssentialContainerExited", "Essential container in task exited");
    events.push(t.advance(Running, at(20)));
    events.push(t.advance(Deactivating, at(21)));
    events.push(t.advance(Stopping, at(22)));
    events.push(t.advance(Deprovisioning, at(25)));
    events.push(t.advance(Stopped, at(30)));
    events
}

/// Applies events as a store would: decide, then write only if the guard holds.
fn deliver(mut job: Job, events: &[TaskStateChange]) -> (Job, usize) {
    let mut writes = 0;
    for event in events {
        if let EventDecision::Apply(update) = decide(&job, 1, &event.observation(), 0.0) {
            if job.guard_holds(&update) {
                job.apply(&update);
                writes += 1;
            }
        }
    }
    (job, writes)
}

fn stopped(mut t: TaskTimeline) -> TaskStateChange {
    t.advance(EcsTaskStatus::Stopped, at(30))
}

fn apply_one(job: &Job, event: &TaskStateChange) -> JobUpdate {
    match decide(job, 1, &event.observation(), 0.0) {
        EventDecision::Apply(update) => *update,
        EventDecision::Ignore(why) => panic!("expected a change, got: {why}"),
    }
}

#[test]
fn every_ecs_status_before_stopped_maps_to_its_job_status() {
    use EcsTaskStatus::*;
    let expected = [
        (Provisioning, JobStatus::Starting),
        (Pending, JobStatus::Starting),
        (Activating, JobStatus::Starting),
        (Running, JobStatus::Running),
        (Deactivating, JobStatus::Stopping),
        (Stopping, JobStatus::Stopping),
        (Deprovisioning, JobStatus::Stopping),
    ];
    for (ecs, job_status) in expected {
        let mut t = timeline(&[CONTAINER]);
        let event = t.advance(ecs, at(3));
        let update = apply_one(&new_job(), &event);
        assert_eq!(update.status, job_status, "{ecs}");
        assert_eq!(update.status_reason, None, "{ecs}");
        assert_eq!(update.attempt.task_status, Some(ecs));
        assert_eq!(update.attempt.task_arn.as_deref(), Some(TASK_ARN));
        assert_eq!(
            update.guard,
            UpdateGuard::TaskEvent(TaskEventGuard {
                timed_out: false,
                task_arn: TASK_ARN.to_owned(),
                version: 1,
                stopped: false
            })
        );
    }
}

#[test]
fn stopped_with_essential_container_exit_zero_succeeds() {
    let mut t = timeline(&[CONTAINER]);
    t.container_exited(CONTAINER, 0);
    t.stopping_because("EssentialContainerExited", "Essential container in task exited");
    let update = apply_one(&launched_job(), &stopped(t));
    assert_eq!(update.status, JobStatus::Succeeded);
    assert_eq!(update.status_reason, None);
    assert_eq!(update.attempt.exit_code, Some(0));
    assert_eq!(update.attempt.stop_code.as_deref(), Some("EssentialContainerExited"));
    assert_eq!(update.attempt.stopped_at, Some(at(30)));
    assert_eq!(update.updated_at, at(30));
}

#[test]
fn stopped_with_non_zero_exit_fails_naming_the_code() {
    let mut t = timeline(&[CONTAINER]);
    t.container_exited(CONTAINER, 3);
    t.stopping_because("EssentialContainerExited", "Essential container in task exited");
    let update = apply_one(&launched_job(), &stopped(t));
    assert_eq!(update.status, JobStatus::Failed);
    assert_eq!(update.attempt.exit_code, Some(3));
    assert_eq!(
        update.status_reason.as_deref(),
        Some("container 'app' exited with code 3 (EssentialContainerExited)")
    );
}

#[test]
fn exit_zero_of_the_job_container_does_not_hide_another_stop_code() {
    let mut t = timeline(&[CONTAINER]);
    t.container_exited(CONTAINER, 0);
    t.stopping_because("UserInitiated", "Stopped by operator");
    let update = apply_one(&launched_job(), &stopped(t));
    assert_eq!(update.status, JobStatus::Failed);
    assert_eq!(
        update.status_reason.as_deref(),
        Some("the task was stopped through the ECS API (UserInitiated)")
    );
}

#[test]
fn only_the_job_container_exit_code_counts() {
    let mut t = timeline(&["sidecar", CONTAINER]);
    t.container_exited("sidecar", 0);
    t.container_exited(CONTAINER, 137);
    t.stopping_because("EssentialContainerExited", "Essential container in task exited");
    let update = apply_one(&launched_job(), &stopped(t));
    assert_eq!(update.status, JobStatus::Failed);
    assert_eq!(update.attempt.exit_code, Some(137));
}

#[test]
fn task_failed_to_start_with_no_containers_fails_with_ecs_reason() {
    let mut t = timeline(&[CONTAINER]);
    t.failed_to_start("CannotPullContainerError: pull image manifest has been retried 5 time(s)");
    let update = apply_one(&launched_job(), &stopped(t));
    assert_eq!(update.status, JobStatus::Failed);
    assert_eq!(update.attempt.exit_code, None);
    assert_eq!(update.attempt.started_at, None);
    assert_eq!(
        update.status_reason.as_deref(),
        Some("the task failed to start (TaskFailedToStart: CannotPullContainerError)")
    );
    // ECS's own words, with whatever account ids they carry, stay in the attempt.
    assert!(update.attempt.stopped_reason.unwrap().contains("retried 5 time(s)"));
}

#[test]
fn every_other_stop_code_is_a_failure_with_its_code_in_the_reason() {
    for code in [
        "SpotInterruption",
        "TerminationNotice",
        "ServiceSchedulerInitiated",
        "UserInitiated",
        "SomethingNew",
    ] {
        let mut t = timeline(&[CONTAINER]);
        t.container_exited(CONTAINER, 0);
        t.stopping_because(code, "ECS said so");
        let update = apply_one(&launched_job(), &stopped(t));
        assert_eq!(update.status, JobStatus::Failed, "{code}");
        let reason = update.status_reason.unwrap();
        assert!(reason.ends_with(&format!("({code})")), "{code}: {reason}");
    }
}

#[test]
fn stopped_without_stop_code_or_exit_code_fails() {
    let update = apply_one(&launched_job(), &stopped(timeline(&[CONTAINER])));
    assert_eq!(update.status, JobStatus::Failed);
    assert_eq!(
        update.status_reason.as_deref(),
        Some("container 'app' stopped without an exit code (no stop code)")
    );
}

#[test]
fn stopped_without_the_job_container_fails_even_if_another_exited_zero() {
    let mut t = timeline(&["other"]);
    t.container_exited("other", 0);
    t.stopping_because("EssentialContainerExited", "Essential container in task exited");
    let update = apply_one(&launched_job(), &stopped(t));
    assert_eq!(update.status, JobStatus::Failed);
    assert!(update.status_reason.unwrap().starts_with("container 'app' is missing"));
}

#[test]
fn duplicate_and_stale_events_are_ignored() {
    let events = lifecycle(0);
    let (job, _) = deliver(launched_job(), &events[..4]);
    assert_eq!(
        decide(&job, 1, &events[3].observation(), 0.0),
        EventDecision::Ignore(Ignored::Duplicate { version: 4 })
    );
    assert_eq!(
        decide(&job, 1, &events[1].observation(), 0.0),
        EventDecision::Ignore(Ignored::Stale { stored: 4, received: 2 })
    );
}

#[test]
fn terminal_jobs_never_change() {
    let events = lifecycle(1);
    let (job, _) = deliver(launched_job(), &events);
    assert_eq!(job.status, JobStatus::Failed);
    let mut later = events.last().unwrap().clone();
    later.version += 1;
    later.last_status = EcsTaskStatus::Running;
    assert_eq!(
        decide(&job, 1, &later.observation(), 0.0),
        EventDecision::Ignore(Ignored::JobTerminal {
            status: JobStatus::Failed
        })
    );
    let mut cancelled = launched_job();
    cancelled.status = JobStatus::Cancelled;
    assert!(matches!(
        decide(&cancelled, 1, &events[3].observation(), 0.0),
        EventDecision::Ignore(Ignored::JobTerminal { .. })
    ));
}

#[test]
fn the_job_reason_names_ecs_error_classes_but_never_quotes_ecs() {
    let mut t = timeline(&[CONTAINER]);
    t.failed_to_start(
        "ResourceInitializationError: unable to pull secrets or registry auth: \
         arn:aws:secretsmanager:us-east-1:111122223333:secret:db",
    );
    let reason = apply_one(&launched_job(), &stopped(t)).status_reason.unwrap();
    assert_eq!(
        reason,
        "the task failed to start (TaskFailedToStart: ResourceInitializationError)"
    );
    let mut t = timeline(&[CONTAINER]);
    t.failed_to_start("Timeout waiting for network interface provisioning to complete in subnet-0abc.");
    let reason = apply_one(&launched_job(), &stopped(t)).status_reason.unwrap();
    assert_eq!(reason, "the task failed to start (TaskFailedToStart)");
}

#[test]
fn an_event_of_another_task_is_ignored_once_the_attempt_has_a_task() {
    let mut other = TaskTimeline::new(OTHER_TASK_ARN, CLUSTER_ARN, None, &[CONTAINER], at(1));
    let event = other.advance(EcsTaskStatus::Running, at(5));
    assert_eq!(
        decide(&launched_job(), 1, &event.observation(), 0.0),
        EventDecision::Ignore(Ignored::OtherTask {
            recorded: TASK_ARN.to_owned(),
            received: OTHER_TASK_ARN.to_owned()
        })
    );
    // Even its STOPPED event, with a version far above the attempt's task's.
    let (job, _) = deliver(launched_job(), &lifecycle(0)[..4]);
    let mut stop = other.advance(EcsTaskStatus::Stopped, at(9));
    stop.version = 100;
    assert!(matches!(
        decide(&job, 1, &stop.observation(), 0.0),
        EventDecision::Ignore(Ignored::OtherTask { .. })
    ));
}

#[test]
fn before_the_task_is_recorded_the_first_task_to_report_wins() {
    let mut other = TaskTimeline::new(OTHER_TASK_ARN, CLUSTER_ARN, None, &[CONTAINER], at(1));
    let other_running = other.advance(EcsTaskStatus::Running, at(5));
    let ours = lifecycle(0);
    let (job, writes) = deliver(new_job(), &[ours[3].clone(), other_running.clone()]);
    assert_eq!(writes, 1);
    assert_eq!(job.attempts.current().task_arn.as_deref(), Some(TASK_ARN));
    // The guard says the same, for a write decided before the first task was recorded.
    let raced = apply_one(&new_job(), &other_running);
    assert!(!job.guard_holds(&raced));
}

/// A task whose job container exits 0, reported by two STOPPED events: the first before
/// the exit code is known, the second with it.
fn stopped_twice() -> Vec<TaskStateChange> {
    let mut t = timeline(&[CONTAINER]);
    let mut events = vec![
        t.advance(EcsTaskStatus::Provisioning, at(2)),
        t.advance(EcsTaskStatus::Running, at(4)),
    ];
    t.stopping_because("EssentialContainerExited", "Essential container in task exited");
    t.container_stopped_without_exit_code(CONTAINER);
    events.push(t.advance(EcsTaskStatus::Stopped, at(9)));
    t.container_exited(CONTAINER, 0);
    events.push(t.advance(EcsTaskStatus::Stopped, at(9)));
    events
}

#[test]
fn the_highest_stopped_version_decides_whatever_the_order() {
    let events = stopped_twice();
    let (v3, v4) = (&events[2], &events[3]);
    let start = launched_job();
    let (in_order, _) = deliver(start.clone(), &[v3.clone(), v4.clone()]);
    let (reversed, _) = deliver(start, &[v4.clone(), v3.clone()]);
    assert_eq!(in_order.status, JobStatus::Succeeded);
    assert_eq!(in_order, reversed);
    assert_eq!(in_order.attempts.current().event_version, Some(v4.version));
}

#[test]
fn only_a_newer_stopped_event_of_the_task_reopens_a_verdict() {
    let events = stopped_twice();
    let (failed, _) = deliver(launched_job(), &events[..3]);
    assert_eq!(failed.status, JobStatus::Failed);
    let mut running = events[1].clone();
    running.version = 10;
    assert_eq!(
        decide(&failed, 1, &running.observation(), 0.0),
        EventDecision::Ignore(Ignored::JobTerminal {
            status: JobStatus::Failed
        })
    );
    let mut cancelled = failed.clone();
    cancelled.status = JobStatus::Cancelled;
    assert_eq!(
        decide(&cancelled, 1, &events[3].observation(), 0.0),
        EventDecision::Ignore(Ignored::JobTerminal {
            status: JobStatus::Cancelled
        })
    );
    // A launch refusal has no task whose later event could correct it.
    let refused = {
        let mut job = new_job();
        let update = job.launch_refused("no capacity".into(), at(1));
        job.apply(&update);
        job
    };
    assert!(matches!(
        decide(&refused, 1, &events[3].observation(), 0.0),
        EventDecision::Ignore(Ignored::JobTerminal { .. })
    ));
}

#[test]
fn a_write_decided_for_an_earlier_attempt_never_lands_on_the_next_one() {
    let job = new_job();
    let update = apply_one(&job, &lifecycle(0)[3]);
    let mut retried = job.clone();
    retried.attempts.start_next(at(5));
    assert_eq!(retried.current_attempt().number, 2);
    assert!(!retried.guard_holds(&update));
    assert!(!retried.guard_holds(&job.launched(TASK_ARN.into(), at(2))));
}

#[test]
fn recorded_attempts_must_be_numbered_from_one_in_order() {
    let mut job = new_job();
    job.attempts.start_next(at(5));
    let recorded: Vec<Attempt> = job.attempts.iter().cloned().collect();
    assert_eq!(Attempts::from_recorded(recorded.clone()), Ok(job.attempts.clone()));
    assert!(Attempts::from_recorded(Vec::new()).is_err());
    assert!(Attempts::from_recorded(recorded[1..].to_vec()).is_err());
    assert!(Attempts::from_recorded(vec![recorded[1].clone(), recorded[0].clone()]).is_err());
}

#[test]
fn an_event_for_another_attempt_is_ignored() {
    let events = lifecycle(0);
    assert_eq!(
        decide(&launched_job(), 2, &events[0].observation(), 0.0),
        EventDecision::Ignore(Ignored::NotCurrentAttempt { attempt: 2 })
    );
}

#[test]
fn events_that_change_nothing_visible_cost_no_write() {
    let events = lifecycle(0);
    // RunTask's answer already made the job STARTING: PROVISIONING..ACTIVATING add nothing.
    for event in &events[..3] {
        assert_eq!(
            decide(&launched_job(), 1, &event.observation(), 0.0),
            EventDecision::Ignore(Ignored::NothingVisibleChanged)
        );
    }
}

#[test]
fn a_successful_job_costs_five_writes_including_create_and_launch() {
    let (job, event_writes) = deliver(launched_job(), &lifecycle(0));
    assert_eq!(job.status, JobStatus::Succeeded);
    // 1 create + 1 launch + RUNNING + STOPPING + SUCCEEDED.
    assert_eq!(2 + event_writes, 5);
}

#[test]
fn an_event_before_the_launch_is_recorded_still_finds_and_moves_the_job() {
    let events = lifecycle(0);
    let (job, writes) = deliver(new_job(), &events[..1]);
    assert_eq!((job.status, writes), (JobStatus::Starting, 1));
    assert_eq!(job.attempts.current().task_arn.as_deref(), Some(TASK_ARN));
    // The launch's own write is then refused by its guard, and changes nothing.
    let late_launch = job.launched(TASK_ARN.into(), at(3));
    assert!(!job.guard_holds(&late_launch));
}

#[test]
fn launch_refusal_fails_the_job_only_while_it_awaits_launch() {
    let job = new_job();
    assert!(job.awaiting_launch());
    let update = job.launch_refused("no capacity".into(), at(1));
    let mut failed = job.clone();
    failed.apply(&update);
    assert!(failed.failed_at_launch());
    assert_eq!(failed.stopped_at(), Some(at(1)));
    assert!(!launched_job().guard_holds(&update));
}

#[test]
fn started_by_round_trips_and_rejects_foreign_values() {
    let tag = StartedBy {
        job_id: JobId::random(),
        attempt: 2,
    };
    let text = tag.to_string();
    assert!(text.len() <= 128);
    assert!(text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '/' || c == '_'));
    assert_eq!(StartedBy::parse(&text), Some(tag));
    assert!(tag.client_token().len() <= 64);
    for foreign in [
        "",
        "ecs-svc/123",
        "job-tracker/not-a-uuid/1",
        "job-tracker/0",
        &format!("job-tracker/{}/0", tag.job_id),
    ] {
        assert_eq!(StartedBy::parse(foreign), None, "{foreign}");
    }
}

#[test]
fn idempotency_keys_are_printable_ascii_up_to_255() {
    assert!(IdempotencyKey::parse("order-42 retry").is_some());
    assert!(IdempotencyKey::parse(&"k".repeat(255)).is_some());
    assert!(IdempotencyKey::parse("").is_none());
    assert!(IdempotencyKey::parse(&"k".repeat(256)).is_none());
    assert!(IdempotencyKey::parse("tab\there").is_none());
    assert!(IdempotencyKey::parse("clé").is_none());
}

#[test]
fn keyed_job_ids_depend_on_owner_and_key() {
    let key = IdempotencyKey::parse("k1").unwrap();
    let alice = Owner::new("alice").unwrap();
    let bob = Owner::new("bob").unwrap();
    assert_eq!(
        JobId::for_idempotency_key(&alice, &key),
        JobId::for_idempotency_key(&alice, &key)
    );
    assert_ne!(
        JobId::for_idempotency_key(&alice, &key),
        JobId::for_idempotency_key(&bob, &key)
    );
    assert_eq!(JobId::parse("not-a-uuid"), None);
    assert_eq!(JobId::parse("0123456789abcdef0123456789abcdef"), None);
}

/// A Fargate lifecycle ending in any of the outcomes ECS produces.
fn any_lifecycle() -> impl Strategy<Value = Vec<TaskStateChange>> {
    prop_oneof![
        (0..4i32).prop_map(lifecycle),
        Just({
            let mut t = timeline(&[CONTAINER]);
            let mut events = vec![
                t.advance(EcsTaskStatus::Provisioning, at(2)),
                t.advance(EcsTaskStatus::Pending, at(4)),
            ];
            t.failed_to_start("ResourceInitializationError: unable to pull secrets");
            events.push(t.advance(EcsTaskStatus::Deprovisioning, at(6)));
            events.push(t.advance(EcsTaskStatus::Stopped, at(9)));
            events
        }),
        Just({
            let mut t = timeline(&[CONTAINER]);
            let mut events = vec![
                t.advance(EcsTaskStatus::Provisioning, at(2)),
                t.advance(EcsTaskStatus::Running, at(4)),
            ];
            t.stopping_because("SpotInterruption", "Your Spot Task was interrupted.");
            events.push(t.advance(EcsTaskStatus::Stopping, at(6)));
            t.container_exited(CONTAINER, 143);
            events.push(t.advance(EcsTaskStatus::Stopped, at(9)));
            events
        }),
        several_stopped_events(),
    ]
}

/// A task that ECS reports STOPPED two or three times, later events filling in what
/// earlier ones lacked: the exit code (any, or none at all) and the stop code and reason.
fn several_stopped_events() -> impl Strategy<Value = Vec<TaskStateChange>> {
    (proptest::option::of(0..4i32), any::<bool>(), any::<bool>()).prop_map(|(exit_code, reason_in_first, third)| {
        let mut t = timeline(&[CONTAINER, "sidecar"]);
        let mut events = vec![
            t.advance(EcsTaskStatus::Provisioning, at(2)),
            t.advance(EcsTaskStatus::Running, at(4)),
            t.advance(EcsTaskStatus::Stopping, at(6)),
        ];
        if reason_in_first {
            t.stopping_because("EssentialContainerExited", "Essential container in task exited");
        }
        t.container_stopped_without_exit_code(CONTAINER);
        events.push(t.advance(EcsTaskStatus::Stopped, at(9)));
        t.stopping_because("EssentialContainerExited", "Essential container in task exited");
        if let Some(code) = exit_code {
            t.container_exited(CONTAINER, code);
        }
        events.push(t.advance(EcsTaskStatus::Stopped, at(9)));
        if third {
            t.container_exited("sidecar", 0);
            events.push(t.advance(EcsTaskStatus::Stopped, at(9)));
        }
        events
    })
}

/// Any delivery: a permutation of the events, each delivered one or more times.
fn any_delivery() -> impl Strategy<Value = (Vec<TaskStateChange>, Vec<TaskStateChange>, bool)> {
    (any_lifecycle(), any::<bool>()).prop_flat_map(|(events, launched_first)| {
        let n = events.len();
        (proptest::collection::vec(1..=3usize, n), Just(events))
            .prop_flat_map(|(copies, events)| {
                let delivered: Vec<TaskStateChange> = events
                    .iter()
                    .zip(&copies)
                    .flat_map(|(e, k)| std::iter::repeat_n(e.clone(), *k))
                    .collect();
                (Just(events), Just(delivered).prop_shuffle())
            })
            .prop_map(move |(events, delivered)| (events, delivered, launched_first))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_order_with_duplicates_gives_the_in_order_final_job((in_order, delivered, launched_first) in any_delivery()) {
        let start = if launched_first { launched_job() } else { new_job() };
        let (expected, _) = deliver(start.clone(), &in_order);
        let (actual, writes) = deliver(start.clone(), &delivered);
        prop_assert!(expected.status.is_terminal());
        prop_assert_eq!(&actual, &expected);
        // The finished job is the one the highest version describes on its own.
        let highest = in_order.iter().max_by_key(|e| e.version).unwrap();
        let (described, _) = deliver(start, std::slice::from_ref(highest));
        prop_assert_eq!(&actual, &described);
        // Duplicates and stale events never cost a write: at most one per job status,
        // plus one per further STOPPED version.
        let stopped = in_order.iter().filter(|e| e.last_status == EcsTaskStatus::Stopped).count();
        prop_assert!(writes <= 3 + stopped, "{} writes", writes);
    }

    #[test]
    fn any_order_of_a_partial_sequence_agrees_on_what_clients_see(
        (in_order, delivered, launched_first) in any_delivery(),
        cut in 1..9usize,
    ) {
        // A task still running: the job status, its reason, task ARN and timeline are
        // those of the newest event, whatever the delivery order.
        let cut = cut.min(in_order.len());
        let newest = in_order[cut - 1].version;
        let prefix: Vec<_> = in_order[..cut].to_vec();
        let delivered: Vec<_> = delivered.into_iter().filter(|e| e.version <= newest).collect();
        let start = if launched_first { launched_job() } else { new_job() };
        let (expected, _) = deliver(start.clone(), &prefix);
        let (actual, _) = deliver(start, &delivered);
        prop_assert_eq!(actual.status, expected.status);
        prop_assert_eq!(&actual.status_reason, &expected.status_reason);
        prop_assert_eq!(actual.started_at(), expected.started_at());
        prop_assert_eq!(actual.stopped_at(), expected.stopped_at());
        prop_assert_eq!(actual.updated_at, expected.updated_at);
        prop_assert_eq!(&actual.attempts.current().task_arn, &expected.attempts.current().task_arn);
    }
}

/// One thing that happens to a job between its creation and its end, as the store sees
/// it: an ECS event, the reconciler's DescribeTasks answer (the same facts at some
/// version), the launcher recording the task, or a launch try ECS did not answer.
#[derive(Debug, Clone)]
enum Happening {
    Event(usize),
    Described(usize),
    Launched,
    Unanswered,
}

fn any_interleaving() -> impl Strategy<Value = (Vec<TaskStateChange>, Vec<Happening>)> {
    (any_lifecycle(), 1..3usize, 0..3usize).prop_flat_map(|(events, launches, unanswered)| {
        let n = events.len();
        (
            proptest::collection::vec(1..=2usize, n),
            proptest::collection::vec(0..n, 0..4),
            Just(events),
        )
            .prop_flat_map(move |(copies, described, events)| {
                let mut happenings: Vec<Happening> = copies
                    .iter()
                    .enumerate()
                    .flat_map(|(i, k)| std::iter::repeat_n(Happening::Event(i), *k))
                    .collect();
                happenings.extend(described.into_iter().map(Happening::Described));
                happenings.extend(std::iter::repeat_n(Happening::Launched, launches));
                happenings.extend(std::iter::repeat_n(Happening::Unanswered, unanswered));
                (Just(events), Just(happenings).prop_shuffle())
            })
    })
}

/// Applies what happens as the store would, with one concurrency slot of limit 1 that
/// the job took with its creation: each write is decided on the job as stored, and
/// lands only if its guard holds. Returns the job and the slots taken at the end.
fn live(events: &[TaskStateChange], happenings: &[Happening]) -> (Job, i64) {
    let claims = [SlotClaim {
        pool: SlotPool::Definition("report".into()),
        limit: 1,
    }];
    let mut job = new_job().holding(&claims);
    let mut taken: i64 = 1;
    for happening in happenings {
        let update = match happening {
            Happening::Event(i) | Happening::Described(i) => match decide(&job, 1, &events[*i].observation(), 0.0) {
                EventDecision::Apply(update) => *update,
                EventDecision::Ignore(_) => continue,
            },
            Happening::Launched => job.launched(TASK_ARN.into(), at(1)),
            Happening::Unanswered => job.launch_deferred(WaitReason::NoAnswer, "ECS did not answer", at(1), 0.5),
        };
        if !job.guard_holds(&update) {
            continue;
        }
        match &update.slots {
            SlotChange::Keep => {}
            SlotChange::Take(claims) => taken += claims.len() as i64,
            SlotChange::Release(_) => taken -= job.slots.len() as i64,
        }
        job.apply(&update);
    }
    (job, taken)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn events_descriptions_and_launches_in_any_order_end_in_the_in_order_job_with_the_slot_given_back(
        (events, happenings) in any_interleaving(),
    ) {
        let in_order: Vec<Happening> = std::iter::once(Happening::Launched)
            .chain((0..events.len()).map(Happening::Event))
            .collect();
        let (expected, _) = live(&events, &in_order);
        let (actual, taken) = live(&events, &happenings);
        prop_assert!(expected.status.is_terminal());
        prop_assert_eq!(actual.status, expected.status);
        prop_assert_eq!(&actual.status_reason, &expected.status_reason);
        prop_assert_eq!(actual.current_attempt(), expected.current_attempt());
        prop_assert_eq!(actual.updated_at, expected.updated_at);
        // The slot went back exactly once, and nothing waits any more.
        prop_assert_eq!(taken, 0);
        prop_assert!(actual.slots.is_empty());
        prop_assert!(actual.queue.is_none());
    }
}

#[test]
fn stop_codes_are_parsed_and_unknown_ones_are_kept() {
    assert_eq!(StopCode::parse("SpotInterruption"), StopCode::SpotInterruption);
    assert_eq!(StopCode::parse("NewCode"), StopCode::Other("NewCode".into()));
}
