//! Listing an owner's jobs: what a listing asks for, the order it answers in, and where
//! a page ends. Both stores answer the same way, so the order is defined here, on a
//! string both can compare: [`ListPosition`].

use std::collections::BTreeSet;

use chrono::{DateTime, SecondsFormat, Utc};

use super::job::{Job, JobStatus, Owner};

/// The most jobs one page may hold, and how many a page holds unless asked otherwise.
pub const MAX_LIST_LIMIT: u32 = 100;
pub const DEFAULT_LIST_LIMIT: u32 = 20;

/// Which of an owner's jobs a listing asks for. Creation times are compared to the
/// millisecond, the precision of a [`ListPosition`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFilter {
    /// Any of these statuses (empty: every status).
    pub statuses: BTreeSet<JobStatus>,
    pub definition: Option<String>,
    /// Created at or after this instant.
    pub created_after: Option<DateTime<Utc>>,
    /// Created before this instant: windows `[after, before)` tile without overlap.
    pub created_before: Option<DateTime<Utc>>,
}

impl JobFilter {
    /// Whether `job` is one this filter lists (ownership aside).
    pub fn matches(&self, job: &Job) -> bool {
        let position = ListPosition::of(job);
        (self.statuses.is_empty() || self.statuses.contains(&job.status))
            && self.definition.as_ref().is_none_or(|d| d == &job.definition)
            && self.lower_bound().is_none_or(|lower| position.0 >= lower)
            && self.upper_bound().is_none_or(|upper| position.0 < upper)
    }

    /// The least position listed (inclusive), as a position prefix: every position of a
    /// job created in that millisecond or later compares greater or equal.
    pub fn lower_bound(&self) -> Option<String> {
        self.created_after.map(millis)
    }

    /// The position every listed job is below (exclusive): a position of that
    /// millisecond is `<millis>#<id>`, which compares above `<millis>`.
    pub fn upper_bound(&self) -> Option<String> {
        self.created_before.map(millis)
    }
}

/// One page of an owner's listing: newest first, strictly after `after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRequest {
    pub owner: Owner,
    pub filter: JobFilter,
    /// 1 to [`MAX_LIST_LIMIT`].
    pub limit: u32,
    /// The last job of the previous page.
    pub after: Option<ListPosition>,
}

/// A page of jobs and, if more may follow, the position the next page starts after.
#[derive(Debug, Clone, PartialEq)]
pub struct JobPage {
    pub jobs: Vec<Job>,
    pub next: Option<ListPosition>,
}

/// A job's place in its owner's listing: its creation time to the millisecond (RFC 3339,
/// UTC, always three decimals, so that text order is time order), then its id. Newest
/// first is descending order of this text.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ListPosition(String);

impl ListPosition {
    pub fn of(job: &Job) -> Self {
        Self(format!("{}#{}", millis(job.created_at), job.id))
    }

    /// A position this service wrote; anything else is `None`.
    pub fn parse(text: &str) -> Option<Self> {
        let (at, id) = text.split_once('#')?;
        let at = DateTime::parse_from_rfc3339(at).ok()?.with_timezone(&Utc);
        let id = super::JobId::parse(id)?;
        let position = Self(format!("{}#{id}", millis(at)));
        (position.0 == text).then_some(position)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An instant as positions spell it: RFC 3339 UTC with milliseconds.
fn millis(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The newest-first page of `jobs` that `request` asks for, from any collection of one
/// owner's jobs: the in-memory store's listing, and the reference the DynamoDB adapter's
/// merge of index partitions must equal.
pub fn page_of<'a>(jobs: impl IntoIterator<Item = &'a Job>, request: &ListRequest) -> JobPage {
    let mut listed: Vec<(ListPosition, &Job)> = jobs
        .into_iter()
        .filter(|job| job.owner == request.owner && request.filter.matches(job))
        .map(|job| (ListPosition::of(job), job))
        .filter(|(position, _)| request.after.as_ref().is_none_or(|after| position < after))
        .collect();
    listed.sort_by(|a, b| b.0.cmp(&a.0));
    let limit = request.limit.max(1) as usize;
    let next = (listed.len() > limit).then(|| listed[limit - 1].0.clone());
    JobPage {
        jobs: listed.into_iter().take(limit).map(|(_, job)| job.clone()).collect(),
        next,
    }
}
