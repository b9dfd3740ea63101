//! The ECS adapter of [`TaskLauncher`]: one Fargate task per attempt, through RunTask.
//!
//! RunTask has three kinds of answer and each needs its own handling: a task; HTTP 200
//! with `failures[]` and no task (capacity, missing resources), after which no event
//! will ever arrive; and an error that is either definite (bad request: no task) or not
//! (5xx, timeout: a task may exist). Only the last is a [`LaunchError`]; a throttled
//! call is its own answer, because ECS did not run it.
//!
//! The same adapter is the reconciler's [`TaskInspector`]: DescribeTasks answers are
//! converted here into the [`TaskObservation`]s the rules take, exactly as events are.

use aws_sdk_ecs::config::retry::RetryConfig;
use aws_sdk_ecs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_ecs::operation::run_task::{RunTaskError, RunTaskOutput};
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, ContainerOverride, DesiredStatus, KeyValuePair, LaunchType,
    NetworkConfiguration, PropagateTags, Tag, Task, TaskOverride,
};
use aws_sdk_ecs::Client;
use chrono::{DateTime, Utc};

use crate::domain::{ContainerObservation, EcsTaskStatus, StartedBy, TaskObservation};
use crate::infra::config::{ConfigError, EcsConfig};
use crate::ports::{
    Cause, InspectError, LaunchError, LaunchRefusal, Launched, StopError, TaskInspector, TaskLauncher, TaskLookup,
    TaskRequest, TaskStopper,
};

/// The operations this adapter calls, as IAM actions.
pub const RUN_TASK: &str = "ecs:RunTask";
pub const DESCRIBE_TASKS: &str = "ecs:DescribeTasks";
pub const LIST_TASKS: &str = "ecs:ListTasks";
pub const STOP_TASK: &str = "ecs:StopTask";

/// Tag keys put on every task, so that tasks can be traced back to jobs in the console
/// and in Cost Explorer.
pub const JOB_ID_TAG: &str = "job-tracker:job-id";
pub const ATTEMPT_TAG: &str = "job-tracker:attempt";

#[derive(Debug, Clone)]
pub struct EcsTaskLauncher {
    client: Client,
    cluster: String,
    network: NetworkConfiguration,
}

impl EcsTaskLauncher {
    pub fn new(client: Client, config: &EcsConfig) -> Result<Self, ConfigError> {
        let vpc = AwsVpcConfiguration::builder()
            .set_subnets(Some(config.subnets.clone()))
            .set_security_groups(Some(config.security_groups.clone()))
            .assign_public_ip(if config.assign_public_ip {
                AssignPublicIp::Enabled
            } else {
                AssignPublicIp::Disabled
            })
            .build()
            .map_err(|e| ConfigError::new("ECS_SUBNETS", format!("no awsvpc configuration: {e}")))?;
        Ok(Self {
            client,
            cluster: config.cluster.clone(),
            network: NetworkConfiguration::builder().awsvpc_configuration(vpc).build(),
        })
    }
}

/// Stops tasks of one cluster: what job-api needs to cancel a job, without the launch
/// configuration it never uses. Its client is made on the first stop, as the SQS
/// adapter's is: most job-api invocations are reads, and an SDK client costs every cold
/// start the parsing of its endpoint partition table.
#[derive(Debug)]
pub struct EcsTaskStopper {
    config: aws_sdk_ecs::config::Builder,
    client: std::sync::OnceLock<Client>,
    cluster: String,
}

impl EcsTaskStopper {
    /// Stops tasks of `cluster` through a client made from `config` when first needed
    /// (see `shared::infra::sdk::ecs_config`).
    pub fn new(config: aws_sdk_ecs::config::Builder, cluster: impl Into<String>) -> Self {
        Self {
            config,
            client: std::sync::OnceLock::new(),
            cluster: cluster.into(),
        }
    }
}

impl TaskStopper for EcsTaskStopper {
    async fn stop(&self, task_arn: &str, reason: &str) -> Result<(), StopError> {
        let client = self
            .client
            .get_or_init(|| Client::from_conf(self.config.clone().build()));
        stop_task(client, &self.cluster, task_arn, reason).await
    }
}

impl TaskStopper for EcsTaskLauncher {
    async fn stop(&self, task_arn: &str, reason: &str) -> Result<(), StopError> {
        stop_task(&self.client, &self.cluster, task_arn, reason).await
    }
}

/// StopTask: ECS answers a task that has stopped already with the task, and one it no
/// longer knows with a client error; neither leaves anything running.
async fn stop_task(client: &Client, cluster: &str, task_arn: &str, reason: &str) -> Result<(), StopError> {
    // ECS keeps at most 255 characters of the reason.
    let reason: String = reason.chars().take(255).collect();
    match client
        .stop_task()
        .cluster(cluster)
        .task(task_arn)
        .reason(reason)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(SdkError::ServiceError(failure))
            if failure.err().code() == Some("InvalidParameterException")
                && failure.err().message().is_some_and(|m| m.contains("not found")) =>
        {
            tracing::info!(task_arn, "StopTask: ECS no longer knows the task");
            Ok(())
        }
        Err(err) => Err(StopError {
            task_arn: task_arn.to_owned(),
            source: Box::new(err),
        }),
    }
}

impl TaskLauncher for EcsTaskLauncher {
    async fn launch(&self, request: &TaskRequest) -> Result<Launched, LaunchError> {
        let environment = request
            .environment
            .iter()
            .map(|(name, value)| KeyValuePair::builder().name(name).value(value).build())
            .collect();
        let overrides = TaskOverride::builder()
            .container_overrides(
                ContainerOverride::builder()
                    .name(&request.container)
                    .set_environment(Some(environment))
                    .build(),
            )
            .build();
        let started_by = request.started_by;
        let result = self
            .client
            .run_task()
            .cluster(&self.cluster)
            .task_definition(&request.task_definition)
            .launch_type(LaunchType::Fargate)
            .count(1)
            .network_configuration(self.network.clone())
            .overrides(overrides)
            .started_by(started_by.to_string())
            .client_token(started_by.client_token())
            .tags(
                Tag::builder()
                    .key(JOB_ID_TAG)
                    .value(started_by.job_id.to_string())
                    .build(),
            )
            .tags(
                Tag::builder()
                    .key(ATTEMPT_TAG)
                    .value(started_by.attempt.to_string())
                    .build(),
            )
            .propagate_tags(PropagateTags::TaskDefinition)
            // One try per call, so that its answer is the whole truth: after SDK retries
            // only the last try's error would be seen, and a first try that timed out
            // after starting the task followed by a throttled one would read as "no task".
            // The service retries through its launch queue, with the same token.
            .customize()
            .config_override(aws_sdk_ecs::config::Builder::default().retry_config(RetryConfig::disabled()))
            .send()
            .await;
        let answer = match result {
            Ok(output) => classify_output(&output),
            Err(err) => classify_error(err),
        };
        match answer {
            Answer::Started(task_arn) => Ok(Launched::Started { task_arn }),
            Answer::Throttled => {
                tracing::info!(job_id = %started_by.job_id, attempt = started_by.attempt, "RunTask throttled");
                Ok(Launched::Throttled)
            }
            Answer::Refused(refusal, raw) => {
                // ECS's words (with account ids, role ARNs, subnet ids) for the operator only.
                tracing::warn!(
                    job_id = %started_by.job_id,
                    attempt = started_by.attempt,
                    %refusal,
                    ecs_said = raw,
                    "ECS refused the task"
                );
                Ok(Launched::Refused(refusal))
            }
            Answer::Unknown(cause) => {
                let ecs_said = DisplayErrorContext(&*cause).to_string();
                tracing::warn!(
                    job_id = %started_by.job_id,
                    attempt = started_by.attempt,
                    ecs_said,
                    "RunTask outcome unknown"
                );
                Err(LaunchError::new(cause))
            }
        }
    }
}

impl TaskInspector for EcsTaskLauncher {
    async fn describe(&self, task_arns: &[String]) -> Result<Vec<TaskLookup>, InspectError> {
        let output = self
            .client
            .describe_tasks()
            .cluster(&self.cluster)
            .set_tasks(Some(task_arns.to_vec()))
            .send()
            .await
            .map_err(|e| InspectError {
                operation: "DescribeTasks",
                source: Box::new(e),
            })?;
        let mut lookups: Vec<TaskLookup> = output
            .tasks()
            .iter()
            .filter_map(|task| {
                let observed = observation(task);
                if observed.is_none() {
                    tracing::warn!(
                        task_arn = task.task_arn(),
                        "DescribeTasks answer without status or version; skipped"
                    );
                }
                observed.map(TaskLookup::Found)
            })
            .collect();
        for failure in output.failures() {
            match (failure.reason(), failure.arn()) {
                (Some("MISSING"), Some(arn)) => lookups.push(TaskLookup::Missing {
                    task_arn: arn.to_owned(),
                }),
                (reason, arn) => tracing::warn!(?reason, ?arn, detail = failure.detail(), "DescribeTasks failure"),
            }
        }
        Ok(lookups)
    }

    async fn find(&self, started_by: StartedBy) -> Result<Option<String>, InspectError> {
        // Stopped tasks are listed only when asked for; a task started by a lost launch
        // may have run and stopped since.
        for desired in [DesiredStatus::Running, DesiredStatus::Stopped] {
            let output = self
                .client
                .list_tasks()
                .cluster(&self.cluster)
                .started_by(started_by.to_string())
                .desired_status(desired)
                .send()
                .await
                .map_err(|e| InspectError {
                    operation: "ListTasks",
                    source: Box::new(e),
                })?;
            if let Some(arn) = output.task_arns().first() {
                return Ok(Some(arn.clone()));
            }
        }
        Ok(None)
    }
}

fn timestamp(at: Option<&aws_sdk_ecs::primitives::DateTime>) -> Option<DateTime<Utc>> {
    let at = at?;
    DateTime::from_timestamp(at.secs(), at.subsec_nanos())
}

/// A DescribeTasks task as the rules see it: the same facts as an event's `detail`.
/// Without `lastStatus` or `version` it cannot be ordered against events: none.
fn observation(task: &Task) -> Option<TaskObservation> {
    let version = u64::try_from(task.version()).ok().filter(|v| *v > 0)?;
    Some(TaskObservation {
        task_arn: task.task_arn()?.to_owned(),
        last_status: EcsTaskStatus::parse(task.last_status()?)?,
        version,
        started_by: task.started_by().and_then(StartedBy::parse),
        stop_code: task.stop_code().map(|c| c.as_str().to_owned()),
        stopped_reason: task.stopped_reason().map(str::to_owned),
        containers: task
            .containers()
            .iter()
            .map(|c| ContainerObservation {
                name: c.name().unwrap_or_default().to_owned(),
                exit_code: c.exit_code(),
                reason: c.reason().map(str::to_owned),
            })
            .collect(),
        created_at: timestamp(task.created_at()),
        started_at: timestamp(task.started_at()),
        stopping_at: timestamp(task.stopping_at()),
        execution_stopped_at: timestamp(task.execution_stopped_at()),
        stopped_at: timestamp(task.stopped_at()),
        updated_at: None,
    })
}

/// What a RunTask answer means, with ECS's raw words for the log.
#[derive(Debug)]
enum Answer {
    Started(String),
    /// ECS refused the call for its rate limit, after the SDK's own retries.
    Throttled,
    Refused(LaunchRefusal, String),
    /// No definite answer: a task may exist.
    Unknown(Cause),
}

fn classify_output(output: &RunTaskOutput) -> Answer {
    if let Some(arn) = output.tasks().iter().find_map(|t| t.task_arn()) {
        return Answer::Started(arn.to_owned());
    }
    let Some(first) = output.failures().first() else {
        // Not an answer ECS documents: whether a task started cannot be told.
        return Answer::Unknown("RunTask returned neither a task nor a failure".into());
    };
    let raw: Vec<String> = output
        .failures()
        .iter()
        .map(|f| {
            format!(
                "{} ({}) for {}",
                f.reason().unwrap_or("no reason"),
                f.detail().unwrap_or("no detail"),
                f.arn().unwrap_or("no arn")
            )
        })
        .collect();
    let reason = first.reason().unwrap_or_default();
    let refusal = if reason.starts_with("RESOURCE:") || reason.contains("Capacity is unavailable") {
        LaunchRefusal::NoCapacity
    } else if reason.contains("limit on the number of tasks") {
        LaunchRefusal::TaskQuotaReached
    } else {
        LaunchRefusal::NotPlaced
    };
    Answer::Refused(refusal, raw.join("; "))
}

/// What an error means. Only a definite refusal is one: a throttle, a 5xx, a timeout or
/// a `ConflictException` without the task's ARN (a concurrent launch with this token may
/// be in flight) leaves the outcome unknown, because the task may exist.
fn classify_error(err: SdkError<RunTaskError>) -> Answer {
    let raw = DisplayErrorContext(&err).to_string();
    // ECS answers a throttled call with this code and does not run it.
    if err.code() == Some("ThrottlingException") {
        return Answer::Throttled;
    }
    let SdkError::ServiceError(failure) = err else {
        return Answer::Unknown(Box::new(err));
    };
    let message = |m: Option<&str>| m.unwrap_or_default().to_ascii_lowercase();
    let refusal = match failure.into_err() {
        // The token was used before for this attempt: the task it names is the attempt's.
        RunTaskError::ConflictException(e) if !e.resource_ids().is_empty() => {
            return Answer::Started(e.resource_ids().first().cloned().unwrap_or_default())
        }
        RunTaskError::AccessDeniedException(e) if message(e.message()).contains("passrole") => {
            LaunchRefusal::CannotPassRole
        }
        RunTaskError::AccessDeniedException(_) => LaunchRefusal::AccessDenied,
        RunTaskError::ClientException(e) => {
            let message = message(e.message());
            if message.contains("service linked role") || message.contains("service-linked role") {
                LaunchRefusal::ServiceLinkedRole
            } else if names_a_missing_task_definition(&message) {
                LaunchRefusal::TaskDefinitionNotFound
            } else if message.contains("passrole") {
                LaunchRefusal::CannotPassRole
            } else {
                LaunchRefusal::InvalidRequest
            }
        }
        RunTaskError::ClusterNotFoundException(_) => LaunchRefusal::ClusterNotFound,
        RunTaskError::InvalidParameterException(e) => {
            let message = message(e.message());
            if ["subnet", "security group", "securitygroup", "vpc"]
                .iter()
                .any(|word| message.contains(word))
            {
                LaunchRefusal::InvalidNetwork
            } else if names_a_missing_task_definition(&message) {
                LaunchRefusal::TaskDefinitionNotFound
            } else {
                LaunchRefusal::InvalidRequest
            }
        }
        RunTaskError::BlockedException(_) => LaunchRefusal::AccountBlocked,
        RunTaskError::PlatformTaskDefinitionIncompatibilityException(_)
        | RunTaskError::PlatformUnknownException(_)
        | RunTaskError::UnsupportedFeatureException(_) => LaunchRefusal::PlatformUnsupported,
        // ServerException, throttling, ConflictException without a task, and anything
        // this SDK version does not model.
        other => return Answer::Unknown(Box::new(other)),
    };
    Answer::Refused(refusal, raw)
}

/// "TaskDefinition not found.", "Unable to describe task definition.", "… is INACTIVE":
/// the definition itself is missing, not some other parameter that mentions it.
fn names_a_missing_task_definition(message: &str) -> bool {
    let about_definition = message.contains("taskdefinition") || message.contains("task definition");
    let missing = ["not found", "unable to describe", "inactive", "does not exist"];
    about_definition && missing.iter().any(|m| message.contains(m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::types::{Failure, Task};

    #[test]
    fn capacity_failures_are_a_fixed_refusal_and_ecs_words_stay_in_the_log() {
        let output = RunTaskOutput::builder()
            .failures(
                Failure::builder()
                    .arn("arn:aws:ecs:us-east-1:111122223333:container-instance/abc")
                    .reason("RESOURCE:MEMORY")
                    .detail("not enough memory")
                    .build(),
            )
            .failures(Failure::builder().reason("AGENT").build())
            .build();
        let Answer::Refused(refusal, raw) = classify_output(&output) else {
            panic!("a refusal");
        };
        assert_eq!(refusal, LaunchRefusal::NoCapacity);
        assert!(!refusal.describe().contains("111122223333"));
        assert!(raw.contains("111122223333") && raw.contains("AGENT"), "{raw}");
    }

    #[test]
    fn a_task_in_the_answer_is_a_start_even_with_failures_beside_it() {
        let output = RunTaskOutput::builder()
            .tasks(Task::builder().task_arn("arn:aws:ecs:us-east-1:1:task/jobs/t1").build())
            .failures(Failure::builder().reason("MISSING").build())
            .build();
        assert!(
            matches!(classify_output(&output), Answer::Started(arn) if arn == "arn:aws:ecs:us-east-1:1:task/jobs/t1")
        );
    }

    #[test]
    fn an_answer_with_neither_task_nor_failure_leaves_the_outcome_unknown() {
        assert!(matches!(
            classify_output(&RunTaskOutput::builder().build()),
            Answer::Unknown(_)
        ));
    }

    fn service_error(err: RunTaskError, status: u16) -> SdkError<RunTaskError> {
        let status = aws_smithy_runtime_api::http::StatusCode::try_from(status).expect("status");
        let response = aws_sdk_ecs::config::http::HttpResponse::new(status, aws_smithy_types::body::SdkBody::empty());
        SdkError::service_error(err, response)
    }

    #[test]
    fn a_token_conflict_without_the_task_leaves_the_outcome_unknown() {
        use aws_sdk_ecs::types::error::ConflictException;
        let in_flight = ConflictException::builder()
            .message("The clientToken is already in use")
            .build();
        assert!(matches!(
            classify_error(service_error(RunTaskError::ConflictException(in_flight), 400)),
            Answer::Unknown(_)
        ));
        let known = ConflictException::builder()
            .resource_ids("arn:aws:ecs:us-east-1:1:task/jobs/t1")
            .build();
        assert!(matches!(
            classify_error(service_error(RunTaskError::ConflictException(known), 400)),
            Answer::Started(arn) if arn == "arn:aws:ecs:us-east-1:1:task/jobs/t1"
        ));
    }

    #[test]
    fn server_errors_leave_the_outcome_unknown_and_throttling_is_its_own_answer() {
        use aws_sdk_ecs::types::error::ServerException;
        let server = RunTaskError::ServerException(ServerException::builder().message("internal").build());
        assert!(matches!(classify_error(service_error(server, 500)), Answer::Unknown(_)));
        let throttled = RunTaskError::generic(
            aws_sdk_ecs::error::ErrorMetadata::builder()
                .code("ThrottlingException")
                .message("Rate exceeded")
                .build(),
        );
        assert!(matches!(
            classify_error(service_error(throttled, 400)),
            Answer::Throttled
        ));
    }

    #[test]
    fn definite_refusals_are_categorised() {
        use aws_sdk_ecs::types::error::{ClientException, ClusterNotFoundException, InvalidParameterException};
        let cases = [
            (
                RunTaskError::ClientException(ClientException::builder().message("TaskDefinition not found.").build()),
                LaunchRefusal::TaskDefinitionNotFound,
            ),
            (
                RunTaskError::ClientException(
                    ClientException::builder()
                        .message(
                            "Unable to assume the service linked role. \
                             Please verify that the ECS service linked role exists.",
                        )
                        .build(),
                ),
                LaunchRefusal::ServiceLinkedRole,
            ),
            (
                RunTaskError::ClusterNotFoundException(ClusterNotFoundException::builder().build()),
                LaunchRefusal::ClusterNotFound,
            ),
            (
                RunTaskError::InvalidParameterException(
                    InvalidParameterException::builder()
                        .message(
                            "Error retrieving subnet information for [subnet-0abc]: \
                             The subnet ID 'subnet-0abc' does not exist",
                        )
                        .build(),
                ),
                LaunchRefusal::InvalidNetwork,
            ),
        ];
        for (err, expected) in cases {
            let Answer::Refused(refusal, _) = classify_error(service_error(err, 400)) else {
                panic!("a refusal, expected {expected:?}");
            };
            assert_eq!(refusal, expected);
        }
    }

    #[test]
    fn denials_name_their_category_without_ecs_words() {
        use aws_sdk_ecs::types::error::{AccessDeniedException, ClientException};
        let pass_role = "User: arn:aws:sts::111122223333:assumed-role/create-job/x is not authorized to perform: \
                         iam:PassRole on resource: arn:aws:iam::111122223333:role/job";
        let cases = [
            (
                RunTaskError::AccessDeniedException(AccessDeniedException::builder().message(pass_role).build()),
                LaunchRefusal::CannotPassRole,
            ),
            (
                RunTaskError::ClientException(ClientException::builder().message(pass_role).build()),
                LaunchRefusal::CannotPassRole,
            ),
            (
                RunTaskError::AccessDeniedException(AccessDeniedException::builder().message("Forbidden").build()),
                LaunchRefusal::AccessDenied,
            ),
            (
                RunTaskError::ClientException(
                    ClientException::builder()
                        .message("Override for container named sidecar is not a container in the TaskDefinition.")
                        .build(),
                ),
                LaunchRefusal::InvalidRequest,
            ),
        ];
        for (err, expected) in cases {
            let Answer::Refused(refusal, _) = classify_error(service_error(err, 400)) else {
                panic!("a refusal, expected {expected:?}");
            };
            assert_eq!(refusal, expected);
            assert!(!refusal.describe().contains("111122223333"));
        }
    }
}
