//! SigV4 for API Gateway (service `execute-api`), with the AWS SDK's own signer.
//!
//! [`sign`] is a pure function of the request, the credentials, the region and the time,
//! so the exact `Authorization` header can be checked against another implementation
//! (botocore, in `tests/signing.rs`) without a network or a clock.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings};
use aws_smithy_runtime_api::client::identity::Identity;

/// The signing name of API Gateway's invoke endpoints (HTTP and REST APIs alike).
pub const SERVICE: &str = "execute-api";

/// A request as it will be sent. `url` must already be percent-encoded the way it goes on
/// the wire (path and query), since that is what the receiver verifies.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    pub url: &'a str,
    /// Every header that will be sent and should be covered by the signature (the
    /// signer adds `host` from the URL when it is not here).
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

#[derive(Debug)]
pub struct SigningError(String);

impl std::fmt::Display for SigningError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot sign the request: {}", self.0)
    }
}

impl std::error::Error for SigningError {}

/// The headers to add to `request`: `authorization`, `x-amz-date` and, with temporary
/// credentials, `x-amz-security-token`.
///
/// The SDK's default settings are the ones API Gateway verifies: the path encoded twice
/// (as every service but S3), the payload hashed without an `x-amz-content-sha256`
/// header, the session token inside the signature.
pub fn sign(
    request: &Request<'_>,
    credentials: &Credentials,
    region: &str,
    time: SystemTime,
) -> Result<Vec<(String, String)>, SigningError> {
    let identity = Identity::from(credentials.clone());
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(SERVICE)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| SigningError(e.to_string()))?
        .into();
    let signable = SignableRequest::new(
        request.method,
        request.url,
        request
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str())),
        SignableBody::Bytes(request.body),
    )
    .map_err(|e| SigningError(e.to_string()))?;
    let (instructions, _signature) = aws_sigv4::http_request::sign(signable, &params)
        .map_err(|e| SigningError(e.to_string()))?
        .into_parts();
    let (headers, _query) = instructions.into_parts();
    Ok(headers
        .into_iter()
        .map(|header| (header.name().to_owned(), header.value().to_owned()))
        .collect())
}

/// Whether requests to `host` are signed without being asked: AWS's own endpoints
/// (execute-api hosts, their VPC endpoint names; the China partition's too).
pub fn is_aws_host(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn")
}

/// The region in an API Gateway host name: `<api>.execute-api.<region>.amazonaws.com`,
/// `<api>-<vpce>.execute-api.<region>.vpce.amazonaws.com`. A custom domain has none.
pub fn region_from_host(host: &str) -> Option<String> {
    if !is_aws_host(host) {
        return None;
    }
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let mut labels = host.split('.');
    labels.find(|label| *label == SERVICE)?;
    labels
        .next()
        .filter(|region| !region.is_empty() && region.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn credentials(token: Option<&str>) -> Credentials {
        Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            token.map(str::to_owned),
            None,
            "test",
        )
    }

    #[test]
    fn region_comes_from_execute_api_hosts_only() {
        assert_eq!(
            region_from_host("abc123.execute-api.eu-west-1.amazonaws.com").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(
            region_from_host("abc-vpce-1.execute-api.us-east-2.vpce.amazonaws.com").as_deref(),
            Some("us-east-2")
        );
        assert_eq!(
            region_from_host("abc.execute-api.cn-north-1.amazonaws.com.cn").as_deref(),
            Some("cn-north-1")
        );
        assert_eq!(region_from_host("jobs.example.com"), None);
        assert_eq!(region_from_host("execute-api.example.com"), None);
        assert!(is_aws_host("ABC.execute-api.eu-west-1.amazonaws.com."));
        assert!(!is_aws_host("127.0.0.1"));
        assert!(!is_aws_host("evil-amazonaws.com"));
    }

    #[test]
    fn signs_with_date_token_and_every_given_header() {
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_780_800); // 2026-11-27T12:00:00Z
        let headers = vec![("accept".to_owned(), "application/json".to_owned())];
        let request = Request {
            method: "GET",
            url: "https://abc.execute-api.eu-west-1.amazonaws.com/jobs?limit=1",
            headers: &headers,
            body: b"",
        };
        let Ok(signed) = sign(&request, &credentials(Some("TOKEN")), "eu-west-1", time) else {
            panic!("signs");
        };
        let get = |name: &str| {
            signed
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        assert_eq!(get("x-amz-date"), "20261127T120000Z");
        assert_eq!(get("x-amz-security-token"), "TOKEN");
        let authorization = get("authorization");
        assert!(
            authorization.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261127/eu-west-1/execute-api/aws4_request, \
                 SignedHeaders=accept;host;x-amz-date;x-amz-security-token, Signature="
            ),
            "{authorization}"
        );
    }

    #[test]
    fn same_input_same_signature_and_time_changes_it() {
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_780_800);
        let request = Request {
            method: "DELETE",
            url: "https://abc.execute-api.eu-west-1.amazonaws.com/jobs/x",
            headers: &[],
            body: b"",
        };
        let sign_at = |t| {
            sign(&request, &credentials(None), "eu-west-1", t)
                .map(|h| format!("{h:?}"))
                .ok()
        };
        assert_eq!(sign_at(time), sign_at(time));
        assert_ne!(sign_at(time), sign_at(time + Duration::from_secs(1)));
        assert!(sign_at(time).is_some_and(|h| !h.contains("x-amz-security-token")));
    }
}
