//! The local server's router in process: each route reaches its handler, other paths and
//! methods are the service's own problems, and a job's log is read from the file its
//! task writes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use create_job::CreateJob;
use job_api::JobApi;
use local_server::definitions::LocalDefinitions;
use local_server::logs::LocalLogReader;
use local_server::runner::LocalTaskRunner;
use local_server::server::{LocalApi, OPENAPI_YAML, ROUTES};
use serde_json::Value;
use shared::adapters::memory::{InMemoryJobStore, InProcessLaunchQueue};
use shared::app::JobService;
use shared::inbound::http::MAX_BODY_BYTES;
use tower::ServiceExt;

const DEFINITIONS: &str = r#"
[definitions.hello]
command = ["sh", "-c", "echo \"hello $JOB_ID\"; echo 'second line' >&2; sleep 30"]
"#;

struct Local {
    router: Router,
    log_dir: std::path::PathBuf,
    // Kept: the runner's events and the queue's messages go nowhere, and no job moves
    // past its launch, which is all these tests need.
    _events: tokio::sync::mpsc::UnboundedReceiver<Value>,
    _messages: tokio::sync::mpsc::UnboundedReceiver<shared::ports::LaunchMessage>,
    runner: Arc<LocalTaskRunner>,
}

fn local() -> Local {
    let definitions = LocalDefinitions::parse(DEFINITIONS).expect("valid definitions");
    let log_dir = std::env::temp_dir().join(format!("local-router-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&log_dir).expect("a log directory");
    let (events, _events) = tokio::sync::mpsc::unbounded_channel();
    let runner = Arc::new(LocalTaskRunner::new(
        definitions.commands.clone(),
        log_dir.clone(),
        events,
    ));
    let store = Arc::new(InMemoryJobStore::default());
    let (queue, _messages) = InProcessLaunchQueue::new();
    let service =
        || JobService::new(store.clone(), runner.clone(), definitions.definitions.clone()).with_queue(queue.clone());
    let api = Arc::new(LocalApi::new(
        CreateJob::new(service()),
        JobApi::new(service(), LocalLogReader::new(log_dir.clone())),
    ));
    Local {
        router: api.router(),
        log_dir,
        _events,
        _messages,
        runner,
    }
}

async fn call(
    router: &Router,
    method: &str,
    uri: &str,
    body: Option<String>,
) -> (StatusCode, HashMap<String, String>, String) {
    let mut request = Request::builder().method(method).uri(uri);
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    let request = request
        .body(body.map_or_else(Body::empty, Body::from))
        .expect("a request");
    let response = router.clone().oneshot(request).await.expect("an answer");
    let status = response.status();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned()))
        .collect();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("a body");
    (status, headers, String::from_utf8(body.to_vec()).expect("UTF-8"))
}

fn problem_type(body: &str) -> String {
    let problem: Value = serde_json::from_str(body).expect("a problem");
    problem["type"]
        .as_str()
        .unwrap_or_default()
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn other_paths_and_methods_are_the_services_problems() {
    let local = local();
    for (method, uri) in [
        ("GET", "/"),
        ("GET", "/nope"),
        ("GET", "/jobs/a/b"),
        ("POST", "/jobs/a/logs/x"),
        ("GET", "/openapi.json"),
    ] {
        let (status, headers, body) = call(&local.router, method, uri, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {uri}: {body}");
        assert_eq!(headers["content-type"], "application/problem+json", "{method} {uri}");
        assert_eq!(problem_type(&body), "route-not-found", "{method} {uri}");
    }
    for (method, uri, allowed) in [
        ("PUT", "/jobs", "POST, GET"),
        ("DELETE", "/jobs", "POST, GET"),
        ("HEAD", "/jobs", "POST, GET"),
        ("POST", "/jobs/x", "GET, DELETE"),
        ("PATCH", "/jobs/x", "GET, DELETE"),
        ("HEAD", "/jobs/x", "GET, DELETE"),
        ("DELETE", "/jobs/x/logs", "GET"),
        ("POST", "/openapi.yaml", "GET"),
        ("HEAD", "/openapi.yaml", "GET"),
    ] {
        let (status, headers, body) = call(&local.router, method, uri, None).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}: {body}");
        assert_eq!(headers["allow"], allowed, "{method} {uri}");
        if method != "HEAD" {
            assert_eq!(problem_type(&body), "method-not-allowed", "{method} {uri}");
        }
    }
}

#[tokio::test]
async fn serves_the_openapi_description() {
    let local = local();
    let (status, headers, body) = call(&local.router, "GET", "/openapi.yaml", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers["content-type"].starts_with("application/yaml"), "{headers:?}");
    assert_eq!(body, OPENAPI_YAML);
    // Every route of the table is described.
    for (method, path) in ROUTES.iter().filter(|(_, p)| *p != "/openapi.yaml") {
        assert!(
            body.contains(&format!("  {path}:")),
            "{method} {path} not in openapi.yaml"
        );
    }
}

#[tokio::test]
async fn a_body_past_the_limit_is_refused() {
    let local = local();
    let (status, _, body) = call(&local.router, "POST", "/jobs", Some("x".repeat(MAX_BODY_BYTES + 100))).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
}

#[tokio::test]
async fn query_strings_reach_the_handlers_as_lambda_http_reads_them() {
    let local = local();
    for uri in [
        "/jobs?status=SUCCEEDED&status=FAILED",
        "/jobs?status=SUCCEEDED,FAILED&limit=1",
        "/jobs?status=SUCCEEDED%2CFAILED",
        "/jobs?createdAfter=2026-11-27T12%3A00%3A00%2B01%3A00",
    ] {
        let (status, _, body) = call(&local.router, "GET", uri, None).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
    }
    for (uri, parameter) in [
        ("/jobs?status=SUCCEEDED,NOPE", "status"),
        ("/jobs?limit=1,2", "limit"),
        ("/jobs?bogus=1", "bogus"),
        ("/jobs/x/logs?attempt=0", "attempt"),
    ] {
        let (status, _, body) = call(&local.router, "GET", uri, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        let problem: Value = serde_json::from_str(&body).expect("a problem");
        assert_eq!(problem["parameter"], parameter, "{uri}: {body}");
    }
}

#[tokio::test]
async fn a_job_is_created_listed_read_and_its_log_followed() {
    let local = local();
    let (status, _, body) = call(
        &local.router,
        "POST",
        "/jobs",
        Some(r#"{"definition": "hello"}"#.to_owned()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let job: Value = serde_json::from_str(&body).expect("a job");
    let id = job["jobId"].as_str().expect("an id").to_owned();

    let (status, _, body) = call(&local.router, "GET", "/jobs?limit=1", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let page: Value = serde_json::from_str(&body).expect("a page");
    assert_eq!(page["jobs"][0]["jobId"], id.as_str(), "{body}");

    let (status, _, body) = call(&local.router, "GET", &format!("/jobs/{id}"), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let job: Value = serde_json::from_str(&body).expect("a job");
    let task_arn = job["attempts"][0]["taskArn"].as_str().expect("a task").to_owned();
    let task_id = task_arn.rsplit('/').next().expect("a task id");
    let stream = format!("hello/app/{task_id}");
    assert_eq!(job["attempts"][0]["logs"]["group"], "local", "{body}");
    assert_eq!(job["attempts"][0]["logs"]["stream"], stream.as_str(), "{body}");
    assert_eq!(job["attempts"][0]["logs"]["consoleUrl"], Value::Null, "{body}");

    // The log is the task's file; follow it until both lines are in.
    let mut messages = Vec::new();
    let mut token: Option<String> = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while messages.len() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the lines never came: {messages:?}"
        );
        let uri = match &token {
            None => format!("/jobs/{id}/logs"),
            Some(token) => format!("/jobs/{id}/logs?nextToken={token}"),
        };
        let (status, _, body) = call(&local.router, "GET", &uri, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let page: Value = serde_json::from_str(&body).expect("a page");
        for event in page["events"].as_array().expect("events") {
            messages.push(event["message"].as_str().expect("a message").to_owned());
        }
        token = Some(
            page["nextToken"]
                .as_str()
                .expect("a token while the task runs")
                .to_owned(),
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(messages, [format!("hello {id}"), "second line".to_owned()]);
    assert!(local.log_dir.join(&stream).is_file());

    let (status, _, body) = call(&local.router, "GET", &format!("/jobs/{id}/logs?attempt=2"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(problem_type(&body), "attempt-not-found");
    let (status, _, body) = call(&local.router, "GET", &format!("/jobs/{id}/logs?nextToken=edited"), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(problem_type(&body), "invalid-next-token");

    let (status, _, body) = call(&local.router, "DELETE", &format!("/jobs/{id}"), None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    local.runner.shut_down().await;
    let _ = std::fs::remove_dir_all(&local.log_dir);
}
