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
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, Put, ReturnConsumedCapacity, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{
    Attempt, Attempts, EcsTaskStatus, InvalidAttempts, Job, JobId, JobPage, JobStatus, JobUpdate, ListPosition,
    ListRequest, LogSettings, Owner, Queued, RetryAction, RetryPolicy, RetryRule, SlotChange, SlotClaim, SlotPool,
    UpdateGuard, WaitReason,
};
use crate::ports::{Cause, Created, JobStore, StoreError, Updated};

/// The operations this adapter calls, as IAM actions.
pub const GET_ITEM: &str = "dynamodb:GetItem";
pub const PUT_ITEM: &str = "dynamodb:PutItem";
pub const UPDATE_ITEM: &str = "dynamodb:UpdateItem";
/// Transactions (a job's write with its slot counters) are authorized as their items'
/// UpdateItem/PutItem; BatchGetItem and Query are the reconciler's.
pub const BATCH_GET_ITEM: &str = "dynamodb:BatchGetItem";
pub const QUERY: &str = "dynamodb:Query";

/// The sparse index of unfinished jobs: only items with `pendingShard` are in it, and a
/// job loses it when it finishes. Sharded so that hundreds of submissions per second
/// spread over [`PENDING_SHARDS`] index partitions.
pub const PENDING_INDEX: &str = "pending";
pub const PENDING_SHARDS: u32 = 16;
/// The sparse index of jobs waiting for a launch, per definition, oldest first.
pub const QUEUE_INDEX: &str = "queue";
/// The owner's listing indexes (keys only, but `owner-status` also projects
/// `definition`): every job is in all three, under a partition of its owner spread over
/// [`LIST_SHARDS`] write shards, sorted by [`ListPosition`] (`listCreated`). A listing
/// queries the partitions of its filter and merges them newest first.
pub const OWNER_INDEX: &str = "owner";
pub const OWNER_STATUS_INDEX: &str = "owner-status";
pub const OWNER_DEFINITION_INDEX: &str = "owner-definition";
/// Write shards per owner (and status, and definition). A status change writes its
/// index twice (the entry leaves one partition, enters another): at DynamoDB's 1,000
/// write units per second per partition, one owner can run 4 × 1,000 / 2 = 2,000 jobs
/// per second through one status before an index partition throttles. Fixed: the shard
/// is part of every stored key.
pub const LIST_SHARDS: u8 = 4;
/// The table's only key attribute (a string).
pub const KEY_ATTRIBUTE: &str = "jobId";

#[derive(Debug, Clone)]
pub struct DynamoJobStore {
    client: Client,
    table: String,
    /// Read capacity the listing reads consumed (Query, BatchGetItem), in hundredths of
    /// a unit: what a reconciliation pass costs, as DynamoDB reports it.
    listing_read_units: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl DynamoJobStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            listing_read_units: Default::default(),
        }
    }

    /// Read capacity units the listing reads (of unfinished and waiting jobs) consumed so
    /// far, as DynamoDB reported them.
    pub fn listing_read_units(&self) -> f64 {
        self.listing_read_units.load(std::sync::atomic::Ordering::Relaxed) as f64 / 100.0
    }

    fn meter(&self, consumed: Option<&aws_sdk_dynamodb::types::ConsumedCapacity>) {
        let units = consumed.and_then(|c| c.capacity_units()).unwrap_or(0.0);
        let hundredths = (units * 100.0).round().max(0.0) as u64;
        self.listing_read_units
            .fetch_add(hundredths, std::sync::atomic::Ordering::Relaxed);
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

/// How often a transaction that met another one on the same item (a slot counter under
/// concurrent launches) is tried again before the store reports itself unavailable.
const TRANSACTION_TRIES: u32 = 6;

/// What a cancelled transaction says about its items.
enum Cancelled {
    /// The first item's (the job's) condition failed; its old image if returned.
    Job(Option<HashMap<String, AttributeValue>>),
    /// A slot counter's condition failed: the pool is full.
    Limit,
    /// Another transaction held an item: worth trying again.
    Conflict,
    Other,
}

fn cancelled(err: &TransactWriteItemsError) -> Option<Cancelled> {
    let TransactWriteItemsError::TransactionCanceledException(e) = err else {
        return None;
    };
    let reasons = e.cancellation_reasons();
    let code = |r: &aws_sdk_dynamodb::types::CancellationReason| r.code().unwrap_or("None").to_owned();
    if let Some(first) = reasons.first().filter(|r| code(r) == "ConditionalCheckFailed") {
        return Some(Cancelled::Job(first.item().cloned()));
    }
    if reasons.iter().skip(1).any(|r| code(r) == "ConditionalCheckFailed") {
        return Some(Cancelled::Limit);
    }
    if reasons.iter().any(|r| code(r) == "TransactionConflict") {
        return Some(Cancelled::Conflict);
    }
    Some(Cancelled::Other)
}

impl DynamoJobStore {
    /// The counter updates that take (or give back) one slot of each pool.
    fn counter_updates(&self, slots: &SlotChange) -> Result<Vec<TransactWriteItem>, StoreError> {
        let mut items = Vec::new();
        let build = |update: aws_sdk_dynamodb::types::builders::UpdateBuilder| {
            update
                .table_name(&self.table)
                .build()
                .map(|u| TransactWriteItem::builder().update(u).build())
                .map_err(|e| invalid("slots", "counter update cannot be built", Some(e.into())))
        };
        match slots {
            SlotChange::Keep => {}
            SlotChange::Take(claims) => {
                for SlotClaim { pool, limit } in claims {
                    items.push(build(
                        Update::builder()
                            .key(KEY_ATTRIBUTE, AttributeValue::S(pool.key()))
                            .update_expression("SET running = if_not_exists(running, :zero) + :one")
                            .condition_expression("attribute_not_exists(running) OR running < :limit")
                            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
                            .expression_attribute_values(":one", AttributeValue::N("1".into()))
                            .expression_attribute_values(":limit", AttributeValue::N(limit.to_string())),
                    )?);
                }
            }
            // What the job holds is what goes back; the job's own condition
            // (`attribute_exists(slots)`) makes sure it goes back once.
            SlotChange::Release(held) => {
                for pool in held {
                    items.push(build(
                        Update::builder()
                            .key(KEY_ATTRIBUTE, AttributeValue::S(pool.key()))
                            .update_expression("ADD running :minusOne")
                            .expression_attribute_values(":minusOne", AttributeValue::N("-1".into())),
                    )?);
                }
            }
        }
        Ok(items)
    }

    /// Runs a transaction, trying again while it only met other transactions.
    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<Option<Cancelled>, StoreError> {
        for try_number in 1..=TRANSACTION_TRIES {
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(None),
                Err(err) => err,
            };
            match err.as_service_error().and_then(cancelled) {
                Some(Cancelled::Conflict) if try_number < TRANSACTION_TRIES => {
                    let pause = 10 * u64::from(try_number) + fastrand::u64(0..20);
                    tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
                }
                Some(Cancelled::Conflict | Cancelled::Other) | None => {
                    return Err(unavailable("TransactWriteItems", err));
                }
                Some(outcome) => return Ok(Some(outcome)),
            }
        }
        unreachable!("the last try returns")
    }

    async fn query_keys(
        &self,
        index: &'static str,
        partition: (&str, String),
        limit: Option<usize>,
    ) -> Result<Vec<JobId>, StoreError> {
        let mut ids = Vec::new();
        let mut start = None;
        loop {
            let page = limit.map(|l| i32::try_from(l.saturating_sub(ids.len())).unwrap_or(i32::MAX));
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression("#partition = :partition")
                .expression_attribute_names("#partition", partition.0)
                .expression_attribute_values(":partition", AttributeValue::S(partition.1.clone()))
                .scan_index_forward(true)
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .set_limit(page)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| unavailable("Query", e))?;
            self.meter(output.consumed_capacity());
            for item in output.items() {
                if let Some(id) = item
                    .get(KEY_ATTRIBUTE)
                    .and_then(|v| v.as_s().ok())
                    .and_then(|v| JobId::parse(v))
                {
                    ids.push(id);
                }
            }
            start = output.last_evaluated_key;
            if start.is_none() || limit.is_some_and(|l| ids.len() >= l) {
                return Ok(ids);
            }
        }
    }
}

impl JobStore for DynamoJobStore {
    async fn create(&self, job: &Job, claims: &[SlotClaim]) -> Result<Created, StoreError> {
        let item = serde_dynamo::to_item(JobItem::from(job))
            .map_err(|e| invalid(job.id, "cannot be encoded", Some(e.into())))?;
        let returned = if claims.is_empty() {
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
                Ok(_) => return Ok(Created::Inserted),
                Err(SdkError::ServiceError(failure)) if failure.err().is_conditional_check_failed_exception() => {
                    match failure.into_err() {
                        PutItemError::ConditionalCheckFailedException(e) => e.item,
                        _ => None,
                    }
                }
                Err(err) => return Err(unavailable("PutItem", err)),
            }
        } else {
            // The job and its slots in one atomic write: no crash can leave either alone.
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(#key)")
                .expression_attribute_names("#key", KEY_ATTRIBUTE)
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                .build()
                .map_err(|e| invalid(job.id, "cannot be encoded", Some(e.into())))?;
            let mut items = vec![TransactWriteItem::builder().put(put).build()];
            items.extend(self.counter_updates(&SlotChange::Take(claims.to_vec()))?);
            match self.transact(items).await? {
                None => return Ok(Created::Inserted),
                Some(Cancelled::Limit) => return Ok(Created::LimitReached),
                Some(Cancelled::Job(old)) => old,
                Some(Cancelled::Conflict | Cancelled::Other) => {
                    return Err(invalid(job.id, "transaction cancelled for no known reason", None))
                }
            }
        };
        // Engines without ReturnValuesOnConditionCheckFailure return no item.
        let existing = match returned {
            Some(item) => Some(decode(item, &job.id.to_string())?),
            None => self.get(job.id).await?,
        };
        let existing = existing.ok_or_else(|| invalid(job.id, "exists and vanished", None))?;
        Ok(Created::AlreadyExists(Box::new(existing)))
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

    async fn get_many(&self, ids: &[JobId]) -> Result<Vec<Job>, StoreError> {
        const BATCH: usize = 100;
        let mut jobs = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(BATCH) {
            let mut keys: Vec<_> = chunk.iter().map(|id| Self::key(*id)).collect();
            // DynamoDB may leave keys unprocessed under load: ask again for those.
            for _ in 0..TRANSACTION_TRIES {
                if keys.is_empty() {
                    break;
                }
                // Eventually consistent, at half the read cost: the reconciler that reads
                // these decides on them, but every write it makes is conditional on the
                // job as stored, so a stale read costs a rejected write, never a wrong one.
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut keys)))
                    .build()
                    .map_err(|e| invalid("batch", "keys cannot be built", Some(e.into())))?;
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .return_consumed_capacity(ReturnConsumedCapacity::Total)
                    .send()
                    .await
                    .map_err(|e| unavailable("BatchGetItem", e))?;
                for consumed in output.consumed_capacity() {
                    self.meter(Some(consumed));
                }
                if let Some(items) = output.responses.and_then(|mut r| r.remove(&self.table)) {
                    for item in items {
                        let id = item
                            .get(KEY_ATTRIBUTE)
                            .and_then(|v| v.as_s().ok())
                            .cloned()
                            .unwrap_or_default();
                        jobs.push(decode(item, &id)?);
                    }
                }
                keys = output
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .map(|k| k.keys)
                    .unwrap_or_default();
            }
            if !keys.is_empty() {
                return Err(StoreError::Unavailable {
                    operation: "BatchGetItem",
                    source: format!("{} keys stayed unprocessed", keys.len()).into(),
                });
            }
        }
        Ok(jobs)
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
        condition.push_str(if update.holds_slots {
            " AND attribute_exists(slots)"
        } else {
            " AND attribute_not_exists(slots)"
        });
        condition.push_str(if update.decided_after_cancel {
            " AND attribute_exists(cancelRequestedAt)"
        } else {
            " AND attribute_not_exists(cancelRequestedAt)"
        });
        let mut values = HashMap::from([
            (":attempt".to_owned(), encode(id, &AttemptItem::from(&update.attempt))?),
            (
                ":attemptCount".to_owned(),
                AttributeValue::N(update.attempt.number.to_string()),
            ),
            (":newStatus".to_owned(), status_value(update.status)),
            (":updatedAt".to_owned(), AttributeValue::S(timestamp(update.updated_at))),
        ]);
        let terminal = [
            (":succeeded", JobStatus::Succeeded),
            (":failed", JobStatus::Failed),
            (":cancelled", JobStatus::Cancelled),
        ];
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
                     AND {}({attempt}.timedOutAfter) \
                     AND (NOT (#status IN (:succeeded, :failed, :cancelled))",
                    if event.timed_out {
                        "attribute_exists"
                    } else {
                        "attribute_not_exists"
                    }
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
                for (name, status) in terminal {
                    values.insert(name.to_owned(), status_value(status));
                }
            }
            UpdateGuard::Unchanged { task_arn, version } => {
                condition.push_str(&format!(
                    " AND {attempt}.taskArn = :taskArn AND NOT (#status IN (:succeeded, :failed, :cancelled))"
                ));
                match version {
                    Some(version) => {
                        condition.push_str(&format!(" AND {attempt}.eventVersion = :version"));
                        values.insert(":version".to_owned(), AttributeValue::N(version.to_string()));
                    }
                    None => condition.push_str(&format!(" AND attribute_not_exists({attempt}.eventVersion)")),
                }
                values.insert(":taskArn".to_owned(), AttributeValue::S(task_arn.clone()));
                for (name, status) in terminal {
                    values.insert(name.to_owned(), status_value(status));
                }
            }
        }

        let mut sets = vec![
            format!("{attempt} = :attempt"),
            "#status = :newStatus".to_owned(),
            "updatedAt = :updatedAt".to_owned(),
            // The entry in the listing by status moves with the status.
            "listStatus = :listStatus".to_owned(),
        ];
        values.insert(
            ":listStatus".to_owned(),
            AttributeValue::S(list_status(update.owner.as_str(), update.status, list_shard(id))),
        );
        let mut removes = Vec::new();
        if let Some(next) = &update.next_attempt {
            // Past the end of the list: DynamoDB appends it.
            sets.push(format!("attempts[{}] = :nextAttempt", index + 1));
            values.insert(":nextAttempt".to_owned(), encode(id, &AttemptItem::from(next))?);
        }
        if let (Some(at), false) = (update.cancel_requested_at, update.decided_after_cancel) {
            sets.push("cancelRequestedAt = :cancelRequestedAt".to_owned());
            values.insert(":cancelRequestedAt".to_owned(), AttributeValue::S(timestamp(at)));
        }
        match &update.status_reason {
            Some(reason) => {
                sets.push("statusReason = :reason".to_owned());
                values.insert(":reason".to_owned(), AttributeValue::S(reason.clone()));
            }
            None => removes.push("statusReason"),
        }
        match &update.queue {
            Some(queue) => {
                sets.push("#queue = :queue".to_owned());
                sets.push("wasQueued = :wasQueued".to_owned());
                values.insert(":wasQueued".to_owned(), AttributeValue::Bool(true));
                // In the queue index while it waits, in the order it was submitted.
                sets.push("queuedFor = #definition".to_owned());
                // A job recorded before the indexes existed has no `pendingSince`: its
                // attempt's creation time stands in.
                sets.push("queuedSince = if_not_exists(pendingSince, :queuedSince)".to_owned());
                values.insert(
                    ":queuedSince".to_owned(),
                    AttributeValue::S(format!("{}#{id}", timestamp(update.attempt.created_at))),
                );
                let item = serde_dynamo::to_attribute_value(QueueItem::from(queue))
                    .map_err(|e| invalid(id, "queue entry cannot be encoded", Some(e.into())))?;
                values.insert(":queue".to_owned(), item);
            }
            None => removes.extend(["#queue", "queuedFor", "queuedSince"]),
        }
        match &update.slots {
            SlotChange::Keep => {}
            SlotChange::Take(claims) => {
                sets.push("slots = :slots".to_owned());
                let keys = claims.iter().map(|c| AttributeValue::S(c.pool.key())).collect();
                values.insert(":slots".to_owned(), AttributeValue::L(keys));
            }
            SlotChange::Release(_) => removes.push("slots"),
        }
        if update.status.is_terminal() {
            // Out of the index of unfinished jobs: the reconciler never reads it again.
            removes.extend(["pendingShard", "pendingSince"]);
        }
        let mut expression = format!("SET {}", sets.join(", "));
        if !removes.is_empty() {
            expression.push_str(&format!(" REMOVE {}", removes.join(", ")));
        }
        let mut names = HashMap::from([("#status".to_owned(), "status".to_owned())]);
        // Reserved words in DynamoDB's expression language.
        for name in ["queue", "definition"] {
            if expression.contains(&format!("#{name}")) {
                names.insert(format!("#{name}"), name.to_owned());
            }
        }

        if update.slots == SlotChange::Keep {
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(Self::key(id)))
                .update_expression(expression)
                .condition_expression(condition)
                .set_expression_attribute_names(Some(names))
                .set_expression_attribute_values(Some(values))
                .send()
                .await;
            return match result {
                Ok(_) => Ok(Updated::Applied),
                Err(SdkError::ServiceError(failure))
                    if matches!(failure.err(), UpdateItemError::ConditionalCheckFailedException(_)) =>
                {
                    Ok(Updated::GuardFailed)
                }
                Err(err) => Err(unavailable("UpdateItem", err)),
            };
        }

        // The job's change and its slots' counters in one atomic write.
        let job_update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(id)))
            .update_expression(expression)
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(|e| invalid(id, "update cannot be built", Some(e.into())))?;
        let mut items = vec![TransactWriteItem::builder().update(job_update).build()];
        items.extend(self.counter_updates(&update.slots)?);
        Ok(match self.transact(items).await? {
            None => Updated::Applied,
            Some(Cancelled::Limit) => Updated::LimitReached,
            Some(_) => Updated::GuardFailed,
        })
    }

    async fn unfinished(&self) -> Result<Vec<JobId>, StoreError> {
        let mut ids = Vec::new();
        for shard in 0..PENDING_SHARDS {
            let partition = ("pendingShard", format!("{shard:x}"));
            ids.extend(self.query_keys(PENDING_INDEX, partition, None).await?);
        }
        Ok(ids)
    }

    async fn queued(&self, definition: &str, limit: usize) -> Result<Vec<JobId>, StoreError> {
        let limit = (limit < usize::MAX).then_some(limit);
        self.query_keys(QUEUE_INDEX, ("queuedFor", definition.to_owned()), limit)
            .await
    }

    async fn list(&self, request: &ListRequest) -> Result<JobPage, StoreError> {
        let filter = &request.filter;
        let owner = request.owner.as_str();
        let shards = 0..LIST_SHARDS;
        // The narrowest index the filter allows: by status (a combined definition filter
        // is applied to the projected `definition` there), else by definition, else all.
        let (index, attribute, partitions): (_, _, Vec<String>) = if !filter.statuses.is_empty() {
            let partitions = filter
                .statuses
                .iter()
                .flat_map(|status| shards.clone().map(move |shard| list_status(owner, *status, shard)))
                .collect();
            (OWNER_STATUS_INDEX, "listStatus", partitions)
        } else if let Some(definition) = &filter.definition {
            let partitions = shards.map(|shard| list_definition(owner, definition, shard)).collect();
            (OWNER_DEFINITION_INDEX, "listDefinition", partitions)
        } else {
            (
                OWNER_INDEX,
                "listOwner",
                shards.map(|shard| list_owner(owner, shard)).collect(),
            )
        };
        let lower = filter.lower_bound();
        let upper = match (filter.upper_bound(), &request.after) {
            (Some(before), Some(after)) => Some(before.min(after.as_str().to_owned())),
            (before, after) => before.or_else(|| after.as_ref().map(|a| a.as_str().to_owned())),
        };
        if let (Some(lower), Some(upper)) = (&lower, &upper) {
            if lower >= upper {
                return Ok(JobPage {
                    jobs: Vec::new(),
                    next: None,
                });
            }
        }
        let range = ListRange {
            index,
            attribute,
            lower,
            upper,
            definition: (index == OWNER_STATUS_INDEX)
                .then(|| filter.definition.clone())
                .flatten(),
        };

        // Merge the partitions newest first, reading each a little past its share of the
        // page and reading on only when its entries run out, so that the entries read stay
        // close to the entries listed. One more than the page tells whether more follow.
        let wanted = request.limit as usize + 1;
        let share = wanted.div_ceil(partitions.len()) + 1;
        let mut streams: Vec<IndexStream> = partitions.into_iter().map(IndexStream::new).collect();
        let mut listed: Vec<(String, JobId)> = Vec::with_capacity(wanted);
        while listed.len() < wanted {
            let reads = streams
                .iter_mut()
                .filter(|s| s.entries.is_empty() && !s.exhausted)
                .map(|stream| self.read_on(stream, &range, share));
            for result in futures_util::future::join_all(reads).await {
                result?;
            }
            let newest = streams
                .iter_mut()
                .filter(|s| !s.entries.is_empty())
                .max_by(|a, b| a.entries[0].0.cmp(&b.entries[0].0));
            match newest.and_then(|stream| stream.entries.pop_front()) {
                // A job whose status changed is in two status partitions for a moment.
                Some(entry) if listed.iter().any(|(_, id)| *id == entry.1) => {}
                Some(entry) => listed.push(entry),
                None => break,
            }
        }
        let more = listed.len() == wanted;
        listed.truncate(request.limit as usize);
        let next = more
            .then(|| listed.last().and_then(|(position, _)| ListPosition::parse(position)))
            .flatten();

        let ids: Vec<JobId> = listed.iter().map(|(_, id)| *id).collect();
        let mut jobs: HashMap<JobId, Job> = self.get_many(&ids).await?.into_iter().map(|j| (j.id, j)).collect();
        // The indexes trail the table by a moment: a job whose status changed since its
        // entry was read is left out rather than listed under a filter it no longer fits.
        let jobs = ids
            .iter()
            .filter_map(|id| jobs.remove(id))
            .filter(|job| job.owner == request.owner && filter.matches(job))
            .collect();
        Ok(JobPage { jobs, next })
    }
}

/// What one listing reads of each index partition: `[lower, upper)` of `listCreated`.
struct ListRange {
    index: &'static str,
    attribute: &'static str,
    lower: Option<String>,
    upper: Option<String>,
    /// A definition filter on the `owner-status` index, where `definition` is projected.
    definition: Option<String>,
}

/// One index partition of a listing, read newest first a page at a time.
struct IndexStream {
    partition: String,
    /// Entries read and not yet merged: (`listCreated`, job id), newest first.
    entries: std::collections::VecDeque<(String, JobId)>,
    start: Option<HashMap<String, AttributeValue>>,
    exhausted: bool,
}

impl IndexStream {
    fn new(partition: String) -> Self {
        Self {
            partition,
            entries: Default::default(),
            start: None,
            exhausted: false,
        }
    }
}

impl DynamoJobStore {
    /// Reads `stream` on until it holds an entry or has none left: the merge may take the
    /// newest entry only once every stream that is not exhausted shows its next one. A
    /// read can come back empty with more to read (DynamoDB applies `Limit` before a
    /// definition filter, and the previous page's last entry is dropped), so an empty read
    /// reads on, four times as far each time.
    async fn read_on(&self, stream: &mut IndexStream, range: &ListRange, limit: usize) -> Result<(), StoreError> {
        let mut limit = limit;
        loop {
            self.read_page(stream, range, limit).await?;
            if !stream.entries.is_empty() || stream.exhausted {
                return Ok(());
            }
            limit = (limit * 4).min(1000);
        }
    }

    /// Reads the next `limit` entries of `stream`.
    async fn read_page(&self, stream: &mut IndexStream, range: &ListRange, limit: usize) -> Result<(), StoreError> {
        let mut condition = "#partition = :partition".to_owned();
        let mut values = HashMap::from([(":partition".to_owned(), AttributeValue::S(stream.partition.clone()))]);
        // DynamoDB allows one condition on the sort key: BETWEEN is inclusive, so an
        // upper bound that is a listed position (the previous page's last) is read once
        // more and dropped below; a creation-time bound never equals a position.
        condition.push_str(match (&range.lower, &range.upper) {
            (None, None) => "",
            (Some(_), None) => " AND listCreated >= :lower",
            (None, Some(_)) => " AND listCreated < :upper",
            (Some(_), Some(_)) => " AND listCreated BETWEEN :lower AND :upper",
        });
        for (name, bound) in [(":lower", &range.lower), (":upper", &range.upper)] {
            if let Some(bound) = bound {
                values.insert(name.to_owned(), AttributeValue::S(bound.clone()));
            }
        }
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(range.index)
            .key_condition_expression(condition)
            .expression_attribute_names("#partition", range.attribute)
            .scan_index_forward(false)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .set_exclusive_start_key(stream.start.take());
        if let Some(definition) = &range.definition {
            query = query
                .filter_expression("#definition = :definition")
                .expression_attribute_names("#definition", "definition");
            values.insert(":definition".to_owned(), AttributeValue::S(definition.clone()));
        }
        let output = query
            .set_expression_attribute_values(Some(values))
            .send()
            .await
            .map_err(|e| unavailable("Query", e))?;
        self.meter(output.consumed_capacity());
        for item in output.items() {
            let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok());
            let (Some(position), Some(id)) = (text("listCreated"), text(KEY_ATTRIBUTE).and_then(|v| JobId::parse(v)))
            else {
                continue;
            };
            if range.upper.as_deref() != Some(position.as_str()) {
                stream.entries.push_back((position.clone(), id));
            }
        }
        stream.start = output.last_evaluated_key;
        stream.exhausted = stream.start.is_none();
        Ok(())
    }
}

/// A value as one part of a listing key: `#` separates the parts, so it is escaped
/// (with `%`, escaped first), which keeps two different owners or definitions from ever
/// sharing a partition.
fn key_part(value: &str) -> String {
    value.replace('%', "%25").replace('#', "%23")
}

/// A job's listing shard: its id's first hex digit, modulo [`LIST_SHARDS`].
fn list_shard(id: JobId) -> u8 {
    let first = id.to_string().as_bytes().first().copied().unwrap_or(b'0');
    (first as char).to_digit(16).unwrap_or(0) as u8 % LIST_SHARDS
}

fn list_owner(owner: &str, shard: u8) -> String {
    format!("{}#{shard}", key_part(owner))
}

fn list_status(owner: &str, status: JobStatus, shard: u8) -> String {
    format!("{}#{}#{shard}", key_part(owner), status.as_str())
}

fn list_definition(owner: &str, definition: &str, shard: u8) -> String {
    format!("{}#{}#{shard}", key_part(owner), key_part(definition))
}

/// The shard of a job in the index of unfinished jobs: its id's first hex digit.
fn pending_shard(id: JobId) -> String {
    id.to_string().chars().next().map(String::from).unwrap_or_default()
}

/// The sort key of a job in both indexes: creation time, then id.
fn pending_since(job: &Job) -> String {
    format!("{}#{}", timestamp(job.created_at), job.id)
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    queue: Option<QueueItem>,
    /// The slot pools the job holds (their counter items' keys).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    slots: Vec<String>,
    /// Keys of the `pending` index, present while the job is unfinished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pending_shard: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pending_since: Option<String>,
    /// Keys of the `queue` index, present while the job waits for a launch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    queued_for: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    queued_since: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    was_queued: bool,
    /// Absent on jobs recorded before retries existed: they had one attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retry: Option<RetryItem>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    timeout_seconds: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cancel_requested_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    logs: Option<LogsItem>,
    /// Keys of the listing indexes (absent on jobs recorded before listing existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    list_owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    list_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    list_definition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    list_created: Option<String>,
}

/// The job's retry policy as recorded with it. Unknown fields are ignored, unlike in
/// `JOB_DEFINITIONS`: a later version may record more, and this one must still read the
/// job after a rollback.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RetryItem {
    attempts: u32,
    interval_seconds: u64,
    backoff_rate: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_delay_seconds: Option<u64>,
    #[serde(default)]
    jitter: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    rules: Vec<RetryRuleItem>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RetryRuleItem {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    on_exit_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    on_stop_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    on_reason: Option<String>,
    /// `RETRY` or `EXIT`.
    action: String,
}

impl From<&RetryPolicy> for RetryItem {
    fn from(policy: &RetryPolicy) -> Self {
        Self {
            attempts: policy.attempts,
            interval_seconds: policy.interval.as_secs(),
            backoff_rate: policy.backoff_rate,
            max_delay_seconds: policy.max_delay.map(|d| d.as_secs()),
            jitter: policy.jitter,
            rules: policy
                .rules
                .iter()
                .map(|rule| RetryRuleItem {
                    on_exit_code: rule.on_exit_code.clone(),
                    on_stop_code: rule.on_stop_code.clone(),
                    on_reason: rule.on_reason.clone(),
                    action: rule.action.as_str().to_owned(),
                })
                .collect(),
        }
    }
}

impl TryFrom<RetryItem> for RetryPolicy {
    type Error = InvalidJobItem;

    fn try_from(item: RetryItem) -> Result<Self, InvalidJobItem> {
        let rules = item
            .rules
            .into_iter()
            .map(|rule| {
                let action = RetryAction::parse(&rule.action).ok_or(InvalidJobItem::RetryAction(rule.action))?;
                Ok(RetryRule {
                    on_exit_code: rule.on_exit_code,
                    on_stop_code: rule.on_stop_code,
                    on_reason: rule.on_reason,
                    action,
                })
            })
            .collect::<Result<_, InvalidJobItem>>()?;
        Ok(Self {
            attempts: item.attempts.max(1),
            interval: std::time::Duration::from_secs(item.interval_seconds),
            backoff_rate: item.backoff_rate,
            max_delay: item.max_delay_seconds.map(std::time::Duration::from_secs),
            jitter: item.jitter,
            rules,
        })
    }
}

/// The job's log configuration as recorded with it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogsItem {
    group: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    region: Option<String>,
    stream_prefix: String,
}

/// A waiting job's queue entry.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueueItem {
    reason: String,
    tries: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next_try_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    outcome_unknown_since: Option<DateTime<Utc>>,
}

impl From<&Queued> for QueueItem {
    fn from(q: &Queued) -> Self {
        Self {
            reason: q.reason.as_str().to_owned(),
            tries: q.tries,
            next_try_at: q.next_try_at,
            outcome_unknown_since: q.outcome_unknown_since,
        }
    }
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    timed_out_after: Option<u64>,
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
            timed_out_after: a.timed_out_after,
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
            timed_out_after: a.timed_out_after,
        }
    }
}

impl From<&Job> for JobItem {
    fn from(job: &Job) -> Self {
        let unfinished = !job.status.is_terminal();
        let waiting = unfinished && job.queue.is_some();
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
            queue: job.queue.as_ref().map(QueueItem::from),
            slots: job.slots.iter().map(SlotPool::key).collect(),
            pending_shard: unfinished.then(|| pending_shard(job.id)),
            pending_since: unfinished.then(|| pending_since(job)),
            queued_for: waiting.then(|| job.definition.clone()),
            queued_since: waiting.then(|| pending_since(job)),
            was_queued: job.was_queued,
            retry: Some(RetryItem::from(&job.retry)),
            timeout_seconds: job.timeout.map(|t| t.as_secs()),
            cancel_requested_at: job.cancel_requested_at,
            logs: job.logs.as_ref().map(|logs| LogsItem {
                group: logs.group.clone(),
                region: logs.region.clone(),
                stream_prefix: logs.stream_prefix.clone(),
            }),
            list_owner: Some(list_owner(job.owner.as_str(), list_shard(job.id))),
            list_status: Some(list_status(job.owner.as_str(), job.status, list_shard(job.id))),
            list_definition: Some(list_definition(job.owner.as_str(), &job.definition, list_shard(job.id))),
            list_created: Some(ListPosition::of(job).as_str().to_owned()),
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
    #[error("queue reason {0:?} is not one this service writes")]
    QueueReason(String),
    #[error("slot pool {0:?} is not one this service writes")]
    SlotPool(String),
    #[error("retry rule action {0:?} is not one this service writes")]
    RetryAction(String),
}

impl TryFrom<JobItem> for Job {
    type Error = InvalidJobItem;

    fn try_from(item: JobItem) -> Result<Self, InvalidJobItem> {
        let id = JobId::parse(&item.job_id).ok_or(InvalidJobItem::JobId)?;
        let owner = Owner::new(item.owner).ok_or(InvalidJobItem::Owner)?;
        let attempts = Attempts::from_recorded(item.attempts.into_iter().map(Attempt::from).collect())?;
        let queue = match item.queue {
            None => None,
            Some(q) => Some(Queued {
                reason: WaitReason::parse(&q.reason).ok_or(InvalidJobItem::QueueReason(q.reason))?,
                tries: q.tries,
                next_try_at: q.next_try_at,
                outcome_unknown_since: q.outcome_unknown_since,
            }),
        };
        let retry = match item.retry {
            Some(item) => RetryPolicy::try_from(item)?,
            None => RetryPolicy {
                attempts: 1,
                ..RetryPolicy::default()
            },
        };
        let slots = item
            .slots
            .into_iter()
            .map(|key| SlotPool::parse(&key).ok_or(InvalidJobItem::SlotPool(key)))
            .collect::<Result<_, _>>()?;
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
            queue,
            slots,
            was_queued: item.was_queued,
            retry,
            timeout: item.timeout_seconds.map(std::time::Duration::from_secs),
            cancel_requested_at: item.cancel_requested_at,
            logs: item.logs.map(|logs| LogSettings {
                group: logs.group,
                region: logs.region,
                stream_prefix: logs.stream_prefix,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item_with_retry(retry: serde_json::Value) -> HashMap<String, AttributeValue> {
        let id = JobId::random().to_string();
        let json = serde_json::json!({
            "jobId": id, "owner": "arn:aws:iam::111122223333:user/alice", "definition": "report",
            "container": "app", "status": "RUNNING", "createdAt": "2026-11-27T12:00:00Z",
            "updatedAt": "2026-11-27T12:00:00Z",
            "attempts": [{"attempt": 1, "createdAt": "2026-11-27T12:00:00Z"}],
            "retry": retry,
        });
        serde_dynamo::to_item(json).expect("an item")
    }

    #[test]
    fn a_retry_policy_round_trips_and_fields_a_later_version_adds_are_ignored() {
        let policy = RetryPolicy {
            attempts: 4,
            max_delay: Some(std::time::Duration::from_secs(300)),
            jitter: true,
            rules: vec![RetryRule {
                on_exit_code: Some("137".into()),
                on_stop_code: None,
                on_reason: Some("timed out*".into()),
                action: RetryAction::Retry,
            }],
            ..RetryPolicy::default()
        };
        let stored = serde_json::to_value(RetryItem::from(&policy)).expect("JSON");
        let job = decode(item_with_retry(stored.clone()), "job").expect("decoded");
        assert_eq!(job.retry, policy);

        let mut later = stored;
        later["maxTotalSeconds"] = serde_json::json!(3600);
        later["rules"][0]["onPlatform"] = serde_json::json!("FARGATE");
        assert_eq!(decode(item_with_retry(later), "job").expect("decoded").retry, policy);

        let mut unknown_action = serde_json::to_value(RetryItem::from(&policy)).expect("JSON");
        unknown_action["rules"][0]["action"] = serde_json::json!("IGNORE");
        assert!(decode(item_with_retry(unknown_action), "job").is_err());
    }
}
