//! The real `local-server` binary on a free port, and the real `jobctl` binary run
//! against it, as a person would.

#![allow(dead_code)] // Each test file uses its own part of this module.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The workspace root (this crate's parent).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `jobctl`, as built for this test run.
pub fn jobctl_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_jobctl"))
}

/// `local-server`, beside `jobctl` in the same target directory and profile (that
/// follows CARGO_TARGET_DIR and --release). `scripts/test` builds it with `cargo build
/// --workspace --bins`; when it is missing (`cargo test -p jobctl` on a fresh checkout)
/// it is built here, once per test binary. (`cargo test` does not hold the build
/// directory's lock while tests run, so the nested build does not deadlock.)
pub fn local_server_binary() -> PathBuf {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let jobctl = jobctl_binary();
        let dir = jobctl.parent().ok_or("jobctl's binary has no directory")?;
        let server = dir.join(format!("local-server{}", std::env::consts::EXE_SUFFIX));
        if server.is_file() {
            return Ok(server);
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let mut build = Command::new(cargo);
        build
            .current_dir(workspace_root())
            .args(["build", "-p", "local-server"]);
        if dir.file_name().is_some_and(|name| name == "release") {
            build.arg("--release");
        }
        let status = build
            .status()
            .map_err(|e| format!("cannot run cargo to build local-server: {e}"))?;
        if !status.success() || !server.is_file() {
            return Err(format!(
                "`cargo build -p local-server` failed ({status}); {} is missing",
                server.display()
            ));
        }
        Ok(server)
    });
    match built {
        Ok(path) => path.clone(),
        Err(message) => panic!("{message}"),
    }
}

/// One local server with its own log directory, stopped with SIGINT (as Ctrl-C would
/// stop it: running jobs are stopped too) when dropped.
pub struct Server {
    child: Child,
    pub url: String,
    dir: PathBuf,
}

impl Server {
    pub fn start() -> Server {
        let dir = std::env::temp_dir().join(format!("jobctl-test-{}-{}", std::process::id(), unique()));
        let logs = dir.join("logs");
        std::fs::create_dir_all(&logs).unwrap_or_else(|e| panic!("cannot create {}: {e}", logs.display()));
        let server_log = std::fs::File::create(dir.join("server.log")).unwrap_or_else(|e| panic!("server log: {e}"));
        let mut child = Command::new(local_server_binary())
            .current_dir(workspace_root())
            .args(["--port", "0", "--definitions"])
            .arg(workspace_root().join("local-server/definitions.toml"))
            .arg("--log-dir")
            .arg(&logs)
            .env_remove("JOB_TRACKER_PORT")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(server_log))
            .spawn()
            .unwrap_or_else(|e| panic!("local-server does not start: {e}"));
        let Some(stdout) = child.stdout.take() else {
            panic!("local-server's stdout is piped")
        };
        // The banner's first line ends with the URL; the rest is drained so the server
        // never blocks on a full pipe.
        let (first_line, banner) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = first_line.send(lines.next().and_then(Result::ok));
            for _ in lines {}
        });
        let first = match banner.recv_timeout(Duration::from_secs(60)) {
            Ok(Some(line)) => line,
            other => {
                let _ = child.kill();
                let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
                panic!("no banner from local-server ({other:?}); its log:\n{log}");
            }
        };
        let url = first.rsplit(' ').next().unwrap_or_default().to_owned();
        assert!(url.starts_with("http://127.0.0.1:"), "unexpected banner: {first}");
        Server { child, url, dir }
    }

    /// The log directory of the server's jobs.
    pub fn log_dir(&self) -> PathBuf {
        self.dir.join("logs")
    }

    /// `jobctl ARGS` against this server, to its end.
    pub fn jobctl(&self, args: &[&str]) -> Run {
        Run::of(self.command(args).output())
    }

    /// `jobctl ARGS` against this server, started and left running.
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("jobctl does not start: {e}"))
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = jobctl(args);
        command.env("JOBCTL_ENDPOINT", &self.url);
        command
    }

    /// Submits a job and returns its id.
    pub fn submit(&self, args: &[&str]) -> String {
        let mut all = vec!["submit", "--output", "json"];
        all.extend_from_slice(args);
        let run = self.jobctl(&all);
        assert_eq!(run.code, 0, "{run:?}");
        run.json()["jobId"]
            .as_str()
            .unwrap_or_else(|| panic!("no jobId in {run:?}"))
            .to_owned()
    }

    /// Polls the job (with jobctl) until `done` holds of it.
    pub fn until(&self, id: &str, within: Duration, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let run = self.jobctl(&["get", id, "-o", "json"]);
            assert_eq!(run.code, 0, "{run:?}");
            let job = run.json();
            if done(&job) {
                return job;
            }
            assert!(Instant::now() < deadline, "job {id} not there after {within:?}: {job}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGINT);
        }
        // It stops running jobs (SIGTERM, SIGKILL 5 s later) before it exits.
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `jobctl ARGS` with a clean environment for it: no endpoint, token or proxy from the
/// caller's shell.
pub fn jobctl(args: &[&str]) -> Command {
    let mut command = Command::new(jobctl_binary());
    command.args(args).stdin(Stdio::null());
    for variable in [
        "JOBCTL_ENDPOINT",
        "JOBCTL_TOKEN",
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        command.env_remove(variable);
    }
    command
}

/// What a finished jobctl did.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout:\n{}--- stderr:\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl Run {
    pub fn of(output: std::io::Result<Output>) -> Run {
        let output = output.unwrap_or_else(|e| panic!("jobctl does not run: {e}"));
        Run {
            code: code(output.status),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// stdout as one JSON document.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {self:?}"))
    }
}

fn code(status: ExitStatus) -> i32 {
    status.code().unwrap_or(-1)
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    u64::from(nanos) * 1000 + NEXT.fetch_add(1, Ordering::Relaxed)
}
