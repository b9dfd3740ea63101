//! The `detail` of an EventBridge "ECS Task State Change" event.
//!
//! Only the fields the service reads are modelled. Unknown fields are ignored (ECS adds
//! fields over time) and every field ECS may omit is optional: `containers` is empty for
//! `TaskFailedToStart`, `exitCode` is absent until a container stops, `stopCode` and
//! `stoppedReason` until the task stops. What the service cannot do without (`taskArn`,
//! `lastStatus`, `version`) is required, so an event missing them fails to parse and
//! Lambda retries it into the dead-letter queue instead of it being silently dropped.
//!
//! The type also serialises to the same JSON shape, so the local task runner can emit
//! exactly what Fargate would.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

/// `detail-type` of the events this service consumes.
pub const DETAIL_TYPE: &str = "ECS Task State Change";
/// `source` of the events this service consumes.
pub const SOURCE: &str = "aws.ecs";

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
            other => Self::Other(other.to_owned()),
        }
    }
}

/// One container of the task, as the event reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerState {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The `detail` object of an ECS Task State Change event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskStateChange {
    pub task_arn: String,
    pub last_status: EcsTaskStatus,
    /// Increases with every change of the task; duplicates carry the same value.
    pub version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_definition_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_reason: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub containers: Vec<ContainerState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_started_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_stopped_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopping_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_stopped_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
}

impl TaskStateChange {
    pub fn stop_code(&self) -> Option<StopCode> {
        self.stop_code.as_deref().map(StopCode::parse)
    }

    pub fn container(&self, name: &str) -> Option<&ContainerState> {
        self.containers.iter().find(|c| c.name == name)
    }
}

/// Builds the events of one task the way ECS does: `version` grows by one per event and
/// every timestamp, once set, is repeated in all later events. The local task runner
/// plays Fargate with it, and tests derive realistic sequences from it.
#[derive(Debug, Clone)]
pub struct TaskTimeline {
    detail: TaskStateChange,
}

impl TaskTimeline {
    /// A task that has been created but has not emitted an event yet.
    pub fn new(
        task_arn: impl Into<String>,
        cluster_arn: impl Into<String>,
        started_by: Option<String>,
        containers: &[&str],
        created_at: DateTime<Utc>,
    ) -> Self {
        Self {
            detail: TaskStateChange {
                task_arn: task_arn.into(),
                last_status: EcsTaskStatus::Provisioning,
                version: 0,
                cluster_arn: Some(cluster_arn.into()),
                desired_status: Some("RUNNING".to_owned()),
                started_by,
                task_definition_arn: None,
                launch_type: Some("FARGATE".to_owned()),
                stop_code: None,
                stopped_reason: None,
                containers: containers
                    .iter()
                    .map(|name| ContainerState {
                        name: (*name).to_owned(),
                        last_status: Some("PENDING".to_owned()),
                        exit_code: None,
                        reason: None,
                    })
                    .collect(),
                created_at: Some(created_at),
                pull_started_at: None,
                pull_stopped_at: None,
                started_at: None,
                stopping_at: None,
                execution_stopped_at: None,
                stopped_at: None,
                updated_at: Some(created_at),
            },
        }
    }

    /// The next event: the task reached `status` at `at`.
    pub fn advance(&mut self, status: EcsTaskStatus, at: DateTime<Utc>) -> TaskStateChange {
        let d = &mut self.detail;
        d.version += 1;
        d.last_status = status;
        d.updated_at = Some(at);
        match status {
            EcsTaskStatus::Provisioning | EcsTaskStatus::Pending => {}
            EcsTaskStatus::Activating => {
                d.pull_started_at.get_or_insert(at);
                d.pull_stopped_at.get_or_insert(at);
            }
            EcsTaskStatus::Running => {
                d.started_at.get_or_insert(at);
                for c in d.containers.iter_mut().filter(|c| c.exit_code.is_none()) {
                    c.last_status = Some("RUNNING".to_owned());
                }
            }
            EcsTaskStatus::Deactivating | EcsTaskStatus::Stopping => {
                d.desired_status = Some("STOPPED".to_owned());
                d.stopping_at.get_or_insert(at);
            }
            EcsTaskStatus::Deprovisioning => {
                d.execution_stopped_at.get_or_insert(at);
            }
            EcsTaskStatus::Stopped => {
                d.desired_status = Some("STOPPED".to_owned());
                d.execution_stopped_at.get_or_insert(at);
                d.stopped_at.get_or_insert(at);
                for c in d.containers.iter_mut() {
                    c.last_status = Some("STOPPED".to_owned());
                }
            }
        }
        d.clone()
    }

    /// The named container exited; later events carry its exit code.
    pub fn container_exited(&mut self, name: &str, exit_code: i32) {
        if let Some(c) = self.detail.containers.iter_mut().find(|c| c.name == name) {
            c.exit_code = Some(exit_code);
            c.last_status = Some("STOPPED".to_owned());
        }
    }

    /// The named container stopped and its runtime could not tell how it exited.
    pub fn container_stopped_without_exit_code(&mut self, name: &str) {
        if let Some(c) = self.detail.containers.iter_mut().find(|c| c.name == name) {
            c.last_status = Some("STOPPED".to_owned());
        }
    }

    /// The stop code set so far, if the task is stopping.
    pub fn stop_code(&self) -> Option<&str> {
        self.detail.stop_code.as_deref()
    }

    /// The task is stopping for `stop_code`; later events carry it.
    pub fn stopping_because(&mut self, stop_code: &str, stopped_reason: &str) {
        self.detail.stop_code = Some(stop_code.to_owned());
        self.detail.stopped_reason = Some(stopped_reason.to_owned());
        self.detail.desired_status = Some("STOPPED".to_owned());
    }

    /// The task never started: Fargate reports no containers at all.
    pub fn failed_to_start(&mut self, stopped_reason: &str) {
        self.stopping_because("TaskFailedToStart", stopped_reason);
        self.detail.containers.clear();
    }
}

/// Wraps a detail into the EventBridge envelope ECS events arrive in.
pub fn eventbridge_envelope(detail: &TaskStateChange, id: &str, account: &str, region: &str) -> serde_json::Value {
    serde_json::json!({
        "version": "0",
        "id": id,
        "detail-type": DETAIL_TYPE,
        "source": SOURCE,
        "account": account,
        "time": detail.updated_at,
        "region": region,
        "resources": [detail.task_arn],
        "detail": detail,
    })
}

/// Some emulators send `"containers": null`; treat it like an absent list.
fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::eventbridge::EventBridgeEvent;

    const AWS_EXAMPLE: &str = include_str!("../../tests/fixtures/ecs-task-state-change-running.json");

    #[test]
    fn parses_the_aws_documentation_example() {
        let event: EventBridgeEvent<TaskStateChange> = serde_json::from_str(AWS_EXAMPLE).expect("fixture parses");
        assert_eq!(event.detail_type, DETAIL_TYPE);
        assert_eq!(event.detail.last_status, EcsTaskStatus::Running);
        assert_eq!(event.detail.version, 4);
        assert_eq!(event.detail.containers[0].name, "FargateApp");
        assert_eq!(event.detail.containers[0].exit_code, None);
        assert!(event.detail.started_at.is_some());
    }

    #[test]
    fn tolerates_null_containers_and_unknown_fields() {
        let detail: TaskStateChange = serde_json::from_value(serde_json::json!({
            "taskArn": "arn:aws:ecs:us-east-1:1:task/c/t", "lastStatus": "STOPPED",
            "version": 3, "containers": null, "someFieldEcsAddsLater": {"x": 1}
        }))
        .expect("parses");
        assert!(detail.containers.is_empty());
        assert_eq!(detail.stop_code(), None);
    }

    #[test]
    fn rejects_an_event_without_version_or_with_an_unknown_status() {
        let no_version = serde_json::json!({"taskArn": "a", "lastStatus": "RUNNING"});
        assert!(serde_json::from_value::<TaskStateChange>(no_version).is_err());
        let unknown = serde_json::json!({"taskArn": "a", "lastStatus": "EXPLODED", "version": 1});
        assert!(serde_json::from_value::<TaskStateChange>(unknown).is_err());
    }

    #[test]
    fn stop_codes_round_trip_and_unknown_ones_are_kept() {
        assert_eq!(StopCode::parse("SpotInterruption"), StopCode::SpotInterruption);
        assert_eq!(StopCode::parse("NewCode"), StopCode::Other("NewCode".into()));
    }
}
