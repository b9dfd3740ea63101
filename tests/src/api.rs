//! HTTP requests exactly as API Gateway (HTTP API, payload format 2.0) hands them to
//! Lambda, and helpers to read the responses.

use lambda_http::{Body, Request, Response};
use serde_json::{json, Value};

/// Who the authorizer says is calling.
#[derive(Debug, Clone, Copy)]
pub enum Caller<'a> {
    /// The IAM caller ARN API Gateway reports as `userArn`.
    Iam(&'a str),
    Jwt {
        issuer: &'a str,
        subject: &'a str,
    },
    Anonymous,
}

pub const ALICE: Caller<'static> = Caller::Iam("arn:aws:iam::111122223333:user/alice");
pub const BOB: Caller<'static> = Caller::Iam("arn:aws:iam::111122223333:user/bob");

/// A request as API Gateway delivers it to the handler.
pub fn gateway_request(
    method: &str,
    path: &str,
    path_parameters: Option<Value>,
    headers: &[(&str, &str)],
    body: Option<&str>,
    caller: Caller<'_>,
) -> Request {
    into_request(gateway_event(method, path, path_parameters, headers, body, caller))
}

/// The API Gateway HTTP API (payload format 2.0) event of a request, as Lambda receives it.
pub fn gateway_event(
    method: &str,
    path: &str,
    path_parameters: Option<Value>,
    headers: &[(&str, &str)],
    body: Option<&str>,
    caller: Caller<'_>,
) -> Value {
    let route = match path_parameters {
        Some(_) => format!("{method} /jobs/{{id}}"),
        None => format!("{method} {path}"),
    };
    let authorizer = match caller {
        Caller::Iam(arn) => json!({"iam": {"accessKey": "AKIA0000", "accountId": "111122223333",
            "callerId": "AIDA0000", "principalOrgId": null, "userArn": arn, "userId": "AIDA0000"}}),
        Caller::Jwt { issuer, subject } => json!({"jwt": {"claims": {"sub": subject, "iss": issuer}, "scopes": null}}),
        Caller::Anonymous => Value::Null,
    };
    let mut header_map = serde_json::Map::new();
    header_map.insert("host".into(), json!("abc123.execute-api.us-east-1.amazonaws.com"));
    for (name, value) in headers {
        header_map.insert(name.to_ascii_lowercase(), json!(value));
    }
    let mut context = json!({
        "accountId": "111122223333", "apiId": "abc123",
        "domainName": "abc123.execute-api.us-east-1.amazonaws.com", "domainPrefix": "abc123",
        "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "tests"},
        "requestId": "req-1", "routeKey": route, "stage": "$default",
        "time": "01/Nov/2026:12:00:00 +0000", "timeEpoch": 1793534400000_i64,
    });
    if !authorizer.is_null() {
        context["authorizer"] = authorizer;
    }
    let mut event = json!({
        "version": "2.0", "routeKey": route, "rawPath": path, "rawQueryString": "",
        "headers": header_map, "requestContext": context, "isBase64Encoded": false,
    });
    if let Some(parameters) = path_parameters {
        event["pathParameters"] = parameters;
    }
    if let Some(body) = body {
        event["body"] = json!(body);
    }
    event
}

/// `POST /jobs` with a JSON body, as the API Gateway event Lambda receives.
pub fn post_job_event(body: &str, caller: Caller<'_>, idempotency_key: Option<&str>) -> Value {
    let mut headers = vec![("content-type", "application/json")];
    if let Some(key) = idempotency_key {
        headers.push(("idempotency-key", key));
    }
    gateway_event("POST", "/jobs", None, &headers, Some(body), caller)
}

/// `GET /jobs/{id}`, as the API Gateway event Lambda receives.
pub fn get_job_event(id: &str, caller: Caller<'_>) -> Value {
    gateway_event(
        "GET",
        &format!("/jobs/{id}"),
        Some(json!({ "id": id })),
        &[],
        None,
        caller,
    )
}

pub fn delete_job_event(id: &str, caller: Caller<'_>) -> Value {
    gateway_event(
        "DELETE",
        &format!("/jobs/{id}"),
        Some(json!({ "id": id })),
        &[],
        None,
        caller,
    )
}

/// `GET /jobs?<query>` (query as the client writes it, e.g. `status=RUNNING&limit=5`),
/// as the API Gateway event Lambda receives it.
pub fn list_jobs_event(query: &[(&str, &str)], caller: Caller<'_>) -> Value {
    let mut event = gateway_event("GET", "/jobs", None, &[], None, caller);
    with_query(&mut event, query);
    event
}

/// `GET /jobs/{id}/logs?<query>`, as the API Gateway event Lambda receives it.
pub fn job_logs_event(id: &str, query: &[(&str, &str)], caller: Caller<'_>) -> Value {
    let mut event = gateway_event(
        "GET",
        &format!("/jobs/{id}/logs"),
        Some(json!({ "id": id })),
        &[],
        None,
        caller,
    );
    event["routeKey"] = json!("GET /jobs/{id}/logs");
    event["requestContext"]["routeKey"] = json!("GET /jobs/{id}/logs");
    with_query(&mut event, query);
    event
}

/// Sets the query of `event` as API Gateway (payload 2.0) does: `rawQueryString` as sent,
/// and `queryStringParameters` with the values of a repeated name joined by commas.
fn with_query(event: &mut Value, query: &[(&str, &str)]) {
    let raw: Vec<String> = query
        .iter()
        .map(|(name, value)| format!("{}={}", encode(name), encode(value)))
        .collect();
    event["rawQueryString"] = json!(raw.join("&"));
    let mut joined = serde_json::Map::new();
    for (name, value) in query {
        match joined.get_mut(*name) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(value);
            }
            _ => {
                joined.insert((*name).to_owned(), json!(value));
            }
        }
    }
    if !joined.is_empty() {
        event["queryStringParameters"] = Value::Object(joined);
    }
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub fn list_jobs(query: &[(&str, &str)], caller: Caller<'_>) -> Request {
    into_request(list_jobs_event(query, caller))
}

pub fn job_logs(id: &str, query: &[(&str, &str)], caller: Caller<'_>) -> Request {
    into_request(job_logs_event(id, query, caller))
}

fn into_request(event: Value) -> Request {
    lambda_http::request::from_str(&event.to_string()).expect("a valid API Gateway v2 event")
}

pub fn post_job(body: &str, caller: Caller<'_>, idempotency_key: Option<&str>) -> Request {
    into_request(post_job_event(body, caller, idempotency_key))
}

pub fn get_job(id: &str, caller: Caller<'_>) -> Request {
    into_request(get_job_event(id, caller))
}

pub fn delete_job(id: &str, caller: Caller<'_>) -> Request {
    into_request(delete_job_event(id, caller))
}

/// The body of a response as JSON.
pub fn json_body(response: &Response<Body>) -> Value {
    // Every answer a test reads is held to openapi.yaml (some operation must document it).
    crate::openapi::check_lambda_response_of_some_operation(response);
    serde_json::from_slice(response.body().as_ref()).expect("a JSON body")
}

pub fn header<'a>(response: &'a Response<Body>, name: &str) -> Option<&'a str> {
    crate::openapi::check_lambda_response_of_some_operation(response);
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Asserts a problem response: status, `application/problem+json`, and the problem type.
pub fn assert_problem(response: &Response<Body>, status: u16, problem: &str) -> Value {
    let body = json_body(response);
    assert_eq!(response.status().as_u16(), status, "status of {body}");
    assert_eq!(header(response, "content-type"), Some("application/problem+json"));
    assert_eq!(
        body["type"],
        format!("tag:job-tracker,2026:problem:{problem}"),
        "{body}"
    );
    assert_eq!(body["status"], status);
    assert!(body["title"].as_str().is_some_and(|t| !t.is_empty()), "{body}");
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{body}");
    body
}
