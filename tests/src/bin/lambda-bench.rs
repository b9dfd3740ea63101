//! Measures the service's functions as Lambda runs them, against the bars the service
//! holds itself to: cold start (process start to first `GET /next`) within 2× of a
//! hello-world `lambda_runtime` binary built the same way, the first invocation within 2×
//! of a warm one, and peak memory under load at most 16 MiB.
//!
//! Run by `scripts/bench`, which starts the emulators and builds release binaries.
//! Usage: lambda-bench [COLD_STARTS] [WARM_INVOCATIONS]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use shared::adapters::dynamodb::DynamoJobStore;
use shared::adapters::ecs::EcsTaskLauncher;
use shared::app::{JobRequest, JobService};
use shared::domain::{Owner, StartedBy};
use shared::infra::config::{EcsConfig, ProcessEnvironment};
use tests::api::{get_job_event, post_job_event, ALICE};
use tests::contracts::FUNCTIONS;
use tests::emulators::{fresh_table, function_environment, sdk_config};
use tests::events::{sequence, Task};
use tests::runtime_api::{Answer, FunctionProcess};

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn p90(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[(values.len() * 9 / 10).min(values.len() - 1)]
}

struct Measured {
    cold_start_ms: Vec<f64>,
    first_ms: Vec<f64>,
    warm_ms: Vec<f64>,
    peak_rss_kib: u64,
}

/// Payloads for one function: the n-th invocation's event.
type Workload = Box<dyn Fn(usize) -> Value>;

async fn measure(
    binary: &Path,
    environment: &[(String, String)],
    workload: &Workload,
    cold: usize,
    warm: usize,
) -> Measured {
    let mut measured = Measured {
        cold_start_ms: vec![],
        first_ms: vec![],
        warm_ms: vec![],
        peak_rss_kib: 0,
    };
    let mut n = 0;
    for round in 0..cold {
        let function = FunctionProcess::spawn(binary, environment).await;
        let polled = function
            .runtime
            .first_poll(Duration::from_secs(10))
            .await
            .unwrap_or_else(|| {
                panic!(
                    "{} never asked for work: {:?}",
                    binary.display(),
                    function.runtime.init_error()
                )
            });
        measured.cold_start_ms.push(millis(polled - function.started));
        let invocations = if round + 1 == cold { warm + 1 } else { 1 };
        for i in 0..invocations {
            let payload = workload(n);
            n += 1;
            let start = Instant::now();
            let answer = function.runtime.invoke(&payload).await;
            let elapsed = millis(start.elapsed());
            if let Answer::Error(error) = &answer {
                panic!("{} failed: {error}", binary.display());
            }
            if i == 0 {
                measured.first_ms.push(elapsed);
            } else {
                measured.warm_ms.push(elapsed);
            }
        }
        measured.peak_rss_kib = measured.peak_rss_kib.max(function.peak_rss_kib().unwrap_or(0));
    }
    measured
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let cold: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20);
    let warm: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let bin_dir = PathBuf::from(std::env::var("LAMBDA_BIN_DIR").unwrap_or_else(|_| "target/release".into()));

    let sdk = sdk_config().await;
    let table = fresh_table(&aws_sdk_dynamodb::Client::new(&sdk)).await;

    // Jobs for job-events and job-api to work on, created through the real adapters.
    let store = DynamoJobStore::new(aws_sdk_dynamodb::Client::new(&sdk), &table);
    let config = EcsConfig::from_env(&ProcessEnvironment).expect("ECS configuration");
    let launcher = EcsTaskLauncher::new(aws_sdk_ecs::Client::new(&sdk), &config).expect("launcher");
    let definitions = shared::infra::config::job_definitions(&ProcessEnvironment).expect("JOB_DEFINITIONS");
    let service = JobService::new(store, launcher, definitions)
        .with_queue(shared::testing::queue::RecordingLaunchQueue::default());
    let owner = Owner::new("arn:aws:iam::111122223333:user/alice").expect("owner");
    let jobs_needed = cold + warm + 1;
    let mut jobs = Vec::with_capacity(jobs_needed);
    for _ in 0..jobs_needed {
        let request = JobRequest::new("report", [("REPORT_DATE".to_owned(), "2026-11-01".to_owned())].into());
        let job = service.submit(owner.clone(), request, None).await.expect("job");
        jobs.push(job);
    }
    let cluster_arn = format!("arn:aws:ecs:us-east-1:123456789012:cluster/{}", config.cluster);
    let running_events: Vec<Value> = jobs
        .iter()
        .map(|job| {
            let started_by = StartedBy {
                job_id: job.id,
                attempt: 1,
            }
            .to_string();
            let task_arn = job.current_attempt().task_arn.clone().expect("launched");
            let task = Task {
                task_arn: &task_arn,
                cluster_arn: &cluster_arn,
                started_by: Some(&started_by),
                container: "app",
            };
            sequence("success", &task).swap_remove(3)
        })
        .collect();
    let ids: Vec<String> = jobs.iter().map(|j| j.id.to_string()).collect();

    let post = post_job_event(
        r#"{"definition": "report", "parameters": {"REPORT_DATE": "2026-11-01"}}"#,
        ALICE,
        None,
    );
    let functions: Vec<(&str, Workload)> = vec![
        ("hello-lambda", Box::new(|_| json!({"hello": "world"}))),
        ("create-job", Box::new(move |_| post.clone())),
        (
            "job-events",
            Box::new(move |n| running_events[n % running_events.len()].clone()),
        ),
        ("job-api", Box::new(move |n| get_job_event(&ids[n % ids.len()], ALICE))),
        // Its frequent path: a launch queue message (a slot freed), one Query of the queue.
        (
            "job-reconciler",
            Box::new(|n| {
                json!({"Records": [{"messageId": format!("bench-{n}"), "eventSource": "aws:sqs",
                    "body": r#"{"kind":"slotFreed","definition":"report"}"#}]})
            }),
        ),
    ];

    println!(
        "cold starts: {cold} per function; warm invocations: {warm}; binaries: {}",
        bin_dir.display()
    );
    println!();
    println!(
        "| function | size (KiB) | cold start median / p90 (ms) | × hello | first invocation median (ms) \
         | warm median (ms) | first ÷ warm | peak RSS (MiB) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut hello_cold = None;
    for (name, workload) in &functions {
        let binary = bin_dir.join(name);
        let size = std::fs::metadata(&binary).map(|m| m.len() / 1024).unwrap_or(0);
        // Each function gets exactly its declared environment; the hello-world floor
        // gets create-job's, the largest.
        let contract = FUNCTIONS
            .iter()
            .find(|c| c.function == *name)
            .unwrap_or(&create_job::CONTRACT);
        let environment = function_environment(contract, &table);
        let m = measure(&binary, &environment, workload, cold, warm).await;
        let cold_median = median(m.cold_start_ms.clone());
        let hello = *hello_cold.get_or_insert(cold_median);
        let first = median(m.first_ms.clone());
        let warm_median = median(m.warm_ms.clone());
        println!(
            "| {name} | {size} | {cold_median:.2} / {:.2} | {:.2} | {first:.2} | {warm_median:.2} | {:.2} | {:.1} |",
            p90(m.cold_start_ms),
            cold_median / hello,
            first / warm_median,
            m.peak_rss_kib as f64 / 1024.0
        );
    }
}
