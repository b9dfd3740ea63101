//! The functions' declared contracts, and an SDK interceptor that records the operations
//! a client actually calls, so that tests can hold each function to its declaration.

use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use shared::infra::contract::FunctionContract;
use shared::infra::sync::lock;

/// Every function of the service, as each declares itself.
pub const FUNCTIONS: [FunctionContract; 4] = [
    create_job::CONTRACT,
    job_events::CONTRACT,
    job_api::CONTRACT,
    job_reconciler::CONTRACT,
];

/// Records `service:Operation` of every call made through the clients it is installed
/// in, as the IAM action that authorizes it.
#[derive(Debug, Clone, Default)]
pub struct OperationRecorder {
    calls: Arc<Mutex<Vec<String>>>,
}

impl OperationRecorder {
    /// The operations called so far, sorted and without repeats.
    pub fn operations(&self) -> Vec<String> {
        let mut calls = lock(&self.calls).clone();
        calls.sort();
        calls.dedup();
        calls
    }
}

impl Intercept for OperationRecorder {
    fn name(&self) -> &'static str {
        "OperationRecorder"
    }

    // Not `read_before_execution`: a client's interceptors see that before the
    // operation's own configuration (its name) is in the bag.
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        config: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(metadata) = config.load::<Metadata>() {
            // The SDK names services by their model names ("DynamoDB", "ECS",
            // "CloudWatch Logs"); IAM prefixes are lower case, and CloudWatch Logs' is `logs`.
            let service = match metadata.service().to_ascii_lowercase().as_str() {
                "cloudwatch logs" => "logs".to_owned(),
                other => other.to_owned(),
            };
            // IAM has no action for a transaction: it authorizes each of its items as
            // the item's own write. This service's transactions update items (and create
            // jobs, whose PutItem its creators declare anyway).
            let operation = match metadata.name() {
                "TransactWriteItems" => "UpdateItem",
                other => other,
            };
            lock(&self.calls).push(format!("{service}:{operation}"));
        }
        Ok(())
    }
}
