//! The ports' implementations: [`dynamodb`], [`ecs`] and [`sqs`] in production, [`memory`] for the
//! local server and the tests (with the same conditional semantics as DynamoDB).

pub mod dynamodb;
pub mod ecs;
pub mod memory;
pub mod sqs;
