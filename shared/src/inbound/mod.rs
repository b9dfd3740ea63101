//! What arrives over the wire and how it becomes domain values: API Gateway HTTP requests
//! ([`http`], feature `http`) and EventBridge "ECS Task State Change" events
//! ([`ecs_event`]).

pub mod ecs_event;
#[cfg(feature = "http")]
pub mod http;
