//! The launcher and reconciler: one function, two triggers.
//!
//! - SQS (the launch queue): a deferred launch is due, or a slot was freed. Each message
//!   is handled on its own; those that fail are reported as batch item failures, so SQS
//!   delivers only them again (and, after its redrive limit, keeps them in the DLQ).
//! - An EventBridge schedule: one reconciliation pass over every unfinished job.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use serde_json::Value;
use shared::adapters::{dynamodb, ecs, sqs};
use shared::app::{JobService, PassReport, ServiceError};
use shared::infra::config::LaunchConfig;
use shared::infra::contract::FunctionContract;
use shared::ports::{with_causes, JobStore, LaunchMessage, LaunchQueue, TaskInspector, TaskLauncher, TaskStopper};

/// What job-reconciler reads and calls.
pub const CONTRACT: FunctionContract = FunctionContract {
    function: "job-reconciler",
    environment: &LaunchConfig::VARIABLES,
    operations: &[
        dynamodb::GET_ITEM,
        dynamodb::UPDATE_ITEM,
        dynamodb::BATCH_GET_ITEM,
        dynamodb::QUERY,
        ecs::RUN_TASK,
        ecs::DESCRIBE_TASKS,
        ecs::LIST_TASKS,
        ecs::STOP_TASK,
        sqs::SEND_MESSAGE,
    ],
};

/// The `detail-type` of EventBridge's scheduled events.
pub const SCHEDULED_EVENT: &str = "Scheduled Event";

/// Why an invocation was not handled. Lambda retries it, then keeps it in the
/// dead-letter queue.
#[derive(Debug, thiserror::Error)]
pub enum ReconcilerError {
    #[error("payload is neither an SQS batch nor a scheduled event: {0}")]
    Unparseable(#[source] serde_json::Error),
    #[error("event has detail-type {0:?}; expected {SCHEDULED_EVENT:?} or an SQS batch")]
    UnexpectedKind(String),
    #[error("reconciliation pass failed")]
    Pass(#[source] ServiceError),
}

impl From<ReconcilerError> for lambda_runtime::Diagnostic {
    fn from(err: ReconcilerError) -> Self {
        let error_type = match &err {
            ReconcilerError::Unparseable(_) => "JobReconciler.Unparseable",
            ReconcilerError::UnexpectedKind(_) => "JobReconciler.UnexpectedKind",
            ReconcilerError::Pass(_) => "JobReconciler.PassFailed",
        };
        Self {
            error_type: error_type.to_owned(),
            error_message: with_causes(&err),
        }
    }
}

/// What an invocation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// An SQS batch: the messages to deliver again.
    Batch(SqsBatchResponse),
    Pass(PassReport),
}

impl Handled {
    /// What the function returns: SQS's partial batch response, or the pass's counts.
    pub fn into_response(self) -> Value {
        match self {
            Self::Batch(response) => {
                let failures: Vec<Value> = response
                    .batch_item_failures
                    .into_iter()
                    .map(|f| serde_json::json!({ "itemIdentifier": f.item_identifier }))
                    .collect();
                serde_json::json!({ "batchItemFailures": failures })
            }
            Self::Pass(report) => serde_json::json!({
                "unfinished": report.unfinished,
                "launches": report.launches,
                "expired": report.expired,
                "described": report.described,
                "describeCalls": report.describe_calls,
                "moved": report.moved,
                "lost": report.lost,
                "timedOut": report.timed_out,
                "stopsRepeated": report.stops_repeated,
                "deferred": report.deferred,
            }),
        }
    }
}

pub struct JobReconciler<S, L, Q> {
    service: JobService<S, L, Q>,
}

impl<S, L, Q> JobReconciler<S, L, Q>
where
    S: JobStore,
    L: TaskLauncher + TaskInspector + TaskStopper,
    Q: LaunchQueue,
{
    pub fn new(service: JobService<S, L, Q>) -> Self {
        Self { service }
    }

    pub async fn handle(&self, payload: Value) -> Result<Handled, ReconcilerError> {
        let result = self.dispatch(payload).await;
        if let Err(err) = &result {
            tracing::error!(error = with_causes(err), "invocation failed");
        }
        result
    }

    async fn dispatch(&self, payload: Value) -> Result<Handled, ReconcilerError> {
        if payload.get("Records").is_some() {
            let batch: SqsEvent = serde_json::from_value(payload).map_err(ReconcilerError::Unparseable)?;
            return Ok(Handled::Batch(self.messages(batch).await));
        }
        let event: EventBridgeEvent<Value> = serde_json::from_value(payload).map_err(ReconcilerError::Unparseable)?;
        if event.detail_type != SCHEDULED_EVENT {
            return Err(ReconcilerError::UnexpectedKind(event.detail_type));
        }
        let report = self.service.reconcile().await.map_err(ReconcilerError::Pass)?;
        Ok(Handled::Pass(report))
    }

    async fn messages(&self, batch: SqsEvent) -> SqsBatchResponse {
        let mut response = SqsBatchResponse::default();
        for record in batch.records {
            let id = record.message_id.clone().unwrap_or_default();
            let message = record
                .body
                .as_deref()
                .ok_or_else(|| "message has no body".to_owned())
                .and_then(|body| serde_json::from_str::<LaunchMessage>(body).map_err(|e| e.to_string()));
            let failed = match message {
                // Kept by SQS (then its DLQ) for a person to look at: never dropped.
                Err(problem) => {
                    tracing::error!(message_id = id, problem, "launch message unreadable");
                    true
                }
                Ok(message) => match self.service.handle_launch_message(&message).await {
                    Ok(()) => false,
                    Err(err) => {
                        tracing::warn!(
                            message_id = id,
                            ?message,
                            error = with_causes(&err),
                            "launch message failed; SQS delivers it again"
                        );
                        true
                    }
                },
            };
            if failed {
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                response.batch_item_failures.push(failure);
            }
        }
        response
    }
}
