//! The ports' implementations: [`dynamodb`], [`ecs`], [`sqs`] and [`cloudwatch_logs`] in
//! production, [`memory`] for the local server and the tests (with the same conditional
//! semantics as DynamoDB).

pub mod cloudwatch_logs;
pub mod dynamodb;
pub mod ecs;
pub mod memory;
pub mod sqs;
