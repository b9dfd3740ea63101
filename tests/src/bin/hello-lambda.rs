//! The baseline of the cold-start benchmark: the smallest `lambda_runtime` function,
//! built with the same profile, the same runtime flavour (Tokio's single-threaded
//! runtime) and the same `lambda_runtime` features and tracing set-up as the service's
//! functions, so that the ratio measures what the functions add, not how they are built.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<_, Error>(event.payload)
    }))
    .await
}
