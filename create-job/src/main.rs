use create_job::{CreateJob, CONTRACT};
use lambda_http::{service_fn, Request};
use shared::adapters::dynamodb::DynamoJobStore;
use shared::adapters::ecs::EcsTaskLauncher;
use shared::adapters::sqs::SqsLaunchQueue;
use shared::app::JobService;
use shared::infra::config::{LaunchConfig, OrExitAtInit, ProcessEnvironment};
use shared::infra::sdk::{self, dynamodb_client, ecs_client, sqs_config, CallBudget};

// One invocation at a time: a single-threaded runtime, no worker threads to start.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let config = LaunchConfig::from_env(&ProcessEnvironment).or_exit_at_init(CONTRACT.function);
    let sdk = sdk::load(&ProcessEnvironment).await.or_exit_at_init(CONTRACT.function);

    let store = DynamoJobStore::new(dynamodb_client(&sdk, CallBudget::DYNAMODB), config.table);
    let launcher =
        EcsTaskLauncher::new(ecs_client(&sdk, CallBudget::ECS), &config.ecs).or_exit_at_init(CONTRACT.function);
    let queue = SqsLaunchQueue::new(sqs_config(&sdk, CallBudget::SQS), config.launch_queue_url);
    let service = JobService::new(store, launcher, config.definitions)
        .with_queue(queue)
        .with_service_limit(config.max_running);
    let handler = CreateJob::new(service);

    lambda_http::run(service_fn(|request: Request| async {
        Ok::<_, lambda_http::Error>(handler.handle(request).await)
    }))
    .await
}
