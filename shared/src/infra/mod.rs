//! What every function sets up once at cold start: typed configuration from the
//! environment, the AWS SDK clients, and the declaration of both per function; and the
//! one locking helper of the in-process code.

pub mod config;
pub mod contract;
pub mod sdk;
pub mod sync;
