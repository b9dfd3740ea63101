//! `jobctl`, the job tracker's command line. `main.rs` only wires; each concern is a
//! module: the command line ([`cli`]), HTTP and authentication ([`client`], with SigV4 in
//! [`signing`]), what is printed ([`render`]), waiting for a job ([`wait`]), and the
//! commands themselves ([`commands`]).

pub mod cli;
pub mod client;
pub mod commands;
pub mod render;
pub mod signing;
pub mod wait;

pub use commands::run;

/// Why a command could not do its work; each is one line on stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The command line or the configuration is wrong: exit 64, nothing was sent.
    Usage(String),
    /// The service answered with a problem (or an answer jobctl cannot read): exit 4.
    Service(String),
    /// The service could not be reached (no connection, no answer in time): exit 4
    /// too, but worth another try when a wait has been going for a while.
    Unreachable(String),
}

impl Failure {
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Usage(_) => cli::EXIT_USAGE,
            Failure::Service(_) | Failure::Unreachable(_) => cli::EXIT_SERVICE,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Usage(message) | Failure::Service(message) | Failure::Unreachable(message) => f.write_str(message),
        }
    }
}
