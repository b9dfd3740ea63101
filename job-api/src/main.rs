use job_api::{JobApi, CONTRACT};
use lambda_http::{service_fn, Request};
use shared::adapters::dynamodb::DynamoJobStore;
use shared::app::JobService;
use shared::infra::config::{self, OrExitAtInit, ProcessEnvironment};
use shared::infra::sdk::{self, dynamodb_client, CallBudget};

// One invocation at a time: a single-threaded runtime, no worker threads to start.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let table = config::jobs_table(&ProcessEnvironment).or_exit_at_init(CONTRACT.function);
    let sdk = sdk::load(&ProcessEnvironment).await.or_exit_at_init(CONTRACT.function);

    let store = DynamoJobStore::new(dynamodb_client(&sdk, CallBudget::DYNAMODB), table);
    let handler = JobApi::new(JobService::without_launcher(store));

    lambda_http::run(service_fn(|request: Request| async {
        Ok::<_, lambda_http::Error>(handler.handle(request).await)
    }))
    .await
}
