//! The kinds of job clients may run.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::job::{JOB_ATTEMPT_VARIABLE, JOB_ID_VARIABLE};
use super::policy::RetryPolicy;

/// A kind of job clients may run: the ECS task definition behind it, the container that
/// does the work, and the parameters (environment variables) a request may set.
#[derive(Debug, Clone, PartialEq)]
pub struct JobDefinition {
    /// A family (latest ACTIVE revision), `family:revision` or an ARN.
    pub task_definition: String,
    /// The container whose exit code decides the job, and which gets the parameters.
    pub container: String,
    pub parameters: BTreeSet<String>,
    /// `maxRunning`: at most this many of its jobs have a task not yet stopped.
    pub max_running: Option<u32>,
    /// `queueTimeoutSeconds`: how long a job may wait for its task to start.
    pub queue_timeout: Duration,
    /// `timeoutSeconds`: how long one attempt may run, from its `startedAt`.
    pub timeout: Option<Duration>,
    /// `retry`: how many attempts a job gets and which failures earn another.
    pub retry: RetryPolicy,
    /// `logs`: the task definition's `awslogs` settings, where its container logs.
    pub logs: Option<super::LogSettings>,
}

impl JobDefinition {
    /// The longest `timeoutSeconds`: a year, as Terraform's validation also says.
    pub const MAX_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 3600);

    /// Environment variables the service sets in every job's container.
    pub const RESERVED: [&'static str; 2] = [JOB_ID_VARIABLE, JOB_ATTEMPT_VARIABLE];

    /// Why this definition cannot be offered to clients, if it cannot.
    pub fn problem(&self) -> Option<String> {
        if self.task_definition.trim().is_empty() || self.container.trim().is_empty() {
            return Some("needs a task definition and a container".to_owned());
        }
        if let Some(bad) = self.parameters.iter().find(|p| !is_environment_name(p)) {
            return Some(format!(
                "declares {bad:?}, which is not a valid environment variable name"
            ));
        }
        if self.max_running == Some(0) {
            return Some("sets maxRunning 0, which would never run a job".to_owned());
        }
        if self.queue_timeout.is_zero() {
            return Some("sets queueTimeoutSeconds 0, which would fail every job that waits".to_owned());
        }
        if self.timeout.is_some_and(|t| t.is_zero() || t > Self::MAX_TIMEOUT) {
            return Some(format!(
                "sets timeoutSeconds {}; it must be 1 to {} (365 days)",
                self.timeout.unwrap_or_default().as_secs(),
                Self::MAX_TIMEOUT.as_secs()
            ));
        }
        if let Some(logs) = &self.logs {
            if logs.group.trim().is_empty() || logs.stream_prefix.trim().is_empty() {
                return Some("sets logs without a group or a streamPrefix".to_owned());
            }
        }
        if let Some(problem) = self.retry.problem() {
            return Some(problem);
        }
        if let Some(reserved) = self.parameters.iter().find(|p| Self::RESERVED.contains(&p.as_str())) {
            return Some(format!("declares {reserved:?}, which the service sets itself"));
        }
        None
    }
}

/// Letters, digits and `_`, not starting with a digit: what every shell accepts.
fn is_environment_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The configured job definitions, by the name clients use.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JobDefinitions(BTreeMap<String, JobDefinition>);

impl JobDefinitions {
    pub fn new(definitions: BTreeMap<String, JobDefinition>) -> Self {
        Self(definitions)
    }

    pub fn get(&self, name: &str) -> Option<&JobDefinition> {
        self.0.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &JobDefinition)> {
        self.0.iter().map(|(name, definition)| (name.as_str(), definition))
    }
}
