//! Everything the job service's functions share, in one folder per layer:
//!
//! - [`domain`]: what a job is and the pure rules that move it (no I/O, no wire types);
//! - [`app`]: the use cases, one [`app::JobService`] over the ports;
//! - [`ports`]: what the use cases need from the outside world, in domain terms;
//! - [`adapters`]: the ports' implementations (DynamoDB, ECS, in memory);
//! - [`inbound`]: what arrives over the wire (API Gateway requests, EventBridge events)
//!   and how it becomes domain values, and the answers that go back;
//! - [`infra`]: typed configuration and the AWS SDK set-up;
//! - `testing` (feature `testing`): a simulated Fargate and a scripted launcher, for the
//!   tests and the local server.
//!
//! A new rule goes in `domain`, a new use case in `app`, a new external system behind a
//! port in `ports` with its adapter in `adapters`, a new route or event type in `inbound`.

pub mod adapters;
pub mod app;
pub mod domain;
pub mod inbound;
pub mod infra;
pub mod ports;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
