//! The workspace's built binaries, for tests that run them as processes.

use std::path::PathBuf;
use std::process::Stdio;

use tokio::process::Command;

/// The binary `name` of this build (beside the test's own target directory). `cargo test`
/// builds only the binaries of packages with integration tests, so `scripts/test` runs
/// `cargo build --workspace --bins` first.
pub fn built(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().and_then(|deps| deps.parent()).expect("target dir");
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is not built: run `cargo build --workspace --bins`",
        path.display()
    );
    path
}

/// Runs `command` to its end without input: its exit code and what it wrote to stderr.
pub async fn exit_code_and_stderr(command: &mut Command) -> (Option<i32>, String) {
    let output = command.stdin(Stdio::null()).output().await.expect("the binary runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
