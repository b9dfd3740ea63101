//! The in-process job store, with the same conditional semantics as the DynamoDB one:
//! the local server's default store, and the second store of the conformance suite.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::domain::{Job, JobId, JobUpdate};
use crate::infra::sync::lock;
use crate::ports::{Created, JobStore, StoreError, Updated};

/// Jobs in a map under one lock; the guard of an update is checked under the same lock
/// as the write, which is what DynamoDB's condition expressions give the real store.
#[derive(Debug, Default)]
pub struct InMemoryJobStore {
    jobs: Mutex<HashMap<JobId, Job>>,
    writes: Mutex<usize>,
}

impl InMemoryJobStore {
    /// Successful writes so far (creates and applied updates).
    pub fn writes(&self) -> usize {
        *lock(&self.writes)
    }
}

impl JobStore for InMemoryJobStore {
    async fn create(&self, job: &Job) -> Result<Created, StoreError> {
        let mut jobs = lock(&self.jobs);
        if let Some(existing) = jobs.get(&job.id) {
            return Ok(Created::AlreadyExists(Box::new(existing.clone())));
        }
        jobs.insert(job.id, job.clone());
        *lock(&self.writes) += 1;
        Ok(Created::Inserted)
    }

    async fn get(&self, id: JobId) -> Result<Option<Job>, StoreError> {
        Ok(lock(&self.jobs).get(&id).cloned())
    }

    async fn update(&self, id: JobId, update: &JobUpdate) -> Result<Updated, StoreError> {
        let mut jobs = lock(&self.jobs);
        match jobs.get_mut(&id) {
            Some(job) if job.guard_holds(update) => {
                job.apply(update);
                *lock(&self.writes) += 1;
                Ok(Updated::Applied)
            }
            _ => Ok(Updated::GuardFailed),
        }
    }
}
