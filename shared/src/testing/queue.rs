//! A launch queue for tests: keeps what is sent, for the test to deliver when it likes.

use std::sync::Mutex;

use chrono::{DateTime, Utc};

use crate::infra::sync::lock;
use crate::ports::{LaunchMessage, LaunchQueue, QueueError};

#[derive(Debug, Default)]
pub struct RecordingLaunchQueue {
    sent: Mutex<Vec<(LaunchMessage, Option<DateTime<Utc>>)>>,
}

impl RecordingLaunchQueue {
    /// Everything sent since the last call, in order.
    pub fn take(&self) -> Vec<(LaunchMessage, Option<DateTime<Utc>>)> {
        std::mem::take(&mut *lock(&self.sent))
    }
}

impl LaunchQueue for RecordingLaunchQueue {
    async fn send(&self, message: &LaunchMessage, not_before: Option<DateTime<Utc>>) -> Result<(), QueueError> {
        lock(&self.sent).push((message.clone(), not_before));
        Ok(())
    }
}
