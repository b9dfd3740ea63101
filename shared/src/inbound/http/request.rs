//! What a request says: who calls, and the body and headers of `POST /jobs`.

use std::collections::BTreeMap;

use lambda_http::http::header::CONTENT_TYPE;
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use serde::Deserialize;

use super::ApiError;
use crate::app::JobRequest;
use crate::domain::{IdempotencyKey, Owner};

/// Largest `POST /jobs` body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";

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
    /// Fewer attempts than the definition allows.
    #[serde(default)]
    retry: Option<RetryBody>,
    /// A shorter attempt timeout than the definition's.
    #[serde(default)]
    timeout_seconds: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RetryBody {
    attempts: u32,
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
    let attempts = parsed.retry.map(|retry| retry.attempts);
    if attempts == Some(0) {
        return Err(ApiError::MalformedBody(
            "retry.attempts counts the first attempt: it must be at least 1".to_owned(),
        ));
    }
    let longest = crate::domain::JobDefinition::MAX_TIMEOUT.as_secs();
    if parsed.timeout_seconds.is_some_and(|t| t == 0 || t > longest) {
        return Err(ApiError::MalformedBody(format!(
            "timeoutSeconds must be 1 to {longest} (365 days)"
        )));
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
            attempts,
            timeout: parsed.timeout_seconds.map(std::time::Duration::from_secs),
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
            "expected {{\"definition\": string, \"parameters\": {{string: string}}, \"retry\": {{\"attempts\": integer}}, \
             \"timeoutSeconds\": integer}} and no other fields (line {line}, column {column})"
        ),
    }
}
