//! The REST routes over HTTP on 127.0.0.1, calling the Lambdas' own handlers: an axum
//! router built once from [`ROUTES`] turns each request into the `lambda_http::Request`
//! API Gateway (HTTP API, payload format 2.0) would deliver: a fixed local principal in
//! its IAM authorizer context, the route's path parameters, and the query string
//! parameters as API Gateway and `aws_lambda_events` hand them over. The handler's
//! response goes back as is.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::apigw::{
    ApiGatewayRequestAuthorizer, ApiGatewayRequestAuthorizerIamDescription, ApiGatewayV2httpRequestContext,
};
use aws_lambda_events::query_map::QueryMap;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::http::header::{CONTENT_TYPE, USER_AGENT};
use axum::http::{HeaderValue, Method};
use axum::response::Response;
use axum::routing::{MethodFilter, MethodRouter};
use axum::Router;
use create_job::CreateJob;
use job_api::JobApi;
use job_events::JobEvents;
use lambda_http::request::RequestContext;
use lambda_http::{Body, RequestExt};
use serde_json::Value;
use shared::app::JobService;
use shared::inbound::http::{ApiError, MAX_BODY_BYTES};
use shared::ports::{
    with_causes, JobStore, LaunchMessage, LaunchQueue, LogReader, TaskInspector, TaskLauncher, TaskStopper,
};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use crate::logs::LocalLogReader;

/// Every local request is made by this principal, as if IAM had authenticated it.
pub const LOCAL_PRINCIPAL: &str = "arn:aws:iam::000000000000:user/local";

/// The routes served, as (method, path template): API Gateway's five routes (`POST
/// /jobs` to create-job, the others to job-api), and the API's description, which only
/// the local server serves. Any other path is `404 route-not-found`, any other method on
/// these paths `405 method-not-allowed`.
pub const ROUTES: [(&str, &str); 6] = [
    ("POST", "/jobs"),
    ("GET", "/jobs"),
    ("GET", "/jobs/{id}"),
    ("DELETE", "/jobs/{id}"),
    ("GET", "/jobs/{id}/logs"),
    ("GET", "/openapi.yaml"),
];

/// The API's OpenAPI description, served at `GET /openapi.yaml`.
pub const OPENAPI_YAML: &str = include_str!("../../openapi.yaml");

/// How long the server waits, once told to stop, for requests under way to finish.
const DRAIN: Duration = Duration::from_secs(5);

/// Which handler a route calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    CreateJob,
    JobApi,
    OpenApi,
}

fn target_of(method: &str, path: &str) -> Target {
    match (method, path) {
        ("POST", "/jobs") => Target::CreateJob,
        (_, "/openapi.yaml") => Target::OpenApi,
        _ => Target::JobApi,
    }
}

/// `POST /jobs` is create-job's handler; `GET /jobs` and every `/jobs/{id}` route are
/// job-api's.
pub struct LocalApi<S, L, Q, R = LocalLogReader> {
    create: CreateJob<S, L, Q>,
    api: JobApi<S, L, Q, R>,
}

impl<S, L, Q, R> LocalApi<S, L, Q, R>
where
    S: JobStore + Clone + 'static,
    L: TaskLauncher + TaskStopper + 'static,
    Q: LaunchQueue + 'static,
    R: LogReader + 'static,
{
    pub fn new(create: CreateJob<S, L, Q>, api: JobApi<S, L, Q, R>) -> Self {
        Self { create, api }
    }

    /// The router of [`ROUTES`], built once: each path's methods go to their handlers,
    /// any other method on it (`HEAD` too: API Gateway routes no method by itself) is
    /// `405 method-not-allowed` with `Allow`, and any other path `404 route-not-found`.
    pub fn router(self: Arc<Self>) -> Router {
        let mut router = Router::new();
        let mut paths: Vec<&'static str> = Vec::new();
        for (_, path) in ROUTES {
            if !paths.contains(&path) {
                paths.push(path);
            }
        }
        for path in paths {
            let methods: Vec<&'static str> = ROUTES
                .iter()
                .filter(|(_, p)| *p == path)
                .map(|(method, _)| *method)
                .collect();
            let allow = methods.join(", ");
            let not_allowed = move || std::future::ready(method_not_allowed(&allow));
            let mut endpoint = MethodRouter::new()
                .on(MethodFilter::HEAD, not_allowed.clone())
                .fallback(not_allowed);
            for method in methods {
                endpoint = with_handler(endpoint, method, path);
            }
            router = router.route(path, endpoint);
        }
        router
            .fallback(|| std::future::ready(lambda_to_axum(ApiError::RouteNotFound.into_response())))
            .with_state(self)
    }

    /// Calls `target`'s handler with `request` as API Gateway would deliver it on the
    /// route `route_key` (`GET /jobs/{id}`).
    async fn call(&self, target: Target, route_key: &str, path: HashMap<String, String>, request: Request) -> Response {
        if target == Target::OpenApi {
            return openapi();
        }
        let request = match into_lambda(request, route_key, path).await {
            Ok(request) => request,
            Err(err) => return lambda_to_axum(err.into_response()),
        };
        let response = match target {
            Target::CreateJob => self.create.handle(request).await,
            Target::JobApi | Target::OpenApi => self.api.handle(request).await,
        };
        lambda_to_axum(response)
    }
}

/// `endpoint` with the handler of `method` `path`, one of [`ROUTES`].
fn with_handler<S, L, Q, R>(
    endpoint: MethodRouter<Arc<LocalApi<S, L, Q, R>>>,
    method: &'static str,
    path: &'static str,
) -> MethodRouter<Arc<LocalApi<S, L, Q, R>>>
where
    S: JobStore + Clone + 'static,
    L: TaskLauncher + TaskStopper + 'static,
    Q: LaunchQueue + 'static,
    R: LogReader + 'static,
{
    let filter = Method::from_bytes(method.as_bytes())
        .ok()
        .and_then(|m| MethodFilter::try_from(m).ok())
        .unwrap_or_else(|| panic!("ROUTES names an unknown method {method}"));
    let target = target_of(method, path);
    if target == Target::OpenApi {
        return endpoint.on(filter, || std::future::ready(openapi()));
    }
    let route_key = format!("{method} {path}");
    endpoint.on(
        filter,
        move |State(api): State<Arc<LocalApi<S, L, Q, R>>>,
              parameters: Result<Path<HashMap<String, String>>, PathRejection>,
              request: Request| async move {
            // No parameters, or not UTF-8 once decoded: the handler reads the id from the
            // path (and finds no such job).
            let parameters = parameters.map(|Path(p)| p).unwrap_or_default();
            api.call(target, &route_key, parameters, request).await
        },
    )
}

fn openapi() -> Response {
    let mut response = Response::new(axum::body::Body::from(OPENAPI_YAML));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/yaml; charset=utf-8"),
    );
    response
}

fn method_not_allowed(allow: &str) -> Response {
    lambda_to_axum(
        ApiError::MethodNotAllowed {
            allow: allow.to_owned(),
        }
        .into_response(),
    )
}

/// `request` as API Gateway would hand it to the Lambda: the body (at most one byte past
/// the limit, enough for the handler to refuse it), the request context, the path
/// parameters and the query string parameters.
async fn into_lambda(
    request: Request,
    route_key: &str,
    path: HashMap<String, String>,
) -> Result<lambda_http::Request, ApiError> {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, MAX_BODY_BYTES + 1)
        .await
        .map_err(|_| ApiError::BodyTooLarge)?;
    let context = local_request_context(&parts, route_key);
    let query = api_gateway_query(parts.uri.query());
    let mut request = lambda_http::Request::from_parts(parts, Body::from(body.to_vec()))
        .with_request_context(context)
        .with_query_string_parameters(query);
    if !path.is_empty() {
        request = request.with_path_parameters(path);
    }
    Ok(request)
}

/// The query string parameters a Lambda behind API Gateway (payload format 2.0) reads.
/// `lambda_http` builds them from the event's `rawQueryString`, as a WHATWG URL parser
/// does (percent-decoded, `+` a space, a repeated name giving several values), not from
/// API Gateway's comma-joined `queryStringParameters`: so exactly that here, with the
/// same parser.
pub fn api_gateway_query(query: Option<&str>) -> QueryMap {
    query.unwrap_or_default().parse().unwrap_or_default()
}

fn local_request_context(parts: &axum::http::request::Parts, route_key: &str) -> RequestContext {
    let mut iam = ApiGatewayRequestAuthorizerIamDescription::default();
    iam.user_arn = Some(LOCAL_PRINCIPAL.to_owned());
    let mut authorizer = ApiGatewayRequestAuthorizer::default();
    authorizer.iam = Some(iam);
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.authorizer = Some(authorizer);
    context.stage = Some("$default".to_owned());
    context.route_key = Some(route_key.to_owned());
    context.request_id = Some(uuid::Uuid::new_v4().to_string());
    context.time_epoch = chrono::Utc::now().timestamp_millis();
    context.http.method = parts.method.clone();
    context.http.path = Some(parts.uri.path().to_owned());
    context.http.protocol = Some(format!("{:?}", parts.version));
    // The server listens on the loopback interface only.
    context.http.source_ip = Some("127.0.0.1".to_owned());
    context.http.user_agent = parts
        .headers
        .get(USER_AGENT)
        .and_then(|agent| agent.to_str().ok())
        .map(str::to_owned);
    RequestContext::ApiGatewayV2(context)
}

fn lambda_to_axum(response: lambda_http::Response<Body>) -> Response {
    let (parts, body) = response.into_parts();
    let body = match body {
        Body::Empty => axum::body::Body::empty(),
        Body::Text(text) => axum::body::Body::from(text),
        Body::Binary(binary) => axum::body::Body::from(binary),
        _ => axum::body::Body::empty(),
    };
    Response::from_parts(parts, body)
}

/// Serves HTTP/1.1 on `listener` until `shutdown` turns true, then lets requests under
/// way finish (for [`DRAIN`] at most).
pub async fn serve<S, L, Q, R>(listener: TcpListener, api: Arc<LocalApi<S, L, Q, R>>, shutdown: watch::Receiver<bool>)
where
    S: JobStore + Clone + 'static,
    L: TaskLauncher + TaskStopper + 'static,
    Q: LaunchQueue + 'static,
    R: LogReader + 'static,
{
    let mut stopping = shutdown.clone();
    let mut stopped = shutdown;
    let serving = axum::serve(listener, api.router()).with_graceful_shutdown(async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    });
    tokio::select! {
        result = std::future::IntoFuture::into_future(serving) => {
            if let Err(err) = result {
                tracing::warn!(error = %err, "the HTTP server stopped");
            }
        }
        () = async {
            let _ = stopping.wait_for(|stop| *stop).await;
            tokio::time::sleep(DRAIN).await;
        } => tracing::warn!("requests still under way {} s after the stop; leaving them", DRAIN.as_secs()),
    }
}

/// Feeds the runner's events to the job-events handler, in order, as EventBridge feeds
/// the Lambda; an event the store could not take is retried, as Lambda would.
pub async fn deliver_events<S: JobStore, Q: LaunchQueue>(
    mut events: mpsc::UnboundedReceiver<Value>,
    handler: JobEvents<S, Q>,
) {
    const ATTEMPTS: u32 = 3;
    while let Some(event) = events.recv().await {
        for attempt in 1..=ATTEMPTS {
            match handler.handle(event.clone()).await {
                Ok(_) => break,
                Err(job_events::EventError::Store(_)) if attempt < ATTEMPTS => {
                    tokio::time::sleep(std::time::Duration::from_millis(500 * u64::from(attempt))).await;
                }
                // Logged by the handler; locally there is no dead-letter queue to keep it.
                Err(_) => break,
            }
        }
    }
}

/// The launch queue's consumer, as SQS feeds the job-reconciler Lambda: each message (a
/// launch try that is due, a freed slot, a task no job wants) is handled as it arrives. A
/// message that fails is logged and left to the reconciler, whose next pass finds every
/// waiting job. Stops when `shutdown` turns true, and gives the receiver back so that late
/// messages (a slot freed by the last STOPPED events) are kept rather than refused.
pub async fn consume_launch_queue<S, L, Q>(
    mut messages: mpsc::UnboundedReceiver<LaunchMessage>,
    service: Arc<JobService<S, L, Q>>,
    mut shutdown: watch::Receiver<bool>,
) -> mpsc::UnboundedReceiver<LaunchMessage>
where
    S: JobStore,
    L: TaskLauncher + TaskInspector + TaskStopper,
    Q: LaunchQueue,
{
    loop {
        let message = tokio::select! {
            message = messages.recv() => message,
            _ = shutdown.wait_for(|stop| *stop) => return messages,
        };
        let Some(message) = message else { return messages };
        if let Err(err) = service.handle_launch_message(&message).await {
            tracing::warn!(
                ?message,
                error = with_causes(&err),
                "launch message failed; the reconciler will retry"
            );
        }
    }
}

/// The reconciler's schedule: a pass, then `interval` of rest, until `shutdown` turns
/// true (a pass under way is finished, not cut short). Resting after the pass (rather
/// than at a fixed rate) means a job the previous pass moved has been quiet for a whole
/// interval when the next pass looks at it.
pub async fn reconcile_every<S, L, Q>(
    interval: std::time::Duration,
    service: Arc<JobService<S, L, Q>>,
    mut shutdown: watch::Receiver<bool>,
) where
    S: JobStore,
    L: TaskLauncher + TaskInspector + TaskStopper,
    Q: LaunchQueue,
{
    loop {
        if *shutdown.borrow() {
            return;
        }
        if let Err(err) = service.reconcile().await {
            tracing::warn!(
                error = with_causes(&err),
                "reconciliation pass failed; the next one retries"
            );
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(query: &QueryMap, name: &str) -> Vec<String> {
        query
            .all(name)
            .unwrap_or_default()
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn repeated_names_give_several_values_and_commas_stay() {
        let query = api_gateway_query(Some("status=RUNNING&status=FAILED,CANCELLED&limit=5"));
        assert_eq!(values(&query, "status"), ["RUNNING", "FAILED,CANCELLED"]);
        assert_eq!(values(&query, "limit"), ["5"]);
        let query = api_gateway_query(Some("definition=a%2Cb"));
        assert_eq!(values(&query, "definition"), ["a,b"]);
        assert!(api_gateway_query(None).is_empty());
        assert!(api_gateway_query(Some("")).is_empty());
    }

    #[test]
    fn names_and_values_are_percent_decoded() {
        let query = api_gateway_query(Some(
            "createdAfter=2026-11-27T12%3A00%3A00%2B01%3A00&created%41fter=x&q=a+b%20c&e=%C3%A9",
        ));
        assert_eq!(values(&query, "createdAfter"), ["2026-11-27T12:00:00+01:00", "x"]);
        assert_eq!(values(&query, "q"), ["a b c"]);
        assert_eq!(values(&query, "e"), ["é"]);
    }

    /// The same parameters as a Lambda gets them: API Gateway's payload (with its
    /// comma-joined `queryStringParameters`) read by `lambda_http`.
    #[test]
    fn the_parameters_are_those_the_lambda_reads_from_api_gateways_payload() {
        use lambda_http::RequestExt;
        let raw = "status=RUNNING&status=FAILED&definition=a%2Cb&limit=5&createdAfter=2026-11-27T12%3A00%3A00Z";
        let mut joined: HashMap<String, Vec<String>> = HashMap::new();
        for (name, value) in form_urlencoded::parse(raw.as_bytes()) {
            joined.entry(name.into_owned()).or_default().push(value.into_owned());
        }
        let payload: HashMap<String, String> = joined.into_iter().map(|(k, v)| (k, v.join(","))).collect();
        let event = serde_json::json!({
            "version": "2.0",
            "routeKey": "GET /jobs",
            "rawPath": "/jobs",
            "rawQueryString": raw,
            "headers": {},
            "queryStringParameters": payload,
            "requestContext": {"http": {"method": "GET", "path": "/jobs"}, "stage": "$default"},
            "isBase64Encoded": false,
        });
        let request = lambda_http::request::from_str(&event.to_string()).expect("an API Gateway event");
        let lambda = request.query_string_parameters();
        let ours = api_gateway_query(Some(raw));
        for name in ["status", "definition", "limit", "createdAfter"] {
            assert_eq!(values(&ours, name), values(&lambda, name), "{name}");
        }
        assert_eq!(ours.iter().count(), lambda.iter().count());
    }

    #[test]
    fn every_route_has_its_handler() {
        let targets: Vec<Target> = ROUTES.iter().map(|(m, p)| target_of(m, p)).collect();
        assert_eq!(
            targets,
            [
                Target::CreateJob,
                Target::JobApi,
                Target::JobApi,
                Target::JobApi,
                Target::JobApi,
                Target::OpenApi
            ]
        );
    }
}
