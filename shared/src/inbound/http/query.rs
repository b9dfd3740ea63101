//! The query strings of `GET /jobs` and `GET /jobs/{id}/logs`, and the opaque
//! `nextToken`s their answers hand out.
//!
//! A token is sealed to what it was issued for: the caller, and the listing's filters or
//! the job and attempt whose log it reads. Its seal is a SHA-256 digest of those and of
//! the position it carries, so an edited token, another caller's token, or a token used
//! with other filters fails the check and is refused (`400 invalid-next-token`) before any
//! read. The seal has no secret key, so someone who knows this scheme could mint a valid
//! token; that gains nothing, because what a token can name is a place in the caller's
//! own listing (which `createdBefore` names as well), and every read stays in the caller's
//! own partition.

use std::collections::{BTreeMap, BTreeSet};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Datelike, Utc};
use lambda_http::{Request, RequestExt};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::ApiError;
use crate::domain::{JobFilter, JobStatus, ListPosition, Owner, DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT};

/// What `GET /jobs` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub filter: JobFilter,
    pub limit: u32,
    pub next_token: Option<String>,
}

/// What `GET /jobs/{id}/logs` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogsQuery {
    /// `None`: the job's current attempt.
    pub attempt: Option<u32>,
    pub next_token: Option<String>,
}

/// The query string as name → values, refusing names the route does not know and
/// repeats of a name that takes one value.
fn parameters<'r>(
    request: &'r Request,
    known: &[&'static str],
    repeatable: &[&str],
) -> Result<BTreeMap<&'static str, Vec<&'r str>>, ApiError> {
    let query = request.query_string_parameters_ref();
    let mut found: BTreeMap<&'static str, Vec<&'r str>> = BTreeMap::new();
    for (name, value) in query.into_iter().flat_map(|q| q.iter()) {
        let Some(known) = known.iter().find(|k| **k == name) else {
            return Err(ApiError::InvalidQuery {
                parameter: name.chars().take(64).collect(),
                problem: format!("is not a parameter of this route; it takes {}", known.join(", ")),
            });
        };
        let values = found.entry(known).or_default();
        values.push(value);
        if values.len() > 1 && !repeatable.contains(known) {
            return Err(invalid(known, "may be given once"));
        }
    }
    Ok(found)
}

fn invalid(parameter: &str, problem: impl Into<String>) -> ApiError {
    ApiError::InvalidQuery {
        parameter: parameter.to_owned(),
        problem: problem.into(),
    }
}

fn single<'r>(found: &BTreeMap<&'static str, Vec<&'r str>>, name: &str) -> Option<&'r str> {
    found.get(name).and_then(|values| values.first().copied())
}

/// Parses `GET /jobs`'s query string.
pub fn parse_list_query(request: &Request) -> Result<ListQuery, ApiError> {
    const KNOWN: [&str; 6] = [
        "status",
        "definition",
        "createdAfter",
        "createdBefore",
        "limit",
        "nextToken",
    ];
    let found = parameters(request, &KNOWN, &["status"])?;
    let mut statuses = BTreeSet::new();
    // `status=RUNNING&status=FAILED`, or `status=RUNNING,FAILED`: statuses hold no comma.
    for value in found.get("status").into_iter().flatten().flat_map(|v| v.split(',')) {
        let status = JobStatus::parse(value).ok_or_else(|| {
            invalid(
                "status",
                "must be one of SUBMITTED, STARTING, RUNNING, STOPPING, SUCCEEDED, FAILED, CANCELLED",
            )
        })?;
        statuses.insert(status);
    }
    let definition = match single(&found, "definition") {
        Some("") => return Err(invalid("definition", "must not be empty")),
        other => other.map(str::to_owned),
    };
    let instant = |name: &str| -> Result<Option<DateTime<Utc>>, ApiError> {
        single(&found, name)
            .map(|value| {
                DateTime::parse_from_rfc3339(value)
                    .map(|at| at.with_timezone(&Utc))
                    .ok()
                    // Positions compare as text: a year of other than four digits in UTC
                    // would sort out of place.
                    .filter(|at| (0..=9999).contains(&at.year()))
                    .ok_or_else(|| invalid(name, "must be an RFC 3339 date-time, such as 2026-11-27T12:00:00Z"))
            })
            .transpose()
    };
    let limit = match single(&found, "limit") {
        None => DEFAULT_LIST_LIMIT,
        Some(value) => value
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_LIST_LIMIT).contains(n))
            .ok_or_else(|| invalid("limit", format!("must be an integer from 1 to {MAX_LIST_LIMIT}")))?,
    };
    Ok(ListQuery {
        filter: JobFilter {
            statuses,
            definition,
            created_after: instant("createdAfter")?,
            created_before: instant("createdBefore")?,
        },
        limit,
        next_token: single(&found, "nextToken").map(str::to_owned),
    })
}

/// Parses `GET /jobs/{id}/logs`'s query string.
pub fn parse_logs_query(request: &Request) -> Result<LogsQuery, ApiError> {
    let found = parameters(request, &["attempt", "nextToken"], &[])?;
    let attempt = single(&found, "attempt")
        .map(|value| {
            value
                .parse::<u32>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| invalid("attempt", "must be a positive integer"))
        })
        .transpose()?;
    Ok(LogsQuery {
        attempt,
        next_token: single(&found, "nextToken").map(str::to_owned),
    })
}

/// A token's content: the position it resumes at and its seal.
#[derive(Serialize, Deserialize)]
struct Sealed {
    #[serde(rename = "p")]
    position: String,
    #[serde(rename = "s")]
    seal: String,
}

fn seal(binding: &[&str], position: &str) -> String {
    let mut digest = Sha256::new();
    digest.update(b"job-tracker next token v1");
    for part in binding.iter().chain([&position]) {
        // Length-prefixed, so that no two different bindings hash the same bytes.
        digest.update((part.len() as u64).to_be_bytes());
        digest.update(part.as_bytes());
    }
    digest.finalize()[..16].iter().map(|b| format!("{b:02x}")).collect()
}

fn issue(binding: &[&str], position: &str) -> String {
    let sealed = Sealed {
        position: position.to_owned(),
        seal: seal(binding, position),
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&sealed).unwrap_or_default())
}

fn open(binding: &[&str], token: &str) -> Result<String, ApiError> {
    let sealed: Sealed = URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or(ApiError::InvalidNextToken)?;
    if sealed.seal != seal(binding, &sealed.position) {
        return Err(ApiError::InvalidNextToken);
    }
    Ok(sealed.position)
}

/// The filters as a token binds them: each in a fixed order and form.
fn filter_binding(owner: &Owner, filter: &JobFilter) -> [String; 6] {
    let instant = |at: Option<DateTime<Utc>>| at.map(|at| at.timestamp_millis().to_string()).unwrap_or_default();
    let statuses: Vec<&str> = filter.statuses.iter().map(|s| s.as_str()).collect();
    [
        "list".to_owned(),
        owner.as_str().to_owned(),
        statuses.join(","),
        filter.definition.clone().map(|d| format!("={d}")).unwrap_or_default(),
        instant(filter.created_after),
        instant(filter.created_before),
    ]
}

/// The `nextToken` of a listing page that ends at `position`.
pub fn list_token(owner: &Owner, filter: &JobFilter, position: &ListPosition) -> String {
    let binding = filter_binding(owner, filter);
    issue(&binding.each_ref().map(String::as_str), position.as_str())
}

/// Where a listing resumes, if `token` was issued to this caller for these filters.
pub fn open_list_token(owner: &Owner, filter: &JobFilter, token: &str) -> Result<ListPosition, ApiError> {
    let binding = filter_binding(owner, filter);
    let position = open(&binding.each_ref().map(String::as_str), token)?;
    ListPosition::parse(&position).ok_or(ApiError::InvalidNextToken)
}

/// The `nextToken` of a log page: the attempt it reads and the log reader's own position
/// in it, sealed to the caller and the job. It carries its attempt, so that a client
/// following a job's log without naming an attempt stays on the attempt it was reading
/// when a retry adds the next one.
pub fn logs_token(owner: &Owner, job_id: &str, attempt: u32, position: &str) -> String {
    issue(&["logs", owner.as_str(), job_id], &format!("{attempt}/{position}"))
}

/// The attempt and position of a log `nextToken` issued to this caller for this job.
pub fn open_logs_token(owner: &Owner, job_id: &str, token: &str) -> Result<(u32, String), ApiError> {
    let sealed = open(&["logs", owner.as_str(), job_id], token)?;
    let (attempt, position) = sealed.split_once('/').ok_or(ApiError::InvalidNextToken)?;
    let attempt = attempt.parse().map_err(|_| ApiError::InvalidNextToken)?;
    Ok((attempt, position.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::JobId;

    fn owner(name: &str) -> Owner {
        Owner::new(name).expect("owner")
    }

    fn position() -> ListPosition {
        ListPosition::parse(&format!("2026-11-27T12:00:00.123Z#{}", JobId::random())).expect("position")
    }

    #[test]
    fn a_list_token_opens_only_for_its_caller_and_filters() {
        let filter = JobFilter {
            statuses: [JobStatus::Running].into_iter().collect(),
            ..Default::default()
        };
        let at = position();
        let token = list_token(&owner("alice"), &filter, &at);
        assert_eq!(open_list_token(&owner("alice"), &filter, &token).expect("opens"), at);
        assert!(open_list_token(&owner("bob"), &filter, &token).is_err());
        assert!(open_list_token(&owner("alice"), &JobFilter::default(), &token).is_err());
        let later = JobFilter {
            created_after: Some(Utc::now()),
            ..filter.clone()
        };
        assert!(open_list_token(&owner("alice"), &later, &token).is_err());
    }

    #[test]
    fn an_altered_token_never_opens() {
        let at = position();
        let token = list_token(&owner("alice"), &JobFilter::default(), &at);
        // Re-sealed by hand with another position: the seal no longer matches.
        let sealed: Sealed = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&token).expect("base64")).expect("json");
        let forged = Sealed {
            position: position().as_str().to_owned(),
            seal: sealed.seal,
        };
        let forged = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).expect("json"));
        assert!(open_list_token(&owner("alice"), &JobFilter::default(), &forged).is_err());
        for garbage in ["", "e30", "not a token", "%%%"] {
            assert!(open_list_token(&owner("alice"), &JobFilter::default(), garbage).is_err());
        }
    }

    #[test]
    fn a_logs_token_is_bound_to_its_job_and_carries_its_attempt() {
        let token = logs_token(&owner("alice"), "job-1", 2, "f/123");
        let opened = open_logs_token(&owner("alice"), "job-1", &token).expect("opens");
        assert_eq!(opened, (2, "f/123".to_owned()));
        assert!(open_logs_token(&owner("alice"), "job-2", &token).is_err());
        assert!(open_logs_token(&owner("bob"), "job-1", &token).is_err());
    }

    #[test]
    fn positions_compare_as_creation_time_then_id() {
        assert!(
            ListPosition::parse("2026-11-27T12:00:00Z#x").is_none(),
            "not the canonical form"
        );
        assert!(ListPosition::parse("2026-11-27T12:00:00.000Z").is_none());
        let early = ListPosition::parse(&format!("2026-11-27T12:00:00.999Z#{}", JobId::random())).expect("position");
        let late = ListPosition::parse(&format!("2026-11-27T12:00:01.000Z#{}", JobId::random())).expect("position");
        assert!(early < late);
    }
}
