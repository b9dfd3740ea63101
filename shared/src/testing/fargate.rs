//! A simulated Fargate: builds the "ECS Task State Change" events of one task the way
//! ECS emits them. The local server plays ECS with it, and tests derive realistic event
//! sequences from it.

use chrono::{DateTime, Utc};

use crate::domain::EcsTaskStatus;
use crate::inbound::ecs_event::{ContainerState, TaskStateChange, DETAIL_TYPE, SOURCE};

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
