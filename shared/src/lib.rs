//! Everything the job service's functions share: the domain and its pure rules, the ECS
//! event model, the ports and their adapters, the HTTP representation and errors, typed
//! configuration and the AWS SDK configuration.

pub mod config;
pub mod domain;
pub mod dynamodb;
pub mod ecs;
pub mod ecs_event;
pub mod http;
pub mod memory;
pub mod ports;
pub mod sdk;
pub mod service;
