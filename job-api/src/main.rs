use job_api::JobApi;
use lambda_http::{service_fn, Request};
use shared::config::{self, exit_at_init, ProcessEnvironment};
use shared::dynamodb::DynamoJobStore;
use shared::sdk::{dynamodb_client, CallBudget};

// One invocation at a time: a single-threaded runtime, no worker threads to start.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let table = config::jobs_table(&ProcessEnvironment).unwrap_or_else(|err| exit_at_init("job-api", err));

    let sdk = shared::sdk::load(&ProcessEnvironment)
        .await
        .unwrap_or_else(|err| exit_at_init("job-api", err));
    let handler = JobApi::new(DynamoJobStore::new(dynamodb_client(&sdk, CallBudget::DYNAMODB), table));

    lambda_http::run(service_fn(|request: Request| async {
        Ok::<_, lambda_http::Error>(handler.handle(request).await)
    }))
    .await
}
