// The reconciliation pass is one deep async state machine (pass → launch → record →
// announce); its layout needs more than the default query depth.
#![recursion_limit = "256"]

use job_reconciler::{Handled, JobReconciler, CONTRACT};
use lambda_runtime::{service_fn, LambdaEvent};
use shared::adapters::dynamodb::DynamoJobStore;
use shared::adapters::ecs::EcsTaskLauncher;
use shared::adapters::sqs::SqsLaunchQueue;
use shared::app::JobService;
use shared::infra::config::{LaunchConfig, OrExitAtInit, ProcessEnvironment};
use shared::infra::sdk::{self, dynamodb_client, ecs_client, sqs_config, CallBudget};

// One invocation at a time: a single-threaded runtime, no worker threads to start.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = LaunchConfig::from_env(&ProcessEnvironment).or_exit_at_init(CONTRACT.function);
    let sdk = sdk::load(&ProcessEnvironment).await.or_exit_at_init(CONTRACT.function);

    let store = DynamoJobStore::new(dynamodb_client(&sdk, CallBudget::DYNAMODB), config.table);
    let ecs = EcsTaskLauncher::new(ecs_client(&sdk, CallBudget::ECS), &config.ecs).or_exit_at_init(CONTRACT.function);
    let queue = SqsLaunchQueue::new(sqs_config(&sdk, CallBudget::SQS), config.launch_queue_url);
    let service = JobService::new(store, ecs, config.definitions)
        .with_queue(queue)
        .with_service_limit(config.max_running);
    let handler = JobReconciler::new(service);

    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| async {
        handler.handle(event.payload).await.map(Handled::into_response)
    }))
    .await
}
