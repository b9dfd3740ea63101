//! `local-server`: the job service on this machine. See `--help` and the README.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;
use create_job::CreateJob;
use job_api::JobApi;
use job_events::JobEvents;
use local_server::definitions::LocalDefinitions;
use local_server::runner::LocalTaskRunner;
use local_server::server::{deliver_events, serve, LocalApi, LOCAL_PRINCIPAL};
use shared::adapters::dynamodb::DynamoJobStore;
use shared::adapters::memory::InMemoryJobStore;
use shared::app::JobService;
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
    /// Directory for each attempt's output (<jobId>-<attempt>.log).
    #[arg(long, default_value = "target/local-jobs")]
    log_dir: PathBuf,
    /// Keep jobs in this DynamoDB table instead of in memory, reached through the standard
    /// AWS SDK configuration (AWS_ENDPOINT_URL_DYNAMODB for DynamoDB Local, or real DynamoDB).
    #[arg(long)]
    dynamodb_table: Option<String>,
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
    let (events_in, events_out) = mpsc::unbounded_channel();
    let runner = Arc::new(LocalTaskRunner::new(
        local.commands.clone(),
        args.log_dir.clone(),
        events_in,
    ));
    let api = Arc::new(LocalApi::new(
        CreateJob::new(JobService::new(
            store.clone(),
            runner.clone(),
            local.definitions.clone(),
        )),
        JobApi::new(JobService::without_launcher(store.clone())),
    ));
    let delivery = tokio::spawn(deliver_events(
        events_out,
        JobEvents::new(JobService::without_launcher(store)),
    ));

    let url = match listener.local_addr() {
        Ok(address) => format!("http://{address}"),
        Err(e) => fail(format!("cannot read the listening address: {e}")),
    };
    banner(&url, &local, args);
    let (stop, stopped) = watch::channel(false);
    let server = tokio::spawn(serve(listener, api, stopped));

    wait_for_signal().await;
    tracing::info!("shutting down: stopping running jobs");
    stop.send_replace(true);
    let _ = server.await;
    runner.shut_down().await;
    // The runner held the only sender: delivery ends once every STOPPED event is applied.
    drop(runner);
    let _ = delivery.await;
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
    println!("  job logs:    {}/<jobId>-<attempt>.log", args.log_dir.display());
    println!("  definitions: {}", args.definitions.display());
    for (name, definition) in local.definitions.iter() {
        let parameters: Vec<&str> = definition.parameters.iter().map(String::as_str).collect();
        let description = local
            .commands
            .get(name)
            .and_then(|c| c.description.as_deref())
            .unwrap_or("");
        println!("    {name:<10} parameters: [{}]  {description}", parameters.join(", "));
    }
    println!();
    println!("Try it:");
    println!(
        "  curl -s -X POST {url}/jobs -H 'content-type: application/json' \\\n    \
         -d '{{\"definition\": \"report\", \"parameters\": {{\"REPORT_DATE\": \"2026-11-01\"}}}}'"
    );
    println!("  curl -s {url}/jobs/<jobId>");
    println!("Ctrl-C stops the server and any running job.");
}
