//! The ECS adapter against moto server: what RunTask is sent, and how refusals come back.

use aws_sdk_ecs::types::TaskField;
use shared::adapters::ecs::{EcsTaskLauncher, ATTEMPT_TAG, JOB_ID_TAG};
use shared::domain::{JobId, StartedBy};
use shared::infra::config::{EcsConfig, ProcessEnvironment};
use shared::ports::{LaunchRefusal, Launched, TaskLauncher, TaskRequest};
use tests::emulators::sdk_config;

fn request(task_definition: &str) -> TaskRequest {
    let job_id = JobId::random();
    TaskRequest {
        task_definition: task_definition.into(),
        container: "app".into(),
        environment: vec![
            ("JOB_ID".into(), job_id.to_string()),
            ("JOB_ATTEMPT".into(), "1".into()),
            ("REPORT_DATE".into(), "2026-11-01".into()),
        ],
        started_by: StartedBy { job_id, attempt: 1 },
    }
}

async fn launcher_and_client(config: &EcsConfig) -> (EcsTaskLauncher, aws_sdk_ecs::Client) {
    let client = aws_sdk_ecs::Client::new(&sdk_config().await);
    (EcsTaskLauncher::new(client.clone(), config).expect("launcher"), client)
}

#[tokio::test]
async fn run_task_carries_overrides_started_by_tags_and_network() {
    let config = EcsConfig::from_env(&ProcessEnvironment).expect("scripts/devenv sets the ECS variables");
    let (launcher, ecs) = launcher_and_client(&config).await;
    let request = request("report");

    let Launched::Started { task_arn } = launcher.launch(&request).await.expect("moto answers") else {
        panic!("moto refused a valid task");
    };

    let described = ecs
        .describe_tasks()
        .cluster(&config.cluster)
        .tasks(&task_arn)
        .include(TaskField::Tags)
        .send()
        .await
        .expect("describe");
    let task = &described.tasks()[0];
    assert_eq!(task.started_by(), Some(request.started_by.to_string().as_str()));
    assert_eq!(task.launch_type().map(|l| l.as_str()), Some("FARGATE"));
    assert!(task
        .task_definition_arn()
        .is_some_and(|arn| arn.contains(":task-definition/report:")));

    let overrides = task.overrides().expect("overrides").container_overrides();
    assert_eq!(overrides.len(), 1);
    assert_eq!(overrides[0].name(), Some("app"));
    let environment: Vec<(&str, &str)> = overrides[0]
        .environment()
        .iter()
        .map(|kv| (kv.name().unwrap_or_default(), kv.value().unwrap_or_default()))
        .collect();
    let expected: Vec<(&str, &str)> = request
        .environment
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(environment, expected);

    let tags: Vec<(&str, &str)> = task
        .tags()
        .iter()
        .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()))
        .collect();
    let job_id = request.started_by.job_id.to_string();
    assert!(tags.contains(&(JOB_ID_TAG, job_id.as_str())), "{tags:?}");
    assert!(tags.contains(&(ATTEMPT_TAG, "1")), "{tags:?}");

    let subnet_attached = task
        .attachments()
        .iter()
        .flat_map(|a| a.details())
        .any(|d| d.name() == Some("subnetId") && d.value() == Some(config.subnets[0].as_str()));
    assert!(
        subnet_attached,
        "the task runs in the configured subnet: {:?}",
        task.attachments()
    );
}

#[tokio::test]
async fn an_unknown_task_definition_is_refused_as_such() {
    let config = EcsConfig::from_env(&ProcessEnvironment).expect("ECS variables");
    let (launcher, _) = launcher_and_client(&config).await;

    let outcome = launcher
        .launch(&request("no-such-family"))
        .await
        .expect("a definite answer");

    assert_eq!(outcome, Launched::Refused(LaunchRefusal::TaskDefinitionNotFound));
}

#[tokio::test]
async fn an_unknown_cluster_is_refused() {
    let mut config = EcsConfig::from_env(&ProcessEnvironment).expect("ECS variables");
    config.cluster = "no-such-cluster".into();
    let (launcher, _) = launcher_and_client(&config).await;

    let outcome = launcher.launch(&request("report")).await.expect("a definite answer");

    assert_eq!(outcome, Launched::Refused(LaunchRefusal::ClusterNotFound));
}
