//! What each function needs from its deployment, declared in code next to the code that
//! needs it: the configuration variables it reads and the AWS API operations it calls.
//! `scripts/terraform-contract.py` holds Terraform to these declarations (environment
//! and IAM), and the tests hold the functions to them (a function gets exactly its
//! declared environment; every SDK call the tests observe is declared).

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionContract {
    /// The function's name in Terraform and in its init errors.
    pub function: &'static str,
    /// The service's configuration variables it reads (the AWS SDK's own variables, set
    /// by Lambda, are not listed).
    pub environment: &'static [&'static str],
    /// The AWS API operations its code calls, as `service:Operation` (the IAM action).
    pub operations: &'static [&'static str],
}
