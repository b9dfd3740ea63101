//! The HTTP face of the service (DESIGN.md §3): request parsing, the job representation,
//! and RFC 9457 problem documents. [`ApiError::status`] is the one place where errors
//! become status codes.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use lambda_http::http::header::{CONTENT_TYPE, LOCATION, RETRY_AFTER};
use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::{Deserialize, Serialize};

use crate::domain::{Attempt, IdempotencyKey, Job, Owner};
use crate::service::{JobRequest, ServiceError};

/// Largest `POST /jobs` body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";
const PROBLEM_JSON: &str = "application/problem+json";
/// Problem `type` URIs are tag URIs (RFC 4151): stable identifiers that resolve nowhere.
const PROBLEM_TYPE_PREFIX: &str = "tag:job-tracker,2026:problem:";

/// Everything a request can fail with, as the client sees it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the request carries no authenticated principal")]
    Unauthenticated,
    #[error("Content-Type must be application/json")]
    UnsupportedMediaType,
    #[error("the body is larger than {MAX_BODY_BYTES} bytes")]
    BodyTooLarge,
    #[error("the body is not a valid job request: {0}")]
    MalformedBody(String),
    #[error("Idempotency-Key must be 1 to 255 printable ASCII characters")]
    InvalidIdempotencyKey,
    #[error("no such route: the API has POST /jobs and GET /jobs/{{id}}")]
    RouteNotFound,
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl ApiError {
    /// The status code of every error: the only such mapping in the service.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::MalformedBody(_) | Self::InvalidIdempotencyKey => StatusCode::BAD_REQUEST,
            Self::RouteNotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Service(err) => match err {
                ServiceError::UnknownDefinition { .. }
                | ServiceError::UndeclaredParameters { .. }
                | ServiceError::InvalidParameterValue { .. } => StatusCode::BAD_REQUEST,
                ServiceError::OverridesTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                ServiceError::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
                ServiceError::JobNotFound => StatusCode::NOT_FOUND,
                ServiceError::LaunchRefused { .. } => StatusCode::BAD_GATEWAY,
                ServiceError::LaunchUnavailable { .. } | ServiceError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            },
        }
    }

    /// The problem document: a stable `type`, a short `title`, a `detail` that says what
    /// to do, and extension members a program can act on. Never an SDK message.
    pub fn problem(&self) -> Problem {
        let (slug, title, detail, extensions): (&str, &str, String, BTreeMap<&'static str, serde_json::Value>) = match self {
            Self::Unauthenticated => (
                "unauthenticated",
                "Authentication required",
                "Sign the request (IAM) or send a bearer token; no caller identity reached the service.".into(),
                BTreeMap::new(),
            ),
            Self::UnsupportedMediaType => ("unsupported-media-type", "Unsupported media type", self.to_string(), BTreeMap::new()),
            Self::BodyTooLarge => ("body-too-large", "Request body too large", self.to_string(), BTreeMap::new()),
            Self::MalformedBody(_) => ("malformed-body", "Malformed request body", self.to_string(), BTreeMap::new()),
            Self::RouteNotFound => ("route-not-found", "Not found", self.to_string(), BTreeMap::new()),
            Self::MethodNotAllowed => ("method-not-allowed", "Method not allowed", self.to_string(), BTreeMap::new()),
            Self::InvalidIdempotencyKey => ("invalid-idempotency-key", "Invalid Idempotency-Key", self.to_string(), BTreeMap::new()),
            Self::Service(err) => match err {
                ServiceError::UnknownDefinition { definition, known } => (
                    "unknown-definition",
                    "Unknown job definition",
                    format!("There is no job definition {definition:?}; known definitions: {}.", known.join(", ")),
                    BTreeMap::from([("knownDefinitions", serde_json::json!(known))]),
                ),
                ServiceError::UndeclaredParameters { definition, undeclared, declared } => (
                    "undeclared-parameter",
                    "Undeclared parameter",
                    format!(
                        "Job definition {definition:?} does not declare {}; it accepts: {}.",
                        undeclared.join(", "),
                        if declared.is_empty() { "no parameters".to_owned() } else { declared.join(", ") }
                    ),
                    BTreeMap::from([("undeclaredParameters", serde_json::json!(undeclared))]),
                ),
                ServiceError::InvalidParameterValue { parameter } => (
                    "invalid-parameter-value",
                    "Invalid parameter value",
                    format!("Parameter {parameter} contains a control character (NUL, line break or another C0/C1 character); values must be printable text."),
                    BTreeMap::from([("parameter", serde_json::json!(parameter))]),
                ),
                ServiceError::OverridesTooLarge { bytes, limit } => (
                    "overrides-too-large",
                    "Parameters too large",
                    format!("The parameters would make ECS task overrides of {bytes} bytes; ECS accepts at most {limit}. Nothing was recorded or launched."),
                    BTreeMap::new(),
                ),
                ServiceError::IdempotencyKeyReused => (
                    "idempotency-key-reused",
                    "Idempotency-Key reused",
                    "This Idempotency-Key was already used with a different request body; use a new key for a new job.".into(),
                    BTreeMap::new(),
                ),
                ServiceError::JobNotFound => ("job-not-found", "Job not found", "No job with this id exists for the caller.".into(), BTreeMap::new()),
                ServiceError::LaunchRefused { job } => (
                    "launch-refused",
                    "Job could not be started",
                    format!(
                        "The job was recorded as FAILED because ECS refused to run it: {}",
                        job.status_reason.as_deref().unwrap_or("no reason given")
                    ),
                    BTreeMap::from([("jobId", serde_json::json!(job.id.to_string()))]),
                ),
                ServiceError::LaunchUnavailable { job_id, keyed, .. } => (
                    "launch-unavailable",
                    "Job not started yet",
                    if *keyed {
                        "The job is recorded but ECS did not confirm its task, which may still start. Retry the same request with the same Idempotency-Key: the job is started at most once.".into()
                    } else {
                        format!("The job is recorded but ECS did not confirm its task, which may still start: follow it at /jobs/{job_id} rather than submitting it again. Send an Idempotency-Key to make retries of a submission safe.")
                    },
                    BTreeMap::from([("jobId", serde_json::json!(job_id.to_string()))]),
                ),
                ServiceError::Store(_) => (
                    "store-unavailable",
                    "Service temporarily unavailable",
                    "The job store did not answer. Retry later; with an Idempotency-Key, retrying is always safe.".into(),
                    BTreeMap::new(),
                ),
            },
        };
        Problem {
            problem_type: format!("{PROBLEM_TYPE_PREFIX}{slug}"),
            title: title.to_owned(),
            status: self.status().as_u16(),
            detail,
            extensions: extensions.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        }
    }

    /// The response, logged at the level its cause deserves.
    pub fn into_response(self) -> Response<Body> {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, status = status.as_u16(), "request failed");
        } else {
            tracing::info!(error = %self, status = status.as_u16(), "request rejected");
        }
        let mut response = json_response(status, &self.problem(), PROBLEM_JSON);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

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

fn json_response(status: StatusCode, body: &impl Serialize, content_type: &'static str) -> Response<Body> {
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

/// The owner of the authenticated caller (see [`Owner`]): the JWT issuer and subject when
/// a JWT authorizer is configured, else the IAM caller. API Gateway sets these; a request
/// without them never passed an authorizer and is refused.
pub fn owner_of(request: &Request) -> Result<Owner, ApiError> {
    let Some(RequestContext::ApiGatewayV2(context)) = request.request_context_ref() else {
        return Err(ApiError::Unauthenticated);
    };
    let authorizer = context.authorizer.as_ref().ok_or(ApiError::Unauthenticated)?;
    let owner = match (&authorizer.jwt, &authorizer.iam) {
        (Some(jwt), _) => {
            let claim = |name: &str| jwt.claims.get(name).map(String::as_str).unwrap_or_default();
            Owner::from_jwt(claim("iss"), claim("sub"))
        }
        (None, Some(iam)) => iam.user_arn.as_deref().and_then(Owner::from_iam_caller),
        (None, None) => None,
    };
    owner.ok_or(ApiError::Unauthenticated)
}

/// The body of `POST /jobs`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateJobBody {
    definition: String,
    #[serde(default)]
    parameters: Option<BTreeMap<String, String>>,
}

/// Parses `POST /jobs`: content type, size, JSON shape and `Idempotency-Key`, in the
/// order that gives the most useful error first.
pub fn parse_create_request(request: &Request) -> Result<(JobRequest, Option<IdempotencyKey>), ApiError> {
    let content_type = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(ApiError::UnsupportedMediaType);
    }
    let body: &[u8] = request.body().as_ref();
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::BodyTooLarge);
    }
    let parsed: CreateJobBody = serde_json::from_slice(body).map_err(|e| ApiError::MalformedBody(malformed(&e)))?;
    if parsed.definition.trim().is_empty() {
        return Err(ApiError::MalformedBody("definition must not be empty".to_owned()));
    }
    let key = match request.headers().get(IDEMPOTENCY_KEY_HEADER) {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(IdempotencyKey::parse)
                .ok_or(ApiError::InvalidIdempotencyKey)?,
        ),
    };
    Ok((
        JobRequest {
            definition: parsed.definition,
            parameters: parsed.parameters.unwrap_or_default(),
        },
        key,
    ))
}

/// What is wrong with a body, without echoing any of it: serde's messages quote the
/// offending value or field, which may be a secret pasted in the wrong place.
fn malformed(err: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let (line, column) = (err.line(), err.column());
    match err.classify() {
        Category::Syntax | Category::Io => format!("not valid JSON (line {line}, column {column})"),
        Category::Eof => "the JSON ends early".to_owned(),
        Category::Data => format!(
            "expected {{\"definition\": string, \"parameters\": {{string: string}}}} and no other fields (line {line}, column {column})"
        ),
    }
}

/// The job representation of DESIGN.md §3. Field names are a public contract: add, never
/// rename.
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
    pub attempts: Vec<AttemptView>,
    pub links: Links,
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
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Links {
    #[serde(rename = "self")]
    pub self_link: String,
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl From<&Attempt> for AttemptView {
    fn from(a: &Attempt) -> Self {
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
        }
    }
}

impl From<&Job> for JobView {
    fn from(job: &Job) -> Self {
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
            task_arn: current.and_then(|a| a.task_arn.clone()),
            exit_code: current.and_then(|a| a.exit_code),
            attempts: job.attempts.iter().map(AttemptView::from).collect(),
            links: Links {
                self_link: format!("/jobs/{}", job.id),
            },
        }
    }
}
