//! Shared pieces of the integration tests: access to the emulators that `scripts/test`
//! starts, API Gateway requests as Lambda receives them, ECS events built from the
//! fixtures, and the store conformance suite every `JobStore` adapter must pass.

pub mod api;
pub mod binaries;
pub mod conformance;
pub mod contracts;
pub mod emulators;
pub mod events;
pub mod http_client;
pub mod openapi;
pub mod runtime_api;
pub mod world;
