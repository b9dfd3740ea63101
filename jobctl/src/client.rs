//! The service's REST routes over HTTP, with the caller's authentication.
//!
//! One [`Client`] per run: the endpoint is checked once, AWS configuration is read only
//! when requests are signed (so talking to the local server reads no AWS files and
//! makes no credential calls), and credentials are fetched once and reused until they
//! are about to expire (a `wait` polls for minutes).

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::Provider;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::header::{HeaderName, HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use reqwest::Method;
use serde_json::Value;
use url::Url;

use crate::cli::{Global, Status};
use crate::render;
use crate::signing;
use crate::Failure;

/// Everything but SigV4's unreserved characters is percent-encoded, in the path and in
/// the query: then the URL on the wire is already in canonical form, and the signer,
/// API Gateway and any other SigV4 implementation read the same bytes.
const SIGV4_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// A stalled connection must end in a clear error, not a hung terminal.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Tries of one request when the service says "busy, try again" (503 with Retry-After:
/// `job-busy`, `store-unavailable`).
const TRIES: u32 = 4;
const MAX_RETRY_AFTER: Duration = Duration::from_secs(5);
/// Credentials are refreshed this long before they expire, so a signature is never made
/// with credentials that expire in flight.
const CREDENTIALS_MARGIN: Duration = Duration::from_secs(300);

/// A successful (2xx) answer: the body as the service sent it (printed as is with
/// `--output json`) and parsed.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: String,
    pub json: Value,
}

/// The filters of `GET /jobs` (spec: Query parameters).
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub statuses: Vec<Status>,
    pub definition: Option<String>,
    pub created_after: Option<String>,
    pub created_before: Option<String>,
    pub limit: Option<u8>,
}

pub struct Client {
    http: reqwest::Client,
    base: Url,
    auth: Auth,
}

enum Auth {
    Anonymous,
    Bearer(String),
    SigV4(SigV4),
}

struct SigV4 {
    region: String,
    provider: SharedCredentialsProvider,
    cached: Mutex<Option<Credentials>>,
}

impl Client {
    /// Checks the endpoint and chooses the authentication: a token if given; SigV4 for
    /// AWS hosts or with `--sigv4`; nothing otherwise (the local server).
    pub async fn new(global: &Global) -> Result<Self, Failure> {
        let base = endpoint(global.endpoint.as_deref())?;
        let host = base.host_str().unwrap_or_default().to_owned();
        let auth = match (&global.token, global.sigv4 || signing::is_aws_host(&host)) {
            (Some(token), _) if !token.trim().is_empty() => Auth::Bearer(token.trim().to_owned()),
            (_, true) => Auth::SigV4(sigv4(global.region.clone(), &host).await?),
            _ => Auth::Anonymous,
        };
        install_crypto();
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("jobctl/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Failure::Service(format!("cannot set up HTTP: {}", chain(&e))))?;
        Ok(Self { http, base, auth })
    }

    /// `POST /jobs`.
    pub async fn submit(
        &self,
        definition: &str,
        parameters: &[(String, String)],
        idempotency_key: Option<&str>,
    ) -> Result<Answer, Failure> {
        let mut body = serde_json::Map::new();
        body.insert("definition".into(), Value::from(definition));
        if !parameters.is_empty() {
            let parameters: serde_json::Map<String, Value> = parameters
                .iter()
                .map(|(key, value)| (key.clone(), Value::from(value.as_str())))
                .collect();
            body.insert("parameters".into(), Value::Object(parameters));
        }
        let body = Value::Object(body).to_string().into_bytes();
        let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
        if let Some(key) = idempotency_key {
            headers.push(("idempotency-key".to_owned(), key.to_owned()));
        }
        // A POST is only repeated when the key makes it safe: the same key finds the same job.
        let retry = idempotency_key.is_some();
        self.send(Method::POST, &["jobs"], Vec::new(), headers, body, retry)
            .await
    }

    /// `GET /jobs/{id}`.
    pub async fn get_job(&self, id: &str) -> Result<Answer, Failure> {
        self.send(Method::GET, &["jobs", id], Vec::new(), Vec::new(), Vec::new(), true)
            .await
    }

    /// `DELETE /jobs/{id}`: repeating it is harmless (the same cancelled job again).
    pub async fn cancel(&self, id: &str) -> Result<Answer, Failure> {
        self.send(Method::DELETE, &["jobs", id], Vec::new(), Vec::new(), Vec::new(), true)
            .await
    }

    /// One page of `GET /jobs`.
    pub async fn list(&self, filters: &ListQuery, next_token: Option<&str>) -> Result<Answer, Failure> {
        let mut query: Vec<(&str, String)> = filters
            .statuses
            .iter()
            .map(|s| ("status", s.as_str().to_owned()))
            .collect();
        let optional = [
            ("definition", filters.definition.clone()),
            ("createdAfter", filters.created_after.clone()),
            ("createdBefore", filters.created_before.clone()),
            ("limit", filters.limit.map(|n| n.to_string())),
            ("nextToken", next_token.map(str::to_owned)),
        ];
        query.extend(
            optional
                .into_iter()
                .filter_map(|(name, value)| value.map(|v| (name, v))),
        );
        self.send(Method::GET, &["jobs"], query, Vec::new(), Vec::new(), true)
            .await
    }

    /// One page of `GET /jobs/{id}/logs`.
    pub async fn logs(&self, id: &str, attempt: Option<u32>, next_token: Option<&str>) -> Result<Answer, Failure> {
        let mut query = Vec::new();
        if let Some(attempt) = attempt {
            query.push(("attempt", attempt.to_string()));
        }
        if let Some(token) = next_token {
            query.push(("nextToken", token.to_owned()));
        }
        self.send(Method::GET, &["jobs", id, "logs"], query, Vec::new(), Vec::new(), true)
            .await
    }

    fn url(&self, segments: &[&str], query: &[(&str, String)]) -> Url {
        build_url(&self.base, segments, query)
    }

    async fn send(
        &self,
        method: Method,
        segments: &[&str],
        query: Vec<(&str, String)>,
        mut headers: Vec<(String, String)>,
        body: Vec<u8>,
        retry: bool,
    ) -> Result<Answer, Failure> {
        let url = self.url(segments, &query);
        headers.push(("accept".to_owned(), "application/json".to_owned()));
        let mut tries = 0;
        loop {
            tries += 1;
            let auth = self.authorization(&method, &url, &headers, &body).await?;
            let mut request = self.http.request(method.clone(), url.clone()).body(body.clone());
            for (name, value) in headers.iter().chain(auth.iter()) {
                let name = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| Failure::Usage(format!("{name:?} cannot be an HTTP header name")))?;
                let value = HeaderValue::from_str(value)
                    .map_err(|_| Failure::Usage(format!("the value of {name} cannot be sent in an HTTP header")))?;
                request = request.header(name, value);
            }
            // A refused connection is not retried here: it usually means a wrong endpoint,
            // and a person should hear so at once. `wait` retries it between polls.
            let response = request.send().await.map_err(|error| transport(&self.base, &error))?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(|seconds| Duration::from_secs(seconds).clamp(Duration::from_millis(200), MAX_RETRY_AFTER));
            let content_type = response
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let text = response.text().await.map_err(|error| transport(&self.base, &error))?;
            if status.is_success() {
                let json = serde_json::from_str(&text).map_err(|_| {
                    Failure::Service(format!(
                        "{} {}: the answer is not JSON: {}",
                        status.as_u16(),
                        status.canonical_reason().unwrap_or(""),
                        render::one_line(&text, 200)
                    ))
                })?;
                return Ok(Answer {
                    status: status.as_u16(),
                    body: text,
                    json,
                });
            }
            // "Busy, try again in a second": job-busy, store-unavailable.
            let busy = status == reqwest::StatusCode::SERVICE_UNAVAILABLE && retry && tries < TRIES;
            if let (true, Some(delay)) = (busy, retry_after) {
                tokio::time::sleep(delay).await;
                continue;
            }
            return Err(Failure::Service(render::error_line(
                status.as_u16(),
                &content_type,
                &text,
            )));
        }
    }

    /// The authentication headers of one try (a SigV4 signature covers the time, so each
    /// try is signed again).
    async fn authorization(
        &self,
        method: &Method,
        url: &Url,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Vec<(String, String)>, Failure> {
        match &self.auth {
            Auth::Anonymous => Ok(Vec::new()),
            Auth::Bearer(token) => Ok(vec![("authorization".to_owned(), format!("Bearer {token}"))]),
            Auth::SigV4(sigv4) => {
                let credentials = sigv4.credentials().await?;
                let request = signing::Request {
                    method: method.as_str(),
                    url: url.as_str(),
                    headers,
                    body,
                };
                signing::sign(&request, &credentials, &sigv4.region, SystemTime::now())
                    .map_err(|e| Failure::Service(e.to_string()))
            }
        }
    }
}

impl SigV4 {
    async fn credentials(&self) -> Result<Credentials, Failure> {
        let fresh = |c: &Credentials| {
            c.expiry()
                .is_none_or(|expiry| expiry > SystemTime::now() + CREDENTIALS_MARGIN)
        };
        if let Some(cached) = self.cached.lock().ok().and_then(|c| c.clone()).filter(fresh) {
            return Ok(cached);
        }
        let credentials = self.provider.provide_credentials().await.map_err(|e| {
            Failure::Service(format!(
                "no AWS credentials to sign the request with: {} (see `aws configure`, `aws sso login`, AWS_PROFILE)",
                chain(&e)
            ))
        })?;
        if let Ok(mut cached) = self.cached.lock() {
            *cached = Some(credentials.clone());
        }
        Ok(credentials)
    }
}

/// `base` + `/segment/segment?name=value&...`, each segment and query part encoded with
/// [`SIGV4_UNRESERVED`] (a base path such as a stage name is kept).
pub fn build_url(base: &Url, segments: &[&str], query: &[(&str, String)]) -> Url {
    let mut path = base.path().trim_end_matches('/').to_owned();
    for segment in segments {
        path.push('/');
        path.extend(utf8_percent_encode(segment, SIGV4_UNRESERVED));
    }
    let query: Vec<String> = query
        .iter()
        .map(|(name, value)| {
            format!(
                "{}={}",
                utf8_percent_encode(name, SIGV4_UNRESERVED),
                utf8_percent_encode(value, SIGV4_UNRESERVED)
            )
        })
        .collect();
    let query = query.join("&");
    let mut url = base.clone();
    // Already encoded with a strict set: `Url` keeps `%XX` and unreserved characters as they are.
    url.set_path(&path);
    url.set_query(Some(&query).filter(|q| !q.is_empty()).map(String::as_str));
    url
}

/// The base URL from `--endpoint` / `JOBCTL_ENDPOINT`: http(s), with a host, no query.
pub fn endpoint(given: Option<&str>) -> Result<Url, Failure> {
    let given = given.map(str::trim).filter(|e| !e.is_empty()).ok_or_else(|| {
        Failure::Usage(
            "no endpoint: pass --endpoint URL or set JOBCTL_ENDPOINT \
             (e.g. http://127.0.0.1:8080 for the local server)"
                .to_owned(),
        )
    })?;
    let url = Url::parse(given).map_err(|e| Failure::Usage(format!("the endpoint {given:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(Failure::Usage(format!(
            "the endpoint {given:?} must be an http:// or https:// URL with a host"
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Failure::Usage(format!(
            "the endpoint {given:?} must not have a query or fragment"
        )));
    }
    Ok(url)
}

/// The region to sign for: the flag; else the execute-api host's (a signature for any
/// other region is refused, whatever the local configuration says); else the AWS
/// configuration's. Credentials come from the SDK's default chain.
async fn sigv4(flag: Option<String>, host: &str) -> Result<SigV4, Failure> {
    let known = flag
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty())
        .or_else(|| signing::region_from_host(host));
    let config = load_aws_config(known.clone()).await;
    let region = known
        .or_else(|| config.region().map(|r| r.as_ref().to_owned()))
        .ok_or_else(|| {
            Failure::Usage(format!(
                "cannot tell which region to sign requests to {host} for: pass --region or set AWS_REGION"
            ))
        })?;
    let provider = config
        .credentials_provider()
        .ok_or_else(|| Failure::Service("the AWS configuration has no credentials provider".to_owned()))?;
    Ok(SigV4 {
        region,
        provider,
        cached: Mutex::new(None),
    })
}

/// The standard chain (environment, profiles with SSO and credential_process, web
/// identity, ECS and EC2 instance credentials), with the SDK's HTTPS client on rustls
/// and ring and the operating system's trust store.
async fn load_aws_config(region: Option<String>) -> aws_config::SdkConfig {
    install_crypto();
    let https = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(https);
    if let Some(region) = region {
        // Also spares the region chain's instance-metadata lookup.
        loader = loader.region(Region::new(region));
    }
    loader.load().await
}

/// reqwest is built without a crypto provider of its own (no aws-lc): ring is the
/// process's. Installing twice is refused, harmlessly.
fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn transport(base: &Url, error: &reqwest::Error) -> Failure {
    if error.is_timeout() {
        return Failure::Unreachable(format!(
            "no answer from {} within {} s",
            base.as_str().trim_end_matches('/'),
            REQUEST_TIMEOUT.as_secs()
        ));
    }
    Failure::Unreachable(format!(
        "cannot reach {}: {}",
        base.as_str().trim_end_matches('/'),
        chain(error)
    ))
}

/// An error and its causes on one line, without the repetitions wrappers add.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = error.source();
    let top = error.to_string();
    // reqwest's own message repeats the URL; its causes say what happened.
    if !top.starts_with("error sending request") {
        parts.push(top);
    }
    while let Some(cause) = current {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) && !text.starts_with("client error (") {
            parts.push(text);
        }
        current = cause.source();
    }
    if parts.is_empty() {
        parts.push(error.to_string());
    }
    render::one_line(&parts.join(": "), 400)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(url: &str) -> Url {
        let Ok(url) = Url::parse(url) else {
            panic!("{url} is a URL")
        };
        url
    }

    #[test]
    fn paths_and_queries_are_encoded_for_sigv4() {
        let url = build_url(
            &base("https://abc.execute-api.eu-west-1.amazonaws.com/prod/"),
            &["jobs", "a b/c"],
            &[
                ("status", "RUNNING".into()),
                ("status", "FAILED".into()),
                ("createdAfter", "2026-11-27T12:00:00.000+01:00".into()),
            ],
        );
        assert_eq!(
            url.as_str(),
            "https://abc.execute-api.eu-west-1.amazonaws.com/prod/jobs/a%20b%2Fc\
             ?status=RUNNING&status=FAILED&createdAfter=2026-11-27T12%3A00%3A00.000%2B01%3A00"
        );
        assert_eq!(
            build_url(&base("http://127.0.0.1:8080"), &["jobs"], &[]).as_str(),
            "http://127.0.0.1:8080/jobs"
        );
    }

    #[test]
    fn endpoints_are_checked() {
        assert!(matches!(endpoint(None), Err(Failure::Usage(m)) if m.contains("JOBCTL_ENDPOINT")));
        assert!(matches!(endpoint(Some("  ")), Err(Failure::Usage(_))));
        assert!(matches!(endpoint(Some("ftp://x")), Err(Failure::Usage(_))));
        assert!(matches!(endpoint(Some("127.0.0.1:8080")), Err(Failure::Usage(_))));
        assert!(endpoint(Some("http://127.0.0.1:8080")).is_ok());
    }
}
