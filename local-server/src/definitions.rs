//! The local definitions file: each job definition is a command to run as a child
//! process, with the parameters clients may set (see `local-server/definitions.toml`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use shared::domain::{
    JobDefinition, JobDefinitions, LogSettings, RetryAction, RetryPolicy, RetryRule, DEFAULT_QUEUE_TIMEOUT,
};

/// The container name local tasks report in their events.
pub const CONTAINER: &str = "app";
/// The log group of every local definition: the log directory.
pub const LOG_GROUP: &str = "local";

/// An ECS task definition family: 1 to 255 letters, digits, `-` and `_`.
fn is_family_name(name: &str) -> bool {
    (1..=255).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[derive(Debug, thiserror::Error)]
pub enum DefinitionsError {
    #[error("cannot read the definitions file {path}: {source}")]
    Unreadable { path: String, source: std::io::Error },
    #[error("the definitions file {path} is invalid: {message}")]
    Invalid { path: String, message: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    definitions: BTreeMap<String, Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    #[serde(default)]
    description: Option<String>,
    command: Vec<String>,
    #[serde(default)]
    parameters: BTreeSet<String>,
    #[serde(default)]
    environment: BTreeMap<String, String>,
    /// `maxRunning`: at most this many of its jobs have a task that is not yet stopped.
    #[serde(default)]
    max_running: Option<u32>,
    /// `queueTimeoutSeconds`: how long a job may wait for its task to start.
    #[serde(default)]
    queue_timeout_seconds: Option<u64>,
    /// `timeoutSeconds`: how long one attempt may run.
    #[serde(default)]
    timeout_seconds: Option<u64>,
    /// `retry`: absent fields take [`RetryPolicy::default`]'s values.
    #[serde(default)]
    retry: Option<Retry>,
}

/// `retry` of `JOB_DEFINITIONS`, in this file's snake_case.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Retry {
    #[serde(default)]
    attempts: Option<u32>,
    #[serde(default)]
    interval_seconds: Option<u64>,
    #[serde(default)]
    backoff_rate: Option<f64>,
    #[serde(default)]
    max_delay_seconds: Option<u64>,
    #[serde(default)]
    jitter: Option<bool>,
    #[serde(default)]
    rules: Vec<Rule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    #[serde(default)]
    on_exit_code: Option<String>,
    #[serde(default)]
    on_stop_code: Option<String>,
    #[serde(default)]
    on_reason: Option<String>,
    action: Action,
}

#[derive(Deserialize)]
#[serde(rename_all = "UPPERCASE")]
enum Action {
    Retry,
    Exit,
}

impl Retry {
    fn policy(self) -> RetryPolicy {
        let default = RetryPolicy::default();
        RetryPolicy {
            attempts: self.attempts.unwrap_or(default.attempts),
            interval: self.interval_seconds.map_or(default.interval, Duration::from_secs),
            backoff_rate: self.backoff_rate.unwrap_or(default.backoff_rate),
            max_delay: self.max_delay_seconds.map(Duration::from_secs).or(default.max_delay),
            jitter: self.jitter.unwrap_or(default.jitter),
            rules: self
                .rules
                .into_iter()
                .map(|rule| RetryRule {
                    on_exit_code: rule.on_exit_code,
                    on_stop_code: rule.on_stop_code,
                    on_reason: rule.on_reason,
                    action: match rule.action {
                        Action::Retry => RetryAction::Retry,
                        Action::Exit => RetryAction::Exit,
                    },
                })
                .collect(),
        }
    }
}

/// The fields of `JOB_DEFINITIONS` as [`JobDefinition::problem`] names them, and as this
/// file spells them (longest first where one contains another).
const FIELD_NAMES: [(&str, &str); 9] = [
    ("queueTimeoutSeconds", "queue_timeout_seconds"),
    ("maxDelaySeconds", "max_delay_seconds"),
    ("intervalSeconds", "interval_seconds"),
    ("timeoutSeconds", "timeout_seconds"),
    ("backoffRate", "backoff_rate"),
    ("maxRunning", "max_running"),
    ("onExitCode", "on_exit_code"),
    ("onStopCode", "on_stop_code"),
    ("onReason", "on_reason"),
];

/// `problem`, with the fields named as this file spells them.
fn in_this_file(problem: &str) -> String {
    FIELD_NAMES
        .iter()
        .fold(problem.to_owned(), |text, (json, toml)| text.replace(json, toml))
}

/// What a local task runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalCommand {
    pub program: String,
    pub args: Vec<String>,
    /// Fixed environment, like a task definition's `environment`.
    pub environment: BTreeMap<String, String>,
    pub description: Option<String>,
}

/// The definitions as the handlers see them, and the command behind each.
#[derive(Debug, Clone)]
pub struct LocalDefinitions {
    pub definitions: JobDefinitions,
    pub commands: HashMap<String, LocalCommand>,
}

impl LocalDefinitions {
    pub fn load(path: &Path) -> Result<Self, DefinitionsError> {
        let text = std::fs::read_to_string(path).map_err(|source| DefinitionsError::Unreadable {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text).map_err(|message| DefinitionsError::Invalid {
            path: path.display().to_string(),
            message,
        })
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
        if file.definitions.is_empty() {
            return Err("it declares no [definitions.NAME] table".to_owned());
        }
        let mut definitions = BTreeMap::new();
        let mut commands = HashMap::new();
        for (name, entry) in file.definitions {
            // The name is the task definition family, the log stream prefix, and so a
            // directory of the log directory.
            if !is_family_name(&name) {
                return Err(format!(
                    "definition {name:?} has an invalid name: 1 to 255 letters, digits, '-' and '_' (as an ECS task definition family)"
                ));
            }
            let mut command = entry.command.into_iter();
            let program = command
                .next()
                .filter(|p| !p.trim().is_empty())
                .ok_or_else(|| format!("definition {name:?} has an empty command"))?;
            // Named as this file names them (JobDefinition::problem() names the JSON fields).
            if entry.max_running == Some(0) {
                return Err(format!(
                    "definition {name:?} sets max_running = 0, which would never run a job"
                ));
            }
            if entry.queue_timeout_seconds == Some(0) {
                return Err(format!(
                    "definition {name:?} sets queue_timeout_seconds = 0, which would fail every job that waits"
                ));
            }
            let retry = entry.retry.map_or_else(RetryPolicy::default, Retry::policy);
            // problem() says only "a retry delay": name the field that sets it.
            for (field, seconds) in [
                ("interval_seconds", Some(retry.interval)),
                ("max_delay_seconds", retry.max_delay),
            ] {
                if seconds.is_some_and(|s| s > RetryPolicy::MAX_DELAY) {
                    return Err(format!(
                        "definition {name:?} sets retry.{field} = {}; it must be at most {}",
                        seconds.unwrap_or_default().as_secs(),
                        RetryPolicy::MAX_DELAY.as_secs()
                    ));
                }
            }
            if retry.max_delay.is_some_and(|d| d.is_zero()) {
                return Err(format!(
                    "definition {name:?} sets retry.max_delay_seconds = 0, which would leave no time between attempts"
                ));
            }
            let definition = JobDefinition {
                task_definition: name.clone(),
                container: CONTAINER.to_owned(),
                parameters: entry.parameters,
                max_running: entry.max_running,
                queue_timeout: entry
                    .queue_timeout_seconds
                    .map_or(DEFAULT_QUEUE_TIMEOUT, Duration::from_secs),
                timeout: entry.timeout_seconds.map(Duration::from_secs),
                retry,
                // Each task's output is the file <log dir>/<name>/<container>/<task id>,
                // named as awslogs names a stream (see crate::logs).
                logs: Some(LogSettings {
                    group: LOG_GROUP.to_owned(),
                    region: None,
                    stream_prefix: name.clone(),
                }),
            };
            if let Some(problem) = definition.problem() {
                return Err(format!("definition {name:?} {}", in_this_file(&problem)));
            }
            commands.insert(
                name.clone(),
                LocalCommand {
                    program,
                    args: command.collect(),
                    environment: entry.environment,
                    description: entry.description,
                },
            );
            definitions.insert(name, definition);
        }
        Ok(Self {
            definitions: JobDefinitions::new(definitions),
            commands,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_examples_load() {
        let shipped = LocalDefinitions::parse(include_str!("../definitions.toml")).expect("valid");
        for name in ["report", "fail", "long", "broken", "batch", "flaky", "hang"] {
            assert!(shipped.definitions.get(name).is_some(), "{name}");
            assert!(shipped.commands.contains_key(name), "{name}");
        }
        let batch = shipped.definitions.get("batch").expect("batch");
        assert_eq!(batch.max_running, Some(2));
        assert_eq!(batch.queue_timeout, Duration::from_secs(600));
        for (name, definition) in shipped.definitions.iter() {
            let expected = LogSettings {
                group: "local".to_owned(),
                region: None,
                stream_prefix: name.to_owned(),
            };
            assert_eq!(definition.logs.as_ref(), Some(&expected), "{name}");
        }
        let report = shipped.definitions.get("report").expect("report");
        assert_eq!(
            (report.max_running, report.queue_timeout),
            (None, DEFAULT_QUEUE_TIMEOUT)
        );
        assert_eq!((report.timeout, &report.retry), (None, &RetryPolicy::default()));
        let flaky = shipped.definitions.get("flaky").expect("flaky");
        assert_eq!(
            flaky.retry,
            RetryPolicy {
                attempts: 3,
                interval: Duration::from_secs(1),
                rules: vec![RetryRule {
                    on_exit_code: Some("1".to_owned()),
                    on_stop_code: None,
                    on_reason: None,
                    action: RetryAction::Retry,
                }],
                ..RetryPolicy::default()
            }
        );
        let hang = shipped.definitions.get("hang").expect("hang");
        assert_eq!(hang.timeout, Some(Duration::from_secs(3)));
    }

    #[test]
    fn the_retry_example_in_the_shipped_file_is_valid() {
        let shipped = include_str!("../definitions.toml");
        let example: String = shipped
            .lines()
            .skip_while(|line| *line != "#     [definitions.NAME.retry]")
            .map_while(|line| line.strip_prefix("#     "))
            .map(|line| format!("{}\n", line.replace("NAME", "example")))
            .collect();
        assert!(example.contains("rules = ["), "{example}");
        let text = format!("[definitions.example]\ncommand = [\"true\"]\n{example}");
        let parsed = LocalDefinitions::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let retry = &parsed.definitions.get("example").expect("example").retry;
        assert_eq!((retry.attempts, retry.rules.len()), (3, 3));
    }

    #[test]
    fn the_lifecycle_policy_is_read_in_either_table_form() {
        let table = LocalDefinitions::parse(
            r#"
            [definitions.a]
            command = ["true"]
            timeout_seconds = 1200

            [definitions.a.retry]
            attempts = 4
            interval_seconds = 10
            backoff_rate = 2          # an integer is a rate too
            max_delay_seconds = 300
            jitter = true
            rules = [
              { on_exit_code = "137", action = "RETRY" },
              { on_stop_code = "SpotInterruption", action = "RETRY" },
              { on_reason = "CannotPullContainerError*", action = "EXIT" },
            ]
            "#,
        )
        .expect("valid");
        let a = table.definitions.get("a").expect("a");
        let rule = |exit: Option<&str>, stop: Option<&str>, reason: Option<&str>, action| RetryRule {
            on_exit_code: exit.map(str::to_owned),
            on_stop_code: stop.map(str::to_owned),
            on_reason: reason.map(str::to_owned),
            action,
        };
        assert_eq!(a.timeout, Some(Duration::from_secs(1200)));
        assert_eq!(
            a.retry,
            RetryPolicy {
                attempts: 4,
                interval: Duration::from_secs(10),
                backoff_rate: 2.0,
                max_delay: Some(Duration::from_secs(300)),
                jitter: true,
                rules: vec![
                    rule(Some("137"), None, None, RetryAction::Retry),
                    rule(None, Some("SpotInterruption"), None, RetryAction::Retry),
                    rule(None, None, Some("CannotPullContainerError*"), RetryAction::Exit),
                ],
            }
        );

        // Inline, and partial: what is not said is the default's.
        let inline = LocalDefinitions::parse(
            "[definitions.b]\ncommand = [\"true\"]\n\
             retry = { backoff_rate = 1.5, rules = [{ on_reason = \"timed out*\", action = \"EXIT\" }] }",
        )
        .expect("valid");
        let b = inline.definitions.get("b").expect("b");
        assert_eq!(b.timeout, None);
        assert_eq!(
            b.retry,
            RetryPolicy {
                backoff_rate: 1.5,
                rules: vec![rule(None, None, Some("timed out*"), RetryAction::Exit)],
                ..RetryPolicy::default()
            }
        );
    }

    #[test]
    fn an_invalid_lifecycle_policy_is_refused_naming_the_field_as_this_file_spells_it() {
        for (policy, expected) in [
            ("timeout_seconds = 0", "sets timeout_seconds 0"),
            ("timeout_seconds = -3", "invalid value"),
            ("timeout = 3", "unknown field `timeout`"),
            ("retry = { attempts = 0 }", "sets retry.attempts 0; it must be 1 to 10"),
            ("retry = { attempts = 11 }", "sets retry.attempts 11"),
            (
                "retry = { backoff_rate = 0.5 }",
                "sets retry.backoff_rate 0.5; it must be 1 to 10",
            ),
            ("retry = { backoff_rate = nan }", "retry.backoff_rate NaN"),
            (
                "retry = { interval_seconds = 86401 }",
                "sets retry.interval_seconds = 86401",
            ),
            ("retry = { max_delay_seconds = 0 }", "sets retry.max_delay_seconds = 0"),
            (
                "retry = { max_delay_seconds = 90000 }",
                "sets retry.max_delay_seconds = 90000",
            ),
            ("retry = { jitter = \"yes\" }", "invalid type: string"),
            ("retry = { atempts = 3 }", "unknown field `atempts`"),
            ("retry = { intervalSeconds = 3 }", "unknown field `intervalSeconds`"),
            (
                "retry = { rules = [{ action = \"RETRY\" }] }",
                "sets retry rule 1 without on_exit_code, on_stop_code or on_reason: it would match nothing",
            ),
            (
                "retry = { rules = [{ on_exit_code = \"1\", action = \"RETRY\" }, { action = \"EXIT\" }] }",
                "sets retry rule 2 without on_exit_code",
            ),
            (
                "retry = { rules = [{ on_exit_code = \"\", action = \"RETRY\" }] }",
                "sets retry rule 1 without on_exit_code",
            ),
            (
                "retry = { rules = [{ on_exit_code = \"1\", action = \"retry\" }] }",
                "unknown variant `retry`, expected `RETRY` or `EXIT`",
            ),
            (
                "retry = { rules = [{ on_exit_code = \"1\" }] }",
                "missing field `action`",
            ),
            (
                "retry = { rules = [{ on_exit_code = 1, action = \"RETRY\" }] }",
                "invalid type: integer `1`, expected a string",
            ),
            (
                "retry = { rules = [{ on_exit = \"1\", action = \"RETRY\" }] }",
                "unknown field `on_exit`",
            ),
        ] {
            refused(policy, expected);
        }
        let eleven = ["{ on_exit_code = \"1\", action = \"RETRY\" }"; 11].join(", ");
        refused(
            &format!("retry = {{ rules = [{eleven}] }}"),
            "sets 11 retry rules; at most 10",
        );
    }

    /// Definition `a` with `policy` on its third line is refused, saying `expected`, and
    /// naming fields as this file does.
    fn refused(policy: &str, expected: &str) {
        let text = format!("[definitions.a]\ncommand = [\"true\"]\n{policy}");
        let err = LocalDefinitions::parse(&text).expect_err(&text);
        assert!(err.contains(expected), "{policy:?}: {err}");
        assert!(
            !err.contains("Seconds\"") && !err.contains("onExit") && !err.contains("backoffRate"),
            "{policy:?}: {err}"
        );
        // TOML's own errors point at the line; the others name the definition.
        assert!(
            err.starts_with("TOML parse error at line 3") || err.starts_with("definition \"a\" "),
            "{policy:?}: {err}"
        );
    }

    #[test]
    fn invalid_files_are_refused_with_the_reason() {
        for (text, expected) in [
            ("", "missing field `definitions`"),
            ("[definitions]", "no [definitions.NAME]"),
            ("[definitions.a]\ncommand = []", "empty command"),
            (
                "[definitions.a]\ncommand = [\"true\"]\nparameters = [\"JOB_ID\"]",
                "sets itself",
            ),
            (
                "[definitions.a]\ncommand = [\"true\"]\nparameters = [\"1X\"]",
                "not a valid environment variable",
            ),
            (
                "[definitions.a]\ncommand = [\"true\"]\nimage = \"x\"",
                "unknown field `image`",
            ),
            (
                "[definitions.a]\ncommand = [\"true\"]\nmax_running = 0",
                "max_running = 0",
            ),
            (
                "[definitions.a]\ncommand = [\"true\"]\nmax_running = -1",
                "invalid value",
            ),
            (
                "[definitions.a]\ncommand = [\"true\"]\nqueue_timeout_seconds = 0",
                "queue_timeout_seconds = 0",
            ),
            ("[definitions.\"../a\"]\ncommand = [\"true\"]", "invalid name"),
            ("[definitions.\"a/b\"]\ncommand = [\"true\"]", "invalid name"),
            ("[definitions.\"\"]\ncommand = [\"true\"]", "invalid name"),
        ] {
            let err = LocalDefinitions::parse(text).expect_err(text);
            assert!(err.contains(expected), "{text:?}: {err}");
        }
    }
}
