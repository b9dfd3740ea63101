//! The job domain: what a job is, and the pure rules that move it.
//!
//! Nothing here performs I/O or sees an SDK or wire type: ECS events and DescribeTasks
//! answers arrive as [`TaskObservation`]s, converted at the edge. Stores apply a
//! [`JobUpdate`] only if its [`UpdateGuard`] still holds at write time (a conditional
//! write in DynamoDB), which is what makes the rules safe under concurrent, duplicated
//! and reordered deliveries.

mod definition;
mod job;
mod launch;
mod listing;
mod logs;
mod policy;
mod rules;
mod stop;
mod task;

pub use definition::{JobDefinition, JobDefinitions};
pub use job::{
    Attempt, Attempts, IdempotencyKey, InvalidAttempts, Job, JobId, JobStatus, NewJob, Owner, StartedBy,
    JOB_ATTEMPT_VARIABLE, JOB_ID_VARIABLE,
};
pub use launch::{
    launch_delay, LaunchStep, Limits, Queued, SlotClaim, SlotPool, WaitReason, CLIENT_TOKEN_TRUSTED_FOR,
    DEFAULT_QUEUE_TIMEOUT, LAUNCH_GRACE,
};
pub use listing::{page_of, JobFilter, JobPage, ListPosition, ListRequest, DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT};
pub use logs::{LogLocation, LogSettings};
pub use policy::{AttemptFailure, ExitWhy, RetryAction, RetryDecision, RetryPolicy, RetryRule};
pub use rules::{
    decide, status_for, EventDecision, Ignored, JobUpdate, SlotChange, TaskEventGuard, UpdateGuard, CANCELLED,
    CANCELLING,
};
pub use stop::{Cancel, CANCEL_STOP_REASON};
pub use task::{ContainerObservation, EcsTaskStatus, StopCode, TaskObservation};

#[cfg(test)]
mod tests;
