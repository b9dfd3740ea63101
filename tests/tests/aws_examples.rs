//! AWS's own documented examples parse into the service's wire models.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use shared::domain::EcsTaskStatus;
use shared::inbound::ecs_event::{TaskStateChange, DETAIL_TYPE};

/// The "ECS Task State Change" example of the Amazon ECS developer guide.
const ECS_TASK_STATE_CHANGE: &str = include_str!("../fixtures/ecs-task-state-change-running.json");

#[test]
fn the_documented_ecs_task_state_change_parses_and_is_observed() {
    let event: EventBridgeEvent<TaskStateChange> =
        serde_json::from_str(ECS_TASK_STATE_CHANGE).expect("the example parses");
    assert_eq!(event.detail_type, DETAIL_TYPE);
    let observed = event.detail.observation();
    assert_eq!(observed.last_status, EcsTaskStatus::Running);
    assert_eq!(observed.version, 4);
    assert_eq!(observed.containers[0].name, "FargateApp");
    assert_eq!(observed.containers[0].exit_code, None);
    assert!(observed.started_at.is_some());
    assert_eq!(observed.started_by, None, "not started by this service");
}
