//! What every function sets up once at cold start: typed configuration from the
//! environment and the AWS SDK clients.

pub mod config;
pub mod sdk;
