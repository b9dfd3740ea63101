//! The use cases, over the ports: submit a job, read a job, apply an observation of a
//! task. Handlers parse and render; [`JobService`] decides, on domain types only.

mod logs;
mod reconcile;
mod service;

pub use logs::{AttemptLog, AttemptLogs};
pub use reconcile::{PassReport, QUIET_FOR};
pub use service::{EventOutcome, JobRequest, JobService, NoLauncher, NoQueue, ServiceError};
