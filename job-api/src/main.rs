use job_api::{JobApi, CONTRACT};
use lambda_http::{service_fn, Request};
use shared::adapters::cloudwatch_logs::CloudWatchLogReader;
use shared::adapters::dynamodb::DynamoJobStore;
use shared::adapters::ecs::EcsTaskStopper;
use shared::adapters::sqs::SqsLaunchQueue;
use shared::app::JobService;
use shared::infra::config::{JobApiConfig, OrExitAtInit, ProcessEnvironment};
use shared::infra::sdk::{self, dynamodb_client, ecs_config, sqs_config, CallBudget};

// One invocation at a time: a single-threaded runtime, no worker threads to start.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let config = JobApiConfig::from_env(&ProcessEnvironment).or_exit_at_init(CONTRACT.function);
    let sdk = sdk::load(&ProcessEnvironment).await.or_exit_at_init(CONTRACT.function);

    let store = DynamoJobStore::new(dynamodb_client(&sdk, CallBudget::DYNAMODB), config.table);
    // These clients are made on first use: reads, most of this function's work, need none.
    let stopper = EcsTaskStopper::new(ecs_config(&sdk, CallBudget::ECS), config.cluster);
    let queue = SqsLaunchQueue::new(sqs_config(&sdk, CallBudget::SQS), config.launch_queue_url);
    let logs = CloudWatchLogReader::new(&sdk, CallBudget::LOGS);
    let service = JobService::new(store, stopper, Default::default()).with_queue(queue);
    let handler = JobApi::new(service, logs);

    lambda_http::run(service_fn(|request: Request| async {
        Ok::<_, lambda_http::Error>(handler.handle(request).await)
    }))
    .await
}
