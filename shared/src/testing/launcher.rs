//! A task launcher for tests: answers from a script, keeps every request, and, like ECS
//! with `clientToken`, returns the same task for the same attempt.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use crate::domain::{StartedBy, TaskObservation};
use crate::infra::sync::lock;
use crate::ports::{
    InspectError, LaunchError, LaunchRefusal, Launched, StopError, TaskInspector, TaskLauncher, TaskLookup,
    TaskRequest, TaskStopper,
};

/// What the scripted launcher answers to one launch.
#[derive(Debug, Clone)]
pub enum ScriptedLaunch {
    Start,
    Throttle,
    /// Starts the task but answers as if ECS had not answered (a timeout after the fact).
    StartUnanswered,
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
    /// What DescribeTasks answers per task ARN; a started task without one is MISSING.
    described: Mutex<HashMap<String, TaskObservation>>,
    describe_calls: Mutex<usize>,
    /// Every StopTask asked for, in order: (task ARN, reason).
    stops: Mutex<Vec<(String, String)>>,
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

    /// The task started for an attempt, if any.
    pub fn task_of(&self, started_by: StartedBy) -> Option<String> {
        lock(&self.tasks).get(&started_by.client_token()).cloned()
    }

    /// From now on, DescribeTasks answers `task` for its ARN.
    pub fn describe_as(&self, task: TaskObservation) {
        lock(&self.described).insert(task.task_arn.clone(), task);
    }

    /// Every StopTask so far: (task ARN, reason).
    pub fn stops(&self) -> Vec<(String, String)> {
        lock(&self.stops).clone()
    }

    /// DescribeTasks calls so far.
    pub fn describe_calls(&self) -> usize {
        *lock(&self.describe_calls)
    }

    fn start(&self, request: &TaskRequest) -> String {
        let token = request.started_by.client_token();
        let mut tasks = lock(&self.tasks);
        let next = tasks.len();
        tasks
            .entry(token)
            .or_insert_with(|| format!("arn:aws:ecs:us-east-1:000000000000:task/local/{next:032x}"))
            .clone()
    }
}

impl TaskInspector for InMemoryTaskLauncher {
    async fn describe(&self, task_arns: &[String]) -> Result<Vec<TaskLookup>, InspectError> {
        *lock(&self.describe_calls) += 1;
        let described = lock(&self.described);
        Ok(task_arns
            .iter()
            .map(|arn| match described.get(arn) {
                Some(task) => TaskLookup::Found(task.clone()),
                None => TaskLookup::Missing { task_arn: arn.clone() },
            })
            .collect())
    }

    async fn find(&self, started_by: StartedBy) -> Result<Option<String>, InspectError> {
        Ok(self.task_of(started_by))
    }
}

impl TaskStopper for InMemoryTaskLauncher {
    async fn stop(&self, task_arn: &str, reason: &str) -> Result<(), StopError> {
        lock(&self.stops).push((task_arn.to_owned(), reason.to_owned()));
        Ok(())
    }
}

impl TaskLauncher for InMemoryTaskLauncher {
    async fn launch(&self, request: &TaskRequest) -> Result<Launched, LaunchError> {
        lock(&self.requests).push(request.clone());
        match lock(&self.script).pop_front().unwrap_or(ScriptedLaunch::Start) {
            ScriptedLaunch::Refuse(refusal) => Ok(Launched::Refused(refusal)),
            ScriptedLaunch::Unavailable(why) => Err(LaunchError::new(why)),
            ScriptedLaunch::Throttle => Ok(Launched::Throttled),
            ScriptedLaunch::StartUnanswered => {
                self.start(request);
                Err(LaunchError::new("RunTask timed out after ECS started the task"))
            }
            ScriptedLaunch::Start => Ok(Launched::Started {
                task_arn: self.start(request),
            }),
        }
    }
}
