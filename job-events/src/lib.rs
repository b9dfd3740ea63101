//! ECS "Task State Change" events from EventBridge → job status.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use shared::adapters::{dynamodb, sqs};
use shared::app::NoLauncher;
use shared::app::{EventOutcome, JobService};
use shared::inbound::ecs_event::{TaskStateChange, DETAIL_TYPE, SOURCE};
use shared::infra::config::JobEventsConfig;
use shared::infra::contract::FunctionContract;
use shared::ports::{JobStore, LaunchQueue, StoreError};

/// What job-events reads and calls.
pub const CONTRACT: FunctionContract = FunctionContract {
    function: "job-events",
    environment: &JobEventsConfig::VARIABLES,
    operations: &[dynamodb::GET_ITEM, dynamodb::UPDATE_ITEM, sqs::SEND_MESSAGE],
};

/// Why an event was not processed. Each is returned to Lambda, which retries the event
/// and then keeps it in the dead-letter queue: nothing is lost, nothing is written.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("event is not an ECS Task State Change this service can read: {0}")]
    Unparseable(#[from] serde_json::Error),
    #[error(
        "event has source {event_source:?} and detail-type {detail_type:?}; expected {SOURCE:?} / {DETAIL_TYPE:?}"
    )]
    UnexpectedKind { event_source: String, detail_type: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct JobEvents<S, Q> {
    service: JobService<S, NoLauncher, Q>,
}

impl<S: JobStore, Q: LaunchQueue> JobEvents<S, Q> {
    pub fn new(service: JobService<S, NoLauncher, Q>) -> Self {
        Self { service }
    }

    /// Parses the raw payload itself (rather than letting the runtime do it) so that a
    /// malformed event becomes a typed, logged [`EventError`].
    pub async fn handle(&self, payload: serde_json::Value) -> Result<EventOutcome, EventError> {
        let result = self.apply(payload).await;
        if let Err(err) = &result {
            tracing::error!(error = shared::ports::with_causes(err), "event rejected");
        }
        result
    }

    async fn apply(&self, payload: serde_json::Value) -> Result<EventOutcome, EventError> {
        let event: EventBridgeEvent<TaskStateChange> = serde_json::from_value(payload)?;
        if event.source != SOURCE || event.detail_type != DETAIL_TYPE {
            return Err(EventError::UnexpectedKind {
                event_source: event.source,
                detail_type: event.detail_type,
            });
        }
        let detail = &event.detail;
        let outcome = self.service.observe_task(&detail.observation()).await?;
        let (task_arn, version, last_status) = (&detail.task_arn, detail.version, detail.last_status.as_str());
        match &outcome {
            EventOutcome::Applied { job_id, status } => {
                tracing::info!(%job_id, %status, task_arn, version, last_status, "job updated")
            }
            EventOutcome::Ignored { job_id, why } => {
                tracing::info!(%job_id, %why, task_arn, version, last_status, "event changes nothing")
            }
            EventOutcome::Superseded { job_id } => {
                tracing::info!(%job_id, task_arn, version, last_status, "a newer event was written concurrently")
            }
            EventOutcome::UnknownJob { job_id } => {
                tracing::warn!(%job_id, task_arn, version, last_status, "event for a job that does not exist")
            }
            EventOutcome::Foreign => tracing::info!(task_arn, version, "task not started by this service"),
        }
        Ok(outcome)
    }
}

/// Lambda reports the variant as `errorType`, so dashboards can tell a malformed event
/// from an unavailable table.
impl From<EventError> for lambda_runtime::Diagnostic {
    fn from(err: EventError) -> Self {
        let error_type = match &err {
            EventError::Unparseable(_) => "JobEvents.Unparseable",
            EventError::UnexpectedKind { .. } => "JobEvents.UnexpectedKind",
            EventError::Store(StoreError::Unavailable { .. }) => "JobEvents.StoreUnavailable",
            EventError::Store(StoreError::Invalid { .. }) => "JobEvents.StoredJobInvalid",
        };
        Self {
            error_type: error_type.to_owned(),
            error_message: err.to_string(),
        }
    }
}
