//! Each function calls only the AWS operations it declares (`CONTRACT.operations`, which
//! Terraform's IAM policies are checked against): the three handlers, each with its own
//! SDK clients and a recorder of the operations those clients call, take jobs through
//! every path of their code against DynamoDB Local and moto.

use serde_json::{json, Value};
use shared::adapters::cloudwatch_logs::CloudWatchLogReader;
use shared::adapters::dynamodb::DynamoJobStore;
use shared::adapters::ecs::{EcsTaskLauncher, EcsTaskStopper};
use shared::adapters::sqs::SqsLaunchQueue;
use shared::app::JobService;
use shared::domain::{Job, JobId, Owner, Queued, SlotClaim, SlotPool, StartedBy, WaitReason};
use shared::infra::config::{EcsConfig, ProcessEnvironment};
use shared::infra::contract::FunctionContract;
use shared::infra::sdk::{dynamodb_config, ecs_config, sqs_config, CallBudget};
use shared::ports::JobStore;
use tests::api::{delete_job, get_job, job_logs, list_jobs, post_job, ALICE};
use tests::contracts::OperationRecorder;
use tests::emulators::{fresh_table, required_env, sdk_config};
use tests::events::{sequence, shuffled_with_duplicates, Task};
use tests::world::{definitions, recorded_job};

/// A job of Alice's, recorded at `at`, not yet launched.
fn new_job(at: chrono::DateTime<chrono::Utc>) -> Job {
    recorded_job(Owner::new("arn:aws:iam::111122223333:user/alice").expect("owner"), at)
}

const REPORT: &str = r#"{"definition": "report", "parameters": {"REPORT_DATE": "2026-11-01"}}"#;

fn assert_calls_only_what_it_declares(contract: &FunctionContract, recorder: &OperationRecorder) -> Vec<String> {
    let called = recorder.operations();
    let undeclared: Vec<&String> = called
        .iter()
        .filter(|op| !contract.operations.contains(&op.as_str()))
        .collect();
    assert!(
        undeclared.is_empty(),
        "{} called {undeclared:?}, which its CONTRACT does not declare",
        contract.function
    );
    called
}

#[tokio::test]
async fn each_function_calls_only_the_operations_it_declares() {
    let sdk = sdk_config().await;
    let table = fresh_table(&aws_sdk_dynamodb::Client::new(&sdk)).await;
    let store = |recorder: &OperationRecorder| {
        let config = dynamodb_config(&sdk, CallBudget::DYNAMODB)
            .interceptor(recorder.clone())
            .build();
        DynamoJobStore::new(aws_sdk_dynamodb::Client::from_conf(config), &table)
    };
    let queue = |recorder: &OperationRecorder| {
        let config = sqs_config(&sdk, CallBudget::SQS).interceptor(recorder.clone());
        SqsLaunchQueue::new(config, required_env("LAUNCH_QUEUE_URL"))
    };
    let (create_calls, events_calls, api_calls, reconciler_calls) = (
        OperationRecorder::default(),
        OperationRecorder::default(),
        OperationRecorder::default(),
        OperationRecorder::default(),
    );
    let ecs = EcsConfig::from_env(&ProcessEnvironment).expect("scripts/devenv sets the ECS variables");
    let launcher = |recorder: &OperationRecorder| {
        let client =
            aws_sdk_ecs::Client::from_conf(ecs_config(&sdk, CallBudget::ECS).interceptor(recorder.clone()).build());
        EcsTaskLauncher::new(client, &ecs).expect("launcher")
    };
    let mut json: Value = serde_json::from_str(&required_env("JOB_DEFINITIONS")).expect("JOB_DEFINITIONS is JSON");
    json["ghost"] = json!({"taskDefinition": "no-such-family", "container": "app"});
    // A limit, so that the paths that take and give back slots run too.
    json["report"]["maxRunning"] = json!(5);
    json["report"]["logs"] = json!({"group": "/ecs/contract-jobs", "region": "us-east-1", "streamPrefix": "report"});
    let create = create_job::CreateJob::new(
        JobService::new(
            store(&create_calls),
            launcher(&create_calls),
            definitions(&json.to_string()),
        )
        .with_queue(queue(&create_calls)),
    );
    let events =
        job_events::JobEvents::new(JobService::without_launcher(store(&events_calls)).with_queue(queue(&events_calls)));
    let stopper = |recorder: &OperationRecorder| {
        EcsTaskStopper::new(
            ecs_config(&sdk, CallBudget::ECS).interceptor(recorder.clone()),
            &ecs.cluster,
        )
    };
    // Not an SDK client, but the SDK's orchestrator: its interceptors see the operation too.
    let logs = CloudWatchLogReader::new(&sdk, CallBudget::LOGS).with_interceptor(api_calls.clone());
    let api = job_api::JobApi::new(
        JobService::new(store(&api_calls), stopper(&api_calls), Default::default()).with_queue(queue(&api_calls)),
        logs,
    );
    let reconciler = job_reconciler::JobReconciler::new(
        JobService::new(
            store(&reconciler_calls),
            launcher(&reconciler_calls),
            definitions(&json.to_string()),
        )
        .with_queue(queue(&reconciler_calls))
        .with_quiet_for(std::time::Duration::ZERO),
    );

    // create-job: a new job, a keyed replay, a refused launch.
    let key = format!("contract-{}", uuid::Uuid::new_v4());
    let created = create.handle(post_job(REPORT, ALICE, Some(&key))).await;
    assert_eq!(created.status(), 201);
    assert_eq!(create.handle(post_job(REPORT, ALICE, Some(&key))).await.status(), 201);
    let ghost = create.handle(post_job(r#"{"definition": "ghost"}"#, ALICE, None)).await;
    assert_eq!(ghost.status(), 502);
    let job: Value = serde_json::from_slice(created.body().as_ref()).expect("job");
    let id = job["jobId"].as_str().expect("jobId");

    // job-events: the task's events, shuffled and duplicated.
    let started_by = StartedBy {
        job_id: JobId::parse(id).expect("job id"),
        attempt: 1,
    }
    .to_string();
    let task = Task {
        task_arn: job["taskArn"].as_str().expect("taskArn"),
        cluster_arn: "arn:aws:ecs:us-east-1:123456789012:cluster/jobs",
        started_by: Some(&started_by),
        container: "app",
    };
    for event in shuffled_with_duplicates(&sequence("success", &task), 3) {
        events.handle(event).await.expect("event accepted");
    }

    // job-api: the finished job, its log, the owner's listings; a cancel of a running job
    // (its task is stopped) and of a waiting job that holds a slot (the slot is given back
    // and announced).
    let read = api.handle(get_job(id, ALICE)).await;
    assert_eq!(read.status(), 200);
    let read: Value = serde_json::from_slice(read.body().as_ref()).expect("job");
    let at = &read["attempts"][0]["logs"];
    let (group, stream) = (
        at["group"].as_str().expect("group"),
        at["stream"].as_str().expect("stream"),
    );
    let cloudwatch = aws_sdk_cloudwatchlogs::Client::new(&sdk);
    cloudwatch.create_log_group().log_group_name(group).send().await.ok();
    cloudwatch
        .create_log_stream()
        .log_group_name(group)
        .log_stream_name(stream)
        .send()
        .await
        .expect("moto creates the stream");
    cloudwatch
        .put_log_events()
        .log_group_name(group)
        .log_stream_name(stream)
        .log_events(
            aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                .timestamp(chrono::Utc::now().timestamp_millis())
                .message("report written")
                .build()
                .expect("event"),
        )
        .send()
        .await
        .expect("moto stores the line");
    let log = api.handle(job_logs(id, &[], ALICE)).await;
    assert_eq!(log.status(), 200);
    let log: Value = serde_json::from_slice(log.body().as_ref()).expect("log");
    assert_eq!(log["events"][0]["message"], "report written");
    let listed = api.handle(list_jobs(&[("limit", "1")], ALICE)).await;
    assert_eq!(listed.status(), 200);
    let listed = api
        .handle(list_jobs(&[("status", "SUCCEEDED"), ("definition", "report")], ALICE))
        .await;
    assert_eq!(listed.status(), 200);
    assert_eq!(api.handle(delete_job(id, ALICE)).await.status(), 409);
    let running = create.handle(post_job(REPORT, ALICE, None)).await;
    let running: Value = serde_json::from_slice(running.body().as_ref()).expect("job");
    let running_id = running["jobId"].as_str().expect("jobId");
    assert_eq!(api.handle(delete_job(running_id, ALICE)).await.status(), 202);
    let claims = [SlotClaim {
        pool: SlotPool::Definition("report".into()),
        limit: 5,
    }];
    let mut holding = new_job(chrono::Utc::now()).holding(&claims);
    holding.queue = Some(Queued {
        reason: WaitReason::NoAnswer,
        tries: 1,
        next_try_at: Some(chrono::Utc::now() + chrono::Duration::minutes(1)),
        outcome_unknown_since: Some(chrono::Utc::now()),
    });
    let seed = store(&OperationRecorder::default());
    seed.create(&holding, &claims).await.expect("seed a waiting job");
    let cancelled = api.handle(delete_job(&holding.id.to_string(), ALICE)).await;
    assert_eq!(cancelled.status(), 202);

    // job-reconciler: a launch whose outcome was lost an hour ago (looked for by
    // startedBy, then launched), a running job whose events stopped (described), and a
    // launch queue message.
    let mut lost = new_job(chrono::Utc::now() - chrono::Duration::minutes(30));
    lost.queue = Some(Queued {
        reason: WaitReason::NoAnswer,
        tries: 1,
        next_try_at: Some(chrono::Utc::now() - chrono::Duration::minutes(29)),
        outcome_unknown_since: Some(chrono::Utc::now() - chrono::Duration::minutes(30)),
    });
    seed.create(&lost, &[]).await.expect("seed a lost launch");
    let submitted = create.handle(post_job(REPORT, ALICE, None)).await;
    assert_eq!(submitted.status(), 201);
    let pass = reconciler
        .handle(
            json!({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {},
                       "id": "1", "version": "0", "account": "123456789012", "time": "2026-11-27T12:00:00Z",
                       "region": "us-east-1", "resources": []}),
        )
        .await
        .expect("a pass");
    let report = pass.into_response();
    assert!(
        report["launches"].as_u64() >= Some(1) && report["describeCalls"].as_u64() >= Some(1),
        "{report}"
    );
    let stop = json!({"kind": "stopTask", "taskArn": running["taskArn"], "reason": "cancelled"}).to_string();
    let message = json!({"Records": [{"messageId": "m1", "body": format!(r#"{{"kind":"due","jobId":"{}"}}"#, lost.id),
                                      "eventSource": "aws:sqs"},
                                     {"messageId": "m2", "body": stop, "eventSource": "aws:sqs"}]});
    let batch = reconciler.handle(message).await.expect("a batch").into_response();
    assert_eq!(batch["batchItemFailures"], json!([]), "{batch}");
    let relaunched = seed.get(lost.id).await.expect("read").expect("job");
    assert!(relaunched.current_attempt().task_arn.is_some(), "{relaunched:?}");

    let called = assert_calls_only_what_it_declares(&create_job::CONTRACT, &create_calls);
    for needed in ["dynamodb:PutItem", "dynamodb:UpdateItem", "ecs:RunTask"] {
        assert!(
            called.iter().any(|op| op == needed),
            "create-job never called {needed}: {called:?}"
        );
    }
    let called = assert_calls_only_what_it_declares(&job_events::CONTRACT, &events_calls);
    assert_eq!(called, job_events::CONTRACT.operations, "job-events");
    let called = assert_calls_only_what_it_declares(&job_api::CONTRACT, &api_calls);
    let mut declared = job_api::CONTRACT.operations.to_vec();
    declared.sort_unstable();
    assert_eq!(called, declared, "job-api");
    let called = assert_calls_only_what_it_declares(&job_reconciler::CONTRACT, &reconciler_calls);
    for needed in [
        "dynamodb:Query",
        "dynamodb:BatchGetItem",
        "ecs:ListTasks",
        "ecs:RunTask",
        "ecs:DescribeTasks",
        "ecs:StopTask",
    ] {
        assert!(
            called.iter().any(|op| op == needed),
            "job-reconciler never called {needed}: {called:?}"
        );
    }
}
