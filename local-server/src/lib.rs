//! The whole job service on one machine, for evaluating it and for developing jobs.
//!
//! The HTTP routes call the very handlers the Lambdas run (their request and response
//! types are `http` types); the store is in-process by default; and the task runner plays
//! ECS with child processes, emitting the same EventBridge "ECS Task State Change" events
//! Fargate would into the same job-events handler. So what runs here is the production
//! mapping, not a shortcut.

pub mod definitions;
pub mod runner;
pub mod server;
