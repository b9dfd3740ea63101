use create_job::CreateJob;
use lambda_http::{service_fn, Request};
use shared::config::{exit_at_init, CreateJobConfig, ProcessEnvironment};
use shared::dynamodb::DynamoJobStore;
use shared::ecs::EcsTaskLauncher;
use shared::sdk::{dynamodb_client, ecs_client, CallBudget};

// One invocation at a time: a single-threaded runtime, no worker threads to start.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let config = CreateJobConfig::from_env(&ProcessEnvironment).unwrap_or_else(|err| exit_at_init("create-job", err));

    let sdk = shared::sdk::load(&ProcessEnvironment)
        .await
        .unwrap_or_else(|err| exit_at_init("create-job", err));
    let launcher = EcsTaskLauncher::new(ecs_client(&sdk, CallBudget::ECS), &config.ecs)
        .unwrap_or_else(|err| exit_at_init("create-job", err));
    let handler = CreateJob::new(
        DynamoJobStore::new(dynamodb_client(&sdk, CallBudget::DYNAMODB), config.table),
        launcher,
        config.definitions,
    );

    lambda_http::run(service_fn(|request: Request| async {
        Ok::<_, lambda_http::Error>(handler.handle(request).await)
    }))
    .await
}
