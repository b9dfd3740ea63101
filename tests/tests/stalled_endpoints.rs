//! An AWS endpoint that accepts connections and never answers: create-job must still
//! answer with its own problem document, well within the function's timeout, instead of
//! Lambda timing out and API Gateway answering a bare 5xx.

use std::time::{Duration, Instant};

use shared::adapters::dynamodb::DynamoJobStore;
use shared::adapters::ecs::EcsTaskLauncher;
use shared::infra::config::{EcsConfig, ProcessEnvironment};
use shared::infra::sdk::{dynamodb_config, ecs_config, CallBudget};
use tests::api::{assert_problem, json_body, ALICE};
use tests::emulators::{fresh_dynamo_store, required_env, sdk_config};
use tests::world::{definitions, World};
use tokio::net::TcpListener;

const REPORT: &str = r#"{"definition": "report", "parameters": {"REPORT_DATE": "2026-11-01"}}"#;
/// The Terraform default of `lambda_timeout_seconds`: every answer must come before it.
const FUNCTION_TIMEOUT: Duration = Duration::from_secs(15);

/// An endpoint on 127.0.0.1 that accepts every connection, reads nothing and answers
/// nothing, for as long as the test runs.
async fn stalled_endpoint() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    format!("http://{address}")
}

fn launcher(sdk: &aws_config::SdkConfig, endpoint: Option<&str>) -> EcsTaskLauncher {
    let mut config = ecs_config(sdk, CallBudget::ECS);
    if let Some(endpoint) = endpoint {
        config = config.endpoint_url(endpoint);
    }
    let ecs = EcsConfig::from_env(&ProcessEnvironment).expect("scripts/devenv sets the ECS variables");
    EcsTaskLauncher::new(aws_sdk_ecs::Client::from_conf(config.build()), &ecs).expect("launcher")
}

#[tokio::test]
async fn a_stalled_ecs_leaves_the_job_waiting_for_its_next_try_within_the_budget() {
    let sdk = sdk_config().await;
    let world = World::new(
        fresh_dynamo_store().await,
        launcher(&sdk, Some(&stalled_endpoint().await)),
        definitions(&required_env("JOB_DEFINITIONS")),
    );

    let started = Instant::now();
    let response = world.post(REPORT, ALICE, Some("stalled-ecs")).await;
    let took = started.elapsed();

    assert_eq!(response.status(), 201, "{}", json_body(&response));
    assert!(took < FUNCTION_TIMEOUT, "answered after {took:?}");
    // RunTask is one try (see the ECS adapter): it gives up after that try's budget.
    assert!(
        took >= CallBudget::ECS.attempt,
        "the SDK gave up after {took:?}, before its budget"
    );
    let answered = json_body(&response);
    let job = world.job(answered["jobId"].as_str().expect("jobId"), ALICE).await;
    assert_eq!(job["status"], "SUBMITTED");
    assert!(
        job["statusReason"]
            .as_str()
            .expect("a reason")
            .contains("ECS did not answer"),
        "{job}"
    );
    assert!(job["nextAttemptAt"].as_str().is_some(), "{job}");
}

#[tokio::test]
async fn a_stalled_dynamodb_ends_in_store_unavailable_within_the_budget() {
    let sdk = sdk_config().await;
    let stalled = dynamodb_config(&sdk, CallBudget::DYNAMODB)
        .endpoint_url(stalled_endpoint().await)
        .build();
    let store = DynamoJobStore::new(aws_sdk_dynamodb::Client::from_conf(stalled), "jobs");
    let world = World::new(
        store,
        launcher(&sdk, None),
        definitions(&required_env("JOB_DEFINITIONS")),
    );

    let started = Instant::now();
    let response = world.post(REPORT, ALICE, None).await;
    let took = started.elapsed();

    assert_problem(&response, 503, "store-unavailable");
    assert!(took < FUNCTION_TIMEOUT, "answered after {took:?}");
}
