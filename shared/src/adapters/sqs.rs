//! The SQS adapter of [`LaunchQueue`]: each message is JSON, delayed with SQS's own
//! `DelaySeconds` (at most 15 minutes: a later time is reached in hops, the consumer
//! sending the message on again until it is due).
//!
//! Its client is created when the first message is sent, not at cold start: create-job
//! and job-events send one only when a launch is deferred or a slot is freed, which most
//! invocations never do, and creating an SDK client costs every cold start the parsing
//! of that SDK's endpoint partition table (about 0.4 M instructions, measured).

use std::sync::OnceLock;

use aws_sdk_sqs::config::Builder;
use aws_sdk_sqs::Client;
use chrono::{DateTime, Utc};

use crate::ports::{LaunchMessage, LaunchQueue, QueueError};

/// The operation this adapter calls, as an IAM action.
pub const SEND_MESSAGE: &str = "sqs:SendMessage";

/// SQS delays a message 900 s at most.
const MAX_DELAY_SECONDS: i64 = 900;

#[derive(Debug)]
pub struct SqsLaunchQueue {
    config: Builder,
    client: OnceLock<Client>,
    queue_url: String,
}

impl SqsLaunchQueue {
    /// The queue at `queue_url`, through a client made from `config` when first needed
    /// (see `shared::infra::sdk::sqs_config`).
    pub fn new(config: Builder, queue_url: impl Into<String>) -> Self {
        Self {
            config,
            client: OnceLock::new(),
            queue_url: queue_url.into(),
        }
    }

    fn client(&self) -> &Client {
        self.client
            .get_or_init(|| Client::from_conf(self.config.clone().build()))
    }
}

/// The delay SQS is asked for: the seconds until `not_before`, rounded up, within SQS's
/// bounds.
pub fn delay_seconds(not_before: Option<DateTime<Utc>>, now: DateTime<Utc>) -> i32 {
    let Some(at) = not_before else { return 0 };
    let millis = (at - now).num_milliseconds().max(0);
    let seconds = (millis + 999) / 1000;
    i32::try_from(seconds.min(MAX_DELAY_SECONDS)).unwrap_or(0)
}

impl LaunchQueue for SqsLaunchQueue {
    async fn send(&self, message: &LaunchMessage, not_before: Option<DateTime<Utc>>) -> Result<(), QueueError> {
        let body = serde_json::to_string(message).map_err(|e| QueueError { source: e.into() })?;
        self.client()
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .delay_seconds(delay_seconds(not_before, Utc::now()))
            .send()
            .await
            .map_err(|e| QueueError { source: e.into() })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_round_up_and_stay_within_what_sqs_accepts() {
        let now = Utc::now();
        let ms = chrono::Duration::milliseconds;
        assert_eq!(delay_seconds(None, now), 0);
        assert_eq!(delay_seconds(Some(now - ms(5_000)), now), 0);
        assert_eq!(delay_seconds(Some(now + ms(1)), now), 1);
        assert_eq!(delay_seconds(Some(now + ms(2_000)), now), 2);
        assert_eq!(delay_seconds(Some(now + ms(3_600_000)), now), 900);
    }

    #[test]
    fn messages_are_small_json_with_their_kind() {
        let due = LaunchMessage::Due {
            job_id: "6a0b3c1e-52f4-4c8e-9d7a-2f610b9e44d3".to_owned(),
        };
        let json = serde_json::to_string(&due).unwrap();
        assert_eq!(json, r#"{"kind":"due","jobId":"6a0b3c1e-52f4-4c8e-9d7a-2f610b9e44d3"}"#);
        assert_eq!(serde_json::from_str::<LaunchMessage>(&json).unwrap(), due);
        let freed: LaunchMessage = serde_json::from_str(r#"{"kind":"slotFreed","definition":"report"}"#).unwrap();
        assert_eq!(
            freed,
            LaunchMessage::SlotFreed {
                definition: "report".to_owned()
            }
        );
    }
}
