//! The whole job service on one machine, for evaluating it and for developing jobs.
//!
//! The HTTP routes call the very handlers the Lambdas run (their request and response
//! types are `http` types); the store is in-process by default; and the task runner plays
//! ECS with child processes, emitting the same EventBridge "ECS Task State Change" events
//! Fargate would into the same job-events handler. The launch queue and the reconciler run
//! in-process on the same use cases as the job-reconciler Lambda (the runner answers as
//! `DescribeTasks` and `ListTasks` would, and stops tasks as `StopTask` does for a cancel
//! or a timeout), and [`hostile`] can lose, duplicate and reorder events and throttle
//! launches on purpose. Each task's output is a file named as its CloudWatch Logs stream
//! would be, which [`logs::LocalLogReader`] reads for `GET /jobs/{id}/logs`. So what runs
//! here is the production mapping, not a shortcut.

pub mod definitions;
pub mod hostile;
pub mod logs;
pub mod runner;
pub mod server;
