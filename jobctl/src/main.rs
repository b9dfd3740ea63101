//! `jobctl`: parse the command line, run the command on a single-threaded runtime, exit
//! with its code. Everything else is in the library (`src/lib.rs`).

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match jobctl::cli::parse() {
        Ok(cli) => cli,
        Err(code) => return ExitCode::from(code),
    };
    // One request at a time: a current-thread runtime starts no worker threads.
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("jobctl: cannot start: {error}");
            return ExitCode::from(jobctl::cli::EXIT_SERVICE);
        }
    };
    ExitCode::from(runtime.block_on(jobctl::run(cli)))
}
