//! What the service knows about one ECS task at one moment, whichever way it learnt it:
//! an EventBridge "ECS Task State Change" event or an ECS DescribeTasks answer carry the
//! same facts and the same `version`, so the rules have one input type for both.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::job::StartedBy;

/// An ECS task's `lastStatus`, in lifecycle order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EcsTaskStatus {
    Provisioning,
    Pending,
    Activating,
    Running,
    Deactivating,
    Stopping,
    Deprovisioning,
    Stopped,
}

impl EcsTaskStatus {
    pub const ALL: [EcsTaskStatus; 8] = [
        Self::Provisioning,
        Self::Pending,
        Self::Activating,
        Self::Running,
        Self::Deactivating,
        Self::Stopping,
        Self::Deprovisioning,
        Self::Stopped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Provisioning => "PROVISIONING",
            Self::Pending => "PENDING",
            Self::Activating => "ACTIVATING",
            Self::Running => "RUNNING",
            Self::Deactivating => "DEACTIVATING",
            Self::Stopping => "STOPPING",
            Self::Deprovisioning => "DEPROVISIONING",
            Self::Stopped => "STOPPED",
        }
    }

    /// Parses the value ECS's API returns (RunTask's `lastStatus`).
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }
}

impl std::fmt::Display for EcsTaskStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a task stopped (`detail.stopCode`). Kept open: ECS has added codes before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopCode {
    TaskFailedToStart,
    EssentialContainerExited,
    UserInitiated,
    ServiceSchedulerInitiated,
    SpotInterruption,
    TerminationNotice,
    /// ECS stopped the task because its underlying infrastructure was unhealthy.
    InfrastructureHealth,
    Other(String),
}

impl StopCode {
    pub fn parse(value: &str) -> Self {
        match value {
            "TaskFailedToStart" => Self::TaskFailedToStart,
            "EssentialContainerExited" => Self::EssentialContainerExited,
            "UserInitiated" => Self::UserInitiated,
            "ServiceSchedulerInitiated" => Self::ServiceSchedulerInitiated,
            "SpotInterruption" => Self::SpotInterruption,
            "TerminationNotice" => Self::TerminationNotice,
            "InfrastructureHealth" => Self::InfrastructureHealth,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// One container of the task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerObservation {
    pub name: String,
    /// Absent until the container stops, and when its runtime could not tell.
    pub exit_code: Option<i32>,
    pub reason: Option<String>,
}

/// One observation of a task. Every timestamp is cumulative (once set, every later
/// observation carries it), which is what lets a later observation alone rebuild the
/// task's timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskObservation {
    pub task_arn: String,
    pub last_status: EcsTaskStatus,
    /// Increases with every change of the task; counted per task.
    pub version: u64,
    /// The job attempt the task runs, when this service started it.
    pub started_by: Option<StartedBy>,
    pub stop_code: Option<String>,
    pub stopped_reason: Option<String>,
    /// Empty when the task never got containers (`TaskFailedToStart`).
    pub containers: Vec<ContainerObservation>,
    pub created_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub stopping_at: Option<DateTime<Utc>>,
    pub execution_stopped_at: Option<DateTime<Utc>>,
    pub stopped_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl TaskObservation {
    pub fn stop_code(&self) -> Option<StopCode> {
        self.stop_code.as_deref().map(StopCode::parse)
    }

    pub fn container(&self, name: &str) -> Option<&ContainerObservation> {
        self.containers.iter().find(|c| c.name == name)
    }
}
