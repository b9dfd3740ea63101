//! The DynamoDB adapter of [`JobStore`]: one item per job, keyed by `jobId`, attempts as
//! a list in attempt order (attempt `n` at index `n - 1`).
//!
//! Every write is conditional and every guard of [`UpdateGuard`] is a condition
//! expression, so the check and the write are one atomic step in DynamoDB: no
//! read-then-write race can lose an update. A failed condition is a domain outcome
//! ([`Created::AlreadyExists`], [`Updated::GuardFailed`]) and never leaves this module as
//! an error.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{
    Attempt, Attempts, EcsTaskStatus, InvalidAttempts, Job, JobId, JobStatus, JobUpdate, Owner, UpdateGuard,
};
use crate::ports::{Cause, Created, JobStore, StoreError, Updated};

/// The operations this adapter calls, as IAM actions.
pub const GET_ITEM: &str = "dynamodb:GetItem";
pub const PUT_ITEM: &str = "dynamodb:PutItem";
pub const UPDATE_ITEM: &str = "dynamodb:UpdateItem";

/// The table's only key attribute (a string).
pub const KEY_ATTRIBUTE: &str = "jobId";

#[derive(Debug, Clone)]
pub struct DynamoJobStore {
    client: Client,
    table: String,
}

impl DynamoJobStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn key(id: JobId) -> HashMap<String, AttributeValue> {
        HashMap::from([(KEY_ATTRIBUTE.to_owned(), AttributeValue::S(id.to_string()))])
    }
}

fn unavailable<E, R>(operation: &'static str, err: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    StoreError::Unavailable {
        operation,
        source: Box::new(err),
    }
}

fn invalid(job_id: impl ToString, problem: &'static str, source: Option<Cause>) -> StoreError {
    StoreError::Invalid {
        job_id: job_id.to_string(),
        problem,
        source,
    }
}

impl JobStore for DynamoJobStore {
    async fn create(&self, job: &Job) -> Result<Created, StoreError> {
        let item = serde_dynamo::to_item(JobItem::from(job))
            .map_err(|e| invalid(job.id, "cannot be encoded", Some(e.into())))?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#key)")
            .expression_attribute_names("#key", KEY_ATTRIBUTE)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Created::Inserted),
            Err(SdkError::ServiceError(failure)) if failure.err().is_conditional_check_failed_exception() => {
                let returned = match failure.into_err() {
                    PutItemError::ConditionalCheckFailedException(e) => e.item,
                    _ => None,
                };
                // Engines without ReturnValuesOnConditionCheckFailure return no item.
                let existing = match returned {
                    Some(item) => Some(decode(item, &job.id.to_string())?),
                    None => self.get(job.id).await?,
                };
                let existing = existing.ok_or_else(|| invalid(job.id, "exists and vanished", None))?;
                Ok(Created::AlreadyExists(Box::new(existing)))
            }
            Err(err) => Err(unavailable("PutItem", err)),
        }
    }

    async fn get(&self, id: JobId) -> Result<Option<Job>, StoreError> {
        // Strongly consistent: a client reads its own write, and the event path decides
        // on the latest state (its write is conditional anyway).
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable("GetItem", e))?;
        output.item.map(|item| decode(item, &id.to_string())).transpose()
    }

    async fn update(&self, id: JobId, update: &JobUpdate) -> Result<Updated, StoreError> {
        let index = update
            .attempt
            .number
            .checked_sub(1)
            .ok_or_else(|| invalid(id, "attempt numbers start at 1", None))?;
        let attempt = format!("attempts[{index}]");
        // Every update is for the current attempt: the list ends at it.
        let mut condition = "size(attempts) = :attemptCount".to_owned();
        let mut values = HashMap::from([
            (":attempt".to_owned(), encode(id, &AttemptItem::from(&update.attempt))?),
            (
                ":attemptCount".to_owned(),
                AttributeValue::N(update.attempt.number.to_string()),
            ),
            (":newStatus".to_owned(), status_value(update.status)),
            (":updatedAt".to_owned(), AttributeValue::S(timestamp(update.updated_at))),
        ]);
        match &update.guard {
            UpdateGuard::AwaitingLaunch => {
                condition.push_str(&format!(
                    " AND #status = :submitted AND attribute_not_exists({attempt}.taskArn)"
                ));
                values.insert(":submitted".to_owned(), status_value(JobStatus::Submitted));
            }
            UpdateGuard::TaskEvent(event) => {
                condition.push_str(&format!(
                    " AND (attribute_not_exists({attempt}.taskArn) OR {attempt}.taskArn = :taskArn) \
                     AND (attribute_not_exists({attempt}.eventVersion) OR {attempt}.eventVersion < :version) \
                     AND (NOT (#status IN (:succeeded, :failed, :cancelled))"
                ));
                if event.stopped {
                    // A newer STOPPED event of the same task may correct the verdict an
                    // older one wrote; nothing reopens a CANCELLED job or a refused launch.
                    condition.push_str(&format!(
                        " OR (#status IN (:succeeded, :failed) AND {attempt}.taskStatus = :stopped)"
                    ));
                    values.insert(
                        ":stopped".to_owned(),
                        AttributeValue::S(EcsTaskStatus::Stopped.as_str().to_owned()),
                    );
                }
                condition.push(')');
                values.insert(":taskArn".to_owned(), AttributeValue::S(event.task_arn.clone()));
                values.insert(":version".to_owned(), AttributeValue::N(event.version.to_string()));
                for (name, status) in [
                    (":succeeded", JobStatus::Succeeded),
                    (":failed", JobStatus::Failed),
                    (":cancelled", JobStatus::Cancelled),
                ] {
                    values.insert(name.to_owned(), status_value(status));
                }
            }
        }
        let mut expression = format!("SET {attempt} = :attempt, #status = :newStatus, updatedAt = :updatedAt");
        match &update.status_reason {
            Some(reason) => {
                expression.push_str(", statusReason = :reason");
                values.insert(":reason".to_owned(), AttributeValue::S(reason.clone()));
            }
            None => expression.push_str(" REMOVE statusReason"),
        }

        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(id)))
            .update_expression(expression)
            .condition_expression(condition)
            .expression_attribute_names("#status", "status")
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Updated::Applied),
            Err(SdkError::ServiceError(failure))
                if matches!(failure.err(), UpdateItemError::ConditionalCheckFailedException(_)) =>
            {
                Ok(Updated::GuardFailed)
            }
            Err(err) => Err(unavailable("UpdateItem", err)),
        }
    }
}

fn status_value(status: JobStatus) -> AttributeValue {
    AttributeValue::S(status.as_str().to_owned())
}

/// The stored timestamp format: RFC 3339 UTC, as chrono's serde writes it, so that
/// attributes written by `SET` and by `PutItem` look alike.
fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn encode(id: JobId, attempt: &AttemptItem) -> Result<AttributeValue, StoreError> {
    serde_dynamo::to_attribute_value(attempt).map_err(|e| invalid(id, "attempt cannot be encoded", Some(e.into())))
}

fn decode(item: HashMap<String, AttributeValue>, id: &str) -> Result<Job, StoreError> {
    let item: JobItem = serde_dynamo::from_item(item).map_err(|e| invalid(id, "cannot be decoded", Some(e.into())))?;
    item.try_into()
        .map_err(|e: InvalidJobItem| invalid(id, "is not a valid job", Some(e.into())))
}

/// The stored shape of a job. Separate from the domain type so that the domain never
/// depends on how (or whether) it is persisted.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct JobItem {
    job_id: String,
    owner: String,
    definition: String,
    container: String,
    #[serde(default)]
    parameters: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    idempotency_key: Option<String>,
    status: JobStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status_reason: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    attempts: Vec<AttemptItem>,
}

/// Absent values are absent attributes, not NULLs: the conditions test
/// `attribute_not_exists(...)`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AttemptItem {
    attempt: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    task_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    task_status: Option<EcsTaskStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stop_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stopped_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exit_code: Option<i32>,
    created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    started_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stopped_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    event_version: Option<u64>,
}

impl From<&Attempt> for AttemptItem {
    fn from(a: &Attempt) -> Self {
        Self {
            attempt: a.number,
            task_arn: a.task_arn.clone(),
            task_status: a.task_status,
            stop_code: a.stop_code.clone(),
            stopped_reason: a.stopped_reason.clone(),
            exit_code: a.exit_code,
            created_at: a.created_at,
            started_at: a.started_at,
            stopped_at: a.stopped_at,
            event_version: a.event_version,
        }
    }
}

impl From<AttemptItem> for Attempt {
    fn from(a: AttemptItem) -> Self {
        Self {
            number: a.attempt,
            task_arn: a.task_arn,
            task_status: a.task_status,
            stop_code: a.stop_code,
            stopped_reason: a.stopped_reason,
            exit_code: a.exit_code,
            created_at: a.created_at,
            started_at: a.started_at,
            stopped_at: a.stopped_at,
            event_version: a.event_version,
        }
    }
}

impl From<&Job> for JobItem {
    fn from(job: &Job) -> Self {
        Self {
            job_id: job.id.to_string(),
            owner: job.owner.as_str().to_owned(),
            definition: job.definition.clone(),
            container: job.container.clone(),
            parameters: job.parameters.clone(),
            idempotency_key: job.idempotency_key.clone(),
            status: job.status,
            status_reason: job.status_reason.clone(),
            created_at: job.created_at,
            updated_at: job.updated_at,
            attempts: job.attempts.iter().map(AttemptItem::from).collect(),
        }
    }
}

/// Why a stored item is not a job.
#[derive(Debug, thiserror::Error)]
enum InvalidJobItem {
    #[error("jobId is not a job id")]
    JobId,
    #[error("owner is empty")]
    Owner,
    #[error(transparent)]
    Attempts(#[from] InvalidAttempts),
}

impl TryFrom<JobItem> for Job {
    type Error = InvalidJobItem;

    fn try_from(item: JobItem) -> Result<Self, InvalidJobItem> {
        let id = JobId::parse(&item.job_id).ok_or(InvalidJobItem::JobId)?;
        let owner = Owner::new(item.owner).ok_or(InvalidJobItem::Owner)?;
        let attempts = Attempts::from_recorded(item.attempts.into_iter().map(Attempt::from).collect())?;
        Ok(Self {
            id,
            owner,
            definition: item.definition,
            container: item.container,
            parameters: item.parameters,
            idempotency_key: item.idempotency_key,
            status: item.status,
            status_reason: item.status_reason,
            created_at: item.created_at,
            updated_at: item.updated_at,
            attempts,
        })
    }
}
