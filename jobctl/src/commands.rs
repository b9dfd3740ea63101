//! Each command: its requests, what it prints, its exit code.

use std::collections::BTreeSet;
use std::io::{ErrorKind, Write};
use std::time::Duration;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::cli::{self, Cli, Command, Logs, Output, Submit, EXIT_OK, EXIT_TIMED_OUT};
use crate::client::{Answer, Client, ListQuery};
use crate::render;
use crate::wait::{self, Outcome};
use crate::Failure;

/// `logs --follow` asks again this long after a page with no new line.
const FOLLOW_PAUSE: Duration = Duration::from_millis(1500);

/// Runs the command; errors are printed here, as one line on stderr.
pub async fn run(cli: Cli) -> u8 {
    match execute(cli).await {
        Ok(code) => code,
        Err(failure) => {
            eprintln!("jobctl: {}", render::one_line(&failure.to_string(), 1000));
            failure.exit_code()
        }
    }
}

async fn execute(cli: Cli) -> Result<u8, Failure> {
    let output = cli.global.output;
    // Checked before any request, so that a mistake costs nothing.
    if let Command::Submit(submit) = &cli.command {
        check_parameters(submit)?;
    }
    let client = Client::new(&cli.global).await?;
    match cli.command {
        Command::Submit(submit) => {
            let answer = client
                .submit(
                    &submit.definition,
                    &submit.parameters,
                    submit.idempotency_key.as_deref(),
                )
                .await?;
            if !submit.wait {
                print_job(output, &answer)?;
                return Ok(EXIT_OK);
            }
            let id = answer.json["jobId"]
                .as_str()
                .ok_or_else(|| Failure::Service("the service's answer has no jobId".to_owned()))?
                .to_owned();
            let timeout = submit.timeout.unwrap_or(cli::DEFAULT_WAIT);
            wait_and_print(&client, output, &id, timeout, Some(answer)).await
        }
        Command::Get { id } => {
            print_job(output, &client.get_job(&id).await?)?;
            Ok(EXIT_OK)
        }
        Command::Wait { id, timeout } => wait_and_print(&client, output, &id, timeout.timeout, None).await,
        Command::Cancel { id } => {
            print_job(output, &client.cancel(&id).await?)?;
            Ok(EXIT_OK)
        }
        Command::List(list) => {
            let filters = ListQuery {
                statuses: list.statuses,
                definition: list.definition,
                created_after: list.created_after,
                created_before: list.created_before,
                limit: list.limit,
            };
            if list.all {
                list_all(&client, output, &filters).await
            } else {
                list_page(&client, output, &filters).await
            }
        }
        Command::Logs(logs) => print_logs(&client, output, &logs).await,
    }
}

/// A parameter given twice would be a JSON object with a repeated key: which one wins
/// would be the service's parser's choice. Refused instead.
fn check_parameters(submit: &Submit) -> Result<(), Failure> {
    let mut seen = BTreeSet::new();
    for (key, _) in &submit.parameters {
        if !seen.insert(key) {
            return Err(Failure::Usage(format!("parameter {key} is given twice")));
        }
    }
    Ok(())
}

async fn wait_and_print(
    client: &Client,
    output: Output,
    id: &str,
    timeout: Duration,
    first: Option<Answer>,
) -> Result<u8, Failure> {
    match wait::wait(client, id, timeout, first).await? {
        Outcome::Finished(answer) => {
            print_job(output, &answer)?;
            let status = answer.json["status"].as_str().unwrap_or_default();
            wait::exit_code(status).ok_or_else(|| Failure::Service(format!("job {id} ended {status}")))
        }
        Outcome::TimedOut(answer) => {
            // The last state seen is still worth printing: a script may want the reason.
            print_job(output, &answer)?;
            let status = answer.json["status"].as_str().unwrap_or("UNKNOWN");
            eprintln!(
                "jobctl: job {id} is still {status} after {} (--timeout)",
                humantime::format_duration(timeout)
            );
            Ok(EXIT_TIMED_OUT)
        }
    }
}

fn print_job(output: Output, answer: &Answer) -> Result<(), Failure> {
    match output {
        Output::Json => print_json(&answer.body),
        Output::Text => print(&render::job(&answer.json)),
    }
}

async fn list_page(client: &Client, output: Output, filters: &ListQuery) -> Result<u8, Failure> {
    let answer = client.list(filters, None).await?;
    match output {
        Output::Json => print_json(&answer.body)?,
        Output::Text => {
            let jobs = answer.json["jobs"].as_array().cloned().unwrap_or_default();
            print(&render::jobs_table(&jobs))?;
            if answer.json["nextToken"].is_string() {
                eprintln!("jobctl: there are more jobs: add --all to list them all");
            }
        }
    }
    Ok(EXIT_OK)
}

/// A page as sent: the jobs kept byte for byte, for `--output json`.
#[derive(Deserialize)]
struct RawPage {
    jobs: Vec<Box<RawValue>>,
    #[serde(rename = "nextToken")]
    next_token: Option<String>,
}

/// Every page, following nextToken: one table, or one JSON document
/// `{"jobs": [...every job...], "nextToken": null}`.
async fn list_all(client: &Client, output: Output, filters: &ListQuery) -> Result<u8, Failure> {
    let mut raw: Vec<Box<RawValue>> = Vec::new();
    let mut jobs: Vec<Value> = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let answer = client.list(filters, token.as_deref()).await?;
        let page: RawPage = serde_json::from_str(&answer.body)
            .map_err(|e| Failure::Service(format!("the service's list answer is not a page of jobs: {e}")))?;
        if let Some(items) = answer.json["jobs"].as_array() {
            jobs.extend(items.iter().cloned());
        }
        raw.extend(page.jobs);
        match page.next_token {
            // A service that hands back the token it was given would never end.
            Some(next) if token.as_deref() == Some(next.as_str()) => {
                return Err(Failure::Service(
                    "the service returned the same nextToken twice; stopping".to_owned(),
                ))
            }
            Some(next) => token = Some(next),
            None => break,
        }
    }
    match output {
        Output::Json => {
            let items: Vec<&str> = raw.iter().map(|job| job.get()).collect();
            print(&format!("{{\"jobs\":[{}],\"nextToken\":null}}\n", items.join(",")))?;
        }
        Output::Text => print(&render::jobs_table(&jobs))?,
    }
    Ok(EXIT_OK)
}

/// The attempt's log: every page available now (or, with --follow, until the attempt
/// has stopped and its log is read to the end, nextToken null).
///
/// Text: the lines as the job wrote them. JSON: one document
/// `{"events": [...], "nextToken": ...}` with every event read; with --follow, the
/// service's pages one per line as they come (those with events, and the last one).
async fn print_logs(client: &Client, output: Output, logs: &Logs) -> Result<u8, Failure> {
    let mut token: Option<String> = None;
    let mut collected: Vec<Value> = Vec::new();
    // Following a job (no --attempt) follows its attempts one after the other: a retry
    // adds the next attempt when the previous one has stopped.
    let mut attempt = match (logs.attempt, logs.follow) {
        (None, true) => Some(attempts_of(&client.get_job(&logs.id).await?.json).max(1)),
        (attempt, _) => attempt,
    };
    loop {
        let answer = client.logs(&logs.id, attempt, token.as_deref()).await?;
        let events = answer.json["events"].as_array().cloned().unwrap_or_default();
        let next = answer.json["nextToken"].as_str().map(str::to_owned);
        match output {
            Output::Text => {
                let text: String = events
                    .iter()
                    .map(|event| {
                        let message = event["message"].as_str().unwrap_or_default();
                        if message.ends_with('\n') {
                            message.to_owned()
                        } else {
                            format!("{message}\n")
                        }
                    })
                    .collect();
                print(&text)?;
            }
            Output::Json if logs.follow => {
                if !events.is_empty() || next.is_none() {
                    print(&format!("{}\n", answer.json))?;
                }
            }
            Output::Json => collected.extend(events.iter().cloned()),
        }
        let Some(next) = next else {
            // The end of the attempt's log: nothing to continue from, unless a retry
            // follows it.
            token = None;
            match (logs.follow && logs.attempt.is_none(), attempt) {
                (true, Some(read)) => match next_attempt(client, &logs.id, read).await? {
                    Some(following) => {
                        attempt = Some(following);
                        continue;
                    }
                    None => break,
                },
                _ => break,
            }
        };
        let empty = events.is_empty();
        token = Some(next);
        match (empty, logs.follow) {
            // Everything written so far has been read.
            (true, false) => break,
            (true, true) => tokio::time::sleep(FOLLOW_PAUSE).await,
            // More may be waiting right now.
            (false, _) => {}
        }
    }
    if output == Output::Json && !logs.follow {
        let document = serde_json::json!({ "events": collected, "nextToken": token });
        print(&format!("{document}\n"))?;
    }
    Ok(EXIT_OK)
}

fn attempts_of(job: &Value) -> u32 {
    job["attempts"]
        .as_array()
        .map_or(0, |attempts| u32::try_from(attempts.len()).unwrap_or(u32::MAX))
}

/// The attempt after `read`, once the job has it; `None` once the job has finished
/// without one.
async fn next_attempt(client: &Client, id: &str, read: u32) -> Result<Option<u32>, Failure> {
    loop {
        let job = client.get_job(id).await?.json;
        if attempts_of(&job) > read {
            return Ok(Some(read + 1));
        }
        if matches!(job["status"].as_str(), Some("SUCCEEDED" | "FAILED" | "CANCELLED")) {
            return Ok(None);
        }
        tokio::time::sleep(FOLLOW_PAUSE).await;
    }
}

fn print_json(body: &str) -> Result<(), Failure> {
    if body.ends_with('\n') {
        print(body)
    } else {
        print(&format!("{body}\n"))
    }
}

/// Writes to stdout. A reader that went away (`jobctl list | head`) is no error.
fn print(text: &str) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::Service(format!("cannot write the output: {e}"))),
    }
}
