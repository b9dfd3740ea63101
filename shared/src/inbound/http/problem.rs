//! RFC 9457 problem documents, one small function per problem that carries more than its
//! error's own message.

use std::collections::BTreeMap;

use lambda_http::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::app::ServiceError;
use crate::domain::Job;
use crate::ports::{LogError, StoreError};

pub(super) const CONTENT_TYPE: &str = "application/problem+json";
/// Problem `type` URIs are tag URIs (RFC 4151): stable identifiers that resolve nowhere.
const TYPE_PREFIX: &str = "tag:job-tracker,2026:problem:";

/// An RFC 9457 problem document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(flatten)]
    pub extensions: BTreeMap<String, serde_json::Value>,
}

impl Problem {
    /// A problem of type `slug`; its status is set by [`super::ApiError::problem`].
    pub(super) fn new(slug: &str, title: &str, detail: impl ToString) -> Self {
        Self {
            problem_type: format!("{TYPE_PREFIX}{slug}"),
            title: title.to_owned(),
            status: 0,
            detail: detail.to_string(),
            extensions: BTreeMap::new(),
        }
    }

    fn with(mut self, member: &str, value: impl Serialize) -> Self {
        self.extensions.insert(member.to_owned(), serde_json::json!(value));
        self
    }

    pub(super) fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status.as_u16();
        self
    }
}

pub(super) fn unauthenticated() -> Problem {
    Problem::new(
        "unauthenticated",
        "Authentication required",
        "Sign the request (IAM) or send a bearer token; no caller identity reached the service.",
    )
}

pub(super) fn invalid_next_token() -> Problem {
    Problem::new(
        "invalid-next-token",
        "Invalid nextToken",
        "nextToken must be passed back unchanged, by the same caller, with the same other parameters as the \
         request that returned it. Start again without it.",
    )
}

pub(super) fn invalid_query(err: &super::ApiError, parameter: &str) -> Problem {
    Problem::new("invalid-query", "Invalid query parameter", err).with("parameter", parameter)
}

pub(super) fn of_service(err: &ServiceError) -> Problem {
    match err {
        ServiceError::UnknownDefinition { definition, known } => unknown_definition(definition, known),
        ServiceError::UndeclaredParameters {
            definition,
            undeclared,
            declared,
        } => undeclared_parameters(definition, undeclared, declared),
        ServiceError::InvalidParameterValue { parameter } => invalid_parameter_value(parameter),
        ServiceError::OverridesTooLarge { bytes, limit } => overrides_too_large(*bytes, *limit),
        ServiceError::IdempotencyKeyReused => Problem::new(
            "idempotency-key-reused",
            "Idempotency-Key reused",
            "This Idempotency-Key was already used with a different request body; use a new key for a new job.",
        ),
        ServiceError::JobNotFound => Problem::new(
            "job-not-found",
            "Job not found",
            "No job with this id exists for the caller.",
        ),
        ServiceError::AttemptNotFound { attempts } => Problem::new(
            "attempt-not-found",
            "Attempt not found",
            format!("The job has {attempts} attempt(s), numbered from 1."),
        )
        .with("attempts", attempts),
        ServiceError::Logs(LogError::InvalidPosition) => invalid_next_token(),
        ServiceError::Logs(LogError::Unavailable(_)) => Problem::new(
            "logs-unavailable",
            "Log store temporarily unavailable",
            "The log store did not answer. Retry later; reading a log is always safe to retry.",
        ),
        ServiceError::LaunchRefused { job } => launch_refused(job),
        ServiceError::PolicyRaised {
            definition,
            field,
            requested,
            allowed,
        } => Problem::new(
            "policy-raised",
            "Lifecycle policy raised",
            format!(
                "A request may lower its definition's {field}, never raise it: {requested} was asked, \
                 job definition {:?} allows at most {allowed}.",
                echoed(definition)
            ),
        )
        .with("field", field)
        .with("allowed", allowed),
        ServiceError::Contended { job_id } => Problem::new(
            "job-busy",
            "Job busy",
            "The job kept changing while it was being cancelled, and nothing was changed. Retry the cancel.",
        )
        .with("jobId", job_id.to_string()),
        ServiceError::JobFinished { job } => Problem::new(
            "job-finished",
            "Job already finished",
            format!("The job is {} and cannot be cancelled; it is unchanged.", job.status),
        )
        .with("jobId", job.id.to_string())
        .with("jobStatus", job.status),
        ServiceError::Store(StoreError::Unavailable { .. }) => Problem::new(
            "store-unavailable",
            "Service temporarily unavailable",
            "The job store did not answer. Retry later: reads are always safe to retry, and so is a \
             submission with an Idempotency-Key; a submission without one may have been recorded.",
        ),
        ServiceError::Store(StoreError::Invalid { .. }) | ServiceError::Stop(_) | ServiceError::Internal(_) => {
            Problem::new(
                "internal-error",
                "Internal error",
                "The service failed in a way it should not; the failure is logged. Retrying will not help.",
            )
        }
    }
}

fn unknown_definition(definition: &str, known: &[String]) -> Problem {
    Problem::new(
        "unknown-definition",
        "Unknown job definition",
        format!(
            "There is no job definition {:?}; known definitions: {}.",
            echoed(definition),
            known.join(", ")
        ),
    )
    .with("knownDefinitions", known)
}

fn undeclared_parameters(definition: &str, undeclared: &[String], declared: &[String]) -> Problem {
    let accepted = if declared.is_empty() {
        "no parameters".to_owned()
    } else {
        declared.join(", ")
    };
    let undeclared: Vec<&str> = undeclared.iter().map(|name| echoed(name)).collect();
    Problem::new(
        "undeclared-parameter",
        "Undeclared parameter",
        format!(
            "Job definition {definition:?} does not declare {}; it accepts: {accepted}.",
            undeclared.join(", ")
        ),
    )
    .with("undeclaredParameters", undeclared)
}

/// A name the client sent, as a problem repeats it: at most 64 characters, so that a
/// problem never carries back a large body.
fn echoed(name: &str) -> &str {
    name.char_indices().nth(64).map_or(name, |(end, _)| &name[..end])
}

fn invalid_parameter_value(parameter: &str) -> Problem {
    Problem::new(
        "invalid-parameter-value",
        "Invalid parameter value",
        format!(
            "Parameter {parameter} contains a control character (NUL, line break or another C0/C1 \
             character); values must be printable text."
        ),
    )
    .with("parameter", parameter)
}

fn overrides_too_large(bytes: usize, limit: usize) -> Problem {
    Problem::new(
        "overrides-too-large",
        "Parameters too large",
        format!(
            "The parameters would make ECS task overrides of {bytes} bytes; ECS accepts at most {limit}. \
             Nothing was recorded or launched."
        ),
    )
}

fn launch_refused(job: &Job) -> Problem {
    Problem::new(
        "launch-refused",
        "Job could not be started",
        format!(
            "The job was recorded as FAILED. {}.",
            job.status_reason.as_deref().unwrap_or("no reason given")
        ),
    )
    .with("jobId", job.id.to_string())
}
