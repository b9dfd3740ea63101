use job_events::JobEvents;
use lambda_runtime::{service_fn, LambdaEvent};
use shared::config::{self, exit_at_init, ProcessEnvironment};
use shared::dynamodb::DynamoJobStore;
use shared::sdk::{dynamodb_client, CallBudget};

// One invocation at a time: a single-threaded runtime, no worker threads to start.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let table = config::jobs_table(&ProcessEnvironment).unwrap_or_else(|err| exit_at_init("job-events", err));

    let sdk = shared::sdk::load(&ProcessEnvironment)
        .await
        .unwrap_or_else(|err| exit_at_init("job-events", err));
    let handler = JobEvents::new(DynamoJobStore::new(dynamodb_client(&sdk, CallBudget::DYNAMODB), table));

    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| async {
        handler.handle(event.payload).await.map(|_| ())
    }))
    .await
}
