//! The REST routes over HTTP on 127.0.0.1, calling the Lambdas' own handlers: a request
//! becomes the `lambda_http::Request` API Gateway would deliver (with a fixed local
//! principal in its IAM authorizer context), and the handler's response goes back as is.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use aws_lambda_events::apigw::{
    ApiGatewayRequestAuthorizer, ApiGatewayRequestAuthorizerIamDescription, ApiGatewayV2httpRequestContext,
};
use bytes::Bytes;
use create_job::CreateJob;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::Method;
use hyper_util::rt::TokioIo;
use job_api::JobApi;
use job_events::JobEvents;
use lambda_http::request::RequestContext;
use lambda_http::{Body, RequestExt};
use serde_json::Value;
use shared::app::JobService;
use shared::inbound::http::{ApiError, MAX_BODY_BYTES};
use shared::ports::{with_causes, JobStore, LaunchMessage, LaunchQueue, TaskInspector, TaskLauncher, TaskStopper};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

/// Every local request is made by this principal, as if IAM had authenticated it.
pub const LOCAL_PRINCIPAL: &str = "arn:aws:iam::000000000000:user/local";

/// `POST /jobs` is create-job's handler; `GET` and `DELETE /jobs/{id}` are job-api's.
pub struct LocalApi<S, L, Q> {
    create: CreateJob<S, L, Q>,
    api: JobApi<S, L, Q>,
}

impl<S: JobStore + Clone, L: TaskLauncher + TaskStopper, Q: LaunchQueue> LocalApi<S, L, Q> {
    pub fn new(create: CreateJob<S, L, Q>, api: JobApi<S, L, Q>) -> Self {
        Self { create, api }
    }

    pub async fn handle(&self, request: hyper::Request<Incoming>) -> hyper::Response<Full<Bytes>> {
        let (parts, body) = request.into_parts();
        // Read one byte past the limit at most: enough for the handler to refuse it.
        let body = match Limited::new(body, MAX_BODY_BYTES + 1).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => return into_hyper(ApiError::BodyTooLarge.into_response()),
        };
        let path = parts.uri.path().to_owned();
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let (method, id) = (parts.method.clone(), segments.get(1).map(|s| (*s).to_owned()));
        let request = lambda_http::Request::from_parts(parts, Body::from(body.to_vec()))
            .with_request_context(local_request_context());
        let response = match (method, segments.as_slice()) {
            (Method::POST, ["jobs"]) => self.create.handle(request).await,
            (Method::GET | Method::DELETE, ["jobs", _]) => {
                let id = id.unwrap_or_default();
                self.api
                    .handle(request.with_path_parameters(HashMap::from([("id".to_owned(), id)])))
                    .await
            }
            (_, ["jobs"] | ["jobs", _]) => ApiError::MethodNotAllowed.into_response(),
            _ => ApiError::RouteNotFound.into_response(),
        };
        into_hyper(response)
    }
}

fn local_request_context() -> RequestContext {
    let mut iam = ApiGatewayRequestAuthorizerIamDescription::default();
    iam.user_arn = Some(LOCAL_PRINCIPAL.to_owned());
    let mut authorizer = ApiGatewayRequestAuthorizer::default();
    authorizer.iam = Some(iam);
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.authorizer = Some(authorizer);
    context.stage = Some("$default".to_owned());
    RequestContext::ApiGatewayV2(context)
}

fn into_hyper(response: lambda_http::Response<Body>) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = response.into_parts();
    let bytes = match body {
        Body::Empty => Bytes::new(),
        Body::Text(text) => Bytes::from(text),
        Body::Binary(binary) => Bytes::from(binary),
        _ => Bytes::new(),
    };
    hyper::Response::from_parts(parts, Full::new(bytes))
}

/// Serves HTTP/1.1 on `listener` until `shutdown` turns true.
pub async fn serve<S, L, Q>(listener: TcpListener, api: Arc<LocalApi<S, L, Q>>, mut shutdown: watch::Receiver<bool>)
where
    S: JobStore + Clone + 'static,
    L: TaskLauncher + TaskStopper + 'static,
    Q: LaunchQueue + 'static,
{
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        let Ok((stream, _)) = accepted else { continue };
        let api = api.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let api = api.clone();
                async move { Ok::<_, Infallible>(api.handle(request).await) }
            });
            if let Err(err) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %err, "connection ended with an error");
            }
        });
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
