use job_events::{JobEvents, CONTRACT};
use lambda_runtime::{service_fn, LambdaEvent};
use shared::adapters::dynamodb::DynamoJobStore;
use shared::adapters::sqs::SqsLaunchQueue;
use shared::app::JobService;
use shared::infra::config::{JobEventsConfig, OrExitAtInit, ProcessEnvironment};
use shared::infra::sdk::{self, dynamodb_client, sqs_config, CallBudget};

// One invocation at a time: a single-threaded runtime, no worker threads to start.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = JobEventsConfig::from_env(&ProcessEnvironment).or_exit_at_init(CONTRACT.function);
    let sdk = sdk::load(&ProcessEnvironment).await.or_exit_at_init(CONTRACT.function);

    let store = DynamoJobStore::new(dynamodb_client(&sdk, CallBudget::DYNAMODB), config.table);
    let queue = SqsLaunchQueue::new(sqs_config(&sdk, CallBudget::SQS), config.launch_queue_url);
    let handler = JobEvents::new(JobService::without_launcher(store).with_queue(queue));

    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| async {
        handler.handle(event.payload).await.map(|_| ())
    }))
    .await
}
