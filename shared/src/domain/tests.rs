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
            logs: None,
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

// ---- several attempts: retries, timeouts and cancels ------------------------------

/// The task ARN of attempt `n`.
fn task_of_attempt(n: u32) -> String {
    format!("arn:aws:ecs:us-east-1:111122223333:task/jobs/{n:032x}")
}

/// Attempt `n`'s task, from creation to STOPPED with its job container exiting `exit_code`
/// (a retryable failure when 1, per [`retrying_policy`]), at times after attempt `n-1`'s.
fn attempt_lifecycle(n: u32, exit_code: i32) -> Vec<TaskStateChange> {
    use EcsTaskStatus::*;
    let base = 1000 * n;
    let mut t = TaskTimeline::new(task_of_attempt(n), CLUSTER_ARN, None, &[CONTAINER], at(base));
    let mut events = vec![
        t.advance(Provisioning, at(base + 1)),
        t.advance(Pending, at(base + 2)),
        t.advance(Running, at(base + 3)),
    ];
    t.container_exited(CONTAINER, exit_code);
    t.stopping_because("EssentialContainerExited", "Essential container in task exited");
    events.push(t.advance(Stopping, at(base + 4)));
    events.push(t.advance(Stopped, at(base + 5)));
    events
}

/// Retries exit code 1 (and, by default, platform failures), 10 s apart, no jitter.
fn retrying_policy(attempts: u32) -> RetryPolicy {
    RetryPolicy {
        attempts,
        rules: vec![RetryRule {
            on_exit_code: Some("1".into()),
            on_stop_code: None,
            on_reason: None,
            action: RetryAction::Retry,
        }],
        ..RetryPolicy::default()
    }
}

/// One thing that happens to a job of several attempts, as the store sees it.
#[derive(Debug, Clone)]
enum Step {
    /// Event `i` of attempt `n`'s task (or DescribeTasks' answer at that version).
    Event(u32, usize),
    /// The launcher starts attempt `n`'s task and records it (taking the job's slot).
    Launch(u32),
    /// The owner cancels the job; the service stops its task if it has one.
    Cancel,
    /// The reconciler finds the current attempt past its timeout and stops its task.
    Timeout,
}

/// Applies `update` as a store would (only if its guard holds), keeping count of the
/// slots taken and checking the invariants after every write: earlier attempts never
/// run, and no attempt is added once a cancel was requested.
fn write(job: &mut Job, update: &JobUpdate, taken: &mut i64) -> bool {
    if !job.guard_holds(update) {
        return false;
    }
    let cancelled_before = job.cancel_requested_at.is_some();
    let finished_before = job.status.is_terminal();
    match &update.slots {
        SlotChange::Keep => {}
        SlotChange::Take(claims) => *taken += claims.len() as i64,
        SlotChange::Release(_) => *taken -= job.slots.len() as i64,
    }
    job.apply(update);
    assert!(
        !(cancelled_before && update.next_attempt.is_some()),
        "a retry was scheduled after a cancel"
    );
    assert!(
        !finished_before || job.status.is_terminal(),
        "a finished job became {} again",
        job.status
    );
    let current = job.current_attempt().number;
    for earlier in job.attempts.iter().filter(|a| a.number != current) {
        assert!(
            earlier.task_arn.is_none() || earlier.task_status == Some(EcsTaskStatus::Stopped),
            "attempt {} still runs while attempt {current} exists",
            earlier.number
        );
    }
    true
}

/// What a step does to the job as stored now.
fn take(job: &mut Job, step: &Step, lifecycles: &[Vec<TaskStateChange>], taken: &mut i64) {
    let claims = [SlotClaim {
        pool: SlotPool::Definition("report".into()),
        limit: 1,
    }];
    let now = at(100_000);
    match step {
        Step::Event(n, i) => {
            let observed = lifecycles[*n as usize - 1][*i].observation();
            if let EventDecision::Apply(update) = decide(job, *n, &observed, 0.0) {
                write(job, &update, taken);
            }
        }
        Step::Launch(n) => {
            if job.current_attempt().number != *n || !job.awaiting_launch() {
                return;
            }
            if job.slots.is_empty() {
                let update = job.take_slots(claims.to_vec(), now);
                write(job, &update, taken);
            }
            let update = job.launched(task_of_attempt(*n), now);
            write(job, &update, taken);
        }
        Step::Cancel => {
            if let Cancel::Write { update, .. } = job.cancel(now) {
                write(job, &update, taken);
            }
        }
        Step::Timeout => {
            if let Some((update, _)) = job.timeout_due(now) {
                write(job, &update, taken);
            }
        }
    }
}

/// What the reconciler guarantees whatever was lost: the current attempt is launched when
/// due, and its task's state is learnt (every event of it, in order, as DescribeTasks
/// would report its latest). Runs until nothing changes.
fn settle(job: &mut Job, lifecycles: &[Vec<TaskStateChange>], taken: &mut i64) {
    for _ in 0..4 * lifecycles.len() + 4 {
        let before = job.clone();
        let n = job.current_attempt().number;
        take(job, &Step::Launch(n), lifecycles, taken);
        if let Some(events) = lifecycles.get(n as usize - 1) {
            for i in 0..events.len() {
                take(job, &Step::Event(n, i), lifecycles, taken);
            }
        }
        if *job == before {
            return;
        }
    }
    panic!("the job never settled: {job:?}");
}

/// Up to three attempts' tasks, each exiting 1 (retried), 0 or 2, and a delivery of
/// their events and launches in any order, each event possibly duplicated or lost.
fn any_attempts() -> impl Strategy<Value = (u32, Vec<Vec<TaskStateChange>>, Vec<Step>)> {
    (
        1..=3u32,
        proptest::collection::vec(prop_oneof![Just(1), Just(0), Just(2)], 3),
    )
        .prop_flat_map(|(attempts, exit_codes)| {
            let lifecycles: Vec<Vec<TaskStateChange>> = (1..=3u32)
                .map(|n| attempt_lifecycle(n, exit_codes[n as usize - 1]))
                .collect();
            let mut steps: Vec<Step> = (1..=3u32).map(Step::Launch).collect();
            for (n, events) in (1..=3u32).zip(&lifecycles) {
                steps.extend((0..events.len()).flat_map(|i| [Step::Event(n, i), Step::Event(n, i)]));
            }
            let kept = proptest::collection::vec(any::<bool>(), steps.len());
            (Just(attempts), Just(lifecycles), Just(steps), kept).prop_flat_map(
                |(attempts, lifecycles, steps, kept)| {
                    let delivered: Vec<Step> = steps
                        .into_iter()
                        .zip(kept)
                        .filter(|(_, k)| *k)
                        .map(|(s, _)| s)
                        .collect();
                    (Just(attempts), Just(lifecycles), Just(delivered).prop_shuffle())
                },
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn attempts_events_in_any_order_end_in_the_in_order_job((attempts, lifecycles, delivered) in any_attempts()) {
        let start = job_with(retrying_policy(attempts));
        let (mut expected, mut expected_taken) = (start.clone(), 0);
        settle(&mut expected, &lifecycles, &mut expected_taken);
        let (mut actual, mut taken) = (start, 0);
        for step in &delivered {
            take(&mut actual, step, &lifecycles, &mut taken);
        }
        settle(&mut actual, &lifecycles, &mut taken);
        prop_assert!(expected.status.is_terminal());
        prop_assert_eq!(&actual, &expected);
        prop_assert_eq!((taken, expected_taken), (0, 0));
        // Attempts ran one after another, each its own task, and no more than allowed.
        prop_assert!(actual.attempts.count() <= attempts);
        let arns: std::collections::BTreeSet<_> = actual.attempts.iter().filter_map(|a| a.task_arn.clone()).collect();
        prop_assert_eq!(arns.len() as u32, actual.attempts.count());
    }

    #[test]
    fn cancels_and_timeouts_at_any_point_never_run_two_attempts_nor_retry_after_a_cancel(
        (attempts, mut lifecycles, mut delivered) in any_attempts(),
        cancel_at in proptest::option::of(0..40usize),
        timeout_at in proptest::option::of(0..40usize),
        corrections in proptest::collection::vec(any::<bool>(), 3),
    ) {
        // ECS may report a task STOPPED again, filling in or changing what it knew: a
        // later STOPPED report with the other exit code (retried ↔ final).
        for ((n, events), corrected) in (1..=3u32).zip(lifecycles.iter_mut()).zip(corrections) {
            if corrected {
                let mut again = events.last().cloned().expect("a lifecycle");
                again.version += 1;
                let code = again.containers[0].exit_code;
                again.containers[0].exit_code = Some(if code == Some(1) { 2 } else { 1 });
                events.push(again);
                delivered.push(Step::Event(n, events.len() - 1));
            }
        }
        let mut job = job_with(retrying_policy(attempts));
        job.timeout = Some(std::time::Duration::from_secs(60));
        let mut steps = delivered;
        for (position, step) in [(timeout_at, Step::Timeout), (cancel_at, Step::Cancel)] {
            if let Some(position) = position {
                steps.insert(position.min(steps.len()), step);
            }
        }
        let mut taken = 0;
        for step in &steps {
            take(&mut job, step, &lifecycles, &mut taken);
        }
        settle(&mut job, &lifecycles, &mut taken);
        prop_assert!(job.status.is_terminal(), "{:?}", job.status);
        prop_assert_eq!(taken, 0);
        if job.cancel_requested_at.is_some() {
            prop_assert_eq!(job.status, JobStatus::Cancelled);
        }
        if job.current_attempt().timed_out_after.is_some() && job.status == JobStatus::Failed {
            prop_assert!(job.status_reason.as_deref().is_some_and(|r| r.starts_with("timed out after 60 s")));
        }
    }
}

#[test]
fn a_failed_attempt_is_retried_as_a_new_attempt_after_the_policy_delay() {
    let mut job = job_with(retrying_policy(3));
    let mut taken = 0;
    let lifecycles = vec![attempt_lifecycle(1, 1), attempt_lifecycle(2, 0)];
    take(&mut job, &Step::Launch(1), &lifecycles, &mut taken);
    for i in 0..lifecycles[0].len() {
        take(&mut job, &Step::Event(1, i), &lifecycles, &mut taken);
    }
    assert_eq!(job.status, JobStatus::Submitted);
    assert_eq!(job.attempts.count(), 2);
    let retry_at = at(1005) + chrono::Duration::seconds(10);
    assert_eq!(job.queue.as_ref().and_then(|q| q.next_try_at), Some(retry_at));
    assert_eq!(job.current_attempt().created_at, retry_at);
    assert_eq!(
        job.status_reason.as_deref(),
        Some("attempt 1 of 3 failed: container 'app' exited with code 1 (EssentialContainerExited); attempt 2 starts at 2026-11-01T12:16:55Z")
    );
    assert!(job.slots.is_empty(), "the stopped task gave its slot back");
    assert_eq!(
        job.launch_step(
            DEFAULT_QUEUE_TIMEOUT,
            LAUNCH_GRACE,
            retry_at - chrono::Duration::seconds(1)
        ),
        LaunchStep::NotDue { at: Some(retry_at) }
    );
    assert_eq!(
        job.launch_step(DEFAULT_QUEUE_TIMEOUT, LAUNCH_GRACE, retry_at),
        LaunchStep::Launch { look_first: false }
    );
    // A late event of attempt 1 moves nothing.
    take(&mut job, &Step::Event(1, 2), &lifecycles, &mut taken);
    assert_eq!(job.attempts.count(), 2);
    settle(&mut job, &lifecycles, &mut taken);
    assert_eq!(job.status, JobStatus::Succeeded);
}

#[test]
fn the_final_verdict_says_how_many_attempts_ran_and_which_rule_ended_them() {
    let mut job = job_with(retrying_policy(2));
    let mut taken = 0;
    let lifecycles = vec![attempt_lifecycle(1, 1), attempt_lifecycle(2, 1)];
    settle(&mut job, &lifecycles, &mut taken);
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(
        job.status_reason.as_deref(),
        Some("container 'app' exited with code 1 (EssentialContainerExited); 2 attempts ran")
    );

    let mut policy = retrying_policy(3);
    policy.rules.insert(
        0,
        RetryRule {
            on_exit_code: Some("1".into()),
            on_stop_code: Some("Essential*".into()),
            on_reason: None,
            action: RetryAction::Exit,
        },
    );
    let mut job = job_with(policy);
    settle(&mut job, &lifecycles, &mut taken);
    assert_eq!(
        job.status_reason.as_deref(),
        Some("container 'app' exited with code 1 (EssentialContainerExited); not retried: retry rule 1 says EXIT")
    );
}

#[test]
fn a_cancelled_job_ends_cancelled_whatever_its_task_exits_with() {
    let lifecycles = vec![attempt_lifecycle(1, 0)];
    let mut taken = 0;
    let mut job = job_with(retrying_policy(3));
    take(&mut job, &Step::Launch(1), &lifecycles, &mut taken);
    take(&mut job, &Step::Event(1, 2), &lifecycles, &mut taken);
    assert_eq!(job.status, JobStatus::Running);
    let Cancel::Write { update, task_arn } = job.cancel(at(2000)) else {
        panic!("a running job is cancelled")
    };
    assert_eq!(task_arn.as_deref(), Some(task_of_attempt(1).as_str()));
    assert!(write(&mut job, &update, &mut taken));
    assert_eq!(
        (job.status, job.status_reason.as_deref()),
        (JobStatus::Stopping, Some(CANCELLING))
    );
    // An older event of the task keeps the job STOPPING; the STOPPED one (exit 0) ends it
    // CANCELLED and gives the slot back.
    take(&mut job, &Step::Event(1, 1), &lifecycles, &mut taken);
    assert_eq!(job.status, JobStatus::Stopping);
    take(&mut job, &Step::Event(1, 4), &lifecycles, &mut taken);
    assert_eq!(
        (job.status, job.status_reason.as_deref()),
        (JobStatus::Cancelled, Some(CANCELLED))
    );
    assert_eq!(taken, 0);
    assert!(matches!(
        job.cancel(at(3000)),
        Cancel::AlreadyRequested { task_arn: None }
    ));

    // A job waiting for its launch is CANCELLED at once, and its launch can no longer land.
    let mut waiting = job_with(retrying_policy(3));
    let Cancel::Write { update, task_arn: None } = waiting.cancel(at(5)) else {
        panic!("cancelled at once")
    };
    assert!(write(&mut waiting, &update, &mut taken));
    assert_eq!(waiting.status, JobStatus::Cancelled);
    assert!(!waiting.guard_holds(&waiting.launched(task_of_attempt(1), at(6))));
    assert!(waiting.disowns(1, &lifecycles[0][2].observation()));

    let finished = {
        let mut job = job_with(retrying_policy(1));
        settle(&mut job, &lifecycles, &mut taken);
        job
    };
    assert_eq!(finished.cancel(at(9000)), Cancel::Finished);
}

#[test]
fn an_attempt_past_its_timeout_is_stopped_once_and_fails_saying_so() {
    let lifecycles = vec![attempt_lifecycle(1, 143)];
    let mut taken = 0;
    let mut job = job_with(RetryPolicy::default());
    job.timeout = Some(std::time::Duration::from_secs(60));
    take(&mut job, &Step::Launch(1), &lifecycles, &mut taken);
    take(&mut job, &Step::Event(1, 2), &lifecycles, &mut taken);
    let started = job.current_attempt().started_at.expect("running");
    assert!(job.timeout_due(started + chrono::Duration::seconds(59)).is_none());
    let (update, task_arn) = job.timeout_due(started + chrono::Duration::seconds(60)).expect("due");
    assert_eq!(task_arn, task_of_attempt(1));
    assert!(write(&mut job, &update, &mut taken));
    assert_eq!(job.timeout_stop_reason().as_deref(), Some("timed out after 60 s"));
    assert!(
        job.timeout_due(started + chrono::Duration::seconds(600)).is_none(),
        "stopped once"
    );
    assert_eq!(
        job.stop_pending(),
        Some((task_of_attempt(1), "timed out after 60 s".to_owned()))
    );
    take(&mut job, &Step::Event(1, 4), &lifecycles, &mut taken);
    // Timeouts are not platform failures: the default policy does not retry them.
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.status_reason.as_deref(), Some("timed out after 60 s"));
    assert_eq!(job.stop_pending(), None);
}

#[test]
fn a_cancelled_job_whose_task_ecs_forgot_ends_cancelled_not_lost() {
    let mut job = launched_job();
    let Cancel::Write { update, .. } = job.cancel(at(5)) else {
        panic!("a launched job can be cancelled")
    };
    assert!(job.guard_holds(&update));
    job.apply(&update);
    let lost = job.task_lost(TASK_ARN, at(100));
    assert!(job.guard_holds(&lost));
    assert_eq!(
        (lost.status, lost.status_reason.as_deref()),
        (JobStatus::Cancelled, Some(CANCELLED))
    );
    let mut forgotten = launched_job();
    let lost = forgotten.task_lost(TASK_ARN, at(100));
    forgotten.apply(&lost);
    assert_eq!(forgotten.status, JobStatus::Failed);
}

#[test]
fn a_later_stopped_report_never_turns_a_final_verdict_into_a_retry() {
    // The first STOPPED report has no exit code yet: not retried by the rule on 1, final.
    let lifecycles = vec![attempt_lifecycle(1, 1)];
    let mut taken = 0;
    let mut job = job_with(retrying_policy(3));
    take(&mut job, &Step::Launch(1), &lifecycles, &mut taken);
    let mut without_exit_code = lifecycles[0][4].clone();
    without_exit_code.containers[0].exit_code = None;
    if let EventDecision::Apply(update) = decide(&job, 1, &without_exit_code.observation(), 0.0) {
        assert!(write(&mut job, &update, &mut taken));
    }
    assert_eq!(job.status, JobStatus::Failed);
    // A newer one says exit code 1, which the rule retries: the verdict's reason is
    // corrected, and the job stays finished.
    let mut with_exit_code = lifecycles[0][4].clone();
    with_exit_code.version += 1;
    let EventDecision::Apply(update) = decide(&job, 1, &with_exit_code.observation(), 0.0) else {
        panic!("a newer STOPPED report corrects the verdict")
    };
    assert!(update.next_attempt.is_none());
    assert!(write(&mut job, &update, &mut taken));
    assert_eq!(
        (job.status, job.status_reason.as_deref(), job.attempts.count()),
        (
            JobStatus::Failed,
            Some("container 'app' exited with code 1 (EssentialContainerExited)"),
            1
        )
    );
}
