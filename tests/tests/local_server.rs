//! The built `local-server` binary over HTTP, as a new user runs it: jobs submitted with
//! the shipped definitions, polled to their terminal status; Ctrl-C leaving running
//! jobs in an honest state (checked in DynamoDB Local, where state outlives the server);
//! and the hostile flags, under which every job still reaches its true terminal state:
//! every ECS event lost (the reconciler alone ends jobs), RunTask throttled or out of
//! capacity (the launch queue starts them), events duplicated and shuffled, and a
//! definition's `max_running` holding under a burst. And the lifecycle policy: a job
//! retried until it succeeds, an attempt stopped by its timeout, and cancels of a running
//! job and of one waiting for its next attempt.

use std::collections::BTreeSet;
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

    async fn get(&self, id: &str) -> Value {
        let (status, _, job) = send(&self.url, "GET", &format!("/jobs/{id}"), &[], None).await;
        assert_eq!(status, 200, "{job}");
        job
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

    /// Every line of a finished attempt's log, through `GET /jobs/{id}/logs`, following
    /// `nextToken` until the service says the log is complete.
    async fn log(&self, id: &str, attempt: u32) -> String {
        let mut lines = Vec::new();
        let mut path = format!("/jobs/{id}/logs?attempt={attempt}");
        for _ in 0..100 {
            let (status, _, page) = send(&self.url, "GET", &path, &[], None).await;
            assert_eq!(status, 200, "{path}: {page}");
            for event in page["events"].as_array().expect("events") {
                lines.push(event["message"].as_str().expect("message").to_owned());
            }
            match page["nextToken"].as_str() {
                Some(token) => path = format!("/jobs/{id}/logs?attempt={attempt}&nextToken={token}"),
                None => return lines.join("\n"),
            }
        }
        panic!("the log of {id} attempt {attempt} never ended")
    }

    async fn delete(&self, id: &str) -> (u16, hyper::HeaderMap, Value) {
        send(&self.url, "DELETE", &format!("/jobs/{id}"), &[], None).await
    }

    /// Polls the job every 100 ms until `done` holds of it (at most `within`), and returns
    /// every state seen, in order.
    async fn watch_until(&self, id: &str, within: Duration, done: impl Fn(&Value) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + within;
        let mut seen = Vec::new();
        loop {
            let job = self.get(id).await;
            let finished = done(&job);
            seen.push(job);
            if finished {
                return seen;
            }
            assert!(
                Instant::now() < deadline,
                "job {id} not there after {within:?}; seen:\n{}",
                seen.iter().map(Value::to_string).collect::<Vec<_>>().join("\n")
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
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

impl Drop for Server {
    /// A test that fails before it stops its server still ends the jobs it started: SIGINT
    /// has the server stop them as StopTask would, where `kill_on_drop`'s SIGKILL alone
    /// would leave them running.
    fn drop(&mut self) {
        let Some(pid) = self.child.id().and_then(|pid| i32::try_from(pid).ok()) else {
            return;
        };
        if !matches!(self.child.try_wait(), Ok(None)) {
            return;
        }
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGINT);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(50));
        }
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
    let log = server.log(id, 1).await;
    assert!(log.contains(&format!("report {id} for 2026-11-01")), "{log}");
    let stream = report["attempts"][0]["logs"]["stream"]
        .as_str()
        .expect("the attempt's log stream");
    let task_id = report["taskArn"]
        .as_str()
        .expect("taskArn")
        .rsplit('/')
        .next()
        .expect("task id");
    assert_eq!(stream, format!("report/app/{task_id}"));
    let file = std::fs::read_to_string(server.log_dir.join(stream)).expect("the task's log file");
    assert_eq!(
        file.lines().collect::<Vec<_>>().join("\n"),
        log,
        "the route serves the file, line for line"
    );

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
async fn the_caller_lists_their_jobs_newest_first_page_by_page_and_by_status() {
    let server = start(&[]).await;
    let mut submitted = Vec::new();
    for _ in 0..3 {
        let (status, job) = server
            .submit(
                r#"{"definition": "report", "parameters": {"REPORT_DATE": "2026-11-01"}}"#,
                None,
            )
            .await;
        assert_eq!(status, 201, "{job}");
        submitted.push(id_of(&job));
    }
    let (_, failing) = server.submit(r#"{"definition": "fail"}"#, None).await;
    submitted.push(id_of(&failing));
    for id in &submitted {
        server.finished(id).await;
    }
    submitted.reverse();

    let mut listed = Vec::new();
    let mut path = "/jobs?limit=3".to_owned();
    loop {
        let (status, _, page) = send(&server.url, "GET", &path, &[], None).await;
        assert_eq!(status, 200, "{page}");
        let jobs = page["jobs"].as_array().expect("jobs");
        assert!(jobs.len() <= 3);
        assert!(jobs.iter().all(|j| j.get("attempts").is_none()), "{page}");
        listed.extend(jobs.iter().map(id_of));
        match page["nextToken"].as_str() {
            Some(token) => path = format!("/jobs?limit=3&nextToken={token}"),
            None => break,
        }
    }
    assert_eq!(listed, submitted, "newest first, each once");
    let (_, _, failed) = send(&server.url, "GET", "/jobs?status=FAILED", &[], None).await;
    assert_eq!(
        failed["jobs"]
            .as_array()
            .expect("jobs")
            .iter()
            .map(id_of)
            .collect::<Vec<_>>(),
        [id_of(&failing)]
    );
    let (_, _, both) = send(
        &server.url,
        "GET",
        "/jobs?status=FAILED&status=SUCCEEDED&definition=report",
        &[],
        None,
    )
    .await;
    assert_eq!(both["jobs"].as_array().expect("jobs").len(), 3, "{both}");
    let (status, _, problem) = send(&server.url, "GET", "/jobs?limit=0", &[], None).await;
    assert_eq!(
        (status, problem["parameter"].as_str()),
        (400, Some("limit")),
        "{problem}"
    );
    let (status, _, problem) = send(&server.url, "GET", "/jobs?nextToken=forged", &[], None).await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["type"], "tag:job-tracker,2026:problem:invalid-next-token");
    server.interrupt_and_wait().await;
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

/// Quick commands for the hostile runs (each local task still takes about 2 s of
/// simulated lifecycle steps).
const FAST_DEFINITIONS: &str = r#"
[definitions.ok]
command = ["sh", "-c", "echo fine"]

[definitions.fail]
command = ["sh", "-c", "exit 4"]

[definitions.broken]
command = ["/nonexistent/bin/job"]

[definitions.one]
command = ["sh", "-c", "sleep 0.2"]
max_running = 1
"#;

fn fast_definitions() -> PathBuf {
    let path = std::env::temp_dir().join(format!("fast-definitions-{}.toml", uuid::Uuid::new_v4().simple()));
    std::fs::write(&path, FAST_DEFINITIONS).expect("write the definitions");
    path
}

/// Starts a server on the fast definitions with `extra_args`.
async fn start_fast(extra_args: &[&str]) -> Server {
    let definitions = fast_definitions();
    let mut args = vec!["--definitions", definitions.to_str().expect("UTF-8 path")];
    args.extend_from_slice(extra_args);
    start(&args).await
}

fn id_of(job: &Value) -> String {
    job["jobId"].as_str().expect("a jobId").to_owned()
}

fn is_terminal(job: &Value) -> bool {
    ["SUCCEEDED", "FAILED", "CANCELLED"].contains(&job["status"].as_str().unwrap_or_default())
}

fn time_of(job: &Value, pointer: &str) -> chrono::DateTime<chrono::Utc> {
    job.pointer(pointer)
        .and_then(Value::as_str)
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .unwrap_or_else(|| panic!("{pointer} is not a timestamp in {job}"))
        .into()
}

/// Submits `ok`, `fail` and `broken` jobs, and checks each ends with its true verdict,
/// exit code, stop code and timeline.
async fn every_kind_of_job_ends_right(server: &Server) {
    let mut ids = Vec::new();
    for definition in ["ok", "fail", "broken"] {
        let (status, job) = server
            .submit(&format!(r#"{{"definition": "{definition}"}}"#), None)
            .await;
        assert_eq!(status, 201, "{job}");
        ids.push(id_of(&job));
    }

    let ok = server.finished(&ids[0]).await;
    assert_eq!(ok["status"], "SUCCEEDED", "{ok}");
    assert_eq!(ok["exitCode"], 0, "{ok}");
    assert_eq!(ok["attempts"].as_array().map(Vec::len), Some(1), "{ok}");
    assert_eq!(ok["attempts"][0]["taskStatus"], "STOPPED", "{ok}");
    assert_eq!(ok["attempts"][0]["stopCode"], "EssentialContainerExited", "{ok}");
    assert!(time_of(&ok, "/startedAt") <= time_of(&ok, "/stoppedAt"), "{ok}");

    let fail = server.finished(&ids[1]).await;
    assert_eq!(fail["status"], "FAILED", "{fail}");
    assert_eq!(fail["exitCode"], 4, "{fail}");
    assert_eq!(fail["attempts"][0]["taskStatus"], "STOPPED", "{fail}");
    assert!(
        fail["statusReason"]
            .as_str()
            .is_some_and(|r| r.contains("exited with code 4")),
        "{fail}"
    );

    let broken = server.finished(&ids[2]).await;
    assert_eq!(broken["status"], "FAILED", "{broken}");
    assert_eq!(broken["exitCode"], Value::Null, "{broken}");
    assert_eq!(broken["startedAt"], Value::Null, "{broken}");
    assert_eq!(broken["attempts"][0]["stopCode"], "TaskFailedToStart", "{broken}");
}

#[tokio::test]
async fn with_every_event_dropped_the_reconciler_alone_ends_each_job_with_its_true_verdict() {
    let server = start_fast(&["--drop-events", "1.0", "--reconcile-interval", "0.5"]).await;
    every_kind_of_job_ends_right(&server).await;
    let exit = server.interrupt_and_wait().await;
    assert!(exit.success(), "{exit:?}");
}

#[tokio::test]
async fn duplicated_and_shuffled_events_still_end_every_job_right() {
    // A reconciler that does not look within the test, so that the events alone decide.
    let server = start_fast(&[
        "--duplicate-events",
        "1.0",
        "--reorder-events",
        "--reconcile-interval",
        "600",
    ])
    .await;
    every_kind_of_job_ends_right(&server).await;
    let exit = server.interrupt_and_wait().await;
    assert!(exit.success(), "{exit:?}");
}

#[tokio::test]
async fn a_throttled_launch_waits_saying_so_and_then_starts_once() {
    let server = start_fast(&["--throttle-launches", "3", "--reconcile-interval", "0.5"]).await;
    let (status, job) = server.submit(r#"{"definition": "ok"}"#, None).await;
    assert_eq!(status, 201, "{job}");
    assert_eq!(job["status"], "SUBMITTED", "{job}");
    assert_eq!(job["taskArn"], Value::Null, "{job}");
    let reason = job["statusReason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("waiting to start") && reason.contains("throttling"),
        "{job}"
    );

    let done = server.finished(&id_of(&job)).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    assert_eq!(done["exitCode"], 0, "{done}");
    assert_eq!(done["attempts"].as_array().map(Vec::len), Some(1), "{done}");
    assert!(done["taskArn"].is_string(), "{done}");
    server.interrupt_and_wait().await;
}

#[tokio::test]
async fn a_launch_refused_for_capacity_waits_saying_so_and_then_starts() {
    let server = start_fast(&["--no-capacity-launches", "1", "--reconcile-interval", "0.5"]).await;
    let (status, job) = server.submit(r#"{"definition": "ok"}"#, None).await;
    assert_eq!(status, 201, "{job}");
    assert_eq!(job["status"], "SUBMITTED", "{job}");
    let reason = job["statusReason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("waiting to start") && reason.contains("capacity"),
        "{job}"
    );

    let done = server.finished(&id_of(&job)).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    assert_eq!(done["attempts"].as_array().map(Vec::len), Some(1), "{done}");
    server.interrupt_and_wait().await;
}

#[tokio::test]
async fn max_running_one_runs_a_burst_one_at_a_time_oldest_first() {
    const BURST: usize = 3;
    let server = start_fast(&["--reconcile-interval", "0.5"]).await;
    let one = r#"{"definition": "one"}"#;

    // A burst of simultaneous submissions: exactly one takes the slot, the others wait.
    let submissions: Vec<_> = (0..BURST)
        .map(|_| {
            let url = server.url.clone();
            tokio::spawn(async move { send(&url, "POST", "/jobs", &[JSON], Some(one)).await })
        })
        .collect();
    let mut burst = Vec::new();
    for submission in submissions {
        let (status, _, job) = submission.await.expect("submitted");
        assert_eq!(status, 201, "{job}");
        burst.push(job);
    }
    // Then one more, surely younger than the burst, while the first job still runs.
    let (status, last) = server.submit(one, None).await;
    assert_eq!(status, 201, "{last}");

    let (first, mut waiting): (Vec<Value>, Vec<Value>) = burst.into_iter().partition(|j| j["status"] != "SUBMITTED");
    assert_eq!(first.len(), 1, "exactly one of the burst starts at once: {first:?}");
    waiting.push(last);
    for job in &waiting {
        assert_eq!(job["status"], "SUBMITTED", "{job}");
        assert_eq!(job["taskArn"], Value::Null, "{job}");
        assert!(
            job["statusReason"]
                .as_str()
                .is_some_and(|r| r.contains("waiting for a free slot")),
            "{job}"
        );
    }
    let ids: Vec<String> = first.iter().chain(&waiting).map(id_of).collect();

    // Polled newest first: a job seen with a task means every job that started before it
    // had finished when it started, so reading those later can only see them finished,
    // unless the limit is broken, which is what this looks for.
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut seen_with_task = BTreeSet::new();
    let finished = loop {
        let mut now = Vec::new();
        for id in ids.iter().rev() {
            now.push(server.get(id).await);
        }
        now.reverse();
        let with_task: Vec<String> = now
            .iter()
            .filter(|j| ["STARTING", "RUNNING", "STOPPING"].contains(&j["status"].as_str().unwrap_or_default()))
            .map(id_of)
            .collect();
        assert!(
            with_task.len() <= 1,
            "more than one job of `one` has a task: {with_task:?}"
        );
        seen_with_task.extend(with_task);
        if now.iter().all(is_terminal) {
            break now;
        }
        assert!(Instant::now() < deadline, "not finished after 40 s: {now:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(!seen_with_task.is_empty(), "no job was ever seen with a task");

    for job in &finished {
        assert_eq!(job["status"], "SUCCEEDED", "{job}");
        assert_eq!(job["exitCode"], 0, "{job}");
        assert_eq!(job["attempts"].as_array().map(Vec::len), Some(1), "{job}");
    }
    // The tasks' own timeline: no two containers ever ran at the same time.
    let mut by_start: Vec<&Value> = finished.iter().collect();
    by_start.sort_by_key(|j| time_of(j, "/startedAt"));
    for pair in by_start.windows(2) {
        assert!(
            time_of(pair[0], "/stoppedAt") <= time_of(pair[1], "/startedAt"),
            "overlap:\n{}\n{}",
            pair[0],
            pair[1]
        );
    }
    // Oldest first: the job that took the slot, then the waiting ones by creation (the
    // last one is younger than the burst whatever the clock's resolution says).
    assert_eq!(id_of(by_start[0]), ids[0], "the job that took the slot ran first");
    assert_eq!(id_of(by_start[BURST]), ids[BURST], "the youngest job ran last");
    let (a, b) = (&finished[1], &finished[2]);
    if time_of(a, "/createdAt") != time_of(b, "/createdAt") {
        assert_eq!(
            time_of(a, "/createdAt") < time_of(b, "/createdAt"),
            time_of(a, "/startedAt") < time_of(b, "/startedAt"),
            "not oldest first:\n{a}\n{b}"
        );
    }
    server.interrupt_and_wait().await;
}

#[tokio::test]
async fn invalid_hostile_flags_are_a_clear_error() {
    for (args, expected) in [
        (["--drop-events", "1.5"], "outside 0.0..=1.0"),
        (["--duplicate-events=-0.1", "--reorder-events"], "outside 0.0..=1.0"),
        (["--drop-events", "all"], "not a number"),
        (["--throttle-launches=-1", "--reorder-events"], "--throttle-launches"),
        (["--max-running", "0"], "--max-running"),
        (["--reconcile-interval", "0"], "too short"),
    ] {
        let (code, stderr) =
            exit_code_and_stderr(Command::new(built("local-server")).args(["--port", "0"]).args(args)).await;
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

fn text<'a>(job: &'a Value, pointer: &str) -> &'a str {
    job.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}

fn attempts(job: &Value) -> &[Value] {
    job["attempts"].as_array().map(Vec::as_slice).unwrap_or_default()
}

#[tokio::test]
async fn a_flaky_job_fails_twice_and_succeeds_on_its_third_attempt() {
    // The shipped `flaky`: exit 1 on attempts 1 and 2; retry on exit code 1, 1 s then 2 s.
    let server = start(&["--reconcile-interval", "0.5"]).await;
    let (status, job) = server.submit(r#"{"definition": "flaky"}"#, None).await;
    assert_eq!(status, 201, "{job}");
    assert_eq!(job["retry"]["attempts"], 3, "{job}");
    let id = id_of(&job);
    let seen = server.watch_until(&id, Duration::from_secs(40), is_terminal).await;
    let done = seen.last().expect("seen");

    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    assert_eq!(done["exitCode"], 0, "{done}");
    let all = attempts(done);
    assert_eq!(all.len(), 3, "{done}");
    for (index, attempt) in all.iter().enumerate() {
        assert_eq!(attempt["attempt"], index + 1, "{done}");
        assert_eq!(attempt["taskStatus"], "STOPPED", "{done}");
        assert_eq!(attempt["stopCode"], "EssentialContainerExited", "{done}");
        assert_eq!(attempt["exitCode"], if index < 2 { 1 } else { 0 }, "{done}");
    }
    let arns: BTreeSet<&str> = all.iter().map(|a| text(a, "/taskArn")).collect();
    assert_eq!(arns.len(), 3, "a new task per attempt: {done}");
    assert!(!arns.contains(""), "{done}");
    assert_eq!(done["taskArn"], all[2]["taskArn"], "the current attempt's task: {done}");

    // Between attempts the job waited SUBMITTED, saying why and until when; the next
    // attempt started no earlier than that.
    for failed in 1..=2 {
        let waiting = seen
            .iter()
            .find(|j| j["status"] == "SUBMITTED" && attempts(j).len() == failed + 1)
            .unwrap_or_else(|| panic!("never seen waiting after attempt {failed}: {seen:?}"));
        let reason = text(waiting, "/statusReason");
        assert!(
            reason.contains(&format!("attempt {failed} of 3 failed")) && reason.contains("exited with code 1"),
            "{waiting}"
        );
        let next = time_of(waiting, "/nextAttemptAt");
        assert!(next >= time_of(&all[failed - 1], "/stoppedAt"), "{waiting}");
        assert!(time_of(&all[failed], "/startedAt") >= next, "started early: {done}");
    }
    for attempt in 1..=3 {
        let log = server.log(&id, attempt).await;
        assert!(log.contains(&format!("attempt {attempt} of job {id}")), "{log}");
    }

    // A finished job cannot be cancelled, and stays as it was.
    let (status, headers, problem) = server.delete(&id).await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(
        headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    assert!(text(&problem, "/type").ends_with(":job-finished"), "{problem}");
    assert_eq!(problem["status"], 409, "{problem}");
    assert_eq!(server.get(&id).await["status"], "SUCCEEDED");
    server.interrupt_and_wait().await;
}

#[tokio::test]
async fn a_hanging_job_is_stopped_by_its_timeout_and_fails_saying_so() {
    // The shipped `hang`: sleeps ten minutes, timeout_seconds = 3.
    let server = start(&["--reconcile-interval", "0.5"]).await;
    let (status, job) = server.submit(r#"{"definition": "hang"}"#, None).await;
    assert_eq!(status, 201, "{job}");
    assert_eq!(job["timeoutSeconds"], 3, "{job}");
    let id = id_of(&job);
    let seen = server.watch_until(&id, Duration::from_secs(30), is_terminal).await;
    let done = seen.last().expect("seen");

    assert_eq!(done["status"], "FAILED", "{done}");
    assert!(text(done, "/statusReason").contains("timed out after 3 s"), "{done}");
    let [attempt] = attempts(done) else {
        panic!("a timeout is not retried by default: {done}")
    };
    assert_eq!(attempt["stopCode"], "UserInitiated", "{done}");
    assert_eq!(attempt["stoppedReason"], "timed out after 3 s", "{done}");
    // The shell ended by StopTask's SIGTERM, as ECS reports it: 128 + 15.
    assert_eq!(attempt["exitCode"], 143, "{done}");
    // Stopped after 3 s of running, within a few reconcile passes and the stop's steps.
    let ran = time_of(attempt, "/stoppedAt") - time_of(attempt, "/startedAt");
    assert!(
        ran >= chrono::Duration::seconds(3) && ran < chrono::Duration::seconds(8),
        "ran {ran}: {done}"
    );
    server.interrupt_and_wait().await;
}

/// Definitions for the cancel tests: `sleeper` writes its PID and runs until stopped;
/// `retry_later` fails and is retried 3 s later.
const LIFECYCLE_DEFINITIONS: &str = r#"
[definitions.sleeper]
command = ["sh", "-c", "echo \"pid $$\"; exec sleep 600"]

[definitions.retry_later]
command = ["sh", "-c", "echo \"attempt $JOB_ATTEMPT\"; exit 1"]
retry = { attempts = 3, interval_seconds = 3, rules = [{ on_exit_code = "1", action = "RETRY" }] }
"#;

async fn start_lifecycle() -> Server {
    let path = std::env::temp_dir().join(format!("lifecycle-definitions-{}.toml", uuid::Uuid::new_v4().simple()));
    std::fs::write(&path, LIFECYCLE_DEFINITIONS).expect("write the definitions");
    start(&[
        "--definitions",
        path.to_str().expect("UTF-8 path"),
        "--reconcile-interval",
        "0.5",
    ])
    .await
}

fn is_alive(pid: i32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
}

#[tokio::test]
async fn cancelling_a_running_job_stops_its_process_and_ends_it_cancelled() {
    let server = start_lifecycle().await;
    let (status, job) = server.submit(r#"{"definition": "sleeper"}"#, None).await;
    assert_eq!(status, 201, "{job}");
    let id = id_of(&job);
    server
        .watch_until(&id, Duration::from_secs(20), |j| j["status"] == "RUNNING")
        .await;
    let running = server.get(&id).await;
    let log = server
        .log_dir
        .join(running["attempts"][0]["logs"]["stream"].as_str().expect("a log stream"));
    let deadline = Instant::now() + Duration::from_secs(5);
    let pid: i32 = loop {
        let written = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(pid) = written.strip_prefix("pid ").and_then(|p| p.trim().parse().ok()) {
            break pid;
        }
        assert!(Instant::now() < deadline, "no PID in {}: {written:?}", log.display());
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(is_alive(pid), "the job's process {pid} runs");

    let (status, _, cancelling) = server.delete(&id).await;
    assert_eq!(status, 202, "{cancelling}");
    assert_eq!(cancelling["status"], "STOPPING", "{cancelling}");
    assert!(text(&cancelling, "/statusReason").contains("cancel"), "{cancelling}");
    assert!(cancelling["cancelRequestedAt"].is_string(), "{cancelling}");

    let seen = server.watch_until(&id, Duration::from_secs(15), is_terminal).await;
    let done = seen.last().expect("seen");
    assert_eq!(done["status"], "CANCELLED", "{done}");
    assert!(
        seen.iter()
            .all(|j| ["STOPPING", "CANCELLED"].contains(&text(j, "/status"))),
        "nothing but STOPPING until CANCELLED: {seen:?}"
    );
    let [attempt] = attempts(done) else {
        panic!("a cancelled job is not retried: {done}")
    };
    assert_eq!(attempt["stopCode"], "UserInitiated", "{done}");
    assert_eq!(attempt["stoppedReason"], "cancelled", "{done}");
    assert_eq!(attempt["exitCode"], 143, "{done}");
    assert!(!is_alive(pid), "the job's process {pid} still runs");

    // A repeated cancel is answered as the first was.
    let (status, _, again) = server.delete(&id).await;
    assert_eq!((status, text(&again, "/status")), (202, "CANCELLED"), "{again}");

    // Cancelled as soon as it is answered: CANCELLED, stopped through StopTask. (Whether
    // its container had started by then depends on this machine's load; that a stop
    // before the start means it never starts is the runner's own unit test.)
    let (status, early) = server.submit(r#"{"definition": "sleeper"}"#, None).await;
    assert_eq!((status, text(&early, "/status")), (201, "STARTING"), "{early}");
    let early_id = id_of(&early);
    let (status, _, cancelling) = server.delete(&early_id).await;
    assert_eq!(
        (status, text(&cancelling, "/status")),
        (202, "STOPPING"),
        "{cancelling}"
    );
    let seen = server
        .watch_until(&early_id, Duration::from_secs(15), is_terminal)
        .await;
    let done = seen.last().expect("seen");
    assert_eq!(done["status"], "CANCELLED", "{done}");
    assert_eq!(done["attempts"][0]["stopCode"], "UserInitiated", "{done}");
    assert_eq!(done["attempts"][0]["stoppedReason"], "cancelled", "{done}");

    let (status, _, problem) = server.delete(&uuid::Uuid::new_v4().to_string()).await;
    assert_eq!(status, 404, "{problem}");
    let (status, _, problem) = send(&server.url, "PUT", &format!("/jobs/{id}"), &[], None).await;
    assert_eq!(status, 405, "{problem}");
    server.interrupt_and_wait().await;
}

#[tokio::test]
async fn cancelling_a_job_waiting_for_its_next_attempt_ends_it_at_once_and_for_good() {
    let server = start_lifecycle().await;
    let (status, job) = server.submit(r#"{"definition": "retry_later"}"#, None).await;
    assert_eq!(status, 201, "{job}");
    let id = id_of(&job);
    let seen = server
        .watch_until(&id, Duration::from_secs(20), |j| {
            j["status"] == "SUBMITTED" && attempts(j).len() == 2
        })
        .await;
    let waiting = seen.last().expect("seen");
    let next_attempt_at = time_of(waiting, "/nextAttemptAt");

    let (status, _, cancelled) = server.delete(&id).await;
    assert_eq!(status, 202, "{cancelled}");
    assert_eq!(cancelled["status"], "CANCELLED", "at once: {cancelled}");
    assert_eq!(cancelled["statusReason"], "cancelled by its owner", "{cancelled}");
    assert_eq!(cancelled["nextAttemptAt"], Value::Null, "{cancelled}");

    // Past the time attempt 2 was due (and a few reconcile passes more), it never started.
    let due_in = (next_attempt_at - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(due_in + Duration::from_millis(1500)).await;
    let later = server.get(&id).await;
    assert_eq!(later["status"], "CANCELLED", "{later}");
    let all = attempts(&later);
    assert_eq!(all.len(), 2, "{later}");
    assert_eq!(all[1]["taskArn"], Value::Null, "attempt 2 never got a task: {later}");
    assert_eq!(all[1]["logs"], Value::Null, "attempt 2 never ran, so it has no log");
    server.interrupt_and_wait().await;
}
