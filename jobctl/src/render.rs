//! What a person reads: `key: value` lines for one job, a table for many, one line per
//! error. (`--output json` prints the service's own answers and does not come here.)

use comfy_table::{presets, Cell, ContentArrangement, Table};
use serde_json::Value;

/// The columns of `list`.
pub const LIST_COLUMNS: [&str; 5] = ["JOB ID", "DEFINITION", "STATUS", "CREATED", "REASON"];
/// A reason longer than this is cut in the table (`get` shows it whole).
const REASON_WIDTH: usize = 60;

/// `text` on one line, at most `max` characters: an error must stay one line on stderr,
/// whatever the server put in its message.
pub fn one_line(text: &str, max: usize) -> String {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let cleaned: String = collapsed.chars().filter(|c| !c.is_control()).collect();
    if cleaned.chars().count() <= max {
        return cleaned;
    }
    let mut cut: String = cleaned.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// An RFC 9457 problem document as one line:
/// `404 Job not found: No job with this id exists for the caller. (job-not-found)`.
pub fn problem_line(http_status: u16, problem: &Value) -> String {
    let status = problem["status"]
        .as_u64()
        .map_or(http_status.to_string(), |s| s.to_string());
    let title = problem["title"].as_str().unwrap_or("Error");
    let mut line = format!("{status} {title}");
    if let Some(detail) = problem["detail"].as_str().filter(|d| !d.is_empty()) {
        line.push_str(": ");
        line.push_str(detail);
    }
    if let Some(kind) = problem["type"].as_str().filter(|t| *t != "about:blank") {
        // The service's types are `tag:job-tracker,2026:problem:<name>`; the name is enough.
        let short = kind.rsplit_once(":problem:").map_or(kind, |(_, name)| name);
        line.push_str(&format!(" ({short})"));
    }
    one_line(&line, 600)
}

/// Any error answer as one line: a problem document as [`problem_line`]; API Gateway's
/// own `{"message": ...}` (a refused signature, an unknown route); anything else (a
/// proxy's page) by its status and the start of its body.
pub fn error_line(status: u16, content_type: &str, body: &str) -> String {
    let json: Option<Value> = serde_json::from_str(body).ok();
    let reason = http_reason(status);
    match json {
        Some(problem)
            if content_type.contains("problem+json") || problem.get("title").is_some_and(Value::is_string) =>
        {
            problem_line(status, &problem)
        }
        Some(other) if other.get("message").is_some_and(Value::is_string) => one_line(
            &format!("{status} {reason}: {}", other["message"].as_str().unwrap_or_default()),
            600,
        ),
        _ if body.trim().is_empty() => format!("{status} {reason}"),
        _ => format!("{status} {reason}: {}", one_line(body, 200)),
    }
}

fn http_reason(status: u16) -> &'static str {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
}

/// Scalar fields of a job, in the order a person reads them; any other field the service
/// adds later is shown after them, by name.
const JOB_FIELDS: [&str; 15] = [
    "jobId",
    "definition",
    "status",
    "statusReason",
    "parameters",
    "createdAt",
    "updatedAt",
    "startedAt",
    "stoppedAt",
    "nextAttemptAt",
    "cancelRequestedAt",
    "exitCode",
    "taskArn",
    "timeoutSeconds",
    "retry",
];
/// Shown differently (attempts) or not at all (links: the same as jobId).
const JOB_SPECIAL: [&str; 2] = ["attempts", "links"];

/// One job as `key: value` lines (null fields left out), then one line per attempt.
pub fn job(job: &Value) -> String {
    let Some(fields) = job.as_object() else {
        return format!("{job}\n");
    };
    let mut lines: Vec<(String, String)> = Vec::new();
    let known = JOB_FIELDS.iter().copied();
    let others = fields
        .keys()
        .map(String::as_str)
        .filter(|k| !JOB_FIELDS.contains(k) && !JOB_SPECIAL.contains(k));
    for key in known.chain(others) {
        let Some(value) = fields.get(key).filter(|v| !v.is_null()) else {
            continue;
        };
        let shown = match (key, value) {
            ("parameters", Value::Object(parameters)) => parameters
                .iter()
                .map(|(k, v)| format!("{k}={}", scalar(v)))
                .collect::<Vec<_>>()
                .join(", "),
            ("retry", Value::Object(retry)) => retry
                .iter()
                .map(|(k, v)| format!("{k} {}", scalar(v)))
                .collect::<Vec<_>>()
                .join(", "),
            _ => scalar(value),
        };
        if !shown.is_empty() {
            lines.push((key.to_owned(), shown));
        }
    }
    if let Some(attempts) = job["attempts"].as_array() {
        for (index, attempt) in attempts.iter().enumerate() {
            let number = attempt["attempt"].as_u64().unwrap_or(index as u64 + 1);
            lines.push((format!("attempt {number}"), attempt_summary(attempt)));
        }
    }
    let width = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 1;
    lines
        .iter()
        .map(|(key, value)| format!("{:<width$} {value}\n", format!("{key}:")))
        .collect()
}

/// `STOPPED, exit code 1, EssentialContainerExited: reason, log …` (its times are in
/// `--output json`).
fn attempt_summary(attempt: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(status) = attempt["taskStatus"].as_str() {
        parts.push(status.to_owned());
    } else {
        parts.push("no task yet".to_owned());
    }
    if let Some(code) = attempt["exitCode"].as_i64() {
        parts.push(format!("exit code {code}"));
    }
    match (attempt["stopCode"].as_str(), attempt["stoppedReason"].as_str()) {
        (Some(code), Some(reason)) => parts.push(format!("{code}: {reason}")),
        (Some(code), None) => parts.push(code.to_owned()),
        (None, Some(reason)) => parts.push(reason.to_owned()),
        (None, None) => {}
    }
    let logs = &attempt["logs"];
    if let Some(url) = logs["consoleUrl"].as_str() {
        parts.push(format!("log {url}"));
    } else if let (Some(group), Some(stream)) = (logs["group"].as_str(), logs["stream"].as_str()) {
        parts.push(format!("log {group}/{stream}"));
    }
    one_line(&parts.join(", "), 1000)
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => one_line(s, 1000),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Jobs as a table: JOB ID, DEFINITION, STATUS, CREATED, REASON (cut to one short
/// line). Borderless, so that it reads like `ls -l` and `awk` can take columns.
pub fn jobs_table(jobs: &[Value]) -> String {
    let mut table = Table::new();
    table
        .load_preset(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(LIST_COLUMNS.iter().map(|c| Cell::new(*c)));
    for job in jobs {
        let text = |field: &str| job[field].as_str().map(|s| one_line(s, 200)).unwrap_or_default();
        let reason = job["statusReason"]
            .as_str()
            .map(|r| one_line(r, REASON_WIDTH))
            .unwrap_or_default();
        table.add_row(vec![
            text("jobId"),
            text("definition"),
            text("status"),
            text("createdAt"),
            reason,
        ]);
    }
    // Two spaces between columns and none before the first: lines start with the job id.
    for column in table.column_iter_mut() {
        column.set_padding((0, 2));
    }
    // The last column's padding is noise at the end of a line.
    table.lines().map(|line| format!("{}\n", line.trim_end())).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_problem_is_one_line() {
        let problem = json!({
            "type": "tag:job-tracker,2026:problem:job-not-found",
            "title": "Job not found",
            "status": 404,
            "detail": "No job with this id exists for the caller."
        });
        assert_eq!(
            error_line(404, "application/problem+json", &problem.to_string()),
            "404 Job not found: No job with this id exists for the caller. (job-not-found)"
        );
        let multi = json!({"title": "Bad\nthing", "status": 400, "detail": "line 1\nline 2", "type": "about:blank"});
        assert_eq!(problem_line(400, &multi), "400 Bad thing: line 1 line 2");
    }

    #[test]
    fn other_errors_are_one_line_too() {
        assert_eq!(
            error_line(403, "application/json", r#"{"message":"Forbidden"}"#),
            "403 Forbidden: Forbidden"
        );
        assert_eq!(
            error_line(502, "text/html", "<html>\n<b>bad</b>\n</html>"),
            "502 Bad Gateway: <html> <b>bad</b> </html>"
        );
        assert_eq!(error_line(500, "", ""), "500 Internal Server Error");
    }

    #[test]
    fn a_job_reads_as_key_value_lines() {
        let job = json!({
            "jobId": "j1", "definition": "report", "status": "FAILED", "statusReason": "exit 3",
            "parameters": {"B": "2", "A": "1"}, "createdAt": "2026-11-27T12:00:00.000Z", "stoppedAt": null,
            "exitCode": 3, "retry": {"attempts": 1}, "links": {"self": "/jobs/j1"}, "future": "x",
            "attempts": [{"attempt": 1, "taskStatus": "STOPPED", "exitCode": 3, "stopCode": "EssentialContainerExited",
                          "stoppedReason": null, "logs": {"group": "local", "stream": "j1-1.log", "consoleUrl": null}}]
        });
        let text = job_text(&job);
        assert_eq!(
            text,
            "jobId:        j1\n\
             definition:   report\n\
             status:       FAILED\n\
             statusReason: exit 3\n\
             parameters:   A=1, B=2\n\
             createdAt:    2026-11-27T12:00:00.000Z\n\
             exitCode:     3\n\
             retry:        attempts 1\n\
             future:       x\n\
             attempt 1:    STOPPED, exit code 3, EssentialContainerExited, log local/j1-1.log\n"
        );
    }

    fn job_text(value: &Value) -> String {
        job(value)
    }

    #[test]
    fn jobs_read_as_a_table() {
        let jobs = vec![
            json!({"jobId": "j2", "definition": "fail", "status": "FAILED", "createdAt": "t2",
                   "statusReason": "x".repeat(100)}),
            json!({"jobId": "j1", "definition": "report", "status": "SUCCEEDED", "createdAt": "t1", "statusReason": null}),
        ];
        let table = jobs_table(&jobs);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3, "{table}");
        for column in LIST_COLUMNS {
            assert!(lines[0].contains(column), "{table}");
        }
        assert!(lines[1].contains("j2") && lines[1].contains('…'), "{table}");
        assert!(lines[2].contains("SUCCEEDED"), "{table}");
    }
}
