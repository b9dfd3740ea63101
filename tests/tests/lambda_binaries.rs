//! The built `create-job`, `job-events` and `job-api` binaries, each under a Lambda
//! Runtime API, with what Lambda provides plus exactly the configuration variables each
//! declares (`CONTRACT`): POST /jobs as an API Gateway event → ECS events as EventBridge
//! delivers them → GET /jobs/{id}; and each declared variable is needed.

use serde_json::{json, Value};
use shared::domain::{JobId, StartedBy};
use shared::infra::config::{ECS_ASSIGN_PUBLIC_IP, MAX_RUNNING};
use shared::infra::contract::FunctionContract;
use tests::api::{get_job_event, post_job_event, Caller, ALICE};
use tests::binaries::{built, exit_code_and_stderr};
use tests::contracts::FUNCTIONS;
use tests::emulators::{fresh_table, function_environment, required_env, sdk_config};
use tests::events::{sequence, shuffled_with_duplicates, Task};
use tests::runtime_api::{Answer, FunctionProcess};

#[tokio::test]
async fn the_binaries_take_a_job_from_post_through_events_to_get() {
    let sdk = sdk_config().await;
    let table = fresh_table(&aws_sdk_dynamodb::Client::new(&sdk)).await;
    // Each binary gets what Lambda provides plus exactly the variables it declares.
    let spawn = |contract: FunctionContract| {
        let environment = function_environment(&contract, &table);
        async move { FunctionProcess::spawn(&built(contract.function), &environment).await }
    };
    let create = spawn(create_job::CONTRACT).await;
    let events = spawn(job_events::CONTRACT).await;
    let api = spawn(job_api::CONTRACT).await;

    let post = post_job_event(
        r#"{"definition": "report", "parameters": {"REPORT_DATE": "2026-11-01"}}"#,
        ALICE,
        None,
    );
    let (status, created) = create.runtime.invoke(&post).await.http();
    assert_eq!(status, 201, "{created}");
    let id = created["jobId"].as_str().expect("jobId").to_owned();

    let cluster = required_env("ECS_CLUSTER");
    let ecs = aws_sdk_ecs::Client::new(&sdk);
    let described = ecs
        .describe_clusters()
        .clusters(&cluster)
        .send()
        .await
        .expect("cluster");
    let cluster_arn = described.clusters()[0].cluster_arn().expect("cluster ARN").to_owned();
    let started_by = StartedBy {
        job_id: JobId::parse(&id).expect("job id"),
        attempt: 1,
    }
    .to_string();
    let task = Task {
        task_arn: created["taskArn"].as_str().expect("taskArn"),
        cluster_arn: &cluster_arn,
        started_by: Some(&started_by),
        container: "app",
    };
    for event in shuffled_with_duplicates(&sequence("exit-code-3", &task), 11) {
        let answer = events.runtime.invoke(&event).await;
        assert_eq!(
            answer,
            Answer::Response(Value::Null),
            "event {}",
            event["detail"]["version"]
        );
    }

    let get = get_job_event(&id, ALICE);
    let (status, job) = api.runtime.invoke(&get).await.http();
    assert_eq!(status, 200, "{job}");
    assert_eq!(job["status"], "FAILED");
    assert_eq!(job["exitCode"], 3);

    let anonymous = get_job_event(&id, Caller::Anonymous);
    let (status, _) = api.runtime.invoke(&anonymous).await.http();
    assert_eq!(status, 401);

    let Answer::Error(error) = events
        .runtime
        .invoke(&json!({"detail-type": "ECS Task State Change"}))
        .await
    else {
        panic!("an unparseable event must fail the invocation");
    };
    assert_eq!(error["errorType"], "JobEvents.Unparseable", "{error}");
}

#[tokio::test]
async fn each_declared_variable_that_has_no_default_stops_its_function_at_init_when_missing() {
    for contract in FUNCTIONS {
        for variable in contract.environment {
            let mut environment = function_environment(&contract, "jobs");
            environment.retain(|(name, _)| name != variable);
            let (code, stderr) = exit_code_and_stderr(
                tokio::process::Command::new(built(contract.function))
                    .env_clear()
                    .envs(environment)
                    .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9"),
            )
            .await;
            if [ECS_ASSIGN_PUBLIC_IP, MAX_RUNNING].contains(variable) {
                // Optional (DISABLED, and no service-wide limit, by default): without it
                // the function starts, and fails only to reach the Runtime API this test
                // does not run.
                assert!(!stderr.contains("cannot start"), "{}: {stderr}", contract.function);
                continue;
            }
            assert_eq!(code, Some(1), "{} without {variable}", contract.function);
            assert_eq!(
                stderr.trim(),
                format!(
                    "{}: cannot start: configuration variable {variable}: is not set",
                    contract.function
                )
            );
        }
    }
}
