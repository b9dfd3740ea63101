//! The job representation and the responses that carry it. Field names are a public
//! contract: added to, never renamed.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use lambda_http::http::header::{CONTENT_TYPE, LOCATION};
use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use serde::{Deserialize, Serialize};

use crate::domain::{Attempt, Job};
use crate::ports::LogEvent;

pub(super) fn json_response(status: StatusCode, body: &impl Serialize, content_type: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::Text(
        serde_json::to_string(body).unwrap_or_else(|_| "{}".to_owned()),
    ));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// `201 Created` with `Location`, or `200 OK`, with the job as body.
pub fn job_response(status: StatusCode, job: &Job) -> Response<Body> {
    let view = JobView::from(job);
    let mut response = json_response(status, &view, "application/json");
    if status == StatusCode::CREATED {
        if let Ok(location) = HeaderValue::from_str(&view.links.self_link) {
            response.headers_mut().insert(LOCATION, location);
        }
    }
    response
}

/// A job as clients see it (`taskArn` and `exitCode` at the top are the current
/// attempt's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobView {
    pub job_id: String,
    pub definition: String,
    pub status: String,
    pub status_reason: Option<String>,
    pub parameters: BTreeMap<String, String>,
    pub created_at: String,
    pub updated_at: String,
    pub started_at: Option<String>,
    pub stopped_at: Option<String>,
    pub task_arn: Option<String>,
    pub exit_code: Option<i32>,
    /// When the next launch try of a waiting job is due (`null` when it waits for a free
    /// slot, has a task, or is finished).
    pub next_attempt_at: Option<String>,
    /// How many attempts the job may have in all (its definition's, or fewer if asked).
    pub retry: RetryView,
    /// How long one attempt may run, from its `startedAt` (`null`: no limit).
    pub timeout_seconds: Option<u64>,
    /// When the owner asked to cancel the job (`null`: never).
    pub cancel_requested_at: Option<String>,
    /// Every attempt, first to current. Left out of list items, whose `links.self` leads
    /// to them (a job always has at least one attempt, so it is empty only there).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<AttemptView>,
    pub links: Links,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetryView {
    pub attempts: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttemptView {
    pub attempt: u32,
    pub task_arn: Option<String>,
    pub task_status: Option<String>,
    pub stop_code: Option<String>,
    pub stopped_reason: Option<String>,
    pub exit_code: Option<i32>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub stopped_at: Option<String>,
    /// Where the attempt's container logs (`null`: no task yet, or no log kept).
    pub logs: Option<LogsView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogsView {
    pub group: String,
    pub stream: String,
    /// The stream in the CloudWatch console (`null` off AWS).
    pub console_url: Option<String>,
}

/// `GET /jobs`: a page of the caller's jobs, newest first, without their attempts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobListView {
    pub jobs: Vec<JobView>,
    /// Pass back as `nextToken` for the next page (`null`: this was the last).
    pub next_token: Option<String>,
}

/// `GET /jobs/{id}/logs`: lines of one attempt's log, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEventsView {
    pub events: Vec<LogEventView>,
    /// Pass back as `nextToken` for the lines written since (`null`: the attempt has
    /// stopped and every line was read).
    pub next_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEventView {
    pub timestamp: String,
    pub message: String,
}

/// `200 OK` with a page of jobs.
pub fn list_response(jobs: &[Job], next_token: Option<String>) -> Response<Body> {
    let view = JobListView {
        jobs: jobs.iter().map(JobView::summary).collect(),
        next_token,
    };
    json_response(StatusCode::OK, &view, "application/json")
}

/// `200 OK` with log lines.
pub fn logs_response(events: &[LogEvent], next_token: Option<String>) -> Response<Body> {
    let view = LogEventsView {
        events: events
            .iter()
            .map(|e| LogEventView {
                timestamp: rfc3339(e.timestamp),
                message: e.message.clone(),
            })
            .collect(),
        next_token,
    };
    json_response(StatusCode::OK, &view, "application/json")
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Links {
    #[serde(rename = "self")]
    pub self_link: String,
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl AttemptView {
    fn of(job: &Job, a: &Attempt) -> Self {
        Self {
            attempt: a.number,
            task_arn: a.task_arn.clone(),
            task_status: a.task_status.map(|s| s.as_str().to_owned()),
            stop_code: a.stop_code.clone(),
            stopped_reason: a.stopped_reason.clone(),
            exit_code: a.exit_code,
            created_at: rfc3339(a.created_at),
            started_at: a.started_at.map(rfc3339),
            stopped_at: a.stopped_at.map(rfc3339),
            logs: job.log_location(a).map(|at| LogsView {
                group: at.group,
                stream: at.stream,
                console_url: at.console_url,
            }),
        }
    }
}

impl JobView {
    /// The job as a list item: everything but its attempts.
    pub fn summary(job: &Job) -> Self {
        Self::with_attempts(job, Vec::new())
    }

    /// The job with `attempts` as given: list items leave them out without building them.
    fn with_attempts(job: &Job, attempts: Vec<AttemptView>) -> Self {
        let current = job.current_attempt();
        Self {
            job_id: job.id.to_string(),
            definition: job.definition.clone(),
            status: job.status.as_str().to_owned(),
            status_reason: job.status_reason.clone(),
            parameters: job.parameters.clone(),
            created_at: rfc3339(job.created_at),
            updated_at: rfc3339(job.updated_at),
            started_at: job.started_at().map(rfc3339),
            stopped_at: job.stopped_at().map(rfc3339),
            task_arn: current.task_arn.clone(),
            exit_code: current.exit_code,
            next_attempt_at: job.queue.as_ref().and_then(|q| q.next_try_at).map(rfc3339),
            retry: RetryView {
                attempts: job.retry.attempts,
            },
            timeout_seconds: job.timeout.map(|t| t.as_secs()),
            cancel_requested_at: job.cancel_requested_at.map(rfc3339),
            attempts,
            links: Links {
                self_link: format!("/jobs/{}", job.id),
            },
        }
    }
}

impl From<&Job> for JobView {
    fn from(job: &Job) -> Self {
        Self::with_attempts(job, job.attempts.iter().map(|a| AttemptView::of(job, a)).collect())
    }
}
