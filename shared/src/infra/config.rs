//! Typed configuration, read once at cold start from the environment (the variables are
//! listed in the README's Configuration section).
//!
//! Every function loads only what it uses, and a missing or malformed variable is one
//! [`ConfigError`] naming it, so a misconfigured deployment fails at init with one clear
//! line instead of on the first request.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use std::time::Duration;

use crate::domain::{JobDefinition, JobDefinitions, LogSettings, RetryAction, RetryPolicy, RetryRule};

/// A variable is missing or cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("configuration variable {variable}: {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

impl ConfigError {
    pub(crate) fn new(variable: &'static str, problem: impl Into<String>) -> Self {
        Self {
            variable,
            problem: problem.into(),
        }
    }
}

/// Stops a function that cannot start, with one line naming the problem: Lambda reports
/// the exit as an init error and the log shows the line.
pub fn exit_at_init(function: &str, err: impl std::fmt::Display) -> ! {
    eprintln!("{function}: cannot start: {err}");
    std::process::exit(1)
}

/// `result.or_exit_at_init("create-job")`: the value, or [`exit_at_init`] with the error.
pub trait OrExitAtInit<T> {
    fn or_exit_at_init(self, function: &str) -> T;
}

impl<T, E: std::fmt::Display> OrExitAtInit<T> for Result<T, E> {
    fn or_exit_at_init(self, function: &str) -> T {
        self.unwrap_or_else(|err| exit_at_init(function, err))
    }
}

/// Where configuration comes from: the process environment in production, a map in tests.
pub trait Environment {
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnvironment;

impl Environment for ProcessEnvironment {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl<S: std::hash::BuildHasher> Environment for std::collections::HashMap<String, String, S> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// The service's configuration variables; each function reads some of them.
pub const JOBS_TABLE: &str = "JOBS_TABLE";
pub const ECS_CLUSTER: &str = "ECS_CLUSTER";
pub const ECS_SUBNETS: &str = "ECS_SUBNETS";
pub const ECS_SECURITY_GROUPS: &str = "ECS_SECURITY_GROUPS";
pub const ECS_ASSIGN_PUBLIC_IP: &str = "ECS_ASSIGN_PUBLIC_IP";
pub const JOB_DEFINITIONS: &str = "JOB_DEFINITIONS";
pub const LAUNCH_QUEUE_URL: &str = "LAUNCH_QUEUE_URL";
pub const MAX_RUNNING: &str = "MAX_RUNNING";

fn required(env: &impl Environment, variable: &'static str) -> Result<String, ConfigError> {
    match env.var(variable) {
        Some(value) if !value.trim().is_empty() => Ok(value.trim().to_owned()),
        Some(_) => Err(ConfigError::new(variable, "is empty")),
        None => Err(ConfigError::new(variable, "is not set")),
    }
}

fn id_list(env: &impl Environment, variable: &'static str) -> Result<Vec<String>, ConfigError> {
    let ids: Vec<String> = required(env, variable)?
        .split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .collect();
    if ids.is_empty() {
        return Err(ConfigError::new(variable, "lists no ids"));
    }
    Ok(ids)
}

/// `JOBS_TABLE`: every function needs it.
pub fn jobs_table(env: &impl Environment) -> Result<String, ConfigError> {
    required(env, JOBS_TABLE)
}

/// How create-job runs tasks: the cluster and the awsvpc network of every job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcsConfig {
    pub cluster: String,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub assign_public_ip: bool,
}

impl EcsConfig {
    /// Every variable [`Self::from_env`] reads.
    pub const VARIABLES: [&'static str; 4] = [ECS_CLUSTER, ECS_SUBNETS, ECS_SECURITY_GROUPS, ECS_ASSIGN_PUBLIC_IP];

    pub fn from_env(env: &impl Environment) -> Result<Self, ConfigError> {
        let assign_public_ip = match env.var(ECS_ASSIGN_PUBLIC_IP).as_deref().map(str::trim) {
            None | Some("") | Some("DISABLED") => false,
            Some("ENABLED") => true,
            Some(other) => {
                return Err(ConfigError::new(
                    ECS_ASSIGN_PUBLIC_IP,
                    format!("must be ENABLED or DISABLED, not {other:?}"),
                ))
            }
        };
        Ok(Self {
            cluster: required(env, ECS_CLUSTER)?,
            subnets: id_list(env, ECS_SUBNETS)?,
            security_groups: id_list(env, ECS_SECURITY_GROUPS)?,
            assign_public_ip,
        })
    }
}

/// `LAUNCH_QUEUE_URL`: the SQS queue of deferred launches and freed slots.
pub fn launch_queue_url(env: &impl Environment) -> Result<String, ConfigError> {
    required(env, LAUNCH_QUEUE_URL)
}

/// `MAX_RUNNING`: the service-wide limit on jobs whose task may run; unset or empty for
/// none.
pub fn max_running(env: &impl Environment) -> Result<Option<u32>, ConfigError> {
    match env.var(MAX_RUNNING).as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(value) => match value.parse::<u32>() {
            Ok(0) | Err(_) => Err(ConfigError::new(
                MAX_RUNNING,
                format!("must be a positive whole number (or empty for no limit), not {value:?}"),
            )),
            Ok(limit) => Ok(Some(limit)),
        },
    }
}

/// Everything the functions that launch tasks read (create-job and job-reconciler).
#[derive(Debug, Clone)]
pub struct LaunchConfig {
    pub table: String,
    pub ecs: EcsConfig,
    pub definitions: JobDefinitions,
    pub launch_queue_url: String,
    pub max_running: Option<u32>,
}

impl LaunchConfig {
    /// Every variable [`Self::from_env`] reads.
    pub const VARIABLES: [&'static str; 8] = [
        JOBS_TABLE,
        ECS_CLUSTER,
        ECS_SUBNETS,
        ECS_SECURITY_GROUPS,
        ECS_ASSIGN_PUBLIC_IP,
        JOB_DEFINITIONS,
        LAUNCH_QUEUE_URL,
        MAX_RUNNING,
    ];

    pub fn from_env(env: &impl Environment) -> Result<Self, ConfigError> {
        Ok(Self {
            table: jobs_table(env)?,
            ecs: EcsConfig::from_env(env)?,
            definitions: job_definitions(env)?,
            launch_queue_url: launch_queue_url(env)?,
            max_running: max_running(env)?,
        })
    }
}

/// Everything job-events reads.
#[derive(Debug, Clone)]
pub struct JobEventsConfig {
    pub table: String,
    pub launch_queue_url: String,
}

impl JobEventsConfig {
    pub const VARIABLES: [&'static str; 2] = [JOBS_TABLE, LAUNCH_QUEUE_URL];

    pub fn from_env(env: &impl Environment) -> Result<Self, ConfigError> {
        Ok(Self {
            table: jobs_table(env)?,
            launch_queue_url: launch_queue_url(env)?,
        })
    }
}

/// Everything job-api reads: the table, the cluster whose tasks a cancel stops, and the
/// launch queue a cancel that frees a slot announces it on.
#[derive(Debug, Clone)]
pub struct JobApiConfig {
    pub table: String,
    pub cluster: String,
    pub launch_queue_url: String,
}

impl JobApiConfig {
    pub const VARIABLES: [&'static str; 3] = [JOBS_TABLE, ECS_CLUSTER, LAUNCH_QUEUE_URL];

    pub fn from_env(env: &impl Environment) -> Result<Self, ConfigError> {
        Ok(Self {
            table: jobs_table(env)?,
            cluster: required(env, ECS_CLUSTER)?,
            launch_queue_url: launch_queue_url(env)?,
        })
    }
}

/// One entry of `JOB_DEFINITIONS` as written in the environment.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DefinitionEntry {
    task_definition: String,
    container: String,
    #[serde(default)]
    parameters: BTreeSet<String>,
    #[serde(default)]
    max_running: Option<u32>,
    #[serde(default)]
    queue_timeout_seconds: Option<u64>,
    #[serde(default)]
    timeout_seconds: Option<u64>,
    #[serde(default)]
    retry: Option<RetryDocument>,
    #[serde(default)]
    logs: Option<LogsDocument>,
}

/// `JOB_DEFINITIONS`' `logs`: the task definition's `awslogs` options, which Terraform
/// writes from the same values it gives the task definition.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LogsDocument {
    group: String,
    #[serde(default)]
    region: Option<String>,
    stream_prefix: String,
}

/// `JOB_DEFINITIONS`' `retry`: absent fields take the default's values; unknown ones are
/// refused, so that a misspelt field is an error at cold start, not a silent default.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RetryDocument {
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
    rules: Vec<RetryRuleDocument>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RetryRuleDocument {
    #[serde(default)]
    on_exit_code: Option<String>,
    #[serde(default)]
    on_stop_code: Option<String>,
    #[serde(default)]
    on_reason: Option<String>,
    action: String,
}

impl RetryDocument {
    /// The policy, or why it is not one (an action other than `RETRY` or `EXIT`).
    fn policy(self) -> Result<RetryPolicy, String> {
        let default = RetryPolicy::default();
        let rules = self
            .rules
            .into_iter()
            .enumerate()
            .map(|(index, rule)| {
                let action = RetryAction::parse(&rule.action).ok_or_else(|| {
                    format!(
                        "retry rule {} has action {:?}; it must be RETRY or EXIT",
                        index + 1,
                        rule.action
                    )
                })?;
                Ok(RetryRule {
                    on_exit_code: rule.on_exit_code,
                    on_stop_code: rule.on_stop_code,
                    on_reason: rule.on_reason,
                    action,
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(RetryPolicy {
            attempts: self.attempts.unwrap_or(default.attempts),
            interval: self.interval_seconds.map_or(default.interval, Duration::from_secs),
            backoff_rate: self.backoff_rate.unwrap_or(default.backoff_rate),
            max_delay: self.max_delay_seconds.map(Duration::from_secs).or(default.max_delay),
            jitter: self.jitter.unwrap_or(default.jitter),
            rules,
        })
    }
}

/// `JOB_DEFINITIONS`: the job definitions clients may run, and the parameters each declares.
pub fn job_definitions(env: &impl Environment) -> Result<JobDefinitions, ConfigError> {
    const VARIABLE: &str = JOB_DEFINITIONS;
    let raw = required(env, VARIABLE)?;
    let entries: BTreeMap<String, DefinitionEntry> = serde_json::from_str(&raw)
        .map_err(|e| ConfigError::new(VARIABLE, format!("is not valid JSON of the documented shape: {e}")))?;
    if entries.is_empty() {
        return Err(ConfigError::new(VARIABLE, "declares no job definition"));
    }
    let mut definitions = BTreeMap::new();
    for (name, entry) in entries {
        let retry = entry
            .retry
            .map_or_else(|| Ok(RetryPolicy::default()), RetryDocument::policy)
            .map_err(|problem| ConfigError::new(VARIABLE, format!("definition {name:?} {problem}")))?;
        let definition = JobDefinition {
            task_definition: entry.task_definition,
            container: entry.container,
            parameters: entry.parameters,
            max_running: entry.max_running,
            queue_timeout: entry
                .queue_timeout_seconds
                .map_or(crate::domain::DEFAULT_QUEUE_TIMEOUT, Duration::from_secs),
            timeout: entry.timeout_seconds.map(Duration::from_secs),
            retry,
            logs: entry.logs.map(|logs| LogSettings {
                group: logs.group,
                region: logs.region,
                stream_prefix: logs.stream_prefix,
            }),
        };
        if let Some(problem) = definition.problem() {
            return Err(ConfigError::new(VARIABLE, format!("definition {name:?} {problem}")));
        }
        definitions.insert(name, definition);
    }
    Ok(JobDefinitions::new(definitions))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    const DEFINITIONS: &str =
        r#"{"report": {"taskDefinition": "report", "container": "app", "parameters": ["REPORT_DATE"]}}"#;

    /// An environment that records every variable asked for.
    #[derive(Default)]
    struct Recording(std::cell::RefCell<BTreeSet<String>>, HashMap<String, String>);

    impl Environment for Recording {
        fn var(&self, name: &str) -> Option<String> {
            self.0.borrow_mut().insert(name.to_owned());
            self.1.get(name).cloned()
        }
    }

    #[test]
    fn the_declared_variables_are_exactly_those_read() {
        let recording = Recording(
            Default::default(),
            env(&[
                (JOBS_TABLE, "jobs"),
                (ECS_CLUSTER, "jobs"),
                (ECS_SUBNETS, "subnet-a"),
                (ECS_SECURITY_GROUPS, "sg-1"),
                (JOB_DEFINITIONS, DEFINITIONS),
                (LAUNCH_QUEUE_URL, "http://127.0.0.1:5000/000000000000/launches"),
            ]),
        );
        LaunchConfig::from_env(&recording).unwrap();
        let declared: BTreeSet<String> = LaunchConfig::VARIABLES.iter().map(|v| (*v).to_owned()).collect();
        assert_eq!(*recording.0.borrow(), declared);
    }

    #[test]
    fn ecs_config_reads_lists_and_defaults_public_ip_to_disabled() {
        let config = EcsConfig::from_env(&env(&[
            ("ECS_CLUSTER", "jobs"),
            ("ECS_SUBNETS", "subnet-a, subnet-b"),
            ("ECS_SECURITY_GROUPS", "sg-1"),
        ]))
        .unwrap();
        assert_eq!(config.subnets, ["subnet-a", "subnet-b"]);
        assert_eq!(config.security_groups, ["sg-1"]);
        assert!(!config.assign_public_ip);
    }

    #[test]
    fn a_missing_or_malformed_variable_is_named() {
        let missing = EcsConfig::from_env(&env(&[("ECS_CLUSTER", "jobs"), ("ECS_SECURITY_GROUPS", "sg")]));
        assert_eq!(missing.unwrap_err().variable, "ECS_SUBNETS");

        let bad_ip = EcsConfig::from_env(&env(&[
            ("ECS_CLUSTER", "jobs"),
            ("ECS_SUBNETS", "s"),
            ("ECS_SECURITY_GROUPS", "sg"),
            ("ECS_ASSIGN_PUBLIC_IP", "yes"),
        ]));
        let err = bad_ip.unwrap_err();
        assert_eq!(err.variable, "ECS_ASSIGN_PUBLIC_IP");
        assert!(err.to_string().contains("ENABLED or DISABLED"), "{err}");

        assert_eq!(
            jobs_table(&env(&[("JOBS_TABLE", " ")])).unwrap_err().variable,
            "JOBS_TABLE"
        );
    }

    #[test]
    fn job_definitions_parse_the_documented_shape() {
        let definitions = job_definitions(&env(&[("JOB_DEFINITIONS", DEFINITIONS)])).unwrap();
        let report = definitions.get("report").unwrap();
        assert_eq!(report.task_definition, "report");
        assert_eq!(report.container, "app");
        assert!(report.parameters.contains("REPORT_DATE"));
        assert_eq!(report.max_running, None);
        assert_eq!(report.queue_timeout, crate::domain::DEFAULT_QUEUE_TIMEOUT);

        let limited =
            r#"{"r": {"taskDefinition": "r", "container": "app", "maxRunning": 2, "queueTimeoutSeconds": 60}}"#;
        let definitions = job_definitions(&env(&[("JOB_DEFINITIONS", limited)])).unwrap();
        let r = definitions.get("r").unwrap();
        assert_eq!(r.max_running, Some(2));
        assert_eq!(r.queue_timeout, std::time::Duration::from_secs(60));
    }

    #[test]
    fn the_service_wide_limit_is_optional_and_positive() {
        assert_eq!(max_running(&env(&[])).unwrap(), None);
        assert_eq!(max_running(&env(&[(MAX_RUNNING, "")])).unwrap(), None);
        assert_eq!(max_running(&env(&[(MAX_RUNNING, " 40 ")])).unwrap(), Some(40));
        for bad in ["0", "-1", "ten", "1.5"] {
            assert_eq!(
                max_running(&env(&[(MAX_RUNNING, bad)])).unwrap_err().variable,
                MAX_RUNNING
            );
        }
    }

    #[test]
    fn job_definitions_reject_bad_json_names_and_reserved_parameters() {
        for bad in [
            "not json",
            "{}",
            r#"{"r": {"taskDefinition": "r"}}"#,
            r#"{"r": {"taskDefinition": "r", "container": "app", "parameters": ["1BAD"]}}"#,
            r#"{"r": {"taskDefinition": "r", "container": "app", "parameters": ["JOB_ID"]}}"#,
            r#"{"r": {"taskDefinition": "", "container": "app"}}"#,
            r#"{"r": {"taskDefinition": "r", "container": "app", "maxRunning": 0}}"#,
            r#"{"r": {"taskDefinition": "r", "container": "app", "maxRunning": -1}}"#,
            r#"{"r": {"taskDefinition": "r", "container": "app", "queueTimeoutSeconds": 0}}"#,
        ] {
            let err = job_definitions(&env(&[("JOB_DEFINITIONS", bad)])).unwrap_err();
            assert_eq!(err.variable, "JOB_DEFINITIONS", "{bad}");
        }
    }
}
