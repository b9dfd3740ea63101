//! `local-server`: the job service on this machine. See `--help` and the README.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use create_job::CreateJob;
use job_api::JobApi;
use job_events::JobEvents;
use local_server::definitions::LocalDefinitions;
use local_server::hostile::{describe_launch_faults, parse_fraction, relay_events, EventFaults, LaunchFaults};
use local_server::logs::LocalLogReader;
use local_server::runner::LocalTaskRunner;
use local_server::server::{consume_launch_queue, deliver_events, reconcile_every, serve, LocalApi, LOCAL_PRINCIPAL};
use shared::adapters::dynamodb::DynamoJobStore;
use shared::adapters::memory::{InMemoryJobStore, InProcessLaunchQueue};
use shared::app::JobService;
use shared::domain::RetryPolicy;
use shared::ports::JobStore;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

/// Runs the job service on 127.0.0.1: the same REST API and job lifecycle as on AWS,
/// with jobs run as local processes. No AWS account needed.
#[derive(Parser)]
#[command(name = "local-server", version)]
struct Args {
    /// Port on 127.0.0.1 to serve the REST API on (0: any free port).
    #[arg(long, default_value_t = 8080, env = "JOB_TRACKER_PORT")]
    port: u16,
    /// The local definitions file: one command per job definition.
    #[arg(long, default_value = "local-server/definitions.toml")]
    definitions: PathBuf,
    /// Directory of the jobs' output: each task's in <definition>/app/<task id>, named as
    /// its CloudWatch Logs stream would be (GET /jobs/<jobId>/logs reads it).
    #[arg(long, default_value = "target/local-jobs")]
    log_dir: PathBuf,
    /// Keep jobs in this DynamoDB table instead of in memory, reached through the standard
    /// AWS SDK configuration (AWS_ENDPOINT_URL_DYNAMODB for DynamoDB Local, or real DynamoDB).
    #[arg(long)]
    dynamodb_table: Option<String>,
    /// Service-wide limit: at most N jobs (of all definitions) have a task not yet stopped;
    /// the others wait SUBMITTED and start oldest first. Unlimited when not set.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_running: Option<u32>,
    /// Seconds between two reconciliation passes (the end of one and the start of the
    /// next): each pass starts due launches, expires jobs past their queue timeout, and
    /// asks the task runner (as DescribeTasks) about tasks whose events went quiet.
    #[arg(long, value_name = "SECONDS", default_value = "3", value_parser = parse_interval)]
    reconcile_interval: Duration,
    /// Seconds no write may move a job with a task before the reconciler asks about it
    /// (default: the reconcile interval; 60 on AWS).
    #[arg(long, value_name = "SECONDS", value_parser = parse_quiet)]
    reconcile_quiet_seconds: Option<Duration>,
    /// Hostile: lose this fraction (0.0 to 1.0) of ECS events for good; 1.0 drops every
    /// event, so only the reconciler moves jobs.
    #[arg(long, value_name = "FRACTION", default_value = "0", value_parser = parse_fraction)]
    drop_events: f64,
    /// Hostile: deliver each delivered ECS event twice with this probability (0.0 to 1.0).
    #[arg(long, value_name = "FRACTION", default_value = "0", value_parser = parse_fraction)]
    duplicate_events: f64,
    /// Hostile: deliver ECS events in random order within small windows (up to 3 events,
    /// none held longer than 200 ms).
    #[arg(long)]
    reorder_events: bool,
    /// Hostile: answer the first N RunTask calls as throttled (no task started).
    #[arg(long, value_name = "N", default_value_t = 0)]
    throttle_launches: u32,
    /// Hostile: answer the next N RunTask calls (after the throttled ones) as refused for
    /// lack of capacity (no task started).
    #[arg(long, value_name = "N", default_value_t = 0)]
    no_capacity_launches: u32,
}

impl Args {
    fn event_faults(&self) -> EventFaults {
        EventFaults {
            drop: self.drop_events,
            duplicate: self.duplicate_events,
            reorder: self.reorder_events,
        }
    }

    fn quiet_for(&self) -> Duration {
        self.reconcile_quiet_seconds.unwrap_or(self.reconcile_interval)
    }
}

/// A number of seconds, for clap.
fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("{text} is not a number of seconds from 0 up"))
}

fn parse_interval(text: &str) -> Result<Duration, String> {
    let interval = parse_seconds(text)?;
    if interval < Duration::from_millis(10) {
        return Err(format!("{text} is too short: at least 0.01 seconds"));
    }
    Ok(interval)
}

fn parse_quiet(text: &str) -> Result<Duration, String> {
    parse_seconds(text)
}

fn fail(message: impl std::fmt::Display) -> ! {
    eprintln!("local-server: {message}");
    std::process::exit(1)
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    lambda_http::tracing::init_default_subscriber();

    let definitions = LocalDefinitions::load(&args.definitions).unwrap_or_else(|e| fail(e));
    if let Err(e) = std::fs::create_dir_all(&args.log_dir) {
        fail(format!(
            "cannot create the log directory {}: {e}",
            args.log_dir.display()
        ));
    }
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], args.port));
    let listener = TcpListener::bind(address).await.unwrap_or_else(|e| {
        fail(format!(
            "cannot listen on {address}: {e} (is another server on that port? choose another with --port)"
        ))
    });

    match &args.dynamodb_table {
        None => run(Arc::new(InMemoryJobStore::default()), definitions, listener, &args).await,
        Some(table) => {
            let sdk = shared::infra::sdk::load(&shared::infra::config::ProcessEnvironment)
                .await
                .unwrap_or_else(|e| fail(e));
            let client = shared::infra::sdk::dynamodb_client(&sdk, shared::infra::sdk::CallBudget::DYNAMODB);
            if let Err(e) = client.describe_table().table_name(table).send().await {
                fail(format!(
                    "DynamoDB table {table:?} is not reachable: {}",
                    aws_sdk_dynamodb::error::DisplayErrorContext(e)
                ));
            }
            run(DynamoJobStore::new(client, table.clone()), definitions, listener, &args).await
        }
    }
}

async fn run<S: JobStore + Clone + 'static>(store: S, local: LocalDefinitions, listener: TcpListener, args: &Args) {
    // The task runner's events go through the hostile relay (a pass-through unless a
    // --*-events flag is set) to the job-events handler, as EventBridge feeds the Lambda.
    let (events_in, events_raw) = mpsc::unbounded_channel();
    let (events_relayed, events_out) = mpsc::unbounded_channel();
    let runner = Arc::new(
        LocalTaskRunner::new(local.commands.clone(), args.log_dir.clone(), events_in)
            .with_faults(LaunchFaults::new(args.throttle_launches, args.no_capacity_launches)),
    );
    // One launch queue, as on AWS: create-job defers launches onto it, job-events and the
    // reconciler announce freed slots on it, and the launcher consumes it.
    let (queue, launch_messages) = InProcessLaunchQueue::new();
    let api = Arc::new(LocalApi::new(
        CreateJob::new(
            JobService::new(store.clone(), runner.clone(), local.definitions.clone())
                .with_queue(queue.clone())
                .with_service_limit(args.max_running),
        ),
        // Cancels stop tasks through the runner, and announce freed slots on the queue.
        JobApi::new(
            JobService::new(store.clone(), runner.clone(), local.definitions.clone())
                .with_queue(queue.clone())
                .with_service_limit(args.max_running),
            // GET /jobs/{id}/logs reads the files the runner writes.
            LocalLogReader::new(args.log_dir.clone()),
        ),
    ));
    let relay = tokio::spawn(relay_events(
        events_raw,
        events_relayed,
        args.event_faults(),
        fastrand::Rng::new(),
    ));
    let delivery = tokio::spawn(deliver_events(
        events_out,
        JobEvents::new(JobService::without_launcher(store.clone()).with_queue(queue.clone())),
    ));
    let reconciler = Arc::new(
        JobService::new(store, runner.clone(), local.definitions.clone())
            .with_queue(queue)
            .with_service_limit(args.max_running)
            .with_quiet_for(args.quiet_for()),
    );

    let url = match listener.local_addr() {
        Ok(address) => format!("http://{address}"),
        Err(e) => fail(format!("cannot read the listening address: {e}")),
    };
    banner(&url, &local, args);
    let (stop, stopped) = watch::channel(false);
    let server = tokio::spawn(serve(listener, api, stopped.clone()));
    let launcher = tokio::spawn(consume_launch_queue(
        launch_messages,
        reconciler.clone(),
        stopped.clone(),
    ));
    let schedule = tokio::spawn(reconcile_every(args.reconcile_interval, reconciler, stopped));

    wait_for_signal().await;
    tracing::info!("shutting down: stopping running jobs");
    stop.send_replace(true);
    let _ = server.await;
    let _ = schedule.await;
    // Kept (not consumed) until the end, so that the last events' freed slots are not
    // refused by a closed queue.
    let launch_messages = launcher.await;
    runner.shut_down().await;
    // The runner held the only sender: delivery ends once every STOPPED event is applied
    // (the api, the launcher and the reconciler, which shared it, have stopped).
    drop(runner);
    let _ = relay.await;
    let _ = delivery.await;
    drop(launch_messages);
    tracing::info!("stopped");
}

async fn wait_for_signal() {
    let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(signal) => signal,
        Err(e) => fail(format!("cannot watch SIGTERM: {e}")),
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}

fn banner(url: &str, local: &LocalDefinitions, args: &Args) {
    let store = match &args.dynamodb_table {
        Some(table) => format!("DynamoDB table {table}"),
        None => "in memory (jobs are gone when the server stops)".to_owned(),
    };
    println!("job tracker (local) listening on {url}");
    println!("  store:       {store}");
    println!("  principal:   {LOCAL_PRINCIPAL}");
    println!(
        "  job logs:    {}/<definition>/app/<task id>  (GET /jobs/<jobId>/logs)",
        args.log_dir.display()
    );
    println!("  definitions: {}", args.definitions.display());
    for (name, definition) in local.definitions.iter() {
        let parameters: Vec<&str> = definition.parameters.iter().map(String::as_str).collect();
        let description = local
            .commands
            .get(name)
            .and_then(|c| c.description.as_deref())
            .unwrap_or("");
        let limit = definition
            .max_running
            .map(|n| format!("  max_running: {n}"))
            .unwrap_or_default();
        let timeout = definition
            .timeout
            .map(|t| format!("  timeout: {} s", t.as_secs()))
            .unwrap_or_default();
        let attempts = if definition.retry == RetryPolicy::default() {
            String::new()
        } else {
            format!("  attempts: {}", definition.retry.attempts)
        };
        println!(
            "    {name:<10} parameters: [{}]{limit}{timeout}{attempts}  {description}",
            parameters.join(", ")
        );
    }
    let limit = match args.max_running {
        Some(n) => format!("at most {n} jobs with a task at once"),
        None => "none".to_owned(),
    };
    println!("  max running: {limit}");
    println!(
        "  reconciler:  a pass every {} s, asking about tasks quiet for {} s",
        args.reconcile_interval.as_secs_f64(),
        args.quiet_for().as_secs_f64()
    );
    let hostile: Vec<String> = [
        args.event_faults().describe(),
        describe_launch_faults(args.throttle_launches, args.no_capacity_launches),
    ]
    .into_iter()
    .flatten()
    .collect();
    if hostile.is_empty() {
        println!("  hostile:     off");
    } else {
        println!("  hostile:     {}", hostile.join("; "));
    }
    println!();
    println!("Try it:");
    println!(
        "  curl -s -X POST {url}/jobs -H 'content-type: application/json' \\\n    \
         -d '{{\"definition\": \"report\", \"parameters\": {{\"REPORT_DATE\": \"2026-11-01\"}}}}'"
    );
    println!("  curl -s {url}/jobs/<jobId>");
    println!("  curl -s {url}/jobs/<jobId>/logs");
    println!("  curl -s '{url}/jobs?status=RUNNING&limit=5'");
    println!("  curl -s -X DELETE {url}/jobs/<jobId>    # cancel it");
    println!("  curl -s {url}/openapi.yaml              # the API's description");
    println!("Ctrl-C stops the server and any running job.");
}
