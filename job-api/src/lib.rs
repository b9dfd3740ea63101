//! `GET /jobs/{id}`: the caller's job, or 404. `DELETE /jobs/{id}`: the owner's cancel,
//! `202` with the job, or `409` once it has finished.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use shared::adapters::{dynamodb, ecs, sqs};
use shared::app::{JobService, ServiceError};
use shared::domain::Job;
use shared::inbound::http::{job_response, owner_of, ApiError};
use shared::infra::config::JobApiConfig;
use shared::infra::contract::FunctionContract;
use shared::ports::{JobStore, LaunchQueue, TaskStopper};

/// What job-api reads and calls: a cancel writes the job (and gives back its slot in the
/// same transaction), stops its task, and announces a freed slot.
pub const CONTRACT: FunctionContract = FunctionContract {
    function: "job-api",
    environment: &JobApiConfig::VARIABLES,
    operations: &[
        dynamodb::GET_ITEM,
        dynamodb::UPDATE_ITEM,
        ecs::STOP_TASK,
        sqs::SEND_MESSAGE,
    ],
};

pub struct JobApi<S, L, Q> {
    service: JobService<S, L, Q>,
}

impl<S: JobStore, L: TaskStopper, Q: LaunchQueue> JobApi<S, L, Q> {
    pub fn new(service: JobService<S, L, Q>) -> Self {
        Self { service }
    }

    pub async fn handle(&self, request: Request) -> Response<Body> {
        let cancel = request.method() == Method::DELETE;
        match self.job(request, cancel).await {
            Ok(job) if cancel => job_response(StatusCode::ACCEPTED, &job),
            Ok(job) => job_response(StatusCode::OK, &job),
            Err(err) => err.into_response(),
        }
    }

    async fn job(&self, request: Request, cancel: bool) -> Result<Job, ApiError> {
        let owner = owner_of(&request)?;
        let parameters = request.path_parameters();
        let id = parameters.first("id").ok_or(ServiceError::JobNotFound)?;
        Ok(if cancel {
            self.service.cancel(&owner, id).await?
        } else {
            self.service.get(&owner, id).await?
        })
    }
}
