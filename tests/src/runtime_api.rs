//! A small Lambda Runtime API (the 2018-06-01 interface a custom runtime polls), enough
//! to run the real `bootstrap` binaries on this machine: invocations are queued, handed
//! out on `GET /invocation/next`, and answered through `/response` or `/error`.
//!
//! It also notes when the process first asked for work, which is how the benchmark
//! measures a cold start (process start to first `GET /next`).

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, Notify};

const PREFIX: &str = "/2018-06-01/runtime";

/// How the function answered one invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Response(Value),
    /// The error document the runtime posted (`errorType`, `errorMessage`).
    Error(Value),
}

impl Answer {
    /// The status and JSON body of an HTTP function's API Gateway response.
    pub fn http(self) -> (u16, Value) {
        let Answer::Response(response) = self else {
            panic!("the HTTP function failed instead of answering: {self:?}");
        };
        // Every answer of a function binary is held to openapi.yaml too.
        crate::openapi::check_gateway_response_of_some_operation(&response);
        let status = response["statusCode"].as_u64().expect("statusCode") as u16;
        let body = serde_json::from_str(response["body"].as_str().unwrap_or("null")).unwrap_or(Value::Null);
        (status, body)
    }
}

#[derive(Default)]
struct State {
    queue: Mutex<VecDeque<(String, Bytes)>>,
    queued: Notify,
    waiting: Mutex<HashMap<String, oneshot::Sender<Answer>>>,
    first_poll: Mutex<Option<Instant>>,
    polled: Notify,
    init_error: Mutex<Option<Value>>,
    next_id: AtomicU64,
}

use shared::infra::sync::lock;

/// One Runtime API endpoint on 127.0.0.1, serving one function process.
pub struct RuntimeApi {
    address: SocketAddr,
    state: Arc<State>,
}

impl RuntimeApi {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1");
        let address = listener.local_addr().expect("local address");
        let state = Arc::new(State::default());
        let shared = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = shared.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| route(state.clone(), request));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { address, state }
    }

    /// The value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.address.to_string()
    }

    /// Invokes the function and waits for its answer.
    pub async fn invoke(&self, payload: &Value) -> Answer {
        let id = format!("req-{}", self.state.next_id.fetch_add(1, Ordering::Relaxed));
        let (answer, answered) = oneshot::channel();
        lock(&self.state.waiting).insert(id.clone(), answer);
        lock(&self.state.queue).push_back((id, Bytes::from(payload.to_string())));
        self.state.queued.notify_one();
        tokio::time::timeout(Duration::from_secs(30), answered)
            .await
            .expect("the function answers within 30 s")
            .expect("the runtime API stays up")
    }

    /// When the process first asked for an invocation (its init is over), waiting up to
    /// `timeout`; `None` if it never did (it crashed or reported an init error).
    pub async fn first_poll(&self, timeout: Duration) -> Option<Instant> {
        let deadline = Instant::now() + timeout;
        loop {
            let polled = self.state.polled.notified();
            if let Some(at) = *lock(&self.state.first_poll) {
                return Some(at);
            }
            if tokio::time::timeout_at(deadline.into(), polled).await.is_err() {
                return None;
            }
        }
    }

    pub fn init_error(&self) -> Option<Value> {
        lock(&self.state.init_error).clone()
    }
}

async fn route(state: Arc<State>, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().strip_prefix(PREFIX).unwrap_or_default().to_owned();
    let method = request.method().clone();
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let document = || serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null);
    let response = match (method, path.as_str()) {
        (Method::GET, "/invocation/next") => next_invocation(&state).await,
        (Method::POST, "/init/error") => {
            *lock(&state.init_error) = Some(document());
            accepted()
        }
        (Method::POST, path) => match path.strip_prefix("/invocation/").and_then(|rest| rest.rsplit_once('/')) {
            Some((id, kind @ ("response" | "error"))) => {
                let answer = if kind == "response" {
                    Answer::Response(document())
                } else {
                    Answer::Error(document())
                };
                if let Some(waiting) = lock(&state.waiting).remove(id) {
                    let _ = waiting.send(answer);
                }
                accepted()
            }
            _ => status(StatusCode::NOT_FOUND),
        },
        _ => status(StatusCode::NOT_FOUND),
    };
    Ok(response)
}

async fn next_invocation(state: &State) -> Response<Full<Bytes>> {
    lock(&state.first_poll).get_or_insert_with(Instant::now);
    state.polled.notify_waiters();
    let (id, payload) = loop {
        let queued = state.queued.notified();
        if let Some(next) = lock(&state.queue).pop_front() {
            break next;
        }
        queued.await;
    };
    let deadline = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default() + Duration::from_secs(30);
    Response::builder()
        .header("content-type", "application/json")
        .header("lambda-runtime-aws-request-id", id)
        .header("lambda-runtime-deadline-ms", deadline.as_millis().to_string())
        .header(
            "lambda-runtime-invoked-function-arn",
            "arn:aws:lambda:us-east-1:000000000000:function:local",
        )
        .header("lambda-runtime-trace-id", "Root=1-00000000-000000000000000000000000")
        .body(Full::new(payload))
        .unwrap_or_else(|_| status(StatusCode::INTERNAL_SERVER_ERROR))
}

fn accepted() -> Response<Full<Bytes>> {
    status(StatusCode::ACCEPTED)
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = code;
    response
}

/// A function binary running under its own [`RuntimeApi`], with exactly the environment
/// given (plus what Lambda itself sets). Killed when dropped.
pub struct FunctionProcess {
    pub runtime: RuntimeApi,
    pub child: tokio::process::Child,
    pub started: Instant,
}

impl FunctionProcess {
    pub async fn spawn(binary: &Path, environment: &[(String, String)]) -> Self {
        let runtime = RuntimeApi::start().await;
        let name = binary
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("function")
            .to_owned();
        let mut command = tokio::process::Command::new(binary);
        command
            .env_clear()
            .envs(environment.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("AWS_LAMBDA_RUNTIME_API", runtime.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", &name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let started = Instant::now();
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        Self {
            runtime,
            child,
            started,
        }
    }

    /// Peak resident memory so far, in KiB (`VmHWM` of /proc/PID/status).
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let pid = self.child.id()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
    }
}
