//! End to end through the deployable artifacts: the `bootstrap` binaries from the Lambda
//! zips, each under a Lambda Runtime API emulator with exactly the environment Terraform
//! gave its function, against the resources Terraform created in the emulators.
//! POST /jobs as an API Gateway v2 event → ECS events as EventBridge delivers them →
//! GET /jobs/{id} → DELETE /jobs/{id} of the finished job (409) and of a running one
//! (202, its task stopped). Run by `scripts/test` between `terraform-check apply` and
//! `destroy`.
//!
//! Usage: stack-e2e FUNCTION_ENV_JSON BINARIES_DIR
//! (FUNCTION_ENV_JSON: `{"create-job": {"JOBS_TABLE": ...}, ...}`; BINARIES_DIR holds
//! `<function>/bootstrap`.) Credentials, region and the emulator endpoints come from this
//! process's environment (`scripts/devenv`), as Lambda's runtime provides them on AWS.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{json, Value};
use shared::domain::{JobId, StartedBy};
use tests::api::{delete_job_event, get_job_event, list_jobs_event, post_job_event, ALICE};
use tests::emulators::{required_env, PROVIDED_BY_LAMBDA};
use tests::events::{sequence, shuffled_with_duplicates, Task};
use tests::runtime_api::{Answer, FunctionProcess};

fn environment_of(function_env: &Value, function: &str) -> Vec<(String, String)> {
    let set_by_terraform = function_env[function]
        .as_object()
        .unwrap_or_else(|| panic!("Terraform set no environment for {function}"));
    let mut environment: Vec<(String, String)> = PROVIDED_BY_LAMBDA
        .iter()
        .map(|name| (name.to_string(), required_env(name)))
        .collect();
    for (name, value) in set_by_terraform {
        environment.push((name.clone(), value.as_str().unwrap_or_default().to_owned()));
    }
    environment
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(env_path), Some(binaries)) = (args.next(), args.next()) else {
        eprintln!("usage: stack-e2e FUNCTION_ENV_JSON BINARIES_DIR");
        std::process::exit(2);
    };
    let function_env: Value = serde_json::from_str(&std::fs::read_to_string(&env_path).expect("function env file"))
        .expect("function env is JSON");
    let binary = |name: &str| PathBuf::from(&binaries).join(name).join("bootstrap");

    let create = FunctionProcess::spawn(&binary("create-job"), &environment_of(&function_env, "create-job")).await;
    let events = FunctionProcess::spawn(&binary("job-events"), &environment_of(&function_env, "job-events")).await;
    let api = FunctionProcess::spawn(&binary("job-api"), &environment_of(&function_env, "job-api")).await;
    let reconciler = FunctionProcess::spawn(
        &binary("job-reconciler"),
        &environment_of(&function_env, "job-reconciler"),
    )
    .await;

    let create_env = &function_env["create-job"];
    let definitions: BTreeMap<String, Value> =
        serde_json::from_str(create_env["JOB_DEFINITIONS"].as_str().expect("JOB_DEFINITIONS")).expect("JSON");
    let (definition, settings) = definitions.iter().next().expect("at least one job definition");
    let container = settings["container"].as_str().expect("container");
    let cluster_arn = create_env["ECS_CLUSTER"].as_str().expect("ECS_CLUSTER");

    let body = json!({ "definition": definition }).to_string();
    let post = post_job_event(&body, ALICE, None);
    let (status, created) = create.runtime.invoke(&post).await.http();
    assert_eq!(status, 201, "POST /jobs: {created}");
    let id = created["jobId"].as_str().expect("jobId").to_owned();
    let task_arn = created["taskArn"].as_str().expect("a task ARN from RunTask").to_owned();
    println!("stack-e2e: POST /jobs → 201, job {id}, task {task_arn}");

    // The reconciler, as its schedule and its launch queue invoke it.
    let scheduled = json!({
        "version": "0", "id": "e2e", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2026-11-27T12:00:00Z", "region": "us-east-1",
        "resources": [], "detail": {}
    });
    let Answer::Response(pass) = reconciler.runtime.invoke(&scheduled).await else {
        panic!("the reconciliation pass failed");
    };
    assert!(
        pass["unfinished"].as_u64() >= Some(1),
        "the new job is unfinished: {pass}"
    );
    assert_eq!(pass["deferred"], 0, "{pass}");
    let freed = json!({"Records": [{"messageId": "e2e-1", "eventSource": "aws:sqs",
        "body": json!({"kind": "slotFreed", "definition": definition}).to_string()}]});
    let Answer::Response(batch) = reconciler.runtime.invoke(&freed).await else {
        panic!("the launch queue batch failed");
    };
    assert_eq!(batch["batchItemFailures"], json!([]), "{batch}");
    println!("stack-e2e: job-reconciler pass → {pass}; launch queue batch → no failures");

    let started_by = StartedBy {
        job_id: JobId::parse(&id).expect("a job id"),
        attempt: 1,
    }
    .to_string();
    let task = Task {
        task_arn: &task_arn,
        cluster_arn,
        started_by: Some(&started_by),
        container,
    };
    let delivered = shuffled_with_duplicates(&sequence("success", &task), 2026);
    for event in &delivered {
        let answer = events.runtime.invoke(event).await;
        assert_eq!(
            answer,
            Answer::Response(Value::Null),
            "event version {}",
            event["detail"]["version"]
        );
    }
    println!(
        "stack-e2e: {} ECS events delivered (shuffled, duplicated)",
        delivered.len()
    );

    let get = get_job_event(&id, ALICE);
    let (status, job) = api.runtime.invoke(&get).await.http();
    assert_eq!(status, 200, "GET /jobs/{id}: {job}");
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    assert_eq!(job["exitCode"], 0, "{job}");
    assert_eq!(job["taskArn"], task_arn.as_str());
    println!("stack-e2e: GET /jobs/{id} → 200, SUCCEEDED, exit code 0");

    // The listing through job-api with Terraform's environment, on the table Terraform
    // made: its indexes carry the job, by owner and by status.
    let (status, listed) = api
        .runtime
        .invoke(&list_jobs_event(&[("status", "SUCCEEDED"), ("limit", "5")], ALICE))
        .await
        .http();
    assert_eq!(status, 200, "GET /jobs: {listed}");
    assert_eq!(listed["jobs"][0]["jobId"], id.as_str(), "{listed}");
    assert!(listed["jobs"][0].get("attempts").is_none(), "{listed}");
    // Its log location, as Terraform's task definition writes it.
    let logs = &job["attempts"][0]["logs"];
    assert!(
        logs["group"].is_string()
            && logs["stream"]
                .as_str()
                .is_some_and(|s| s.ends_with(task_arn.rsplit('/').next().unwrap_or_default())),
        "{job}"
    );
    println!(
        "stack-e2e: GET /jobs?status=SUCCEEDED → the job; its log at {} {}",
        logs["group"], logs["stream"]
    );

    // DELETE through job-api with Terraform's environment and role: a finished job is
    // 409; a running one is recorded as being cancelled and its task stopped (StopTask
    // in Terraform's cluster, answered by the emulator).
    let (status, problem) = api.runtime.invoke(&delete_job_event(&id, ALICE)).await.http();
    assert_eq!(status, 409, "DELETE of a finished job: {problem}");
    assert_eq!(
        problem["type"], "tag:job-tracker,2026:problem:job-finished",
        "{problem}"
    );
    let (status, running) = create.runtime.invoke(&post).await.http();
    assert_eq!(status, 201, "POST /jobs: {running}");
    let running_id = running["jobId"].as_str().expect("jobId");
    let (status, cancelling) = api.runtime.invoke(&delete_job_event(running_id, ALICE)).await.http();
    assert_eq!(status, 202, "DELETE /jobs/{running_id}: {cancelling}");
    assert_eq!(cancelling["status"], "STOPPING", "{cancelling}");
    assert!(cancelling["cancelRequestedAt"].is_string(), "{cancelling}");
    println!("stack-e2e: DELETE /jobs/{id} → 409 job-finished; DELETE /jobs/{running_id} → 202, STOPPING");
}
