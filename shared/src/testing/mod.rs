//! Test doubles and simulators, behind the `testing` feature so that no Lambda carries
//! them: a simulated Fargate that emits ECS's events, and a launcher that answers from a
//! script. The local server uses the simulated Fargate to play ECS on one machine.

pub mod clock;
pub mod fargate;
pub mod launcher;
pub mod logs;
pub mod queue;
