//! The local definitions file: each job definition is a command to run as a child
//! process, with the parameters clients may set (see `local-server/definitions.toml`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use shared::domain::{JobDefinition, JobDefinitions, DEFAULT_QUEUE_TIMEOUT};

/// The container name local tasks report in their events.
pub const CONTAINER: &str = "app";

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
            let definition = JobDefinition {
                task_definition: name.clone(),
                container: CONTAINER.to_owned(),
                parameters: entry.parameters,
                max_running: entry.max_running,
                queue_timeout: entry
                    .queue_timeout_seconds
                    .map_or(DEFAULT_QUEUE_TIMEOUT, Duration::from_secs),
            };
            if let Some(problem) = definition.problem() {
                return Err(format!("definition {name:?} {problem}"));
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
        for name in ["report", "fail", "long", "broken", "batch"] {
            assert!(shipped.definitions.get(name).is_some(), "{name}");
            assert!(shipped.commands.contains_key(name), "{name}");
        }
        let batch = shipped.definitions.get("batch").expect("batch");
        assert_eq!(batch.max_running, Some(2));
        assert_eq!(batch.queue_timeout, Duration::from_secs(600));
        let report = shipped.definitions.get("report").expect("report");
        assert_eq!(
            (report.max_running, report.queue_timeout),
            (None, DEFAULT_QUEUE_TIMEOUT)
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
        ] {
            let err = LocalDefinitions::parse(text).expect_err(text);
            assert!(err.contains(expected), "{text:?}: {err}");
        }
    }
}
