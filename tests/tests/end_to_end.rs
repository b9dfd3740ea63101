//! End to end through the three handlers with the real adapters: DynamoDB Local for the
//! store, moto server for ECS. POST → ECS events → GET, as a client and EventBridge
//! would drive the deployed Lambdas.

use serde_json::{json, Value};
use shared::adapters::dynamodb::DynamoJobStore;
use shared::adapters::ecs::EcsTaskLauncher;
use shared::app::EventOutcome;
use shared::domain::{JobId, StartedBy};
use shared::infra::config::{EcsConfig, ProcessEnvironment};
use tests::api::{assert_problem, header, json_body, Caller, ALICE, BOB};
use tests::emulators::{fresh_dynamo_store, required_env, sdk_config};
use tests::events::{readdress, sequence, shuffled_with_duplicates, Task};
use tests::world::{definitions, World};

type RealWorld = World<DynamoJobStore, EcsTaskLauncher>;

const REPORT: &str = r#"{"definition": "report", "parameters": {"REPORT_DATE": "2026-11-01"}}"#;

struct Fixture {
    world: RealWorld,
    ecs: aws_sdk_ecs::Client,
    config: EcsConfig,
    cluster_arn: String,
}

/// The handlers on a fresh table, launching into moto's cluster, with the definitions
/// `scripts/devenv` configures plus `ghost`, whose task definition does not exist.
async fn fixture() -> Fixture {
    let config = EcsConfig::from_env(&ProcessEnvironment).expect("scripts/devenv sets the ECS variables");
    let ecs = aws_sdk_ecs::Client::new(&sdk_config().await);
    let mut json: Value = serde_json::from_str(&required_env("JOB_DEFINITIONS")).expect("JOB_DEFINITIONS is JSON");
    json["ghost"] = json!({"taskDefinition": "no-such-family", "container": "app"});
    let launcher = EcsTaskLauncher::new(ecs.clone(), &config).expect("launcher");
    let world = World::new(fresh_dynamo_store().await, launcher, definitions(&json.to_string()));
    let clusters = ecs
        .describe_clusters()
        .clusters(&config.cluster)
        .send()
        .await
        .expect("describe cluster");
    let cluster_arn = clusters.clusters()[0].cluster_arn().expect("cluster ARN").to_owned();
    Fixture {
        world,
        ecs,
        config,
        cluster_arn,
    }
}

impl Fixture {
    /// Submits a report job as `caller` and returns its representation.
    async fn submit(&self, caller: Caller<'_>) -> Value {
        let response = self.world.post(REPORT, caller, None).await;
        assert_eq!(response.status(), 201, "{}", json_body(&response));
        json_body(&response)
    }

    /// The events of fixture sequence `name`, about the task of `job`.
    fn events_for(&self, name: &str, job: &Value) -> Vec<Value> {
        let job_id = JobId::parse(job["jobId"].as_str().expect("jobId")).expect("a job id");
        let started_by = StartedBy { job_id, attempt: 1 }.to_string();
        let task = Task {
            task_arn: job["taskArn"].as_str().expect("taskArn"),
            cluster_arn: &self.cluster_arn,
            started_by: Some(&started_by),
            container: "app",
        };
        sequence(name, &task)
    }

    async fn tasks_started_by(&self, job: &Value) -> usize {
        let job_id = JobId::parse(job["jobId"].as_str().expect("jobId")).expect("a job id");
        let listed = self
            .ecs
            .list_tasks()
            .cluster(&self.config.cluster)
            .started_by(StartedBy { job_id, attempt: 1 }.to_string())
            .send()
            .await
            .expect("list tasks");
        listed.task_arns().len()
    }
}

fn id_of(job: &Value) -> &str {
    job["jobId"].as_str().expect("jobId")
}

/// What must not depend on delivery order: everything but the job's identity.
fn outcome_of(mut job: Value) -> Value {
    for key in ["jobId", "taskArn", "createdAt", "links"] {
        job.as_object_mut().expect("object").remove(key);
    }
    for attempt in job["attempts"].as_array_mut().expect("attempts") {
        for key in ["taskArn", "createdAt"] {
            attempt.as_object_mut().expect("object").remove(key);
        }
    }
    job
}

#[tokio::test]
async fn a_successful_task_takes_the_job_through_every_status_to_succeeded() {
    let f = fixture().await;
    let response = f.world.post(REPORT, ALICE, None).await;
    assert_eq!(response.status(), 201);
    let created = json_body(&response);
    let id = id_of(&created).to_owned();
    assert_eq!(header(&response, "location"), Some(format!("/jobs/{id}").as_str()));
    assert_eq!(created["status"], "STARTING");
    assert_eq!(created["definition"], "report");
    assert_eq!(created["parameters"], json!({"REPORT_DATE": "2026-11-01"}));
    assert!(created["taskArn"].as_str().is_some_and(|arn| arn.contains(":task/")));
    assert_eq!(created["attempts"][0]["attempt"], 1);
    assert_eq!(created["attempts"][0]["taskStatus"], "PROVISIONING");
    assert_eq!(created["links"]["self"], format!("/jobs/{id}"));
    assert_eq!(f.world.job(&id, ALICE).await, created);

    let events = f.events_for("success", &created);
    let expected = [
        "STARTING",
        "STARTING",
        "STARTING",
        "RUNNING",
        "STOPPING",
        "STOPPING",
        "STOPPING",
        "SUCCEEDED",
    ];
    for (event, status) in events.iter().zip(expected) {
        let outcome = f
            .world
            .deliver(std::slice::from_ref(event))
            .await
            .remove(0)
            .expect("event accepted");
        assert!(
            matches!(outcome, EventOutcome::Applied { .. } | EventOutcome::Ignored { .. }),
            "{outcome:?}"
        );
        assert_eq!(
            f.world.job(&id, ALICE).await["status"],
            status,
            "after version {}",
            event["detail"]["version"]
        );
    }

    let job = f.world.job(&id, ALICE).await;
    let (running, stopped) = (&events[3]["detail"], &events[7]["detail"]);
    assert_eq!(job["status"], "SUCCEEDED");
    assert_eq!(job["statusReason"], Value::Null);
    assert_eq!(job["exitCode"], 0);
    assert_eq!(job["startedAt"], running["startedAt"]);
    assert_eq!(job["stoppedAt"], stopped["stoppedAt"]);
    assert_eq!(job["updatedAt"], stopped["stoppedAt"]);
    assert_eq!(job["createdAt"], created["createdAt"]);
    assert_eq!(job["taskArn"], created["taskArn"]);
    let attempt = &job["attempts"][0];
    assert_eq!(attempt["taskStatus"], "STOPPED");
    assert_eq!(attempt["stopCode"], "EssentialContainerExited");
    assert_eq!(attempt["stoppedReason"], "Essential container in task exited");
    assert_eq!(attempt["exitCode"], 0);
    assert_eq!(attempt["startedAt"], running["startedAt"]);
    assert_eq!(attempt["stoppedAt"], stopped["stoppedAt"]);
}

#[tokio::test]
async fn a_non_zero_exit_fails_the_job_with_its_exit_code() {
    let f = fixture().await;
    let created = f.submit(ALICE).await;

    f.world.deliver(&f.events_for("exit-code-3", &created)).await;

    let job = f.world.job(id_of(&created), ALICE).await;
    assert_eq!(job["status"], "FAILED");
    assert_eq!(job["exitCode"], 3);
    assert_eq!(job["attempts"][0]["exitCode"], 3);
    let reason = job["statusReason"].as_str().expect("a reason");
    assert!(reason.contains("'app' exited with code 3"), "{reason}");
}

#[tokio::test]
async fn a_task_that_failed_to_start_fails_the_job_with_the_ecs_reason() {
    let f = fixture().await;
    let created = f.submit(ALICE).await;

    let events = f.events_for("failed-to-start", &created);
    f.world.deliver(&events).await;

    let job = f.world.job(id_of(&created), ALICE).await;
    assert_eq!(job["status"], "FAILED");
    assert_eq!(job["exitCode"], Value::Null);
    assert_eq!(job["startedAt"], Value::Null);
    assert_eq!(job["stoppedAt"], events.last().expect("events")["detail"]["stoppedAt"]);
    assert_eq!(job["attempts"][0]["stopCode"], "TaskFailedToStart");
    let reason = job["statusReason"].as_str().expect("a reason");
    assert!(
        reason.contains("failed to start") && reason.contains("ResourceInitializationError"),
        "{reason}"
    );
}

#[tokio::test]
async fn shuffled_and_duplicated_events_give_the_in_order_job() {
    let f = fixture().await;
    for (name, seed) in [
        ("success", 1),
        ("success", 7),
        ("success", 42),
        ("exit-code-3", 3),
        ("failed-to-start", 5),
    ] {
        let in_order = f.submit(ALICE).await;
        f.world.deliver(&f.events_for(name, &in_order)).await;
        let shuffled = f.submit(ALICE).await;
        let delivered = shuffled_with_duplicates(&f.events_for(name, &shuffled), seed);

        let outcomes = f.world.deliver(&delivered).await;

        assert!(outcomes.iter().all(Result::is_ok), "{name}/{seed}: {outcomes:?}");
        assert_eq!(
            outcome_of(f.world.job(id_of(&shuffled), ALICE).await),
            outcome_of(f.world.job(id_of(&in_order), ALICE).await),
            "{name} with seed {seed}"
        );
    }
}

#[tokio::test]
async fn events_of_tasks_this_service_did_not_start_are_acknowledged_and_change_nothing() {
    let f = fixture().await;
    let created = f.submit(ALICE).await;
    let running = f.events_for("success", &created).remove(3);
    let foreign = |started_by: Option<&str>| {
        readdress(
            running.clone(),
            &Task {
                task_arn: "arn:aws:ecs:us-east-1:123456789012:task/jobs/ffffffffffffffffffffffffffffffff",
                cluster_arn: &f.cluster_arn,
                started_by,
                container: "app",
            },
        )
    };
    let unknown_job = StartedBy {
        job_id: JobId::random(),
        attempt: 1,
    }
    .to_string();

    let outcomes = f
        .world
        .deliver(&[
            foreign(None),
            foreign(Some("ecs-svc/1234567890")),
            foreign(Some(&unknown_job)),
        ])
        .await;

    assert!(matches!(outcomes[0], Ok(EventOutcome::Foreign)), "{outcomes:?}");
    assert!(matches!(outcomes[1], Ok(EventOutcome::Foreign)), "{outcomes:?}");
    assert!(
        matches!(outcomes[2], Ok(EventOutcome::UnknownJob { .. })),
        "{outcomes:?}"
    );
    assert_eq!(f.world.job(id_of(&created), ALICE).await, created);
}

#[tokio::test]
async fn unreadable_events_are_errors_and_write_nothing() {
    let f = fixture().await;
    let created = f.submit(ALICE).await;
    let mut running = f.events_for("success", &created).remove(3);
    let mut other_kind = running.clone();
    other_kind["detail-type"] = json!("ECS Container Instance State Change");
    let mut no_version = running.clone();
    no_version["detail"].as_object_mut().expect("detail").remove("version");
    running["detail"]["lastStatus"] = json!("EXPLODED");

    for event in [json!({}), json!("not an object"), other_kind, no_version, running] {
        let outcome = f.world.deliver(std::slice::from_ref(&event)).await.remove(0);
        assert!(outcome.is_err(), "{event}: {outcome:?}");
    }
    assert_eq!(f.world.job(id_of(&created), ALICE).await, created);
}

#[tokio::test]
async fn an_idempotent_replay_returns_the_same_job_and_starts_one_task() {
    let f = fixture().await;
    // Keys name jobs for good and moto's cluster outlives the test: one key per run.
    let key = format!("nightly-{}", uuid::Uuid::new_v4());
    let first = f.world.post(REPORT, ALICE, Some(&key)).await;
    let replay = f.world.post(REPORT, ALICE, Some(&key)).await;

    assert_eq!(first.status(), 201);
    assert_eq!(replay.status(), 201);
    assert_eq!(header(&replay, "location"), header(&first, "location"));
    let job = json_body(&first);
    assert_eq!(json_body(&replay), job);
    assert_eq!(f.tasks_started_by(&job).await, 1);

    // The same key from another caller is another job.
    let bobs = f.world.post(REPORT, BOB, Some(&key)).await;
    assert_eq!(bobs.status(), 201);
    assert_ne!(json_body(&bobs)["jobId"], job["jobId"]);
}

#[tokio::test]
async fn a_key_reused_with_another_body_is_rejected_and_starts_nothing() {
    let f = fixture().await;
    let key = format!("key-{}", uuid::Uuid::new_v4());
    let first = f.world.post(REPORT, ALICE, Some(&key)).await;
    assert_eq!(first.status(), 201);

    let other = r#"{"definition": "report", "parameters": {"REPORT_DATE": "2026-11-02"}}"#;
    let response = f.world.post(other, ALICE, Some(&key)).await;

    assert_problem(&response, 422, "idempotency-key-reused");
    assert_eq!(f.tasks_started_by(&json_body(&first)).await, 1);
}

#[tokio::test]
async fn a_launch_ecs_refuses_fails_the_job_and_a_replay_gets_the_same_answer() {
    let f = fixture().await;
    let body = r#"{"definition": "ghost"}"#;
    let key = format!("ghost-{}", uuid::Uuid::new_v4());
    let response = f.world.post(body, ALICE, Some(&key)).await;

    let problem = assert_problem(&response, 502, "launch-refused");
    let id = problem["jobId"].as_str().expect("the problem names the job").to_owned();
    let job = f.world.job(&id, ALICE).await;
    assert_eq!(job["status"], "FAILED");
    assert_eq!(job["taskArn"], Value::Null);
    let reason = job["statusReason"].as_str().expect("a reason");
    assert!(reason.starts_with("ECS refused to run the task:"), "{reason}");

    let replay = f.world.post(body, ALICE, Some(&key)).await;
    assert_eq!(assert_problem(&replay, 502, "launch-refused")["jobId"], id.as_str());
}

#[tokio::test]
async fn jobs_are_visible_only_to_their_owner() {
    let f = fixture().await;
    let alices = f.submit(ALICE).await;
    let jwt_user = Caller::Jwt {
        issuer: "https://issuer.example",
        subject: "7d1c2b7e-user",
    };
    let jwt_job = f.submit(jwt_user).await;

    assert_eq!(f.world.job(id_of(&jwt_job), jwt_user).await["jobId"], jwt_job["jobId"]);
    assert_problem(&f.world.get(id_of(&alices), BOB).await, 404, "job-not-found");
    assert_problem(&f.world.get(id_of(&alices), jwt_user).await, 404, "job-not-found");
    assert_problem(&f.world.get(id_of(&jwt_job), ALICE).await, 404, "job-not-found");
}

#[tokio::test]
async fn unknown_and_malformed_job_ids_are_not_found() {
    let f = fixture().await;
    let unknown = JobId::random().to_string();
    for id in [
        unknown.as_str(),
        "not-a-job-id",
        "../jobs",
        "00000000000000000000000000000000",
    ] {
        assert_problem(&f.world.get(id, ALICE).await, 404, "job-not-found");
    }
}

#[tokio::test]
async fn a_request_without_a_principal_is_401() {
    let f = fixture().await;
    assert_problem(
        &f.world.post(REPORT, Caller::Anonymous, None).await,
        401,
        "unauthenticated",
    );
    let job = f.submit(ALICE).await;
    assert_problem(
        &f.world.get(id_of(&job), Caller::Anonymous).await,
        401,
        "unauthenticated",
    );
}

#[tokio::test]
async fn bad_requests_get_the_exact_problem_and_launch_nothing() {
    let f = fixture().await;
    let oversize_body = format!(
        r#"{{"definition": "report", "parameters": {{"REPORT_DATE": "{}"}}}}"#,
        "x".repeat(64 * 1024)
    );
    let oversize_overrides = format!(
        r#"{{"definition": "report", "parameters": {{"REPORT_DATE": "{}", "FORMAT": "{}"}}}}"#,
        "x".repeat(4096),
        "y".repeat(4096)
    );
    let cases: [(&str, u16, &str); 9] = [
        ("{not json", 400, "malformed-body"),
        (r#"{"parameters": {}}"#, 400, "malformed-body"),
        (
            r#"{"definition": "report", "parameters": {"REPORT_DATE": 20261101}}"#,
            400,
            "malformed-body",
        ),
        (r#"{"definition": "report", "priority": 1}"#, 400, "malformed-body"),
        (r#"{"definition": "nightly"}"#, 400, "unknown-definition"),
        (
            r#"{"definition": "report", "parameters": {"PATH": "/tmp"}}"#,
            400,
            "undeclared-parameter",
        ),
        (
            r#"{"definition": "report", "parameters": {"JOB_ID": "mine"}}"#,
            400,
            "undeclared-parameter",
        ),
        (&oversize_body, 413, "body-too-large"),
        (&oversize_overrides, 413, "overrides-too-large"),
    ];
    for (body, status, problem) in cases {
        let response = f.world.post(body, ALICE, None).await;
        assert_problem(&response, status, problem);
    }

    for content_type in ["text/plain", "application/x-www-form-urlencoded", ""] {
        let mut headers = vec![];
        if !content_type.is_empty() {
            headers.push(("content-type", content_type));
        }
        let request = tests::api::gateway_request("POST", "/jobs", None, &headers, Some(REPORT), ALICE);
        assert_problem(&f.world.create.handle(request).await, 415, "unsupported-media-type");
    }
    let charset = tests::api::gateway_request(
        "POST",
        "/jobs",
        None,
        &[("content-type", "application/json; charset=utf-8")],
        Some(REPORT),
        ALICE,
    );
    assert_eq!(f.world.create.handle(charset).await.status(), 201);

    let bad_key = f.world.post(REPORT, ALICE, Some("\u{e9}t\u{e9}")).await;
    assert_problem(&bad_key, 400, "invalid-idempotency-key");
    let long_key = "k".repeat(256);
    assert_problem(
        &f.world.post(REPORT, ALICE, Some(&long_key)).await,
        400,
        "invalid-idempotency-key",
    );

    let unknown = f.world.post(r#"{"definition": "nightly"}"#, ALICE, None).await;
    assert_eq!(
        json_body(&unknown)["knownDefinitions"],
        json!(["backup", "ghost", "report"]),
        "the problem lists what is valid"
    );
}

#[tokio::test]
async fn a_second_task_with_the_same_started_by_never_moves_the_job() {
    let f = fixture().await;
    let created = f.submit(ALICE).await;
    let ours = f.events_for("success", &created);
    let intruder_task = Task {
        task_arn: "arn:aws:ecs:us-east-1:123456789012:task/jobs/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee",
        cluster_arn: &f.cluster_arn,
        started_by: ours[0]["detail"]["startedBy"].as_str(),
        container: "app",
    };
    // A task run by hand with the job's startedBy, reporting versions above ours.
    let intruder: Vec<Value> = f
        .events_for("exit-code-3", &created)
        .into_iter()
        .map(|mut event| {
            event["detail"]["version"] = json!(event["detail"]["version"].as_u64().expect("version") + 100);
            readdress(event, &intruder_task)
        })
        .collect();

    f.world.deliver(&ours[..4]).await;
    let running = f.world.job(id_of(&created), ALICE).await;
    let outcomes = f.world.deliver(&intruder).await;

    assert!(
        outcomes.iter().all(|o| matches!(
            o,
            Ok(EventOutcome::Ignored {
                why: shared::domain::Ignored::OtherTask { .. },
                ..
            })
        )),
        "{outcomes:?}"
    );
    assert_eq!(f.world.job(id_of(&created), ALICE).await, running);
    f.world.deliver(&ours[4..]).await;
    let finished = f.world.job(id_of(&created), ALICE).await;
    assert_eq!(finished["status"], "SUCCEEDED");
    assert_eq!(finished["taskArn"], created["taskArn"]);
}

#[tokio::test]
async fn several_stopped_events_end_in_the_verdict_of_the_highest_version_in_any_order() {
    let f = fixture().await;
    let mut outcomes = Vec::new();
    for newest_first in [false, true] {
        let created = f.submit(ALICE).await;
        let events = f.events_for("success", &created);
        let complete = events.last().expect("a STOPPED event").clone();
        let mut early = complete.clone();
        early["detail"]["version"] = json!(complete["detail"]["version"].as_u64().expect("version") - 1);
        for container in early["detail"]["containers"].as_array_mut().expect("containers") {
            container.as_object_mut().expect("container").remove("exitCode");
        }
        let mut late = complete;
        late["detail"]["version"] = json!(late["detail"]["version"].as_u64().expect("version") + 1);
        let mut delivered = events[..4].to_vec();
        if newest_first {
            delivered.extend([late.clone(), early.clone(), late]);
        } else {
            delivered.extend([early.clone(), late, early]);
        }

        assert!(f.world.deliver(&delivered).await.iter().all(Result::is_ok));
        let job = f.world.job(id_of(&created), ALICE).await;
        assert_eq!(job["status"], "SUCCEEDED", "newest first: {newest_first}: {job}");
        assert_eq!(job["exitCode"], 0);
        outcomes.push(outcome_of(job));
    }
    assert_eq!(outcomes[0], outcomes[1]);
}

#[tokio::test]
async fn an_assumed_role_owns_its_jobs_as_the_role_whatever_the_session_name() {
    let f = fixture().await;
    let session = |name: &'static str| Caller::Iam(name);
    let cli = session("arn:aws:sts::111122223333:assumed-role/reporting/botocore-session-1793534400");
    let refreshed = session("arn:aws:sts::111122223333:assumed-role/reporting/botocore-session-1793538000");
    let other_role = session("arn:aws:sts::111122223333:assumed-role/billing/botocore-session-1793534400");
    let key = format!("role-{}", uuid::Uuid::new_v4());

    let created = json_body(&f.world.post(REPORT, cli, Some(&key)).await);
    assert_eq!(created["status"], "STARTING", "{created}");

    assert_eq!(f.world.job(id_of(&created), refreshed).await["jobId"], created["jobId"]);
    let retried = f.world.post(REPORT, refreshed, Some(&key)).await;
    assert_eq!(retried.status(), 201);
    assert_eq!(
        json_body(&retried)["jobId"],
        created["jobId"],
        "the same job, not a second"
    );
    assert_eq!(f.tasks_started_by(&created).await, 1);
    assert_problem(&f.world.get(id_of(&created), other_role).await, 404, "job-not-found");
    assert_problem(&f.world.get(id_of(&created), ALICE).await, 404, "job-not-found");
}

#[tokio::test]
async fn jwt_callers_are_their_issuer_and_subject_so_two_issuers_never_meet() {
    let f = fixture().await;
    let at = |issuer| Caller::Jwt {
        issuer,
        subject: "user-1",
    };
    let job = f.submit(at("https://login.example.com")).await;

    assert_eq!(
        f.world.job(id_of(&job), at("https://login.example.com")).await["jobId"],
        job["jobId"]
    );
    for other in ["https://evil.example.net", "https://login.example.com#user-1", ""] {
        let response = f.world.get(id_of(&job), at(other)).await;
        assert!(matches!(response.status().as_u16(), 401 | 404), "{other}");
    }
}

/// `POST /jobs` of `report` whose parameters make a task override of exactly `bytes`
/// bytes, counted here on the JSON ECS receives, independently of the service.
fn report_with_overrides_of(bytes: usize) -> String {
    let overrides = |format: &str| {
        json!({"containerOverrides": [{"name": "app", "environment": [
            {"name": "JOB_ID", "value": "00000000-0000-0000-0000-000000000000"},
            {"name": "JOB_ATTEMPT", "value": "1"},
            {"name": "FORMAT", "value": format},
            {"name": "REPORT_DATE", "value": "2026-11-01"},
        ]}]})
        .to_string()
        .len()
    };
    // "é" is two bytes: ECS's limit counts bytes, not characters.
    let base = overrides("é");
    assert!(bytes >= base);
    let format = format!("é{}", "x".repeat(bytes - base));
    assert_eq!(overrides(&format), bytes);
    json!({"definition": "report", "parameters": {"REPORT_DATE": "2026-11-01", "FORMAT": format}}).to_string()
}

#[tokio::test]
async fn overrides_of_exactly_8192_bytes_launch_and_one_byte_more_is_413_recording_nothing() {
    let f = fixture().await;
    let key = format!("limit-{}", uuid::Uuid::new_v4());
    let too_large = f.world.post(&report_with_overrides_of(8193), ALICE, Some(&key)).await;
    let problem = assert_problem(&too_large, 413, "overrides-too-large");
    assert!(
        problem["detail"].as_str().expect("detail").contains("8193 bytes"),
        "{problem}"
    );
    let owner = shared::domain::Owner::from_iam_caller("arn:aws:iam::111122223333:user/alice").expect("owner");
    let would_be = JobId::for_idempotency_key(&owner, &shared::domain::IdempotencyKey::parse(&key).expect("key"));
    assert_problem(&f.world.get(&would_be.to_string(), ALICE).await, 404, "job-not-found");

    let fits = f.world.post(&report_with_overrides_of(8192), ALICE, Some(&key)).await;
    assert_eq!(fits.status(), 201, "{}", json_body(&fits));
    assert_eq!(json_body(&fits)["jobId"], would_be.to_string());
    assert_eq!(f.tasks_started_by(&json_body(&fits)).await, 1);
}

#[tokio::test]
async fn parameter_values_with_control_characters_are_refused_naming_the_parameter() {
    let f = fixture().await;
    for value in ["a\u{0}b", "line\nbreak", "tab\there", "del\u{7f}", "c1\u{85}next"] {
        let body = json!({"definition": "report", "parameters": {"REPORT_DATE": "2026-11-01", "FORMAT": value}});
        let problem = assert_problem(
            &f.world.post(&body.to_string(), ALICE, None).await,
            400,
            "invalid-parameter-value",
        );
        assert_eq!(problem["parameter"], "FORMAT", "{value:?}");
        assert!(problem["detail"].as_str().expect("detail").contains("FORMAT"));
    }
    let unicode = json!({"definition": "report", "parameters": {"FORMAT": "résumé ✓"}});
    assert_eq!(f.world.post(&unicode.to_string(), ALICE, None).await.status(), 201);
}

#[tokio::test]
async fn problems_never_echo_the_body_or_ecs_words() {
    let f = fixture().await;
    for body in [
        r#"{"definition": "report", "parameters": {"REPORT_DATE": 20261101}}"#,
        r#"{"definition": "report", "hunter2-secret": "hunter2"}"#,
        r#"{"definition": ["hunter2"]}"#,
        "hunter2",
    ] {
        let problem = assert_problem(&f.world.post(body, ALICE, None).await, 400, "malformed-body");
        let text = problem.to_string();
        assert!(!text.contains("hunter2") && !text.contains("20261101"), "{text}");
    }

    let refused = f.world.post(r#"{"definition": "ghost"}"#, ALICE, None).await;
    let problem = assert_problem(&refused, 502, "launch-refused");
    let job = f.world.job(problem["jobId"].as_str().expect("jobId"), ALICE).await;
    assert_eq!(
        job["statusReason"],
        "ECS refused to run the task: the task definition does not exist or has no ACTIVE revision"
    );
    for text in [problem.to_string(), job.to_string()] {
        assert!(
            !text.contains("no-such-family") && !text.contains("123456789012"),
            "{text}"
        );
    }
}
