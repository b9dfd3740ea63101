//! The `detail` of an EventBridge "ECS Task State Change" event.
//!
//! Only the fields the service reads are modelled. Unknown fields are ignored (ECS adds
//! fields over time) and every field ECS may omit is optional: `containers` is empty for
//! `TaskFailedToStart`, `exitCode` is absent until a container stops, `stopCode` and
//! `stoppedReason` until the task stops. What the service cannot do without (`taskArn`,
//! `lastStatus`, `version`) is required, so an event missing them fails to parse and
//! Lambda retries it into the dead-letter queue instead of it being silently dropped.
//!
//! The type also serialises to the same JSON shape, so a simulated Fargate (the local
//! server's task runner, the tests) emits exactly what ECS would. The domain never sees
//! it: [`TaskStateChange::observation`] converts it at the edge.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use crate::domain::{ContainerObservation, EcsTaskStatus, StartedBy, TaskObservation};

/// `detail-type` of the events this service consumes.
pub const DETAIL_TYPE: &str = "ECS Task State Change";
/// `source` of the events this service consumes.
pub const SOURCE: &str = "aws.ecs";

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
    /// What the event says about the task, in the domain's terms. A `startedBy` that is
    /// not one of this service's is no attempt of any job.
    pub fn observation(&self) -> TaskObservation {
        TaskObservation {
            task_arn: self.task_arn.clone(),
            last_status: self.last_status,
            version: self.version,
            started_by: self.started_by.as_deref().and_then(StartedBy::parse),
            stop_code: self.stop_code.clone(),
            stopped_reason: self.stopped_reason.clone(),
            containers: self
                .containers
                .iter()
                .map(|c| ContainerObservation {
                    name: c.name.clone(),
                    exit_code: c.exit_code,
                    reason: c.reason.clone(),
                })
                .collect(),
            created_at: self.created_at,
            started_at: self.started_at,
            stopping_at: self.stopping_at,
            execution_stopped_at: self.execution_stopped_at,
            stopped_at: self.stopped_at,
            updated_at: self.updated_at,
        }
    }
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
    #[test]
    fn tolerates_null_containers_and_unknown_fields() {
        let detail: TaskStateChange = serde_json::from_value(serde_json::json!({
            "taskArn": "arn:aws:ecs:us-east-1:1:task/c/t", "lastStatus": "STOPPED",
            "version": 3, "containers": null, "someFieldEcsAddsLater": {"x": 1}
        }))
        .expect("parses");
        assert!(detail.containers.is_empty());
        assert_eq!(detail.observation().stop_code(), None);
    }

    #[test]
    fn rejects_an_event_without_version_or_with_an_unknown_status() {
        let no_version = serde_json::json!({"taskArn": "a", "lastStatus": "RUNNING"});
        assert!(serde_json::from_value::<TaskStateChange>(no_version).is_err());
        let unknown = serde_json::json!({"taskArn": "a", "lastStatus": "EXPLODED", "version": 1});
        assert!(serde_json::from_value::<TaskStateChange>(unknown).is_err());
    }

    #[test]
    fn the_observation_keeps_only_this_services_started_by() {
        let event = |started_by: &str| -> TaskStateChange {
            serde_json::from_value(serde_json::json!({
                "taskArn": "arn:aws:ecs:us-east-1:1:task/c/t", "lastStatus": "RUNNING",
                "version": 2, "startedBy": started_by
            }))
            .expect("parses")
        };
        let ours = "job-tracker/6f1c2a34-0b5d-4e6f-8a9b-0c1d2e3f4a5b/2";
        let observed = event(ours).observation().started_by.expect("ours");
        assert_eq!((observed.to_string().as_str(), observed.attempt), (ours, 2));
        assert_eq!(event("ecs-svc/123").observation().started_by, None);
    }
}
