//! Where a job's container writes its log, from its task definition's `awslogs` settings.

use super::job::{Attempt, Job};
use super::task::EcsTaskStatus;

/// A job definition's `awslogs` log configuration, recorded with each job at submission
/// like its container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// `awslogs-group`.
    pub group: String,
    /// `awslogs-region`; `None` where the log is not in CloudWatch (the local server).
    pub region: Option<String>,
    /// `awslogs-stream-prefix`.
    pub stream_prefix: String,
}

/// One attempt's log: a stream of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLocation {
    pub group: String,
    pub stream: String,
    /// The CloudWatch console page of the stream, for a person.
    pub console_url: Option<String>,
}

impl Job {
    /// Where `attempt`'s container logs: `<prefix>/<container>/<task id>`, as the
    /// `awslogs` driver names streams. `None` before the attempt has a task, or when the
    /// definition keeps no log.
    pub fn log_location(&self, attempt: &Attempt) -> Option<LogLocation> {
        let settings = self.logs.as_ref()?;
        let task_id = attempt.task_arn.as_deref()?.rsplit('/').next()?;
        let stream = format!("{}/{}/{task_id}", settings.stream_prefix, self.container);
        let console_url = settings.region.as_deref().map(|region| {
            format!(
                "https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logsV2:log-groups/log-group/{}/log-events/{}",
                console_part(&settings.group),
                console_part(&stream)
            )
        });
        Some(LogLocation {
            group: settings.group.clone(),
            stream,
            console_url,
        })
    }

    /// Whether `attempt` can write no more log lines: its task stopped, a later attempt
    /// followed it, or the job finished.
    pub fn attempt_over(&self, attempt: &Attempt) -> bool {
        attempt.task_status == Some(EcsTaskStatus::Stopped)
            || attempt.number < self.current_attempt().number
            || self.status.is_terminal()
    }
}

/// A name as the CloudWatch console's fragment wants it: percent-encoded, then each `%`
/// written `$25`.
fn console_part(name: &str) -> String {
    let mut encoded = String::with_capacity(name.len() * 3);
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("$25{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    #[test]
    fn console_parts_are_encoded_the_way_the_console_reads_them() {
        assert_eq!(super::console_part("/ecs/jobs"), "$252Fecs$252Fjobs");
        assert_eq!(super::console_part("report/app/abc-1"), "report$252Fapp$252Fabc-1");
    }
}
