//! Container logs held in memory, with CloudWatch Logs' reading semantics: a stream that
//! does not exist reads empty, and a position at the end reads nothing and comes back
//! unchanged.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use crate::domain::LogLocation;
use crate::infra::sync::lock;
use crate::ports::{LogError, LogEvent, LogPage, LogReader};

#[derive(Debug, Default)]
pub struct InMemoryLogs {
    streams: Mutex<HashMap<(String, String), Vec<LogEvent>>>,
    /// Lines per page, as the real reader pages them.
    page: usize,
}

impl InMemoryLogs {
    pub fn with_page(page: usize) -> Self {
        Self {
            streams: Mutex::default(),
            page: page.max(1),
        }
    }

    /// Appends a line to the stream `group`/`stream`, creating it.
    pub fn write(&self, group: &str, stream: &str, timestamp: DateTime<Utc>, message: &str) {
        lock(&self.streams)
            .entry((group.to_owned(), stream.to_owned()))
            .or_default()
            .push(LogEvent {
                timestamp,
                message: message.to_owned(),
            });
    }
}

impl LogReader for InMemoryLogs {
    async fn read(&self, at: &LogLocation, from: Option<&str>) -> Result<LogPage, LogError> {
        let start = match from {
            None => 0,
            Some(text) => text
                .strip_prefix("line:")
                .and_then(|n| n.parse::<usize>().ok())
                .ok_or(LogError::InvalidPosition)?,
        };
        let streams = lock(&self.streams);
        let lines = streams
            .get(&(at.group.clone(), at.stream.clone()))
            .map(Vec::as_slice)
            .unwrap_or_default();
        let page = if self.page == 0 { 10_000 } else { self.page };
        let events: Vec<LogEvent> = lines.iter().skip(start).take(page).cloned().collect();
        let next = start + events.len();
        Ok(LogPage {
            caught_up: from.is_some() && events.is_empty(),
            events,
            next: format!("line:{next}"),
        })
    }
}
