//! The three handlers wired to one store and one launcher, as the Lambdas are in
//! production, with helpers to drive them the way API Gateway and EventBridge do.

use job_api::JobApi;
use job_events::{EventError, JobEvents};
use lambda_http::{Body, Response};
use serde_json::Value;
use shared::testing::logs::InMemoryLogs;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use shared::app::{EventOutcome, JobService};
use shared::domain::{Job, JobDefinitions, JobId, NewJob, Owner, RetryPolicy};
use shared::ports::{JobStore, TaskLauncher, TaskStopper};
use shared::testing::queue::RecordingLaunchQueue;

use crate::api::{self, Caller};

pub struct World<S, L> {
    pub create: create_job::CreateJob<S, L, Arc<RecordingLaunchQueue>>,
    pub events: JobEvents<S, Arc<RecordingLaunchQueue>>,
    pub api: JobApi<S, L, Arc<RecordingLaunchQueue>, Arc<InMemoryLogs>>,
    /// The container logs job-api reads.
    pub logs: Arc<InMemoryLogs>,
    /// The reconciler's use cases, on the same store and launcher.
    pub reconciler: JobService<S, L, Arc<RecordingLaunchQueue>>,
    /// What the handlers put on the launch queue.
    pub queue: Arc<RecordingLaunchQueue>,
}

impl<S: JobStore + Clone, L: TaskLauncher + TaskStopper + Clone> World<S, L> {
    pub fn new(store: S, launcher: L, definitions: JobDefinitions) -> Self {
        let queue = Arc::new(RecordingLaunchQueue::default());
        let logs = Arc::new(InMemoryLogs::with_page(3));
        Self {
            create: create_job::CreateJob::new(
                JobService::new(store.clone(), launcher.clone(), definitions.clone()).with_queue(queue.clone()),
            ),
            reconciler: JobService::new(store.clone(), launcher.clone(), definitions).with_queue(queue.clone()),
            events: JobEvents::new(JobService::without_launcher(store.clone()).with_queue(queue.clone())),
            api: JobApi::new(
                JobService::new(store, launcher, JobDefinitions::default()).with_queue(queue.clone()),
                logs.clone(),
            ),
            logs,
            queue,
        }
    }

    pub async fn post(&self, body: &str, caller: Caller<'_>, idempotency_key: Option<&str>) -> Response<Body> {
        let response = self.create.handle(api::post_job(body, caller, idempotency_key)).await;
        crate::openapi::check_lambda_response("POST", "/jobs", &response);
        response
    }

    pub async fn get(&self, id: &str, caller: Caller<'_>) -> Response<Body> {
        let response = self.api.handle(api::get_job(id, caller)).await;
        crate::openapi::check_lambda_response("GET", "/jobs/{id}", &response);
        response
    }

    /// `DELETE /jobs/{id}`: the owner's cancel.
    pub async fn cancel(&self, id: &str, caller: Caller<'_>) -> Response<Body> {
        let response = self.api.handle(api::delete_job(id, caller)).await;
        crate::openapi::check_lambda_response("DELETE", "/jobs/{id}", &response);
        response
    }

    /// The job as its owner sees it now.
    pub async fn job(&self, id: &str, caller: Caller<'_>) -> Value {
        let response = self.get(id, caller).await;
        assert_eq!(response.status(), 200, "GET /jobs/{id}: {}", api::json_body(&response));
        api::json_body(&response)
    }

    /// Delivers events one by one, as EventBridge invokes the function.
    pub async fn deliver(&self, events: &[Value]) -> Vec<Result<EventOutcome, EventError>> {
        let mut outcomes = Vec::with_capacity(events.len());
        for event in events {
            outcomes.push(self.events.handle(event.clone()).await);
        }
        outcomes
    }
}

/// A job of `owner`'s for definition `report` (container `app`, no parameters, the
/// default retry policy), recorded at `at` and not yet launched: what a store is seeded
/// with to start a test from a given state.
pub fn recorded_job(owner: Owner, at: DateTime<Utc>) -> Job {
    Job::submitted(
        NewJob {
            id: JobId::random(),
            owner,
            definition: "report".into(),
            container: "app".into(),
            parameters: Default::default(),
            idempotency_key: None,
            retry: RetryPolicy::default(),
            timeout: None,
            logs: None,
        },
        at,
    )
}

/// `JOB_DEFINITIONS` JSON parsed as the functions parse it.
pub fn definitions(json: &str) -> JobDefinitions {
    let env = std::collections::HashMap::from([("JOB_DEFINITIONS".to_owned(), json.to_owned())]);
    shared::infra::config::job_definitions(&env).expect("valid JOB_DEFINITIONS")
}
