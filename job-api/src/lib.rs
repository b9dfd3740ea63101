//! job-api: everything a caller asks of jobs that exist.
//!
//! - `GET /jobs`: the caller's jobs, newest first, a page at a time;
//! - `GET /jobs/{id}`: the caller's job, or 404;
//! - `DELETE /jobs/{id}`: the owner's cancel, `202` with the job, or `409` once finished;
//! - `GET /jobs/{id}/logs`: lines of one attempt's container log.

use lambda_http::http::{Method, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use shared::adapters::{cloudwatch_logs, dynamodb, ecs, sqs};
use shared::app::{AttemptLogs, JobService, ServiceError};
use shared::domain::{ListRequest, Owner};
use shared::inbound::http::query::{list_token, logs_token, open_list_token, open_logs_token};
use shared::inbound::http::{
    job_response, list_response, logs_response, owner_of, parse_list_query, parse_logs_query, ApiError,
};
use shared::infra::config::JobApiConfig;
use shared::infra::contract::FunctionContract;
use shared::ports::{JobStore, LaunchQueue, LogReader, TaskStopper};

/// What job-api reads and calls: listings query the owner indexes and read the jobs in
/// batches; a cancel writes the job (and gives back its slot in the same transaction),
/// stops its task, and announces a freed slot; a log is read from CloudWatch Logs.
pub const CONTRACT: FunctionContract = FunctionContract {
    function: "job-api",
    environment: &JobApiConfig::VARIABLES,
    operations: &[
        dynamodb::GET_ITEM,
        dynamodb::UPDATE_ITEM,
        dynamodb::QUERY,
        dynamodb::BATCH_GET_ITEM,
        ecs::STOP_TASK,
        sqs::SEND_MESSAGE,
        cloudwatch_logs::GET_LOG_EVENTS,
    ],
};

/// The routes job-api serves, as API Gateway names them (`routeKey`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    List,
    Get,
    Cancel,
    Logs,
}

impl Route {
    /// The route of `request`: API Gateway's route key, which it matched before invoking
    /// the function (so a path such as `/jobs/..%2Fjobs` is the job route with that id,
    /// never the listing); without one, the method and path.
    pub fn of(request: &Request) -> Result<Self, ApiError> {
        let route_key = match request.request_context_ref() {
            Some(RequestContext::ApiGatewayV2(context)) => context.route_key.as_deref(),
            _ => None,
        };
        match route_key {
            Some("GET /jobs") => Ok(Self::List),
            Some("GET /jobs/{id}") => Ok(Self::Get),
            Some("DELETE /jobs/{id}") => Ok(Self::Cancel),
            Some("GET /jobs/{id}/logs") => Ok(Self::Logs),
            _ => Self::of_path(request),
        }
    }

    fn of_path(request: &Request) -> Result<Self, ApiError> {
        let path = request.uri().path().trim_end_matches('/');
        let segments: Vec<&str> = path.rsplit('/').take(3).collect();
        let route = match segments.as_slice() {
            ["jobs", ..] => Some((Self::List, [Method::GET].as_slice())),
            ["logs", _, "jobs"] => Some((Self::Logs, [Method::GET].as_slice())),
            [_, "jobs", ..] => Some((Self::Get, [Method::GET, Method::DELETE].as_slice())),
            _ => None,
        };
        let (route, methods) = route.ok_or(ApiError::RouteNotFound)?;
        match (route, request.method()) {
            (Self::Get, method) if !methods.contains(method) => Err(ApiError::MethodNotAllowed {
                allow: "GET, DELETE".into(),
            }),
            (_, method) if !methods.contains(method) => Err(ApiError::MethodNotAllowed { allow: "GET".into() }),
            (Self::Get, &Method::DELETE) => Ok(Self::Cancel),
            (route, _) => Ok(route),
        }
    }
}

pub struct JobApi<S, L, Q, R> {
    service: JobService<S, L, Q>,
    logs: AttemptLogs<R>,
}

impl<S: JobStore, L: TaskStopper, Q: LaunchQueue, R: LogReader> JobApi<S, L, Q, R> {
    pub fn new(service: JobService<S, L, Q>, logs: R) -> Self {
        Self {
            service,
            logs: AttemptLogs::new(logs),
        }
    }

    pub async fn handle(&self, request: Request) -> Response<Body> {
        match self.answer(request).await {
            Ok(response) => response,
            Err(err) => err.into_response(),
        }
    }

    async fn answer(&self, request: Request) -> Result<Response<Body>, ApiError> {
        let route = Route::of(&request)?;
        let owner = owner_of(&request)?;
        let id = || {
            request
                .path_parameters_ref()
                .and_then(|p| p.first("id").map(str::to_owned))
                .or_else(|| {
                    request
                        .uri()
                        .path()
                        .split('/')
                        .skip_while(|s| *s != "jobs")
                        .nth(1)
                        .map(str::to_owned)
                })
                .ok_or(ApiError::Service(ServiceError::JobNotFound))
        };
        Ok(match route {
            Route::List => self.list(&request, owner).await?,
            Route::Get => job_response(StatusCode::OK, &self.service.get(&owner, &id()?).await?),
            Route::Cancel => job_response(StatusCode::ACCEPTED, &self.service.cancel(&owner, &id()?).await?),
            Route::Logs => self.logs(&request, &owner, &id()?).await?,
        })
    }

    async fn list(&self, request: &Request, owner: Owner) -> Result<Response<Body>, ApiError> {
        let query = parse_list_query(request)?;
        let after = query
            .next_token
            .as_deref()
            .map(|token| open_list_token(&owner, &query.filter, token))
            .transpose()?;
        let request = ListRequest {
            owner,
            filter: query.filter,
            limit: query.limit,
            after,
        };
        let page = self.service.list(&request).await?;
        let next_token = page
            .next
            .map(|position| list_token(&request.owner, &request.filter, &position));
        Ok(list_response(&page.jobs, next_token))
    }

    async fn logs(&self, request: &Request, owner: &Owner, id: &str) -> Result<Response<Body>, ApiError> {
        let query = parse_logs_query(request)?;
        let job = self.service.get(owner, id).await?;
        let token = query
            .next_token
            .as_deref()
            .map(|token| open_logs_token(owner, id, token))
            .transpose()?;
        // A token goes on with the attempt it was reading; `attempt`, if given too, must
        // name an attempt of the job (else 404) and the token's (else the token is not
        // for this request).
        let attempt = query
            .attempt
            .or(token.as_ref().map(|(attempt, _)| *attempt))
            .unwrap_or(job.current_attempt().number);
        if attempt > job.attempts.count() {
            return Err(ServiceError::AttemptNotFound {
                attempts: job.attempts.count(),
            }
            .into());
        }
        let from = match token {
            Some((issued_for, _)) if issued_for != attempt => return Err(ApiError::InvalidNextToken),
            Some((_, position)) => Some(position),
            None => None,
        };
        let log = self.logs.read(&job, Some(attempt), from).await?;
        let next_token = log.next.map(|position| logs_token(owner, id, log.attempt, &position));
        Ok(logs_response(&log.events, next_token))
    }
}
