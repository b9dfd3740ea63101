//! The launch queue and reconciliation figures of DESIGN.md §7 (run by `scripts/bench`):
//!
//! 1. a burst of submissions against an ECS that accepts a fixed number of RunTask calls
//!    per second (a token bucket; the rest are throttled): every job must start, none
//!    fail, and the drain time is compared with the time the rate itself imposes;
//! 2. one reconciliation pass over many unfinished jobs in DynamoDB Local: wall time,
//!    read capacity DynamoDB reports, and the ECS calls it makes.
//!
//! Usage: queue-bench [BURST] [RATE_PER_SECOND] [UNFINISHED]   (defaults: 1000 20 10000)

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use shared::adapters::dynamodb::DynamoJobStore;
use shared::adapters::memory::{InMemoryJobStore, InProcessLaunchQueue};
use shared::app::{JobRequest, JobService};
use shared::domain::{EcsTaskStatus, Job, Owner, StartedBy};
use shared::infra::sync::lock;
use shared::ports::{
    InspectError, JobStore, LaunchError, Launched, StopError, TaskInspector, TaskLauncher, TaskLookup, TaskRequest,
    TaskStopper,
};
use shared::testing::fargate::TaskTimeline;
use shared::testing::launcher::InMemoryTaskLauncher;
use tests::emulators::{fresh_table, sdk_config};
use tests::world::{definitions, recorded_job};

const DEFINITIONS: &str = r#"{"report": {"taskDefinition": "report", "container": "app"}}"#;

/// ECS's RunTask rate limit: a bucket of `rate` tokens refilled at `rate` per second.
struct RateLimitedEcs {
    rate: f64,
    bucket: Mutex<(f64, Instant)>,
    calls: AtomicUsize,
    started: AtomicUsize,
}

impl RateLimitedEcs {
    fn new(rate: f64) -> Self {
        Self {
            rate,
            bucket: Mutex::new((rate, Instant::now())),
            calls: AtomicUsize::new(0),
            started: AtomicUsize::new(0),
        }
    }
}

impl TaskLauncher for RateLimitedEcs {
    async fn launch(&self, request: &TaskRequest) -> Result<Launched, LaunchError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let admitted = {
            let mut bucket = lock(&self.bucket);
            let now = Instant::now();
            bucket.0 = (bucket.0 + now.duration_since(bucket.1).as_secs_f64() * self.rate).min(self.rate);
            bucket.1 = now;
            let admitted = bucket.0 >= 1.0;
            if admitted {
                bucket.0 -= 1.0;
            }
            admitted
        };
        if !admitted {
            return Ok(Launched::Throttled);
        }
        self.started.fetch_add(1, Ordering::Relaxed);
        Ok(Launched::Started {
            task_arn: format!(
                "arn:aws:ecs:us-east-1:111122223333:task/jobs/{}",
                request.started_by.client_token()
            ),
        })
    }
}

impl TaskStopper for RateLimitedEcs {
    async fn stop(&self, _: &str, _: &str) -> Result<(), StopError> {
        Ok(())
    }
}

impl TaskInspector for RateLimitedEcs {
    async fn describe(&self, _: &[String]) -> Result<Vec<TaskLookup>, InspectError> {
        Ok(Vec::new())
    }

    async fn find(&self, _: StartedBy) -> Result<Option<String>, InspectError> {
        Ok(None)
    }
}

fn owner() -> Owner {
    Owner::new("arn:aws:iam::111122223333:user/bench").expect("owner")
}

async fn burst(jobs: usize, rate: f64) {
    let store = Arc::new(InMemoryJobStore::default());
    let ecs = Arc::new(RateLimitedEcs::new(rate));
    let (queue, mut messages) = InProcessLaunchQueue::new();
    let service =
        Arc::new(JobService::new(store.clone(), ecs.clone(), definitions(DEFINITIONS)).with_queue(queue.clone()));
    // The launch queue's consumer: each message handled on its own, as Lambda's SQS
    // event source scales out.
    let consumer = {
        let service = service.clone();
        tokio::spawn(async move {
            while let Some(message) = messages.recv().await {
                let service = service.clone();
                tokio::spawn(async move {
                    let _ = service.handle_launch_message(&message).await;
                });
            }
        })
    };

    let start = Instant::now();
    let mut submissions = tokio::task::JoinSet::new();
    for _ in 0..jobs {
        let service = service.clone();
        submissions.spawn(async move {
            let request = JobRequest::new("report", Default::default());
            service.submit(owner(), request, None).await
        });
    }
    let answers = submissions.join_all().await;
    let refused = answers.iter().filter(|a| a.is_err()).count();
    let accepted = start.elapsed();
    while ecs.started.load(Ordering::Relaxed) < jobs && start.elapsed() < Duration::from_secs(600) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let drained = start.elapsed();
    consumer.abort();

    let ids = store.unfinished().await.expect("unfinished");
    let all = store.get_many(&ids).await.expect("jobs");
    let waiting = all.iter().filter(|j| j.current_attempt().task_arn.is_none()).count();
    // As DESIGN.md §7 counts it: the jobs divided by the rate.
    let imposed = jobs as f64 / rate;
    println!("## Burst: {jobs} submissions, ECS accepting {rate} RunTask calls per second");
    println!();
    println!("| figure | value |");
    println!("|---|---|");
    println!("| answers other than 201 | {refused} |");
    println!("| all {jobs} answered after (s) | {:.2} |", accepted.as_secs_f64());
    println!("| tasks started | {} |", ecs.started.load(Ordering::Relaxed));
    println!("| jobs still without a task | {waiting} |");
    println!("| drain time (s) | {:.2} |", drained.as_secs_f64());
    println!("| time the rate imposes, jobs ÷ rate (s) | {imposed:.2} |");
    println!("| drain ÷ imposed | {:.3} |", drained.as_secs_f64() / imposed);
    println!(
        "| RunTask calls (incl. throttled) | {} |",
        ecs.calls.load(Ordering::Relaxed)
    );
    println!("| store writes | {} |", store.writes());
    println!();
}

async fn reconcile_pass(unfinished: usize) {
    let sdk = sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let table = fresh_table(&client).await;
    let store = Arc::new(DynamoJobStore::new(client, &table));
    let ecs = Arc::new(InMemoryTaskLauncher::default());

    // Unfinished jobs, each RUNNING as its last event said, written straight to the table.
    let seeding = Instant::now();
    let mut seeds = tokio::task::JoinSet::new();
    let per_task = unfinished.div_ceil(32);
    for chunk in 0..32 {
        let (store, ecs) = (store.clone(), ecs.clone());
        seeds.spawn(async move {
            for _ in 0..per_task.min(unfinished.saturating_sub(chunk * per_task)) {
                let job = running_job(&ecs);
                store.create(&job, &[]).await.expect("seed");
            }
        });
    }
    seeds.join_all().await;
    let seeded = seeding.elapsed();

    let service = JobService::new(store.clone(), ecs.clone(), definitions(DEFINITIONS))
        .with_queue(shared::testing::queue::RecordingLaunchQueue::default())
        .with_quiet_for(Duration::ZERO);
    let before = store.listing_read_units();
    let start = Instant::now();
    let report = service.reconcile().await.expect("a pass");
    let wall = start.elapsed();
    let read_units = store.listing_read_units() - before;
    println!("## One reconciliation pass over {unfinished} unfinished jobs (DynamoDB Local)");
    println!();
    println!("| figure | value |");
    println!("|---|---|");
    println!("| seeding {unfinished} jobs (s) | {:.1} |", seeded.as_secs_f64());
    println!("| unfinished jobs read | {} |", report.unfinished);
    println!("| pass wall time (s) | {:.2} |", wall.as_secs_f64());
    println!("| read capacity units (Query + BatchGetItem, as reported) | {read_units:.1} |");
    println!(
        "| read units per unfinished job | {:.3} |",
        read_units / report.unfinished.max(1) as f64
    );
    println!("| DescribeTasks calls | {} |", report.describe_calls);
    println!("| tasks described | {} |", report.described);
    println!("| jobs moved (no event was lost: expected 0) | {} |", report.moved);
    println!();
}

/// A job whose task runs, with DescribeTasks answering the state its last event wrote.
fn running_job(ecs: &InMemoryTaskLauncher) -> Job {
    let mut job = recorded_job(owner(), Utc::now() - chrono::Duration::minutes(5));
    let started_by = StartedBy {
        job_id: job.id,
        attempt: 1,
    };
    let task_arn = format!(
        "arn:aws:ecs:us-east-1:111122223333:task/jobs/{}",
        job.id.to_string().replace('-', "")
    );
    let mut timeline = TaskTimeline::new(
        task_arn.clone(),
        "arn:aws:ecs:us-east-1:111122223333:cluster/jobs",
        Some(started_by.to_string()),
        &["app"],
        job.created_at,
    );
    let launched = job.launched(task_arn, job.created_at);
    job.apply(&launched);
    let mut last = None;
    for status in [
        EcsTaskStatus::Provisioning,
        EcsTaskStatus::Pending,
        EcsTaskStatus::Running,
    ] {
        let observed = timeline.advance(status, job.created_at).observation();
        if let shared::domain::EventDecision::Apply(update) = shared::domain::decide(&job, 1, &observed, 0.0) {
            job.apply(&update);
        }
        last = Some(observed);
    }
    ecs.describe_as(last.expect("observed"));
    job
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let jobs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let rate: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(20.0);
    let unfinished: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    burst(jobs, rate).await;
    reconcile_pass(unfinished).await;
}
