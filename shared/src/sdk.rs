//! The AWS SDK configuration every function (and every tool of this repository) uses.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::Provider;

/// The standard configuration chain (environment, profile, container and instance
/// credentials, `AWS_ENDPOINT_URL[_SERVICE]`), with an HTTPS client on rustls and ring.
///
/// The SDK's default client uses rustls on aws-lc; ring gives the same TLS 1.2/1.3 with
/// far less code, which keeps every function's zip under the 3 MB of DESIGN.md §7.
pub async fn load() -> SdkConfig {
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client)
        .load()
        .await
}
