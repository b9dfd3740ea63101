//! The CloudWatch Logs adapter of [`LogReader`]: `GetLogEvents` on an attempt's stream.

use aws_sdk_cloudwatchlogs::error::SdkError;
use aws_sdk_cloudwatchlogs::operation::get_log_events::GetLogEventsError;
use aws_sdk_cloudwatchlogs::Client;
use chrono::{DateTime, Utc};

use crate::domain::LogLocation;
use crate::ports::{LogError, LogEvent, LogPage, LogReader};

/// The operation this adapter calls, as an IAM action.
pub const GET_LOG_EVENTS: &str = "logs:GetLogEvents";

/// Lines per page: GetLogEvents returns at most 10,000 or 1 MB; a page a person reads
/// and an API Gateway answer (at most 6 MB through Lambda) both want far fewer.
const PAGE_EVENTS: i32 = 500;

pub struct CloudWatchLogReader {
    config: aws_sdk_cloudwatchlogs::config::Builder,
    /// Made on first use: most of job-api's requests never read a log.
    client: std::sync::OnceLock<Client>,
}

impl CloudWatchLogReader {
    pub fn new(config: aws_sdk_cloudwatchlogs::config::Builder) -> Self {
        Self {
            config,
            client: std::sync::OnceLock::new(),
        }
    }
}

impl LogReader for CloudWatchLogReader {
    async fn read(&self, at: &LogLocation, from: Option<&str>) -> Result<LogPage, LogError> {
        let client = self
            .client
            .get_or_init(|| Client::from_conf(self.config.clone().build()));
        let result = client
            .get_log_events()
            .log_group_name(&at.group)
            .log_stream_name(&at.stream)
            .start_from_head(true)
            .limit(PAGE_EVENTS)
            .set_next_token(from.map(str::to_owned))
            .send()
            .await;
        let output = match result {
            Ok(output) => output,
            // The stream appears with the container's first line.
            Err(SdkError::ServiceError(e)) if matches!(e.err(), GetLogEventsError::ResourceNotFoundException(_)) => {
                return Ok(LogPage {
                    events: Vec::new(),
                    next: from.unwrap_or_default().to_owned(),
                    caught_up: true,
                });
            }
            Err(SdkError::ServiceError(e))
                if from.is_some() && matches!(e.err(), GetLogEventsError::InvalidParameterException(_)) =>
            {
                return Err(LogError::InvalidPosition);
            }
            Err(e) => return Err(LogError::Unavailable(Box::new(e))),
        };
        let events = output
            .events()
            .iter()
            .map(|event| LogEvent {
                timestamp: event
                    .timestamp()
                    .and_then(DateTime::<Utc>::from_timestamp_millis)
                    .unwrap_or_default(),
                message: event.message().unwrap_or_default().to_owned(),
            })
            .collect();
        // At the end of the stream, GetLogEvents hands back the token it was given.
        let next = output.next_forward_token().unwrap_or_default().to_owned();
        let caught_up = from.is_some_and(|from| from == next);
        Ok(LogPage {
            events,
            next,
            caught_up,
        })
    }
}
