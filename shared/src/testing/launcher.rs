//! A task launcher for tests: answers from a script, keeps every request, and, like ECS
//! with `clientToken`, returns the same task for the same attempt.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use crate::infra::sync::lock;
use crate::ports::{LaunchError, LaunchRefusal, Launched, TaskLauncher, TaskRequest};

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
            ScriptedLaunch::Unavailable(why) => Err(LaunchError::new(why)),
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
