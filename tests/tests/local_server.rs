//! The built `local-server` binary over HTTP, as a new user runs it: jobs submitted with
//! the shipped definitions, polled to their terminal status; and Ctrl-C leaving running
//! jobs in an honest state (checked in DynamoDB Local, where state outlives the server).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use tests::binaries::{built, exit_code_and_stderr};
use tests::emulators::{fresh_table, sdk_config};
use tests::http_client::send;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const JSON: (&str, &str) = ("content-type", "application/json");

struct Server {
    child: Child,
    url: String,
    log_dir: PathBuf,
}

/// Starts the server on a free port, from the repository root (where the default
/// definitions file is), and reads its URL from the banner.
async fn start(extra_args: &[&str]) -> Server {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let log_dir = std::env::temp_dir().join(format!("local-server-test-{}", uuid::Uuid::new_v4().simple()));
    let mut child = Command::new(built("local-server"))
        .current_dir(&root)
        .args(["--port", "0", "--log-dir"])
        .arg(&log_dir)
        .args(extra_args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("local-server starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("a banner within 30 s")
        .expect("readable stdout")
        .expect("a banner line");
    let url = first
        .rsplit(' ')
        .next()
        .expect("the URL ends the first line")
        .to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{first}");
    // Keep draining the banner so the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Server { child, url, log_dir }
}

impl Server {
    async fn submit(&self, body: &str, key: Option<&str>) -> (u16, Value) {
        let mut headers = vec![JSON];
        if let Some(key) = key {
            headers.push(("idempotency-key", key));
        }
        let (status, _, job) = send(&self.url, "POST", "/jobs", &headers, Some(body)).await;
        (status, job)
    }

    /// Polls the job until it is terminal.
    async fn finished(&self, id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, _, job) = send(&self.url, "GET", &format!("/jobs/{id}"), &[], None).await;
            assert_eq!(status, 200, "{job}");
            if ["SUCCEEDED", "FAILED", "CANCELLED"].contains(&job["status"].as_str().unwrap_or_default()) {
                return job;
            }
            assert!(Instant::now() < deadline, "job {id} still {} after 30 s", job["status"]);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn interrupt_and_wait(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().expect("running") as i32;
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGINT).expect("SIGINT");
        tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("stops within 30 s")
            .expect("exit status")
    }
}

#[tokio::test]
async fn jobs_run_as_local_processes_and_reach_their_true_terminal_status() {
    let server = start(&[]).await;

    let (status, report) = server
        .submit(
            r#"{"definition": "report", "parameters": {"REPORT_DATE": "2026-11-01"}}"#,
            None,
        )
        .await;
    assert_eq!(status, 201, "{report}");
    let (_, fail) = server.submit(r#"{"definition": "fail"}"#, None).await;
    let (_, broken) = server.submit(r#"{"definition": "broken"}"#, None).await;

    let report = server.finished(report["jobId"].as_str().expect("id")).await;
    assert_eq!(report["status"], "SUCCEEDED", "{report}");
    assert_eq!(report["exitCode"], 0);
    assert_eq!(report["attempts"][0]["stopCode"], "EssentialContainerExited");
    assert!(
        report["startedAt"].is_string() && report["stoppedAt"].is_string(),
        "{report}"
    );
    let id = report["jobId"].as_str().expect("id");
    let log = std::fs::read_to_string(server.log_dir.join(format!("{id}-1.log"))).expect("the job's log");
    assert!(log.contains(&format!("report {id} for 2026-11-01")), "{log}");

    let fail = server.finished(fail["jobId"].as_str().expect("id")).await;
    assert_eq!(fail["status"], "FAILED");
    assert_eq!(fail["exitCode"], 3);
    assert!(
        fail["statusReason"]
            .as_str()
            .is_some_and(|r| r.contains("exited with code 3")),
        "{fail}"
    );

    let broken = server.finished(broken["jobId"].as_str().expect("id")).await;
    assert_eq!(broken["status"], "FAILED");
    assert_eq!(broken["exitCode"], Value::Null);
    assert_eq!(broken["startedAt"], Value::Null);
    assert_eq!(broken["attempts"][0]["stopCode"], "TaskFailedToStart");
    assert!(
        broken["statusReason"]
            .as_str()
            .is_some_and(|r| r.contains("CannotStartContainerError")),
        "{broken}"
    );

    let body = r#"{"definition": "report"}"#;
    let (first_status, first) = server.submit(body, Some("replay-1")).await;
    let (replay_status, replay) = server.submit(body, Some("replay-1")).await;
    assert_eq!((first_status, replay_status), (201, 201));
    assert_eq!(replay["jobId"], first["jobId"]);
    let done = server.finished(first["jobId"].as_str().expect("id")).await;
    assert_eq!(done["status"], "SUCCEEDED");

    let (status, _, problem) = send(&server.url, "GET", "/nothing-here", &[], None).await;
    assert_eq!((status, problem["status"].as_u64()), (404, Some(404)));
    let (status, _, problem) = send(
        &server.url,
        "POST",
        "/jobs",
        &[("content-type", "text/plain")],
        Some(body),
    )
    .await;
    assert_eq!(status, 415, "{problem}");

    let exit = server.interrupt_and_wait().await;
    assert!(exit.success(), "{exit:?}");
}

#[tokio::test]
async fn ctrl_c_stops_running_jobs_and_records_them_as_failed_in_dynamodb() {
    let table = fresh_table(&aws_sdk_dynamodb::Client::new(&sdk_config().await)).await;
    let server = start(&["--dynamodb-table", &table]).await;
    let (status, job) = server.submit(r#"{"definition": "long"}"#, None).await;
    assert_eq!(status, 201, "{job}");
    let id = job["jobId"].as_str().expect("id").to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, _, now) = send(&server.url, "GET", &format!("/jobs/{id}"), &[], None).await;
        if now["status"] == "RUNNING" {
            break;
        }
        assert!(Instant::now() < deadline, "never RUNNING: {now}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let exit = server.interrupt_and_wait().await;
    assert!(exit.success(), "{exit:?}");

    // The same table, through a fresh server: the job did not survive as RUNNING.
    let again = start(&["--dynamodb-table", &table]).await;
    let (status, _, stopped) = send(&again.url, "GET", &format!("/jobs/{id}"), &[], None).await;
    assert_eq!(status, 200);
    assert_eq!(stopped["status"], "FAILED", "{stopped}");
    assert_eq!(stopped["attempts"][0]["stopCode"], "UserInitiated");
    assert!(
        stopped["attempts"][0]["stoppedReason"]
            .as_str()
            .is_some_and(|r| r.contains("local server shut down")),
        "{stopped}"
    );
    assert!(
        stopped["statusReason"]
            .as_str()
            .is_some_and(|r| r.contains("(UserInitiated)")),
        "{stopped}"
    );
    again.interrupt_and_wait().await;
}

#[tokio::test]
async fn an_invalid_definitions_file_or_a_taken_port_is_a_clear_error() {
    let bad = std::env::temp_dir().join(format!("defs-{}.toml", uuid::Uuid::new_v4().simple()));
    std::fs::write(&bad, "[definitions.x]\ncommand = []\n").expect("write");
    let (code, stderr) = exit_code_and_stderr(
        Command::new(built("local-server"))
            .args(["--port", "0", "--definitions"])
            .arg(&bad),
    )
    .await;
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("is invalid") && stderr.contains("empty command"),
        "{stderr}"
    );

    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = taken.local_addr().expect("address").port().to_string();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let (code, stderr) = exit_code_and_stderr(
        Command::new(built("local-server"))
            .current_dir(root)
            .args(["--port", &port]),
    )
    .await;
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("cannot listen on") && stderr.contains("--port"),
        "{stderr}"
    );
}
