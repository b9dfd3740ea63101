//! Prints, as JSON, what the service's code declares about its deployment: each
//! function's configuration variables and AWS operations, and the `startedBy` prefix of
//! its tasks. `scripts/terraform-contract.py` checks Terraform against this output
//! instead of reading the Rust source.

use shared::domain::{JobDefinition, StartedBy};
use tests::contracts::FUNCTIONS;

fn main() {
    let declaration = serde_json::json!({
        "functions": FUNCTIONS,
        "startedByPrefix": StartedBy::PREFIX,
        "reservedVariables": JobDefinition::RESERVED,
    });
    println!("{declaration:#}");
}
