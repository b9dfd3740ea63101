//! The HTTP face of the service: API Gateway (HTTP API, payload 2.0) requests in, JSON
//! and RFC 9457 problem documents out.
//!
//! - [`error`]: everything a request can fail with, and [`ApiError::status`], the one
//!   place where errors become status codes;
//! - [`problem`]: the problem document of each error;
//! - [`request`]: the caller's identity and the parsing of `POST /jobs`;
//! - [`query`]: the query strings of the listing and the log, and their sealed `nextToken`s;
//! - [`view`]: the job representation and the responses that carry it.

pub mod error;
pub mod problem;
pub mod query;
pub mod request;
pub mod view;

pub use error::ApiError;
pub use problem::Problem;
pub use query::{parse_list_query, parse_logs_query, ListQuery, LogsQuery};
pub use request::{owner_of, parse_create_request, IDEMPOTENCY_KEY_HEADER, MAX_BODY_BYTES};
pub use view::{
    job_response, list_response, logs_response, AttemptView, JobListView, JobView, Links, LogEventView, LogEventsView,
    LogsView,
};
