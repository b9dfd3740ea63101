//! The AWS SDK configuration every function (and every tool of this repository) uses,
//! and the clients built from it with the service's time budgets.

use std::time::Duration;

use aws_config::environment::credentials::EnvironmentVariableCredentialsProvider;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

use crate::infra::config::{ConfigError, Environment};

/// The roots every AWS service endpoint's certificate chains to.
const AMAZON_TRUST_SERVICES: &[u8] = include_bytes!("../../certs/amazon-trust-services.pem");
const CA_BUNDLE: &str = "AWS_CA_BUNDLE";
/// Set by Lambda in every function's environment.
const LAMBDA_FUNCTION_NAME: &str = "AWS_LAMBDA_FUNCTION_NAME";

/// The standard configuration chain (environment, profile, container and instance
/// credentials, `AWS_ENDPOINT_URL[_SERVICE]`; in a Lambda function, the environment's
/// credentials only) with an HTTPS client on rustls and ring, trusting the Amazon Trust
/// Services roots, plus the PEM bundle `AWS_CA_BUNDLE` names.
///
/// Three choices keep cold starts short and zips under Lambda's 3 MB bar: ring instead of
/// the SDK's default aws-lc (the same TLS 1.2/1.3, 0.75 MB less code); a trust store of
/// five compiled-in roots instead of the operating system's (which means reading and
/// parsing some 150 certificates); and no TLS connector built at client creation (see
/// [`ConnectOnFirstUse`]).
pub async fn load(env: &impl Environment) -> Result<SdkConfig, ConfigError> {
    let mut trust = TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(AMAZON_TRUST_SERVICES);
    if let Some(path) = env.var(CA_BUNDLE).filter(|p| !p.trim().is_empty()) {
        let pem = std::fs::read(&path).map_err(|e| ConfigError::new(CA_BUNDLE, format!("cannot read {path}: {e}")))?;
        certificates_in(&pem).map_err(|problem| ConfigError::new(CA_BUNDLE, format!("{path}: {problem}")))?;
        trust = trust.with_pem_certificate(pem);
    }
    let tls = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .map_err(|e| ConfigError::new(CA_BUNDLE, format!("cannot build the TLS context: {e}")))?;
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .tls_context(tls)
        .build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(SharedHttpClient::new(ConnectOnFirstUse(http_client)));
    if env.var(LAMBDA_FUNCTION_NAME).is_some() {
        // Lambda gives every function its role's credentials in the environment; the
        // rest of the default chain would build an STS client for web identity tokens
        // (a fifth of create-job's init) that a Lambda never uses.
        loader = loader.credentials_provider(EnvironmentVariableCredentialsProvider::new());
    }
    Ok(loader.load().await)
}

/// The SDK's HTTPS client, minus the connector it builds and throws away each time a
/// client is created. The SDK does that to load the operating system's certificates at
/// init rather than on the first request; this service trusts compiled-in roots (and a
/// bundle checked in [`load`]), so the throwaway build only parses the same PEM roots and
/// sets up rustls again for every client (the STS client of the credential chain, DynamoDB,
/// ECS): about two thirds of create-job's init instructions (measured with callgrind).
/// The connector used for requests is built on the first request either way, once per
/// timeout setting, and cached.
#[derive(Debug)]
struct ConnectOnFirstUse(SharedHttpClient);

impl HttpClient for ConnectOnFirstUse {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

/// How long one SDK call may take, retries included, and each try of it. A stalled
/// endpoint must end in the service's own answer (a problem document, a typed event
/// error) well before Lambda's timeout kills the invocation and API Gateway answers a bare
/// 5xx: create-job makes at most a PutItem, a RunTask, an UpdateItem and a GetItem, 2 +
/// 4 + 2 + 2 = 10 s in the worst case, under the functions' 15 s timeout (Terraform's
/// `lambda_timeout_seconds` refuses less). Timed-out tries are retried by the SDK's
/// standard strategy (up to 3 tries), which for RunTask repeats the same `clientToken`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallBudget {
    pub connect: Duration,
    pub attempt: Duration,
    pub operation: Duration,
}

impl CallBudget {
    /// Tries of one call, within its operation timeout.
    pub const TRIES: u32 = 3;

    /// DynamoDB answers single-item calls in milliseconds; a try that takes a second is
    /// stuck.
    pub const DYNAMODB: Self = Self {
        connect: Duration::from_secs(1),
        attempt: Duration::from_secs(1),
        operation: Duration::from_secs(2),
    };
    /// SendMessage answers in milliseconds, like DynamoDB.
    pub const SQS: Self = Self::DYNAMODB;
    /// GetLogEvents reads up to a page of lines: a little longer than a single item.
    pub const LOGS: Self = Self {
        connect: Duration::from_secs(1),
        attempt: Duration::from_secs(2),
        operation: Duration::from_secs(4),
    };
    /// RunTask takes up to a few seconds when ECS is busy.
    pub const ECS: Self = Self {
        connect: Duration::from_secs(1),
        attempt: Duration::from_millis(2500),
        operation: Duration::from_secs(4),
    };

    /// The SDK's timeouts of this budget (also those of `CloudWatchLogReader`'s calls).
    pub(crate) fn timeouts(self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(self.connect)
            .operation_attempt_timeout(self.attempt)
            .operation_timeout(self.operation)
            .build()
    }
}

/// The DynamoDB client of every function, within `budget` (normally [`CallBudget::DYNAMODB`]).
pub fn dynamodb_client(sdk: &SdkConfig, budget: CallBudget) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(dynamodb_config(sdk, budget).build())
}

/// The ECS client of every function, within `budget` (normally [`CallBudget::ECS`]).
pub fn ecs_client(sdk: &SdkConfig, budget: CallBudget) -> aws_sdk_ecs::Client {
    aws_sdk_ecs::Client::from_conf(ecs_config(sdk, budget).build())
}

/// The SQS client configuration of the functions that use the launch queue, within
/// `budget` (normally [`CallBudget::SQS`]); `SqsLaunchQueue` makes its client from it
/// when it first sends.
pub fn sqs_config(sdk: &SdkConfig, budget: CallBudget) -> aws_sdk_sqs::config::Builder {
    aws_sdk_sqs::config::Builder::from(sdk)
        .timeout_config(budget.timeouts())
        .retry_config(RetryConfig::standard().with_max_attempts(CallBudget::TRIES))
}

/// The configuration behind [`dynamodb_client`], open to further settings.
pub fn dynamodb_config(sdk: &SdkConfig, budget: CallBudget) -> aws_sdk_dynamodb::config::Builder {
    aws_sdk_dynamodb::config::Builder::from(sdk)
        .timeout_config(budget.timeouts())
        .retry_config(RetryConfig::standard().with_max_attempts(CallBudget::TRIES))
}

/// The configuration behind [`ecs_client`], open to further settings.
pub fn ecs_config(sdk: &SdkConfig, budget: CallBudget) -> aws_sdk_ecs::config::Builder {
    aws_sdk_ecs::config::Builder::from(sdk)
        .timeout_config(budget.timeouts())
        .retry_config(RetryConfig::standard().with_max_attempts(CallBudget::TRIES))
}

/// How many certificates a PEM bundle holds, checked as the HTTP client will use them:
/// it panics on a bundle that does not parse, so a bad one is refused here, at init.
fn certificates_in(pem: &[u8]) -> Result<usize, String> {
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not a PEM bundle: {e}"))?;
    if certificates.is_empty() {
        return Err("contains no certificate".to_owned());
    }
    let mut roots = rustls::RootCertStore::empty();
    for certificate in &certificates {
        roots
            .add(certificate.clone())
            .map_err(|e| format!("holds a certificate that cannot be a root: {e}"))?;
    }
    Ok(certificates.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn the_compiled_in_roots_are_the_five_amazon_trust_services_roots() {
        assert_eq!(certificates_in(AMAZON_TRUST_SERVICES), Ok(5));
    }

    #[test]
    fn a_bad_ca_bundle_is_a_configuration_error_naming_the_variable() {
        let dir = std::env::temp_dir().join(format!("ca-bundle-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let garbage = dir.join("garbage.pem");
        std::fs::write(
            &garbage,
            "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        for path in [dir.join("missing.pem"), garbage, empty] {
            let env = HashMap::from([(CA_BUNDLE.to_owned(), path.display().to_string())]);
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let err = runtime.block_on(load(&env)).expect_err("a bad bundle is refused");
            assert_eq!(err.variable, CA_BUNDLE, "{err}");
        }
    }

    #[test]
    fn in_lambda_the_credentials_come_from_the_environment_only() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let provider_of = |env: HashMap<String, String>| {
            let config = runtime.block_on(load(&env)).expect("loads");
            format!("{:?}", config.credentials_provider().expect("a provider"))
        };
        let region = ("AWS_REGION".to_owned(), "eu-west-1".to_owned());
        let in_lambda = provider_of(HashMap::from([
            region.clone(),
            (LAMBDA_FUNCTION_NAME.to_owned(), "create-job".to_owned()),
        ]));
        assert!(
            in_lambda.contains("EnvironmentVariableCredentialsProvider"),
            "{in_lambda}"
        );
        let elsewhere = provider_of(HashMap::from([region]));
        assert!(
            !elsewhere.starts_with("SharedCredentialsProvider(EnvironmentVariable"),
            "{elsewhere}"
        );
        assert!(
            elsewhere.contains("WebIdentity") || elsewhere.contains("Chain"),
            "{elsewhere}"
        );
    }

    #[test]
    fn a_valid_ca_bundle_is_accepted() {
        let path = std::env::temp_dir().join(format!("ca-bundle-ok-{}.pem", std::process::id()));
        std::fs::write(&path, AMAZON_TRUST_SERVICES).unwrap();
        let env = HashMap::from([
            (CA_BUNDLE.to_owned(), path.display().to_string()),
            ("AWS_REGION".to_owned(), "eu-west-1".to_owned()),
        ]);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        assert!(runtime.block_on(load(&env)).is_ok());
    }
}
