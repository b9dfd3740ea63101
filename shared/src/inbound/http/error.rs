//! Everything a request can fail with, as the client sees it, and the one mapping from
//! errors to status codes.

use lambda_http::http::header::{ALLOW, RETRY_AFTER};
use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::{Body, Response};

use super::problem::{self, Problem};
use super::view::json_response;
use crate::app::ServiceError;
use crate::ports::{with_causes, LogError, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the request carries no authenticated principal")]
    Unauthenticated,
    #[error("Content-Type must be application/json")]
    UnsupportedMediaType,
    #[error("the body is larger than {} bytes", super::MAX_BODY_BYTES)]
    BodyTooLarge,
    #[error("the body is not a valid job request: {0}")]
    MalformedBody(String),
    #[error("Idempotency-Key must be 1 to 255 printable ASCII characters")]
    InvalidIdempotencyKey,
    #[error("query parameter {parameter} {problem}")]
    InvalidQuery { parameter: String, problem: String },
    #[error("nextToken was not issued for this caller and these parameters, or was altered")]
    InvalidNextToken,
    #[error(
        "no such route: the API has POST /jobs, GET /jobs, GET /jobs/{{id}}, DELETE /jobs/{{id}} and \
         GET /jobs/{{id}}/logs"
    )]
    RouteNotFound,
    #[error("method not allowed on this route; it allows {allow}")]
    MethodNotAllowed {
        /// The route's methods, as the `Allow` header lists them.
        allow: String,
    },
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
            Self::MalformedBody(_)
            | Self::InvalidIdempotencyKey
            | Self::InvalidQuery { .. }
            | Self::InvalidNextToken => StatusCode::BAD_REQUEST,
            Self::RouteNotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::Service(err) => match err {
                ServiceError::UnknownDefinition { .. }
                | ServiceError::UndeclaredParameters { .. }
                | ServiceError::InvalidParameterValue { .. }
                | ServiceError::PolicyRaised { .. } => StatusCode::BAD_REQUEST,
                ServiceError::JobFinished { .. } => StatusCode::CONFLICT,
                ServiceError::OverridesTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                ServiceError::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
                ServiceError::JobNotFound | ServiceError::AttemptNotFound { .. } => StatusCode::NOT_FOUND,
                ServiceError::Logs(LogError::InvalidPosition) => StatusCode::BAD_REQUEST,
                ServiceError::Logs(LogError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
                ServiceError::LaunchRefused { .. } => StatusCode::BAD_GATEWAY,
                ServiceError::Store(StoreError::Unavailable { .. }) | ServiceError::Contended { .. } => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
                ServiceError::Store(StoreError::Invalid { .. }) | ServiceError::Stop(_) | ServiceError::Internal(_) => {
                    StatusCode::INTERNAL_SERVER_ERROR
                }
            },
        }
    }

    /// The problem document: a stable `type`, a short `title`, a `detail` that says what
    /// to do, and extension members a program can act on. Never an SDK message.
    pub fn problem(&self) -> Problem {
        let problem = match self {
            Self::Unauthenticated => problem::unauthenticated(),
            Self::UnsupportedMediaType => Problem::new("unsupported-media-type", "Unsupported media type", self),
            Self::BodyTooLarge => Problem::new("body-too-large", "Request body too large", self),
            Self::MalformedBody(_) => Problem::new("malformed-body", "Malformed request body", self),
            Self::InvalidIdempotencyKey => Problem::new("invalid-idempotency-key", "Invalid Idempotency-Key", self),
            Self::InvalidQuery { parameter, .. } => problem::invalid_query(self, parameter),
            Self::InvalidNextToken => problem::invalid_next_token(),
            Self::RouteNotFound => Problem::new("route-not-found", "Not found", self),
            Self::MethodNotAllowed { .. } => Problem::new("method-not-allowed", "Method not allowed", self),
            Self::Service(err) => problem::of_service(err),
        };
        problem.with_status(self.status())
    }

    /// The response, logged at the level its cause deserves, with the whole chain of
    /// causes (which the client never sees).
    pub fn into_response(self) -> Response<Body> {
        let status = self.status();
        let error = with_causes(&self);
        let allow = match &self {
            Self::MethodNotAllowed { allow } => HeaderValue::from_str(allow).ok(),
            _ => None,
        };
        if status.is_server_error() {
            tracing::error!(error, status = status.as_u16(), "request failed");
        } else {
            tracing::info!(error, status = status.as_u16(), "request rejected");
        }
        let mut response = json_response(status, &self.problem(), problem::CONTENT_TYPE);
        // Only an unavailable store or log store and a contended cancel answer 503, and then
        // nothing was recorded.
        if let Some(allow) = allow {
            response.headers_mut().insert(ALLOW, allow);
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}
