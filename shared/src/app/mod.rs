//! The use cases, over the ports: submit a job, read a job, apply an observation of a
//! task. Handlers parse and render; [`JobService`] decides, on domain types only.

mod service;

pub use service::{EventOutcome, JobRequest, JobService, NoLauncher, ServiceError};
