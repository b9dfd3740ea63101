//! `GET /jobs/{id}`: the caller's job, or 404.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use shared::domain::Job;
use shared::http::{job_response, owner_of, ApiError};
use shared::ports::JobStore;
use shared::service::{get_job, ServiceError};

pub struct JobApi<S> {
    store: S,
}

impl<S: JobStore> JobApi<S> {
    pub fn new(store: S) -> Self {
        Self { store }
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
        Ok(get_job(&self.store, &owner, id).await?)
    }
}
