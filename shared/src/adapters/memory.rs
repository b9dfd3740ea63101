//! In-process adapters, with the same semantics as the AWS ones: the local server's
//! defaults, and the second implementations the conformance suites run against.
//!
//! - [`InMemoryJobStore`]: DynamoDB's conditional writes and transactions, under one lock;
//! - [`InProcessLaunchQueue`]: SQS's delayed delivery, with tokio timers.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use crate::domain::{page_of, Job, JobId, JobPage, JobUpdate, ListRequest, SlotChange, SlotClaim};
use crate::infra::sync::lock;
use crate::ports::{Created, JobStore, LaunchMessage, LaunchQueue, QueueError, StoreError, Updated};

/// Jobs and slot counters in maps under one lock; the guard of an update and the limits
/// of its slot claims are checked under the same lock as the write, which is what
/// DynamoDB's condition expressions and transactions give the real store.
#[derive(Debug, Default)]
pub struct InMemoryJobStore {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    jobs: HashMap<JobId, Job>,
    /// Taken slots per pool key.
    slots: HashMap<String, u32>,
    writes: usize,
}

impl State {
    /// Takes one slot of each claim, all or none.
    fn take(&mut self, claims: &[SlotClaim]) -> bool {
        let free = claims
            .iter()
            .all(|c| self.slots.get(&c.pool.key()).copied().unwrap_or(0) < c.limit);
        if free {
            for claim in claims {
                *self.slots.entry(claim.pool.key()).or_default() += 1;
            }
        }
        free
    }
}

impl InMemoryJobStore {
    /// Successful writes so far (creates and applied updates).
    pub fn writes(&self) -> usize {
        lock(&self.state).writes
    }

    /// Slots taken in the pool named `key` (see `SlotPool::key`).
    pub fn slots_taken(&self, key: &str) -> u32 {
        lock(&self.state).slots.get(key).copied().unwrap_or(0)
    }
}

impl JobStore for InMemoryJobStore {
    async fn create(&self, job: &Job, claims: &[SlotClaim]) -> Result<Created, StoreError> {
        let mut state = lock(&self.state);
        if let Some(existing) = state.jobs.get(&job.id) {
            return Ok(Created::AlreadyExists(Box::new(existing.clone())));
        }
        if !state.take(claims) {
            return Ok(Created::LimitReached);
        }
        state.jobs.insert(job.id, job.clone());
        state.writes += 1;
        Ok(Created::Inserted)
    }

    async fn get(&self, id: JobId) -> Result<Option<Job>, StoreError> {
        Ok(lock(&self.state).jobs.get(&id).cloned())
    }

    async fn get_many(&self, ids: &[JobId]) -> Result<Vec<Job>, StoreError> {
        let state = lock(&self.state);
        Ok(ids.iter().filter_map(|id| state.jobs.get(id).cloned()).collect())
    }

    async fn update(&self, id: JobId, update: &JobUpdate) -> Result<Updated, StoreError> {
        let mut state = lock(&self.state);
        let holds = match state.jobs.get(&id) {
            Some(job) if job.guard_holds(update) => job.slots.clone(),
            _ => return Ok(Updated::GuardFailed),
        };
        match &update.slots {
            SlotChange::Keep => {}
            SlotChange::Take(claims) => {
                if !state.take(claims) {
                    return Ok(Updated::LimitReached);
                }
            }
            SlotChange::Release(_) => {
                // What the job holds, as stored, is what goes back.
                for pool in holds {
                    if let Some(taken) = state.slots.get_mut(&pool.key()) {
                        *taken = taken.saturating_sub(1);
                    }
                }
            }
        }
        if let Some(job) = state.jobs.get_mut(&id) {
            job.apply(update);
        }
        state.writes += 1;
        Ok(Updated::Applied)
    }

    async fn unfinished(&self) -> Result<Vec<JobId>, StoreError> {
        let state = lock(&self.state);
        let mut jobs: Vec<&Job> = state.jobs.values().filter(|j| !j.status.is_terminal()).collect();
        jobs.sort_by_key(|j| (j.created_at, j.id));
        Ok(jobs.into_iter().map(|j| j.id).collect())
    }

    async fn queued(&self, definition: &str, limit: usize) -> Result<Vec<JobId>, StoreError> {
        let state = lock(&self.state);
        let mut jobs: Vec<&Job> = state
            .jobs
            .values()
            .filter(|j| j.definition == definition && j.queue.is_some())
            .collect();
        jobs.sort_by_key(|j| (j.created_at, j.id));
        Ok(jobs.into_iter().take(limit).map(|j| j.id).collect())
    }

    async fn list(&self, request: &ListRequest) -> Result<JobPage, StoreError> {
        Ok(page_of(lock(&self.state).jobs.values(), request))
    }
}

/// A launch queue in this process: each message is delivered to the receiver when it
/// is due (at once without a time), like SQS's `DelaySeconds` without its 15-minute cap.
#[derive(Debug, Clone)]
pub struct InProcessLaunchQueue {
    sender: mpsc::UnboundedSender<LaunchMessage>,
}

impl InProcessLaunchQueue {
    /// The queue, and the receiver its consumer reads.
    pub fn new() -> (Self, mpsc::UnboundedReceiver<LaunchMessage>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        (Self { sender }, receiver)
    }
}

impl LaunchQueue for InProcessLaunchQueue {
    async fn send(&self, message: &LaunchMessage, not_before: Option<DateTime<Utc>>) -> Result<(), QueueError> {
        let delay = not_before
            .and_then(|at| (at - Utc::now()).to_std().ok())
            .unwrap_or_default();
        let sender = self.sender.clone();
        let message = message.clone();
        if delay.is_zero() {
            return sender.send(message).map_err(|e| QueueError { source: e.into() });
        }
        if sender.is_closed() {
            return Err(QueueError {
                source: "the launch queue's consumer has stopped".into(),
            });
        }
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            // The consumer only goes away when the process stops.
            let _ = sender.send(message);
        });
        Ok(())
    }
}
