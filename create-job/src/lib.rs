//! `POST /jobs`: records a job and runs its first attempt as an ECS task.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::domain::{Job, JobDefinitions};
use shared::http::{job_response, owner_of, parse_create_request, ApiError};
use shared::ports::{JobStore, TaskLauncher};
use shared::service::submit_job;

/// The handler, holding what it needs across invocations.
pub struct CreateJob<S, L> {
    store: S,
    launcher: L,
    definitions: JobDefinitions,
}

impl<S: JobStore, L: TaskLauncher> CreateJob<S, L> {
    pub fn new(store: S, launcher: L, definitions: JobDefinitions) -> Self {
        Self {
            store,
            launcher,
            definitions,
        }
    }

    /// Every outcome is a response: `201` with the job, or a problem document.
    pub async fn handle(&self, request: Request) -> Response<Body> {
        match self.submit(request).await {
            Ok(job) => job_response(StatusCode::CREATED, &job),
            Err(err) => err.into_response(),
        }
    }

    async fn submit(&self, request: Request) -> Result<Job, ApiError> {
        let owner = owner_of(&request)?;
        let (job_request, idempotency_key) = parse_create_request(&request)?;
        let job = submit_job(
            &self.store,
            &self.launcher,
            &self.definitions,
            owner,
            job_request,
            idempotency_key,
        )
        .await?;
        Ok(job)
    }
}
