//! `GET /jobs/{id}`: the caller's job, or 404.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use shared::adapters::dynamodb;
use shared::app::{JobService, ServiceError};
use shared::domain::Job;
use shared::inbound::http::{job_response, owner_of, ApiError};
use shared::infra::config::JOBS_TABLE;
use shared::infra::contract::FunctionContract;
use shared::ports::JobStore;

/// What job-api reads and calls.
pub const CONTRACT: FunctionContract = FunctionContract {
    function: "job-api",
    environment: &[JOBS_TABLE],
    operations: &[dynamodb::GET_ITEM],
};

pub struct JobApi<S> {
    service: JobService<S>,
}

impl<S: JobStore> JobApi<S> {
    pub fn new(service: JobService<S>) -> Self {
        Self { service }
    }

    pub async fn handle(&self, request: Request) -> Response<Body> {
        match self.get(request).await {
            Ok(job) => job_response(StatusCode::OK, &job),
            Err(err) => err.into_response(),
        }
    }

    async fn get(&self, request: Request) -> Result<Job, ApiError> {
        let owner = owner_of(&request)?;
        let parameters = request.path_parameters();
        let id = parameters.first("id").ok_or(ServiceError::JobNotFound)?;
        Ok(self.service.get(&owner, id).await?)
    }
}
