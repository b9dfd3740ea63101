//! The command line: what a person types, checked before anything is sent.
//!
//! Everything a flag can get wrong is refused here, with clap's message and exit code 64
//! ([`EXIT_USAGE`]), so that the service only sees well-formed requests and a script can
//! tell "I called jobctl wrong" apart from "the job failed".

use std::time::{Duration, SystemTime};

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Exit codes (spec: jobctl exit codes). `wait` maps the job's terminal status to 0, 1, 2.
pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_CANCELLED: u8 = 2;
pub const EXIT_TIMED_OUT: u8 = 3;
pub const EXIT_SERVICE: u8 = 4;
/// sysexits' EX_USAGE. clap's own default (2) would read as "the job was cancelled".
pub const EXIT_USAGE: u8 = 64;

/// How long `wait` and `submit --wait` wait by default (as clap's default value, and
/// as a duration).
pub const DEFAULT_WAIT_TEXT: &str = "30m";
pub const DEFAULT_WAIT: Duration = Duration::from_secs(30 * 60);

/// Submit, watch, list and cancel jobs of the job tracker, and read their logs.
///
/// Exit codes: 0 ok; wait: 0 SUCCEEDED, 1 FAILED, 2 CANCELLED, 3 its own --timeout;
/// 4 the service answered with a problem or could not be reached; 64 usage error.
#[derive(Debug, Parser)]
#[command(name = "jobctl", version)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options of every command (before or after the command's name).
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    /// The service's base URL, e.g. https://abc123.execute-api.eu-west-1.amazonaws.com
    /// or http://127.0.0.1:8080 (the local server).
    #[arg(
        long,
        env = "JOBCTL_ENDPOINT",
        global = true,
        value_name = "URL",
        hide_env_values = true
    )]
    pub endpoint: Option<String>,
    /// A JWT, sent as `Authorization: Bearer` (for a JWT authorizer); no SigV4 then.
    #[arg(
        long,
        env = "JOBCTL_TOKEN",
        global = true,
        value_name = "JWT",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// Sign requests with SigV4 (service execute-api) even when the endpoint's host does
    /// not end with .amazonaws.com (a custom domain name).
    #[arg(long, global = true, conflicts_with = "token")]
    pub sigv4: bool,
    /// The region to sign for (default: the execute-api host's, else the AWS
    /// configuration's: AWS_REGION, the profile).
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,
    /// text: tables and `key: value` lines; json: the service's JSON answers.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Text, global = true)]
    pub output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Submit a job (POST /jobs).
    Submit(Submit),
    /// Show a job (GET /jobs/{id}).
    Get {
        /// The job's id.
        id: String,
    },
    /// List your jobs, newest first (GET /jobs).
    List(List),
    /// Wait until a job is finished: exit 0 SUCCEEDED, 1 FAILED, 2 CANCELLED, 3 timed out.
    Wait {
        /// The job's id.
        id: String,
        #[command(flatten)]
        timeout: WaitTimeout,
    },
    /// Cancel a job (DELETE /jobs/{id}).
    Cancel {
        /// The job's id.
        id: String,
    },
    /// Print a job attempt's log lines (GET /jobs/{id}/logs).
    Logs(Logs),
}

#[derive(Debug, Args)]
pub struct Submit {
    /// The job definition's name, e.g. report.
    pub definition: String,
    /// A parameter of the job (an environment variable of its container); repeatable.
    #[arg(short = 'p', long = "parameter", value_name = "KEY=VALUE", value_parser = parse_parameter)]
    pub parameters: Vec<(String, String)>,
    /// Sent as Idempotency-Key: submitting again with the same key and the same
    /// definition and parameters returns the same job instead of starting another.
    #[arg(long, value_name = "KEY")]
    pub idempotency_key: Option<String>,
    /// Then wait until the job is finished, and exit as `jobctl wait` does.
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up after this long (90s, 30m, 1h; 0: never) and exit 3
    /// [default: 30m].
    #[arg(long, value_name = "DURATION", requires = "wait", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
}

#[derive(Debug, Args)]
pub struct WaitTimeout {
    /// Give up after this long (90s, 30m, 1h; 0: never) and exit 3.
    #[arg(long, value_name = "DURATION", default_value = DEFAULT_WAIT_TEXT, value_parser = parse_duration)]
    pub timeout: Duration,
}

#[derive(Debug, Args)]
pub struct List {
    /// Only jobs in this status; repeatable (any of them).
    #[arg(long = "status", value_name = "STATUS", value_enum, ignore_case = true)]
    pub statuses: Vec<Status>,
    /// Only jobs of this job definition.
    #[arg(long, value_name = "NAME")]
    pub definition: Option<String>,
    /// Only jobs created at or after this instant: RFC 3339 (2026-11-27T12:00:00Z) or a
    /// duration ago (2h).
    #[arg(long, value_name = "TIME", value_parser = parse_instant)]
    pub created_after: Option<String>,
    /// Only jobs created before this instant: RFC 3339 or a duration ago.
    #[arg(long, value_name = "TIME", value_parser = parse_instant)]
    pub created_before: Option<String>,
    /// Jobs per page, 1 to 100 (the service's default: 20).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=100))]
    pub limit: Option<u8>,
    /// Follow nextToken through every page, and show all the jobs.
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct Logs {
    /// The job's id.
    pub id: String,
    /// The attempt (1, 2, ...); default: the job's latest.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub attempt: Option<u32>,
    /// Keep printing new lines until the attempt has stopped and its log is read to the end.
    #[arg(long, short = 'f')]
    pub follow: bool,
}

/// A job status, as the service spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Submitted,
    Starting,
    Running,
    Stopping,
    Succeeded,
    Failed,
    Cancelled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Submitted => "SUBMITTED",
            Status::Starting => "STARTING",
            Status::Running => "RUNNING",
            Status::Stopping => "STOPPING",
            Status::Succeeded => "SUCCEEDED",
            Status::Failed => "FAILED",
            Status::Cancelled => "CANCELLED",
        }
    }
}

/// Parses the command line; on a usage error (or --help, --version) prints clap's
/// message and gives back the exit code to end with.
pub fn parse() -> Result<Cli, u8> {
    Cli::try_parse().map_err(|error| {
        // Nothing sensible to do if the terminal is gone.
        let _ = error.print();
        exit_code(&error)
    })
}

/// Help and version go to stdout and are no error; everything else is a usage error.
pub fn exit_code(error: &clap::Error) -> u8 {
    if error.use_stderr() {
        EXIT_USAGE
    } else {
        EXIT_OK
    }
}

fn parse_parameter(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}

/// `90s`, `30m`, `1h 30m` (humantime); a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    humantime::parse_duration(text).map_err(|e| format!("{text:?} is not a duration like 90s, 30m or 1h: {e}"))
}

/// An RFC 3339 instant is passed on as written (the service checks it, to the
/// millisecond); a duration means that long before now.
fn parse_instant(text: &str) -> Result<String, String> {
    let text = text.trim();
    // Anything that starts like a date is the service's to judge (it reads offsets,
    // which humantime does not).
    let bytes = text.as_bytes();
    if bytes.len() >= 10 && bytes[..4].iter().all(u8::is_ascii_digit) && bytes[4] == b'-' {
        return Ok(text.to_owned());
    }
    let ago = humantime::parse_duration(text)
        .map_err(|_| format!("{text:?} is neither an RFC 3339 instant (2026-11-27T12:00:00Z) nor a duration (2h)"))?;
    let instant = SystemTime::now()
        .checked_sub(ago)
        .ok_or_else(|| format!("{text} ago is before 1970"))?;
    Ok(humantime::format_rfc3339_millis(instant).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_from(args: &[&str]) -> Result<Cli, u8> {
        Cli::try_parse_from(args).map_err(|e| exit_code(&e))
    }

    #[test]
    fn usage_errors_exit_64_and_help_exits_0() {
        assert_eq!(parse_from(&["jobctl", "list", "--limit", "0"]).err(), Some(EXIT_USAGE));
        assert_eq!(parse_from(&["jobctl", "frobnicate"]).err(), Some(EXIT_USAGE));
        assert_eq!(parse_from(&["jobctl"]).err(), Some(EXIT_USAGE));
        assert_eq!(
            parse_from(&["jobctl", "submit", "report", "--timeout", "1m"]).err(),
            Some(EXIT_USAGE)
        );
        assert_eq!(parse_from(&["jobctl", "--help"]).err(), Some(EXIT_OK));
    }

    #[test]
    fn parameters_split_at_the_first_equals_sign() {
        let cli = parse_from(&["jobctl", "submit", "report", "-p", "A=b=c", "-p", "EMPTY="]).ok();
        let Some(Cli {
            command: Command::Submit(submit),
            ..
        }) = cli
        else {
            panic!("submit parses");
        };
        assert_eq!(
            submit.parameters,
            vec![("A".into(), "b=c".into()), ("EMPTY".into(), String::new())]
        );
        assert_eq!(parse_parameter("=x"), Err("\"=x\" is not KEY=VALUE".into()));
    }

    #[test]
    fn the_default_wait_is_the_same_as_text_and_duration() {
        assert_eq!(parse_duration(DEFAULT_WAIT_TEXT), Ok(DEFAULT_WAIT));
    }

    #[test]
    fn durations_accept_units_and_bare_seconds() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("5"), Ok(Duration::from_secs(5)));
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn statuses_are_case_insensitive_and_global_flags_go_anywhere() {
        let Ok(cli) = parse_from(&[
            "jobctl", "list", "--status", "running", "--status", "FAILED", "-o", "json",
        ]) else {
            panic!("list parses");
        };
        assert_eq!(cli.global.output, Output::Json);
        let Command::List(list) = cli.command else {
            panic!("list")
        };
        assert_eq!(list.statuses, vec![Status::Running, Status::Failed]);
    }

    #[test]
    fn instants_pass_through_and_durations_become_instants() {
        assert_eq!(
            parse_instant("2026-11-27T12:00:00Z").as_deref(),
            Ok("2026-11-27T12:00:00Z")
        );
        let Ok(ago) = parse_instant("2h") else {
            panic!("2h parses")
        };
        assert!(humantime::parse_rfc3339(&ago).is_ok(), "{ago}");
        assert!(parse_instant("yesterday").is_err());
    }
}
