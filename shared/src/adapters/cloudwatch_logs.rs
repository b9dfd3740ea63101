//! The CloudWatch Logs adapter of [`LogReader`]: `GetLogEvents` on an attempt's stream.
//!
//! The one call is written here rather than taken from `aws-sdk-cloudwatchlogs`. That
//! crate always turns on the `event-stream` features of `aws-runtime` and
//! `aws-smithy-http` (for StartLiveTail) and brings in `aws-smithy-eventstream`; Cargo
//! unifies features, so every function's SDK clients carried event-stream code, the
//! functions that never read a log included. Measured with `scripts/build-lambdas` (zip
//! bytes; the same tree but for this adapter):
//!
//! | function       | `aws-sdk-cloudwatchlogs` | this client |
//! |----------------|--------------------------|-------------|
//! | create-job     | 2,990,685                | 2,958,507   |
//! | job-api        | 3,016,981                | 2,951,604   |
//! | job-reconciler | 2,899,647                | 2,867,583   |
//! | job-events     | 2,570,720                | 2,537,405   |
//!
//! The features alone cost each function some 32 KB, and the SDK crate's client took
//! job-api over this service's 3,000,000-byte bar; this client costs job-api 19 KB (18,966 bytes
//! against the same build with a reader that reads nothing).
//!
//! It is built only from what the functions already link, the parts an SDK client is
//! made of: the SDK's orchestrator (`aws-smithy-runtime`'s [`Operation`]: attempt and
//! operation timeouts, the standard retry strategy, interceptors), its SigV4 signer
//! (`aws-runtime` on `aws-sigv4`) with the configuration's credentials and region, and its
//! HTTPS client (`shared::infra::sdk::load`'s). Only the protocol is written here: CloudWatch
//! Logs' JSON 1.1 (`POST /`, the operation in `X-Amz-Target`, errors named by `__type`).

use std::sync::OnceLock;

use aws_config::retry::RetryConfig;
use aws_config::SdkConfig;
use aws_runtime::auth::sigv4::{SigV4AuthScheme, SCHEME_ID as SIGV4};
use aws_runtime::auth::SigV4OperationSigningConfig;
use aws_runtime::retries::classifiers::AwsErrorCodeClassifier;
use aws_smithy_runtime::client::identity::IdentityCache;
use aws_smithy_runtime::client::orchestrator::operation::Operation;
use aws_smithy_runtime::client::retries::classifiers::{HttpStatusCodeClassifier, TransientErrorClassifier};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::auth::static_resolver::StaticAuthSchemeOptionResolver;
use aws_smithy_runtime_api::client::auth::AuthSchemeOptionResolverParams;
use aws_smithy_runtime_api::client::interceptors::{Intercept, SharedInterceptor};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse, OrchestratorError};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponentsBuilder;
use aws_smithy_runtime_api::client::runtime_plugin::StaticRuntimePlugin;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::Layer;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::error::ErrorMetadata;
use aws_types::region::SigningRegion;
use aws_types::service_config::ServiceConfigKey;
use aws_types::SigningName;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::LogLocation;
use crate::infra::sdk::CallBudget;
use crate::ports::{LogError, LogEvent, LogPage, LogReader};

/// The operation this adapter calls, as an IAM action.
pub const GET_LOG_EVENTS: &str = "logs:GetLogEvents";

/// Lines per page: GetLogEvents returns at most 10,000 or 1 MB; a page a person reads
/// and an API Gateway answer (at most 6 MB through Lambda) both want far fewer.
const PAGE_EVENTS: u32 = 500;

/// The service's name in the SDK (its operations' metadata, `AWS_ENDPOINT_URL_CLOUDWATCH_LOGS`).
const SERVICE_ID: &str = "CloudWatch Logs";
const OPERATION: &str = "GetLogEvents";
/// The name requests are signed for, and the endpoints' first label.
const SIGNING_NAME: &str = "logs";
const TARGET: &str = "Logs_20140328.GetLogEvents";
const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

type GetLogEvents = Operation<GetLogEventsInput, GetLogEventsOutput, LogsServiceError>;

pub struct CloudWatchLogReader {
    sdk: SdkConfig,
    budget: CallBudget,
    interceptors: Vec<SharedInterceptor>,
    /// Made on first use: most of job-api's requests never read a log.
    operation: OnceLock<Result<GetLogEvents, String>>,
}

impl CloudWatchLogReader {
    /// Reads with the credentials, region, endpoint and HTTP client of `sdk`, within
    /// `budget` (normally [`CallBudget::LOGS`]).
    pub fn new(sdk: &SdkConfig, budget: CallBudget) -> Self {
        Self {
            sdk: sdk.clone(),
            budget,
            interceptors: Vec::new(),
            operation: OnceLock::new(),
        }
    }

    /// Adds an interceptor to the calls, as an SDK client's configuration does (tests record
    /// the operations called).
    pub fn with_interceptor(mut self, interceptor: impl Intercept + 'static) -> Self {
        self.interceptors.push(SharedInterceptor::new(interceptor));
        self
    }

    fn operation(&self) -> Result<&GetLogEvents, LogError> {
        self.operation
            .get_or_init(|| build_operation(&self.sdk, self.budget, &self.interceptors))
            .as_ref()
            .map_err(|problem| LogError::Unavailable(problem.clone().into()))
    }
}

impl std::fmt::Debug for CloudWatchLogReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudWatchLogReader")
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

impl LogReader for CloudWatchLogReader {
    async fn read(&self, at: &LogLocation, from: Option<&str>) -> Result<LogPage, LogError> {
        let result = self.operation()?.invoke(GetLogEventsInput::new(at, from)).await;
        page(result, from)
    }
}

/// GetLogEvents through the SDK's orchestrator, as a generated client would make it.
fn build_operation(
    sdk: &SdkConfig,
    budget: CallBudget,
    interceptors: &[SharedInterceptor],
) -> Result<GetLogEvents, String> {
    let region = sdk.region().ok_or("no AWS region is configured")?;
    let credentials = sdk
        .credentials_provider()
        .ok_or("no AWS credentials provider is configured")?;
    let http_client = sdk.http_client().ok_or("no HTTP client is configured")?;
    let endpoint = endpoint_override(sdk).unwrap_or_else(|| {
        default_endpoint(
            region.as_ref(),
            sdk.use_fips().unwrap_or(false),
            sdk.use_dual_stack().unwrap_or(false),
        )
    });

    let mut config = Layer::new("CloudWatchLogReader");
    config.store_put(AuthSchemeOptionResolverParams::new(()));
    config.store_put(SigV4OperationSigningConfig {
        region: Some(SigningRegion::from(region.clone())),
        name: Some(SigningName::from_static(SIGNING_NAME)),
        ..Default::default()
    });
    let mut components = RuntimeComponentsBuilder::new("CloudWatchLogReader");
    components
        .set_auth_scheme_option_resolver(Some(StaticAuthSchemeOptionResolver::new(vec![SIGV4])))
        .push_auth_scheme(SigV4AuthScheme::new())
        .set_identity_resolver(SIGV4, credentials)
        .set_identity_cache(Some(sdk.identity_cache().unwrap_or_else(IdentityCache::no_cache)));
    for interceptor in interceptors {
        components.push_interceptor(interceptor.clone());
    }
    if let Some(sleep) = sdk.sleep_impl() {
        components.set_sleep_impl(Some(sleep));
    }
    if let Some(time) = sdk.time_source() {
        components.set_time_source(Some(time));
    }

    let mut builder = Operation::builder()
        .service_name(SERVICE_ID)
        .operation_name(OPERATION)
        .http_client(http_client)
        .endpoint_url(&endpoint)
        .timeout_config(budget.timeouts())
        .standard_retry(&RetryConfig::standard().with_max_attempts(CallBudget::TRIES))
        .retry_classifier(HttpStatusCodeClassifier::default())
        .retry_classifier(TransientErrorClassifier::<LogsServiceError>::new())
        .retry_classifier(AwsErrorCodeClassifier::<LogsServiceError>::new())
        .with_connection_poisoning()
        .runtime_plugin(
            StaticRuntimePlugin::new()
                .with_config(config.freeze())
                .with_runtime_components(components),
        );
    if let Some(version) = sdk.behavior_version() {
        builder = builder.behavior_version(version);
    }
    Ok(builder
        .serializer(|input: GetLogEventsInput| request(&input))
        .deserializer(response)
        .build())
}

/// The endpoint `AWS_ENDPOINT_URL_CLOUDWATCH_LOGS`, `AWS_ENDPOINT_URL` or the profile names,
/// or one set in code: what the SDK's own client configuration takes from `sdk`.
fn endpoint_override(sdk: &SdkConfig) -> Option<String> {
    if sdk.get_origin("endpoint_url").is_client_config() {
        return sdk.endpoint_url().map(str::to_owned);
    }
    let key = ServiceConfigKey::builder()
        .service_id(SERVICE_ID)
        .env("AWS_ENDPOINT_URL")
        .profile("endpoint_url")
        .build()
        .expect("every field is set");
    sdk.service_config()
        .and_then(|config| config.load_config(key))
        .or_else(|| sdk.endpoint_url().map(str::to_owned))
}

/// CloudWatch Logs' endpoint in `region`, as the service's endpoint rules give it.
fn default_endpoint(region: &str, fips: bool, dual_stack: bool) -> String {
    let (suffix, dual_stack_suffix) = if region.starts_with("cn-") {
        ("amazonaws.com.cn", "api.amazonwebservices.com.cn")
    } else if region.starts_with("us-isob-") {
        ("sc2s.sgov.gov", "sc2s.sgov.gov")
    } else if region.starts_with("us-iso-") {
        ("c2s.ic.gov", "c2s.ic.gov")
    } else {
        ("amazonaws.com", "api.aws")
    };
    // GovCloud's regular endpoints are its FIPS endpoints (its dual-stack ones are not).
    let fips = fips && (dual_stack || !region.starts_with("us-gov-"));
    let host = if fips { "logs-fips" } else { "logs" };
    let suffix = if dual_stack { dual_stack_suffix } else { suffix };
    format!("https://{host}.{region}.{suffix}")
}

/// The request's JSON body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
struct GetLogEventsInput {
    log_group_name: String,
    log_stream_name: String,
    start_from_head: bool,
    limit: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

impl GetLogEventsInput {
    /// The page of `at` from `from`, oldest line first.
    fn new(at: &LogLocation, from: Option<&str>) -> Self {
        Self {
            log_group_name: at.group.clone(),
            log_stream_name: at.stream.clone(),
            start_from_head: true,
            limit: PAGE_EVENTS,
            next_token: from.map(str::to_owned),
        }
    }
}

/// What this adapter reads of an answer; the rest (`nextBackwardToken`, each line's
/// `ingestionTime`) is ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetLogEventsOutput {
    #[serde(default)]
    events: Vec<OutputLogEvent>,
    next_forward_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
struct OutputLogEvent {
    timestamp: Option<i64>,
    message: Option<String>,
}

/// An error CloudWatch Logs answered, named by its code (`ResourceNotFoundException`, ...).
#[derive(Debug)]
struct LogsServiceError {
    meta: ErrorMetadata,
}

impl std::fmt::Display for LogsServiceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.meta.code().unwrap_or("CloudWatch Logs error"))?;
        if let Some(message) = self.meta.message() {
            write!(f, ": {message}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LogsServiceError {}

/// Lets the SDK's retry classifier recognise throttling by its code.
impl ProvideErrorMetadata for LogsServiceError {
    fn meta(&self) -> &ErrorMetadata {
        &self.meta
    }
}

/// The HTTP request of `input`, before its endpoint and signature are added.
fn request(input: &GetLogEventsInput) -> Result<HttpRequest, BoxError> {
    let body = serde_json::to_vec(input)?;
    let mut request = HttpRequest::new(SdkBody::from(Vec::new()));
    request.set_method("POST")?;
    request.set_uri("/")?;
    let headers = request.headers_mut();
    headers.insert("content-type", CONTENT_TYPE);
    headers.insert("x-amz-target", TARGET);
    headers.insert("content-length", body.len().to_string());
    *request.body_mut() = SdkBody::from(body);
    Ok(request)
}

/// The answer to a request: the page read, or the service's error, named as the SDK's
/// JSON protocols name it (the `x-amzn-errortype` header, else the body's `code` or
/// `__type`, without a namespace or URL).
fn response(response: &HttpResponse) -> Result<GetLogEventsOutput, OrchestratorError<LogsServiceError>> {
    let body = response.body().bytes().unwrap_or_default();
    if response.status().is_success() {
        return serde_json::from_slice(body).map_err(|e| OrchestratorError::response(e.into()));
    }
    let parsed: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let text = |key: &str| parsed.get(key).and_then(serde_json::Value::as_str);
    let mut meta = ErrorMetadata::builder();
    let code = response
        .headers()
        .get("x-amzn-errortype")
        .or_else(|| text("code"))
        .or_else(|| text("__type"));
    if let Some(code) = code {
        let code = code.split(':').next().unwrap_or(code);
        meta = meta.code(code.rsplit('#').next().unwrap_or(code));
    }
    match text("message")
        .or_else(|| text("Message"))
        .or_else(|| text("errorMessage"))
    {
        Some(message) => meta = meta.message(message),
        None => meta = meta.message(format!("HTTP status {}", response.status().as_u16())),
    }
    Err(OrchestratorError::operation(LogsServiceError { meta: meta.build() }))
}

/// The page an answer to the read from `from` makes.
fn page(
    result: Result<GetLogEventsOutput, SdkError<LogsServiceError, HttpResponse>>,
    from: Option<&str>,
) -> Result<LogPage, LogError> {
    let output = match result {
        Ok(output) => output,
        Err(SdkError::ServiceError(e)) => match e.err().code() {
            // The stream appears with the container's first line.
            Some("ResourceNotFoundException") => {
                return Ok(LogPage {
                    events: Vec::new(),
                    next: from.unwrap_or_default().to_owned(),
                    caught_up: true,
                });
            }
            Some("InvalidParameterException") if from.is_some() => return Err(LogError::InvalidPosition),
            _ => return Err(LogError::Unavailable(Box::new(SdkError::ServiceError(e)))),
        },
        Err(e) => return Err(LogError::Unavailable(Box::new(e))),
    };
    let events = output
        .events
        .into_iter()
        .map(|event| LogEvent {
            timestamp: event
                .timestamp
                .and_then(DateTime::<Utc>::from_timestamp_millis)
                .unwrap_or_default(),
            message: event.message.unwrap_or_default(),
        })
        .collect();
    // At the end of the stream, GetLogEvents hands back the token it was given.
    let next = output.next_forward_token.unwrap_or_default();
    let caught_up = from.is_some_and(|from| from == next);
    Ok(LogPage {
        events,
        next,
        caught_up,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, VecDeque};
    use std::sync::{Arc, Mutex};

    use aws_config::{BehaviorVersion, Region};
    use aws_sdk_dynamodb::config::{Credentials, SharedCredentialsProvider};
    use aws_smithy_runtime_api::client::http::{
        HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
    };
    use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_types::service_config::LoadServiceConfig;
    use serde_json::{json, Value};

    fn location() -> LogLocation {
        LogLocation {
            group: "/ecs/jobs".to_owned(),
            stream: "report/app/0123456789abcdef".to_owned(),
            console_url: None,
        }
    }

    fn answer(status: u16, body: &str) -> HttpResponse {
        HttpResponse::new(StatusCode::try_from(status).expect("status"), SdkBody::from(body))
    }

    fn service_error(status: u16, body: &str) -> SdkError<LogsServiceError, HttpResponse> {
        let raw = answer(status, body);
        let err = match response(&raw) {
            Err(err) => err
                .as_operation_error()
                .map(|e| LogsServiceError { meta: e.meta.clone() }),
            Ok(_) => None,
        };
        SdkError::service_error(err.expect("a service error"), raw)
    }

    #[test]
    fn the_request_is_a_json_1_1_get_log_events_call_from_the_head() {
        let first = request(&GetLogEventsInput::new(&location(), None)).expect("request");
        assert_eq!(first.method(), "POST");
        assert_eq!(first.uri(), "/");
        assert_eq!(first.headers().get("content-type"), Some("application/x-amz-json-1.1"));
        assert_eq!(first.headers().get("x-amz-target"), Some("Logs_20140328.GetLogEvents"));
        let body = first.body().bytes().expect("in memory");
        assert_eq!(
            first.headers().get("content-length"),
            Some(body.len().to_string().as_str())
        );
        let body: Value = serde_json::from_slice(body).expect("JSON");
        assert_eq!(
            body,
            json!({"logGroupName": "/ecs/jobs", "logStreamName": "report/app/0123456789abcdef",
                   "startFromHead": true, "limit": 500})
        );

        let next = request(&GetLogEventsInput::new(&location(), Some("f/123"))).expect("request");
        let body: Value = serde_json::from_slice(next.body().bytes().expect("in memory")).expect("JSON");
        assert_eq!(body["nextToken"], "f/123");
    }

    #[test]
    fn a_page_carries_the_lines_and_the_forward_token() {
        let raw = answer(
            200,
            r#"{"events": [{"timestamp": 1764244800000, "message": "started", "ingestionTime": 1764244800100},
                          {"timestamp": 1764244801000, "message": "done", "ingestionTime": 1764244801100}],
                "nextForwardToken": "f/2", "nextBackwardToken": "b/1"}"#,
        );
        let output = response(&raw).expect("a page");
        let page = page(Ok(output), None).expect("a page");
        assert_eq!(page.events.len(), 2);
        assert_eq!(page.events[0].message, "started");
        assert_eq!(
            page.events[0].timestamp,
            DateTime::<Utc>::from_timestamp_millis(1_764_244_800_000).expect("time")
        );
        assert_eq!(page.events[1].message, "done");
        assert_eq!(page.next, "f/2");
        assert!(!page.caught_up);
    }

    #[test]
    fn the_token_handed_back_means_caught_up() {
        let output = response(&answer(200, r#"{"events": [], "nextForwardToken": "f/2"}"#)).expect("a page");
        let page = page(Ok(output), Some("f/2")).expect("a page");
        assert!(page.events.is_empty());
        assert_eq!(page.next, "f/2");
        assert!(page.caught_up);

        let output = response(&answer(200, "{}")).expect("a page");
        let page = super::page(Ok(output), None).expect("a page");
        assert_eq!((page.events.len(), page.next.as_str(), page.caught_up), (0, "", false));
    }

    #[test]
    fn a_missing_stream_reads_as_empty_and_caught_up_where_it_was_asked() {
        for from in [None, Some("f/7")] {
            let missing = service_error(
                400,
                r#"{"__type": "ResourceNotFoundException", "message": "The specified log stream does not exist."}"#,
            );
            let page = page(Err(missing), from).expect("an empty page");
            assert_eq!(page.events, Vec::new());
            assert_eq!(page.next, from.unwrap_or_default());
            assert!(page.caught_up);
        }
    }

    #[test]
    fn a_refused_token_is_an_invalid_position_and_other_errors_are_unavailability() {
        let refused = || {
            service_error(
                400,
                r#"{"__type": "InvalidParameterException", "message": "bad token"}"#,
            )
        };
        assert!(matches!(
            page(Err(refused()), Some("x")),
            Err(LogError::InvalidPosition)
        ));
        assert!(matches!(page(Err(refused()), None), Err(LogError::Unavailable(_))));
        let denied = service_error(400, r#"{"__type": "AccessDeniedException"}"#);
        assert!(matches!(page(Err(denied), None), Err(LogError::Unavailable(_))));
        let timeout = SdkError::timeout_error("attempt timed out");
        assert!(matches!(page(Err(timeout), None), Err(LogError::Unavailable(_))));
    }

    #[test]
    fn error_codes_are_read_as_the_sdk_reads_them() {
        let code = |raw: HttpResponse| match response(&raw) {
            Err(e) => e.as_operation_error().and_then(|e| e.code().map(str::to_owned)),
            Ok(_) => panic!("an error"),
        };
        assert_eq!(
            code(answer(400, r#"{"__type": "com.amazonaws.logs#ThrottlingException"}"#)).as_deref(),
            Some("ThrottlingException")
        );
        assert_eq!(
            code(answer(400, r#"{"code": "LimitExceededException", "__type": "Other"}"#)).as_deref(),
            Some("LimitExceededException")
        );
        let mut raw = answer(400, "{}");
        raw.headers_mut().insert(
            "x-amzn-errortype",
            "ServiceUnavailableException:http://internal.amazon.com/",
        );
        assert_eq!(code(raw).as_deref(), Some("ServiceUnavailableException"));
        assert_eq!(code(answer(503, "<html>busy</html>")), None);
        match response(&answer(503, "")) {
            Err(e) => assert_eq!(
                e.as_operation_error().map(ToString::to_string).as_deref(),
                Some("CloudWatch Logs error: HTTP status 503")
            ),
            Ok(_) => panic!("an error"),
        }
    }

    #[test]
    fn an_unreadable_page_is_a_response_error() {
        let err = response(&answer(200, "not JSON")).expect_err("refused");
        assert!(err.is_response_error(), "{err:?}");
    }

    #[test]
    fn endpoints_follow_the_partitions() {
        assert_eq!(
            default_endpoint("eu-west-1", false, false),
            "https://logs.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            default_endpoint("us-east-1", true, false),
            "https://logs-fips.us-east-1.amazonaws.com"
        );
        assert_eq!(
            default_endpoint("us-east-1", false, true),
            "https://logs.us-east-1.api.aws"
        );
        assert_eq!(
            default_endpoint("us-east-1", true, true),
            "https://logs-fips.us-east-1.api.aws"
        );
        assert_eq!(
            default_endpoint("cn-north-1", false, false),
            "https://logs.cn-north-1.amazonaws.com.cn"
        );
        assert_eq!(
            default_endpoint("cn-north-1", true, true),
            "https://logs-fips.cn-north-1.api.amazonwebservices.com.cn"
        );
        assert_eq!(
            default_endpoint("us-gov-east-1", true, false),
            "https://logs.us-gov-east-1.amazonaws.com"
        );
        assert_eq!(
            default_endpoint("us-gov-east-1", true, true),
            "https://logs-fips.us-gov-east-1.api.aws"
        );
        assert_eq!(
            default_endpoint("us-iso-east-1", false, false),
            "https://logs.us-iso-east-1.c2s.ic.gov"
        );
        assert_eq!(
            default_endpoint("us-isob-east-1", true, false),
            "https://logs-fips.us-isob-east-1.sc2s.sgov.gov"
        );
    }

    #[test]
    fn the_endpoint_is_the_configured_one_when_there_is_one() {
        let config = |endpoint: Option<&str>| {
            let mut builder = SdkConfig::builder();
            if let Some(url) = endpoint {
                builder = builder.endpoint_url(url);
            }
            builder.build()
        };
        assert_eq!(endpoint_override(&config(None)), None);
        assert_eq!(
            endpoint_override(&config(Some("http://127.0.0.1:5000"))).as_deref(),
            Some("http://127.0.0.1:5000")
        );

        /// `AWS_ENDPOINT_URL_CLOUDWATCH_LOGS`, as aws-config's environment loader reads it.
        #[derive(Debug)]
        struct LogsEndpointVariable;
        impl LoadServiceConfig for LogsEndpointVariable {
            fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
                let asked = (key.service_id(), key.env(), key.profile());
                (asked == ("CloudWatch Logs", "AWS_ENDPOINT_URL", "endpoint_url"))
                    .then(|| "http://logs.test:4566".to_owned())
            }
        }
        let from_environment = SdkConfig::builder()
            .endpoint_url("http://127.0.0.1:5000")
            .service_config(LogsEndpointVariable)
            .build();
        assert_eq!(
            endpoint_override(&from_environment).as_deref(),
            Some("http://logs.test:4566")
        );
    }

    /// An answer's status and body; `None`: an answer that never comes.
    type ScriptedAnswer = Option<(u16, &'static str)>;
    /// A request's URI, headers and JSON body.
    type Sent = (String, HashMap<String, String>, Value);

    /// An HTTP client that answers from a script and keeps what it was sent.
    #[derive(Debug, Clone, Default)]
    struct Scripted {
        answers: Arc<Mutex<VecDeque<ScriptedAnswer>>>,
        sent: Arc<Mutex<Vec<Sent>>>,
    }

    impl Scripted {
        fn new(answers: impl IntoIterator<Item = ScriptedAnswer>) -> Self {
            Self {
                answers: Arc::new(Mutex::new(answers.into_iter().collect())),
                ..Self::default()
            }
        }

        fn sent(&self) -> Vec<Sent> {
            self.sent.lock().expect("lock").clone()
        }

        fn reader(&self) -> CloudWatchLogReader {
            let credentials = Credentials::new("AKIDEXAMPLE", "secret", Some("session".to_owned()), None, "test");
            let sdk = SdkConfig::builder()
                .region(Region::new("eu-west-1"))
                .credentials_provider(SharedCredentialsProvider::new(credentials))
                .http_client(self.clone())
                .behavior_version(BehaviorVersion::latest())
                .build();
            CloudWatchLogReader::new(&sdk, CallBudget::LOGS)
        }
    }

    impl HttpConnector for Scripted {
        fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
            let headers = request
                .headers()
                .iter()
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .collect();
            let body = serde_json::from_slice(request.body().bytes().unwrap_or_default()).unwrap_or_default();
            self.sent
                .lock()
                .expect("lock")
                .push((request.uri().to_owned(), headers, body));
            match self.answers.lock().expect("lock").pop_front().flatten() {
                Some((status, body)) => HttpConnectorFuture::ready(Ok(answer(status, body))),
                None => HttpConnectorFuture::new(std::future::pending()),
            }
        }
    }

    impl HttpClient for Scripted {
        fn http_connector(&self, _: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
            SharedHttpConnector::new(self.clone())
        }
    }

    const PAGE: &str = r#"{"events": [{"timestamp": 1764244800000, "message": "hello", "ingestionTime": 1764244800001}],
                           "nextForwardToken": "f/1", "nextBackwardToken": "b/1"}"#;

    #[tokio::test(start_paused = true)]
    async fn a_call_is_signed_for_logs_in_the_region_and_retried_when_throttled_or_failing() {
        let http = Scripted::new([
            Some((503, r#"{"__type": "ServiceUnavailableException"}"#)),
            Some((400, r#"{"__type": "ThrottlingException", "message": "Rate exceeded"}"#)),
            Some((200, PAGE)),
        ]);
        let page = http.reader().read(&location(), None).await.expect("a page");
        assert_eq!(page.events[0].message, "hello");
        assert_eq!(page.next, "f/1");
        let sent = http.sent();
        assert_eq!(sent.len(), 3, "{sent:?}");
        for (uri, headers, body) in &sent {
            assert_eq!(uri, "https://logs.eu-west-1.amazonaws.com/");
            assert_eq!(headers["x-amz-target"], TARGET);
            assert_eq!(headers["content-type"], CONTENT_TYPE);
            assert_eq!(headers["x-amz-security-token"], "session");
            let authorization = &headers["authorization"];
            assert!(
                authorization.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
                    && authorization.contains("/eu-west-1/logs/aws4_request")
                    && authorization.contains("x-amz-target"),
                "{authorization}"
            );
            assert_eq!(body["logStreamName"], "report/app/0123456789abcdef");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn three_failed_tries_are_unavailability_and_answers_are_not_retried() {
        let failing = Scripted::new([Some((500, "")), Some((500, "")), Some((500, "")), Some((200, PAGE))]);
        let err = failing.reader().read(&location(), None).await.expect_err("unavailable");
        assert!(matches!(err, LogError::Unavailable(_)), "{err:?}");
        assert_eq!(failing.sent().len(), CallBudget::TRIES as usize);

        let missing = Scripted::new([Some((400, r#"{"__type": "ResourceNotFoundException"}"#))]);
        let page = missing.reader().read(&location(), Some("f/1")).await.expect("empty");
        assert!(page.caught_up && page.events.is_empty() && page.next == "f/1");
        assert_eq!(missing.sent().len(), 1);

        let refused = Scripted::new([Some((400, r#"{"__type": "InvalidParameterException"}"#))]);
        let err = refused
            .reader()
            .read(&location(), Some("bad"))
            .await
            .expect_err("refused");
        assert!(matches!(err, LogError::InvalidPosition), "{err:?}");
        assert_eq!(refused.sent().len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_endpoint_ends_within_the_operation_budget() {
        let silent = Scripted::new([None, None, None]);
        let started = tokio::time::Instant::now();
        let err = silent.reader().read(&location(), None).await.expect_err("timed out");
        assert!(matches!(err, LogError::Unavailable(_)), "{err:?}");
        assert!(
            started.elapsed() <= CallBudget::LOGS.operation,
            "{:?}",
            started.elapsed()
        );
        assert!(!silent.sent().is_empty());
    }

    #[test]
    fn a_configuration_without_a_region_is_unavailability_at_read_time() {
        let reader = CloudWatchLogReader::new(&SdkConfig::builder().build(), CallBudget::LOGS);
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        let err = runtime.block_on(reader.read(&location(), None)).expect_err("no region");
        assert!(
            matches!(&err, LogError::Unavailable(cause) if cause.to_string().contains("region")),
            "{err:?}"
        );
    }
}
