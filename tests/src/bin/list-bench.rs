//! The listing figures of `GET /jobs` (run by `scripts/bench`), against DynamoDB Local:
//!
//! 1. one owner with many jobs (almost all finished, a hundred RUNNING, over two
//!    definitions) plus another owner's, written with the store's own `create`;
//! 2. the latency of a first page of 20 (`JobStore::list`) next to reading one job
//!    (`JobStore::get`);
//! 3. what listings read: index entries (Query ScannedCount), items (BatchGetItem) and
//!    read capacity units, per job listed, for the filters the indexes serve;
//! 4. jobctl's start-up time (`jobctl --help`) and binary size, if it is built.
//!
//! Prints tables, then the same figures as one JSON line.
//!
//! Usage: list-bench [JOBS] [CALLS]   (defaults: 100000 200)

use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemOutput;
use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::AfterDeserializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use shared::adapters::dynamodb::{DynamoJobStore, LIST_SHARDS};
use shared::domain::{EcsTaskStatus, Job, JobFilter, JobStatus, ListRequest, Owner, StartedBy};
use shared::infra::sync::lock;
use shared::ports::JobStore;
use shared::testing::fargate::TaskTimeline;
use tests::emulators::{fresh_table, sdk_config};
use tests::world::recorded_job;

/// The two definitions the jobs alternate between.
const DEFINITIONS: [&str; 2] = ["report", "backup"];
/// Unfinished jobs of the benchmarked owner.
const RUNNING: usize = 100;
/// Jobs of another owner, which no listing of the first may read.
const OTHER_OWNER_JOBS: usize = 1_000;
/// Writes in flight while seeding.
const SEEDERS: usize = 32;
const PAGE: u32 = 20;

fn owner() -> Owner {
    Owner::new("arn:aws:iam::111122223333:user/bench").expect("owner")
}

fn other_owner() -> Owner {
    Owner::new("arn:aws:iam::111122223333:user/someone-else").expect("owner")
}

/// What the listing reads cost, as DynamoDB answered each call (summed over all calls
/// through the client it is installed in).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Reads {
    queries: u64,
    /// Index entries a Query read (before any filter expression).
    scanned: u64,
    /// Index entries a Query returned (after it).
    returned: u64,
    query_units: f64,
    batch_gets: u64,
    items: u64,
    batch_units: f64,
}

impl std::ops::Sub for Reads {
    type Output = Reads;

    fn sub(self, before: Reads) -> Reads {
        Reads {
            queries: self.queries - before.queries,
            scanned: self.scanned - before.scanned,
            returned: self.returned - before.returned,
            query_units: self.query_units - before.query_units,
            batch_gets: self.batch_gets - before.batch_gets,
            items: self.items - before.items,
            batch_units: self.batch_units - before.batch_units,
        }
    }
}

/// An SDK interceptor that reads Query's ScannedCount/Count and BatchGetItem's items
/// and consumed capacity off every answer.
#[derive(Debug, Clone, Default)]
struct ReadMeter(Arc<Mutex<Reads>>);

impl ReadMeter {
    fn now(&self) -> Reads {
        *lock(&self.0)
    }
}

impl Intercept for ReadMeter {
    fn name(&self) -> &'static str {
        "ReadMeter"
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _config: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Ok(output) = context.output_or_error() else {
            return Ok(());
        };
        let mut reads = lock(&self.0);
        if let Some(query) = output.downcast_ref::<QueryOutput>() {
            reads.queries += 1;
            reads.scanned += query.scanned_count().max(0) as u64;
            reads.returned += query.count().max(0) as u64;
            reads.query_units += query
                .consumed_capacity()
                .and_then(|c| c.capacity_units())
                .unwrap_or(0.0);
        } else if let Some(batch) = output.downcast_ref::<BatchGetItemOutput>() {
            reads.batch_gets += 1;
            reads.items += batch
                .responses()
                .map(|r| r.values().map(Vec::len).sum::<usize>())
                .unwrap_or(0) as u64;
            reads.batch_units += batch
                .consumed_capacity()
                .iter()
                .filter_map(|c| c.capacity_units())
                .sum::<f64>();
        }
        Ok(())
    }
}

/// The status and definition of the `index`th job of the benchmarked owner: a hundred
/// RUNNING, spread evenly over the whole history and alternating between the two
/// definitions; of the rest every tenth FAILED, the others SUCCEEDED, the definitions
/// alternating.
fn kind_of(index: usize, jobs: usize) -> (JobStatus, &'static str) {
    let running_every = (jobs / RUNNING.min(jobs).max(1)).max(1);
    let nth = index / running_every;
    if index % running_every == running_every / 2 && nth < RUNNING {
        (JobStatus::Running, DEFINITIONS[nth % 2])
    } else if index % 10 == 3 {
        (JobStatus::Failed, DEFINITIONS[index % 2])
    } else {
        (JobStatus::Succeeded, DEFINITIONS[index % 2])
    }
}

/// A job as the service would have recorded it: launched, its task RUNNING, and for a
/// finished one STOPPED with its container's exit code (0 SUCCEEDED, 1 FAILED).
fn job(owner: Owner, definition: &str, status: JobStatus, created_at: DateTime<Utc>) -> Job {
    let mut job = recorded_job(owner, created_at);
    job.definition = definition.to_owned();
    job.retry.attempts = 1;
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
        created_at,
    );
    job.apply(&job.launched(task_arn, created_at));
    let mut steps = vec![
        (EcsTaskStatus::Provisioning, created_at + chrono::Duration::seconds(1)),
        (EcsTaskStatus::Pending, created_at + chrono::Duration::seconds(5)),
        (EcsTaskStatus::Running, created_at + chrono::Duration::seconds(30)),
    ];
    if status.is_terminal() {
        timeline.stopping_because("EssentialContainerExited", "Essential container in task exited");
        timeline.container_exited("app", i32::from(status == JobStatus::Failed));
        steps.push((EcsTaskStatus::Stopped, created_at + chrono::Duration::seconds(90)));
    }
    for (task_status, at) in steps {
        let observed = timeline.advance(task_status, at).observation();
        if let shared::domain::EventDecision::Apply(update) = shared::domain::decide(&job, 1, &observed, 0.0) {
            job.apply(&update);
        }
    }
    assert_eq!(job.status, status, "the seeded job reaches its status");
    job
}

/// Writes `jobs` jobs of the benchmarked owner and [`OTHER_OWNER_JOBS`] of another one,
/// one `create` each, [`SEEDERS`] at a time; the `index`th job created 10 s after the
/// one before.
async fn seed(store: &Arc<DynamoJobStore>, jobs: usize) -> Job {
    let start = Utc::now() - chrono::Duration::seconds(10 * (jobs + OTHER_OWNER_JOBS) as i64);
    let total = jobs + OTHER_OWNER_JOBS;
    let next = Arc::new(AtomicUsize::new(0));
    let mut seeders = tokio::task::JoinSet::new();
    for _ in 0..SEEDERS {
        let (store, next) = (store.clone(), next.clone());
        seeders.spawn(async move {
            let mut last = None;
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= total {
                    return last;
                }
                let at = start + chrono::Duration::seconds(10 * index as i64);
                let seeded = if index < jobs {
                    let (status, definition) = kind_of(index, jobs);
                    job(owner(), definition, status, at)
                } else {
                    let status = if index % 2 == 0 {
                        JobStatus::Running
                    } else {
                        JobStatus::Succeeded
                    };
                    job(other_owner(), DEFINITIONS[index % 2], status, at)
                };
                store.create(&seeded, &[]).await.expect("seed");
                if index + 1 == jobs {
                    last = Some(seeded);
                }
                if (index + 1) % 10_000 == 0 {
                    eprintln!("seeded {} of {total} jobs", index + 1);
                }
            }
        });
    }
    let newest = seeders.join_all().await.into_iter().flatten().next();
    newest.expect("the newest job of the owner")
}

/// The `p`th percentile (nearest rank) of `samples`, in milliseconds.
fn percentile(samples: &[Duration], p: f64) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1].as_secs_f64() * 1000.0
}

fn request(filter: JobFilter) -> ListRequest {
    ListRequest {
        owner: owner(),
        filter,
        limit: PAGE,
        after: None,
    }
}

/// What one listing (up to `max_pages` pages) read, per job listed.
struct Listing {
    name: &'static str,
    pages: usize,
    listed: usize,
    reads: Reads,
    units: f64,
    wall: Duration,
}

impl Listing {
    fn per_job(&self, value: f64) -> f64 {
        value / self.listed.max(1) as f64
    }

    fn json(&self) -> Value {
        json!({
            "listing": self.name,
            "pages": self.pages,
            "listed": self.listed,
            "queries": self.reads.queries,
            "indexEntriesRead": self.reads.scanned,
            "indexEntriesReturned": self.reads.returned,
            "batchGetItemCalls": self.reads.batch_gets,
            "itemsRead": self.reads.items,
            "readUnits": self.units,
            "queryReadUnits": round3(self.reads.query_units),
            "batchGetReadUnits": round3(self.reads.batch_units),
            "indexEntriesPerListed": round3(self.per_job(self.reads.scanned as f64)),
            "itemsPerListed": round3(self.per_job(self.reads.items as f64)),
            "readUnitsPerListed": round3(self.per_job(self.units)),
            "msPerPage": round3(self.wall.as_secs_f64() * 1000.0 / self.pages.max(1) as f64),
        })
    }
}

fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

async fn listing(
    store: &DynamoJobStore,
    meter: &ReadMeter,
    name: &'static str,
    filter: JobFilter,
    max_pages: usize,
) -> Listing {
    let mut request = request(filter.clone());
    let (units_before, reads_before) = (store.listing_read_units(), meter.now());
    let start = Instant::now();
    let mut pages = 0;
    let mut seen = HashSet::new();
    loop {
        let page = store.list(&request).await.expect("a page");
        pages += 1;
        for job in &page.jobs {
            assert!(
                job.owner == owner() && filter.matches(job),
                "{name}: a job outside the filter"
            );
            assert!(seen.insert(job.id), "{name}: a job listed twice");
        }
        match page.next {
            Some(next) if pages < max_pages => request.after = Some(next),
            _ => break,
        }
    }
    Listing {
        name,
        pages,
        listed: seen.len(),
        reads: meter.now() - reads_before,
        units: store.listing_read_units() - units_before,
        wall: start.elapsed(),
    }
}

fn statuses(status: JobStatus) -> BTreeSet<JobStatus> {
    BTreeSet::from([status])
}

/// `jobctl --help` `runs` times: (median ms, p95 ms, size in bytes), or `None` if it is
/// not built next to this binary.
fn jobctl_startup(runs: usize) -> Option<(f64, f64, u64)> {
    let path = std::env::current_exe().ok()?.parent()?.join("jobctl");
    let size = std::fs::metadata(&path).ok()?.len();
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        let status = std::process::Command::new(&path)
            .arg("--help")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("jobctl runs");
        samples.push(start.elapsed());
        assert!(status.success(), "jobctl --help exits 0");
    }
    Some((percentile(&samples, 50.0), percentile(&samples, 95.0), size))
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let jobs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let calls: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);

    let meter = ReadMeter::default();
    let sdk = sdk_config().await;
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .interceptor(meter.clone())
            .build(),
    );
    let table = fresh_table(&client).await;
    let store = Arc::new(DynamoJobStore::new(client.clone(), &table));

    let seeding = Instant::now();
    let newest = seed(&store, jobs).await;
    let seeded = seeding.elapsed();
    let running = (0..jobs).filter(|i| kind_of(*i, jobs).0 == JobStatus::Running).count();

    // Latency: a first page of 20, unfiltered, against reading one job; interleaved so
    // that both see the same load. A few of each first, not counted.
    let first_page = request(JobFilter::default());
    for _ in 0..10 {
        store.list(&first_page).await.expect("a page");
        store.get(newest.id).await.expect("a job");
    }
    let (mut list_times, mut get_times) = (Vec::with_capacity(calls), Vec::with_capacity(calls));
    let (units_before, reads_before) = (store.listing_read_units(), meter.now());
    for _ in 0..calls {
        let start = Instant::now();
        let page = store.list(&first_page).await.expect("a page");
        list_times.push(start.elapsed());
        assert_eq!(page.jobs.len(), PAGE.min(jobs as u32) as usize);
        let start = Instant::now();
        let job = store.get(newest.id).await.expect("a job");
        get_times.push(start.elapsed());
        assert!(job.is_some());
    }
    let latency_reads = meter.now() - reads_before;
    let latency_units = store.listing_read_units() - units_before;
    let (list_median, list_p95) = (percentile(&list_times, 50.0), percentile(&list_times, 95.0));
    let (get_median, get_p95) = (percentile(&get_times, 50.0), percentile(&get_times, 95.0));

    let listings = vec![
        listing(
            &store,
            &meter,
            "status=RUNNING, all pages",
            JobFilter {
                statuses: statuses(JobStatus::Running),
                ..Default::default()
            },
            usize::MAX,
        )
        .await,
        listing(
            &store,
            &meter,
            "status=RUNNING&definition=report, all pages",
            JobFilter {
                statuses: statuses(JobStatus::Running),
                definition: Some(DEFINITIONS[0].to_owned()),
                ..Default::default()
            },
            usize::MAX,
        )
        .await,
        listing(
            &store,
            &meter,
            "status=SUCCEEDED, one page",
            JobFilter {
                statuses: statuses(JobStatus::Succeeded),
                ..Default::default()
            },
            1,
        )
        .await,
        listing(
            &store,
            &meter,
            "definition=report, 5 pages",
            JobFilter {
                definition: Some(DEFINITIONS[0].to_owned()),
                ..Default::default()
            },
            5,
        )
        .await,
        listing(&store, &meter, "no filter, 5 pages", JobFilter::default(), 5).await,
        listing(&store, &meter, "no filter, one page", JobFilter::default(), 1).await,
    ];
    assert_eq!(listings[0].listed, running, "every RUNNING job listed once");
    // DynamoDB Local keeps its tables in memory, and other tests share it.
    client
        .delete_table()
        .table_name(&table)
        .send()
        .await
        .expect("the table is deleted");

    let jobctl = jobctl_startup(50);

    println!("## Listing an owner's jobs (DynamoDB Local, {LIST_SHARDS} write shards per index partition)");
    println!();
    println!("| figure | value |");
    println!("|---|---|");
    println!(
        "| jobs of the owner (RUNNING / finished) | {jobs} ({running} / {}) |",
        jobs - running
    );
    println!("| jobs of another owner | {OTHER_OWNER_JOBS} |");
    println!(
        "| seeding {} jobs, {SEEDERS} `create` in flight (s) | {:.1} |",
        jobs + OTHER_OWNER_JOBS,
        seeded.as_secs_f64()
    );
    println!("| `list` of {PAGE}, no filter: median / p95 (ms, {calls} calls) | {list_median:.2} / {list_p95:.2} |");
    println!("| `get` of one job: median / p95 (ms, {calls} calls) | {get_median:.2} / {get_p95:.2} |");
    println!("| median list ÷ median get | {:.2} |", list_median / get_median);
    println!(
        "| one `list` of {PAGE}: Query calls / index entries read / read units | {:.2} / {:.2} / {:.2} |",
        latency_reads.queries as f64 / calls as f64,
        latency_reads.scanned as f64 / calls as f64,
        latency_units / calls as f64
    );
    println!();
    println!(
        "| listing (limit {PAGE}) | pages | listed | Query calls | index entries read | items read | read units (Query + BatchGetItem) | entries read per listed | items read per listed | read units per listed | ms per page |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for l in &listings {
        println!(
            "| {} | {} | {} | {} | {} (returned {}) | {} | {:.1} ({:.1} + {:.1}) | {:.3} | {:.3} | {:.3} | {:.1} |",
            l.name,
            l.pages,
            l.listed,
            l.reads.queries,
            l.reads.scanned,
            l.reads.returned,
            l.reads.items,
            l.units,
            l.reads.query_units,
            l.reads.batch_units,
            l.per_job(l.reads.scanned as f64),
            l.per_job(l.reads.items as f64),
            l.per_job(l.units),
            l.wall.as_secs_f64() * 1000.0 / l.pages.max(1) as f64
        );
    }
    println!();
    match jobctl {
        Some((median, p95, size)) => {
            println!("| jobctl | value |");
            println!("|---|---|");
            println!("| `jobctl --help`: median / p95 (ms, 50 runs) | {median:.2} / {p95:.2} |");
            println!("| binary size (bytes) | {size} |");
        }
        None => println!("jobctl not built"),
    }
    println!();

    let figures = json!({
        "bench": "list",
        "jobs": jobs,
        "running": running,
        "otherOwnerJobs": OTHER_OWNER_JOBS,
        "seedingSeconds": round3(seeded.as_secs_f64()),
        "calls": calls,
        "listMedianMs": round3(list_median),
        "listP95Ms": round3(list_p95),
        "getMedianMs": round3(get_median),
        "getP95Ms": round3(get_p95),
        "listOverGet": round3(list_median / get_median),
        "listQueriesPerCall": round3(latency_reads.queries as f64 / calls as f64),
        "listIndexEntriesPerCall": round3(latency_reads.scanned as f64 / calls as f64),
        "listReadUnitsPerCall": round3(latency_units / calls as f64),
        "listings": listings.iter().map(Listing::json).collect::<Vec<_>>(),
        "jobctl": jobctl.map(|(median, p95, size)| json!({
            "helpMedianMs": round3(median),
            "helpP95Ms": round3(p95),
            "sizeBytes": size,
        })),
    });
    println!("{figures}");
}
