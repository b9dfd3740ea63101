//! `POST /jobs`: records a job and runs its first attempt as an ECS task, or queues it.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::adapters::{dynamodb, ecs, sqs};
use shared::app::JobService;
use shared::domain::Job;
use shared::inbound::http::{job_response, owner_of, parse_create_request, ApiError};
use shared::infra::config::LaunchConfig;
use shared::infra::contract::FunctionContract;
use shared::ports::{JobStore, LaunchQueue, TaskLauncher};

/// What create-job reads and calls.
pub const CONTRACT: FunctionContract = FunctionContract {
    function: "create-job",
    environment: &LaunchConfig::VARIABLES,
    operations: &[
        dynamodb::PUT_ITEM,
        dynamodb::GET_ITEM,
        dynamodb::UPDATE_ITEM,
        ecs::RUN_TASK,
        sqs::SEND_MESSAGE,
    ],
};

/// The handler, holding the service across invocations.
pub struct CreateJob<S, L, Q> {
    service: JobService<S, L, Q>,
}

impl<S: JobStore, L: TaskLauncher, Q: LaunchQueue> CreateJob<S, L, Q> {
    pub fn new(service: JobService<S, L, Q>) -> Self {
        Self { service }
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
        Ok(self.service.submit(owner, job_request, idempotency_key).await?)
    }
}
