//! In-process adapters: a job store with the same conditional semantics as the DynamoDB
//! one, and a task launcher that records what it was asked and answers as told.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::domain::{Job, JobId, JobUpdate};
use crate::ports::{
    Created, JobStore, LaunchError, LaunchRefusal, Launched, StoreError, TaskLauncher, TaskRequest, Updated,
};

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave a half-written job: every write below
    // replaces a whole value, so the data is still consistent.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

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

/// What the scripted launcher answers to one launch.
#[derive(Debug, Clone)]
pub enum ScriptedLaunch {
    Start,
    Refuse(LaunchRefusal),
    Unavailable(String),
}

/// A launcher for tests: answers from a script (then starts tasks), keeps every request,
/// and, like ECS with `clientToken`, returns the same task for the same attempt.
#[derive(Debug, Default)]
pub struct InMemoryTaskLauncher {
    script: Mutex<VecDeque<ScriptedLaunch>>,
    requests: Mutex<Vec<TaskRequest>>,
    tasks: Mutex<HashMap<String, String>>,
}

impl InMemoryTaskLauncher {
    pub fn answering(script: impl IntoIterator<Item = ScriptedLaunch>) -> Self {
        Self {
            script: Mutex::new(script.into_iter().collect()),
            ..Self::default()
        }
    }

    pub fn requests(&self) -> Vec<TaskRequest> {
        lock(&self.requests).clone()
    }

    /// Distinct tasks started so far.
    pub fn tasks_started(&self) -> usize {
        lock(&self.tasks).len()
    }
}

impl TaskLauncher for InMemoryTaskLauncher {
    async fn launch(&self, request: &TaskRequest) -> Result<Launched, LaunchError> {
        lock(&self.requests).push(request.clone());
        match lock(&self.script).pop_front().unwrap_or(ScriptedLaunch::Start) {
            ScriptedLaunch::Refuse(refusal) => Ok(Launched::Refused(refusal)),
            ScriptedLaunch::Unavailable(why) => Err(LaunchError(why)),
            ScriptedLaunch::Start => {
                let token = request.started_by.client_token();
                let mut tasks = lock(&self.tasks);
                let next = tasks.len();
                let task_arn = tasks
                    .entry(token)
                    .or_insert_with(|| format!("arn:aws:ecs:us-east-1:000000000000:task/local/{next:032x}"))
                    .clone();
                Ok(Launched::Started { task_arn })
            }
        }
    }
}
