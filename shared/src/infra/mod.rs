//! What every function sets up once at cold start: typed configuration from the
//! environment, the AWS SDK clients, and the declaration of both per function.

pub mod config;
pub mod contract;
pub mod sdk;
