//! jobctl against the real local server: every command, its output and its exit code.
//! The jobs are the shipped definitions (`local-server/definitions.toml`): `report`
//! succeeds after ~3 s, `fail` exits 3, `long` runs two minutes.

mod common;

use std::process::Child;
use std::time::{Duration, Instant};

use common::{jobctl, Run, Server};
use serde_json::Value;

/// Waits for a spawned jobctl to end (at most `within`, else it is killed and the test fails).
fn finish(mut child: Child, within: Duration) -> Run {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return Run::of(child.wait_with_output());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let run = Run::of(child.wait_with_output());
    panic!("jobctl still running after {within:?}: {run:?}");
}

fn one_line(stderr: &str) -> &str {
    assert_eq!(stderr.lines().count(), 1, "not one line: {stderr:?}");
    stderr.trim_end()
}

fn value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{key}:")))
        .map(str::trim)
}

#[test]
fn submit_wait_exits_0_when_the_job_succeeds() {
    let server = Server::start();
    let run = server.jobctl(&[
        "submit",
        "report",
        "-p",
        "REPORT_DATE=2026-11-01",
        "--wait",
        "--timeout",
        "60s",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(value(&run.stdout, "status"), Some("SUCCEEDED"), "{run:?}");
    assert_eq!(value(&run.stdout, "exitCode"), Some("0"), "{run:?}");
    assert_eq!(
        value(&run.stdout, "parameters"),
        Some("REPORT_DATE=2026-11-01"),
        "{run:?}"
    );
    // Not a terminal: no live line, nothing on stderr.
    assert_eq!(run.stderr, "", "{run:?}");
}

#[test]
fn submit_wait_exits_1_when_the_job_fails() {
    let server = Server::start();
    let run = server.jobctl(&["submit", "fail", "--wait", "--timeout", "60s", "--output", "json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let job = run.json();
    assert_eq!(job["status"], "FAILED", "{run:?}");
    assert_eq!(job["exitCode"], 3, "{run:?}");
}

#[test]
fn wait_exits_2_when_the_job_is_cancelled() {
    let server = Server::start();
    let id = server.submit(&["long"]);
    let waiting = server.spawn(&["wait", &id, "--timeout", "60s"]);
    std::thread::sleep(Duration::from_secs(1));
    let cancel = server.jobctl(&["cancel", &id]);
    assert_eq!(cancel.code, 0, "{cancel:?}");
    assert!(
        matches!(value(&cancel.stdout, "status"), Some("STOPPING" | "CANCELLED")),
        "{cancel:?}"
    );
    let run = finish(waiting, Duration::from_secs(60));
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(value(&run.stdout, "status"), Some("CANCELLED"), "{run:?}");
}

#[test]
fn wait_exits_3_on_its_own_timeout() {
    let server = Server::start();
    let id = server.submit(&["long"]);
    let started = Instant::now();
    let run = server.jobctl(&["wait", &id, "--timeout", "2s"]);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    let line = one_line(&run.stderr);
    assert!(
        line.starts_with(&format!("jobctl: job {id} is still ")) && line.ends_with("after 2s (--timeout)"),
        "{line}"
    );
    // The last state seen is printed: the job still runs.
    assert!(
        matches!(value(&run.stdout, "status"), Some("STARTING" | "RUNNING")),
        "{run:?}"
    );
}

#[test]
fn get_and_list_answer_the_services_json() {
    let server = Server::start();
    let id = server.submit(&["report", "-p", "FORMAT=pdf"]);

    let get = server.jobctl(&["get", &id, "--output", "json"]);
    assert_eq!(get.code, 0, "{get:?}");
    let job = get.json();
    assert_eq!(job["jobId"], id.as_str());
    assert_eq!(job["parameters"]["FORMAT"], "pdf");
    assert!(job["attempts"].is_array(), "{job}");

    let text = server.jobctl(&["get", &id]);
    assert_eq!(text.code, 0, "{text:?}");
    assert_eq!(value(&text.stdout, "jobId"), Some(id.as_str()), "{text:?}");
    assert_eq!(value(&text.stdout, "definition"), Some("report"), "{text:?}");

    let list = server.jobctl(&["list", "-o", "json"]);
    assert_eq!(list.code, 0, "{list:?}");
    let page = list.json();
    let jobs = page["jobs"]
        .as_array()
        .unwrap_or_else(|| panic!("no jobs array: {page}"));
    assert_eq!(jobs.len(), 1, "{page}");
    assert_eq!(jobs[0]["jobId"], id.as_str());
    assert!(jobs[0].get("attempts").is_none(), "list items have no attempts: {page}");
    assert_eq!(page["nextToken"], Value::Null, "{page}");
}

#[test]
fn list_all_follows_every_page() {
    let server = Server::start();
    let ids: Vec<String> = (0..3).map(|_| server.submit(&["report"])).collect();
    let newest_first: Vec<&str> = ids.iter().rev().map(String::as_str).collect();

    // One page: one job and a token; the hint goes to stderr, not into the table.
    let one = server.jobctl(&["list", "--limit", "1", "-o", "json"]);
    assert_eq!(one.code, 0, "{one:?}");
    assert_eq!(one.json()["jobs"][0]["jobId"], newest_first[0], "{one:?}");
    assert!(one.json()["nextToken"].is_string(), "{one:?}");

    let all = server.jobctl(&["list", "--limit", "1", "--all", "-o", "json"]);
    assert_eq!(all.code, 0, "{all:?}");
    let document = all.json();
    let listed: Vec<&str> = document["jobs"]
        .as_array()
        .map(|jobs| jobs.iter().filter_map(|j| j["jobId"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(listed, newest_first, "{all:?}");
    assert_eq!(document["nextToken"], Value::Null, "{all:?}");

    let table = server.jobctl(&["list", "--limit", "1", "--all"]);
    assert_eq!(table.code, 0, "{table:?}");
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "a header and three jobs: {table:?}");
    for column in ["JOB ID", "DEFINITION", "STATUS", "CREATED", "REASON"] {
        assert!(lines[0].contains(column), "{table:?}");
    }
    for (line, id) in lines[1..].iter().zip(&newest_first) {
        assert!(line.starts_with(id) && line.contains("report"), "{table:?}");
    }

    let page = server.jobctl(&["list", "--limit", "1"]);
    assert_eq!(page.code, 0, "{page:?}");
    assert_eq!(page.stdout.lines().count(), 2, "{page:?}");
    assert!(page.stderr.contains("--all"), "{page:?}");

    // Filters are passed on: no job of another definition, none in a status none is in.
    let none = server.jobctl(&["list", "--definition", "fail", "-o", "json"]);
    assert_eq!(none.json()["jobs"], Value::Array(Vec::new()), "{none:?}");
    let cancelled = server.jobctl(&["list", "--status", "cancelled", "--status", "FAILED", "-o", "json"]);
    assert_eq!(cancelled.json()["jobs"], Value::Array(Vec::new()), "{cancelled:?}");
    let window = server.jobctl(&[
        "list",
        "--created-after",
        "1h",
        "--created-before",
        "2999-01-01T00:00:00Z",
        "-o",
        "json",
    ]);
    assert_eq!(window.json()["jobs"].as_array().map(Vec::len), Some(3), "{window:?}");
}

#[test]
fn cancel_stops_a_running_job_and_refuses_a_finished_one() {
    let server = Server::start();
    let id = server.submit(&["long"]);
    let cancel = server.jobctl(&["cancel", &id, "-o", "json"]);
    assert_eq!(cancel.code, 0, "{cancel:?}");
    assert!(cancel.json()["cancelRequestedAt"].is_string(), "{cancel:?}");
    server.until(&id, Duration::from_secs(30), |job| job["status"] == "CANCELLED");

    let finished = server.submit(&["report", "--wait", "--timeout", "60s"]);
    let refused = server.jobctl(&["cancel", &finished]);
    assert_eq!(refused.code, 4, "{refused:?}");
    let line = one_line(&refused.stderr);
    assert!(
        line.starts_with("jobctl: 409 ") && line.ends_with("(job-finished)"),
        "{line}"
    );
    assert_eq!(refused.stdout, "");
}

#[test]
fn logs_print_the_jobs_output() {
    let server = Server::start();
    let id = server.submit(&["report", "-p", "REPORT_DATE=2026-11-01", "--wait", "--timeout", "60s"]);

    let logs = server.jobctl(&["logs", &id]);
    assert_eq!(logs.code, 0, "{logs:?}");
    assert_eq!(
        logs.stdout,
        format!("report {id} for 2026-11-01 as csv\ndone\n"),
        "{logs:?}"
    );

    let json = server.jobctl(&["logs", &id, "--attempt", "1", "-o", "json"]);
    assert_eq!(json.code, 0, "{json:?}");
    let document = json.json();
    let messages: Vec<&str> = document["events"]
        .as_array()
        .map(|events| events.iter().filter_map(|e| e["message"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(messages.len(), 2, "{json:?}");
    assert!(document["events"][0]["timestamp"].is_string(), "{json:?}");
    assert_eq!(document["nextToken"], Value::Null, "{json:?}");

    let missing = server.jobctl(&["logs", &id, "--attempt", "2"]);
    assert_eq!(missing.code, 4, "{missing:?}");
    assert!(
        one_line(&missing.stderr).ends_with("(attempt-not-found)"),
        "{missing:?}"
    );
}

#[test]
fn logs_follow_prints_lines_until_the_attempt_ends() {
    let server = Server::start();
    let id = server.submit(&["report", "-p", "REPORT_DATE=2026-12-24"]);
    let follow = server.spawn(&["logs", &id, "--follow"]);
    let run = finish(follow, Duration::from_secs(60));
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        format!("report {id} for 2026-12-24 as csv\ndone\n"),
        "{run:?}"
    );
    // By the time the log ended, the job had stopped.
    let job = server.until(&id, Duration::from_secs(30), |job| job["status"] == "SUCCEEDED");
    assert_eq!(job["exitCode"], 0);
}

#[test]
fn a_problem_is_one_stderr_line_and_exit_4() {
    let server = Server::start();
    let run = server.jobctl(&["get", "00000000-0000-4000-8000-000000000000"]);
    assert_eq!(run.code, 4, "{run:?}");
    assert_eq!(
        run.stderr,
        "jobctl: 404 Job not found: No job with this id exists for the caller. (job-not-found)\n"
    );
    assert_eq!(run.stdout, "");

    let unknown = server.jobctl(&["submit", "no-such-definition"]);
    assert_eq!(unknown.code, 4, "{unknown:?}");
    assert!(one_line(&unknown.stderr).starts_with("jobctl: 400 "), "{unknown:?}");
}

#[test]
fn an_unreachable_service_is_one_line_and_exit_4() {
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .unwrap_or(9);
    let run = Run::of(jobctl(&["get", "x", "--endpoint", &format!("http://127.0.0.1:{port}")]).output());
    assert_eq!(run.code, 4, "{run:?}");
    let line = one_line(&run.stderr);
    assert!(
        line.starts_with(&format!("jobctl: cannot reach http://127.0.0.1:{port}")),
        "{line}"
    );
}

#[test]
fn a_missing_endpoint_is_a_usage_error() {
    let run = Run::of(jobctl(&["get", "x"]).output());
    assert_eq!(run.code, 64, "{run:?}");
    let line = one_line(&run.stderr);
    assert!(
        line.contains("--endpoint") && line.contains("JOBCTL_ENDPOINT"),
        "{line}"
    );

    let bad = Run::of(jobctl(&["get", "x", "--endpoint", "localhost:8080"]).output());
    assert_eq!(bad.code, 64, "{bad:?}");
}

#[test]
fn usage_errors_exit_64_not_clap_s_2() {
    for args in [
        &["list", "--limit", "0"][..],
        &["list", "--status", "DONE"],
        &["submit"],
        &["submit", "report", "-p", "NOEQUALS"],
        &["submit", "report", "--timeout", "1m"],
        &[
            "submit",
            "report",
            "-p",
            "A=1",
            "-p",
            "A=2",
            "--endpoint",
            "http://127.0.0.1:9",
        ],
        &["wait", "x", "--timeout", "soon"],
        &["logs", "x", "--attempt", "0"],
        &["frobnicate"],
        &[],
    ] {
        let run = Run::of(jobctl(args).output());
        assert_eq!(run.code, 64, "{args:?}: {run:?}");
    }
    let help = Run::of(jobctl(&["--help"]).output());
    assert_eq!(help.code, 0, "{help:?}");
    assert!(help.stdout.contains("submit") && help.stdout.contains("64"), "{help:?}");
}
