//! The ECS adapter of [`TaskLauncher`]: one Fargate task per attempt, through RunTask.
//!
//! RunTask has three kinds of answer and each needs its own handling: a task; HTTP 200
//! with `failures[]` and no task (capacity, missing resources), after which no event
//! will ever arrive; and an error that is either definite (bad request: no task) or not
//! (throttled, 5xx, timeout: a task may exist). Only the last is a [`LaunchError`].

use aws_sdk_ecs::error::{DisplayErrorContext, SdkError};
use aws_sdk_ecs::operation::run_task::{RunTaskError, RunTaskOutput};
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, ContainerOverride, KeyValuePair, LaunchType, NetworkConfiguration,
    PropagateTags, Tag, TaskOverride,
};
use aws_sdk_ecs::Client;

use crate::config::EcsConfig;
use crate::ports::{LaunchError, Launched, TaskLauncher, TaskRequest};

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
    pub fn new(client: Client, config: &EcsConfig) -> Result<Self, LaunchError> {
        let vpc = AwsVpcConfiguration::builder()
            .set_subnets(Some(config.subnets.clone()))
            .set_security_groups(Some(config.security_groups.clone()))
            .assign_public_ip(if config.assign_public_ip {
                AssignPublicIp::Enabled
            } else {
                AssignPublicIp::Disabled
            })
            .build()
            .map_err(|e| LaunchError(format!("awsvpc configuration: {e}")))?;
        Ok(Self {
            client,
            cluster: config.cluster.clone(),
            network: NetworkConfiguration::builder().awsvpc_configuration(vpc).build(),
        })
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
            .send()
            .await;
        match result {
            Ok(output) => Ok(answer(output)),
            Err(err) => error_answer(err),
        }
    }
}

fn answer(output: RunTaskOutput) -> Launched {
    if let Some(task) = output.tasks().iter().find(|t| t.task_arn().is_some()) {
        return Launched::Started {
            task_arn: task.task_arn().unwrap_or_default().to_owned(),
        };
    }
    let failures: Vec<String> = output
        .failures()
        .iter()
        .map(|f| {
            let mut line = f.reason().unwrap_or("unknown reason").to_owned();
            if let Some(detail) = f.detail() {
                line.push_str(&format!(" ({detail})"));
            }
            if let Some(arn) = f.arn() {
                line.push_str(&format!(" for {arn}"));
            }
            line
        })
        .collect();
    Launched::Refused {
        reason: if failures.is_empty() {
            "RunTask returned neither a task nor a failure".to_owned()
        } else {
            failures.join("; ")
        },
    }
}

/// What an error means: a definite refusal, the task a reused token names, or a
/// [`LaunchError`] when the outcome is unknown.
fn error_answer(err: SdkError<RunTaskError>) -> Result<Launched, LaunchError> {
    let SdkError::ServiceError(failure) = err else {
        return Err(LaunchError(format!("RunTask: {}", DisplayErrorContext(err))));
    };
    let message = |m: Option<&str>| m.unwrap_or("no message").to_owned();
    let reason = match failure.into_err() {
        // The token was used before (by an earlier try of this attempt): the task it
        // names is this attempt's task.
        RunTaskError::ConflictException(e) if !e.resource_ids().is_empty() => {
            return Ok(Launched::Started {
                task_arn: e.resource_ids()[0].clone(),
            })
        }
        RunTaskError::ConflictException(e) => format!("conflict: {}", message(e.message())),
        RunTaskError::AccessDeniedException(e) => {
            format!("access denied: {}", message(e.message()))
        }
        RunTaskError::BlockedException(e) => format!("account blocked: {}", message(e.message())),
        RunTaskError::ClientException(e) => message(e.message()),
        RunTaskError::ClusterNotFoundException(e) => {
            format!("cluster not found: {}", message(e.message()))
        }
        RunTaskError::InvalidParameterException(e) => {
            format!("invalid parameter: {}", message(e.message()))
        }
        RunTaskError::PlatformTaskDefinitionIncompatibilityException(e) => {
            format!(
                "task definition incompatible with the platform: {}",
                message(e.message())
            )
        }
        RunTaskError::PlatformUnknownException(e) => {
            format!("unknown platform version: {}", message(e.message()))
        }
        RunTaskError::UnsupportedFeatureException(e) => {
            format!("unsupported feature: {}", message(e.message()))
        }
        // ServerException, throttling and anything this SDK version does not know.
        other => return Err(LaunchError(format!("RunTask: {}", DisplayErrorContext(other)))),
    };
    Ok(Launched::Refused { reason })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::types::{Failure, Task};

    #[test]
    fn failures_without_a_task_are_a_refusal_naming_each_failure() {
        let output = RunTaskOutput::builder()
            .failures(
                Failure::builder()
                    .arn("arn:aws:ecs:us-east-1:1:container-instance/abc")
                    .reason("RESOURCE:MEMORY")
                    .detail("not enough memory")
                    .build(),
            )
            .failures(Failure::builder().reason("AGENT").build())
            .build();
        assert_eq!(
            answer(output),
            Launched::Refused {
                reason: "RESOURCE:MEMORY (not enough memory) for arn:aws:ecs:us-east-1:1:container-instance/abc; AGENT"
                    .to_owned()
            }
        );
    }

    #[test]
    fn a_task_in_the_answer_is_a_start_even_with_failures_beside_it() {
        let output = RunTaskOutput::builder()
            .tasks(Task::builder().task_arn("arn:aws:ecs:us-east-1:1:task/jobs/t1").build())
            .failures(Failure::builder().reason("MISSING").build())
            .build();
        assert_eq!(
            answer(output),
            Launched::Started {
                task_arn: "arn:aws:ecs:us-east-1:1:task/jobs/t1".to_owned()
            }
        );
    }

    #[test]
    fn an_empty_answer_is_a_refusal_not_a_silent_success() {
        assert!(matches!(
            answer(RunTaskOutput::builder().build()),
            Launched::Refused { .. }
        ));
    }
}
