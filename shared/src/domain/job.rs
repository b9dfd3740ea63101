//! What a job is: its identity, owner, status and attempts.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::launch::{Queued, SlotPool};
use super::policy::RetryPolicy;
use super::task::EcsTaskStatus;

/// Namespace for job ids derived from an `Idempotency-Key` (UUID v5): the same owner and
/// key always name the same job, so a replay is caught by the create's own condition.
const IDEMPOTENT_JOB_NAMESPACE: Uuid = Uuid::from_u128(0x6a0b_3c1e_52f4_4c8e_9d7a_2f61_0b9e_44d3);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(Uuid);

impl JobId {
    pub fn random() -> Self {
        Self(Uuid::new_v4())
    }

    /// The job a keyed request names. The owner is part of the name, so two callers
    /// using the same key never meet.
    pub fn for_idempotency_key(owner: &Owner, key: &IdempotencyKey) -> Self {
        let name = format!("{}\n{}", owner.as_str(), key.as_str());
        Self(Uuid::new_v5(&IDEMPOTENT_JOB_NAMESPACE, name.as_bytes()))
    }

    /// Accepts only the canonical hyphenated form this service hands out.
    pub fn parse(value: &str) -> Option<Self> {
        if value.len() != 36 {
            return None;
        }
        Uuid::try_parse(value).ok().map(Self)
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// The stable identity a job belongs to, derived from the authenticated caller.
///
/// What identifies a caller is what stays the same across its credential refreshes and
/// what the caller cannot choose: an IAM user or root as its ARN; an assumed-role session
/// as its role (the session name is picked by whoever assumes the role and changes with
/// every refresh); a JWT caller as issuer and subject together, so that two identity
/// providers' subjects never meet.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Owner(String);

impl Owner {
    /// An owner exactly as given (a stored owner, or a fixed local principal).
    pub fn new(principal: impl Into<String>) -> Option<Self> {
        let principal = principal.into();
        (!principal.trim().is_empty()).then_some(Self(principal))
    }

    /// The owner for an IAM caller ARN: `arn:aws:sts::<account>:assumed-role/<role>/<session>`
    /// owns jobs as `arn:aws:iam::<account>:role/<role>`; users, roots and federated
    /// users own them as their ARN. A malformed assumed-role ARN is no identity.
    pub fn from_iam_caller(caller_arn: &str) -> Option<Self> {
        let caller_arn = caller_arn.trim();
        let parts: Vec<&str> = caller_arn.splitn(6, ':').collect();
        let [arn, partition, "sts", "", account, resource] = parts.as_slice() else {
            return Self::new(caller_arn);
        };
        let Some(role_and_session) = resource.strip_prefix("assumed-role/") else {
            return Self::new(caller_arn);
        };
        let (role, session) = role_and_session.split_once('/')?;
        let valid = *arn == "arn" && !partition.is_empty() && !account.is_empty();
        (valid && !role.is_empty() && !session.is_empty())
            .then(|| Self(format!("arn:{partition}:iam::{account}:role/{role}")))
    }

    /// The owner for a JWT caller: `jwt:<issuer>#<subject>`. `#` and `%` in the issuer are
    /// percent-encoded, so the first `#` always ends the issuer and no two (issuer,
    /// subject) pairs share an owner.
    pub fn from_jwt(issuer: &str, subject: &str) -> Option<Self> {
        if issuer.trim().is_empty() || subject.trim().is_empty() {
            return None;
        }
        let issuer = issuer.replace('%', "%25").replace('#', "%23");
        Some(Self(format!("jwt:{issuer}#{subject}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A client's `Idempotency-Key`: 1 to 255 printable ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub const MAX_LEN: usize = 255;

    pub fn parse(value: &str) -> Option<Self> {
        let valid = (1..=Self::MAX_LEN).contains(&value.len()) && value.bytes().all(|b| (0x20..=0x7e).contains(&b));
        valid.then(|| Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    Submitted,
    Starting,
    Running,
    Stopping,
    Succeeded,
    Failed,
    Cancelled,
}

impl JobStatus {
    pub const NON_TERMINAL: [JobStatus; 4] = [Self::Submitted, Self::Starting, Self::Running, Self::Stopping];
    pub const ALL: [JobStatus; 7] = [
        Self::Submitted,
        Self::Starting,
        Self::Running,
        Self::Stopping,
        Self::Succeeded,
        Self::Failed,
        Self::Cancelled,
    ];

    /// A status as [`Self::as_str`] spells it.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submitted => "SUBMITTED",
            Self::Starting => "STARTING",
            Self::Running => "RUNNING",
            Self::Stopping => "STOPPING",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::Cancelled => "CANCELLED",
        }
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One run of the job as one ECS task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub number: u32,
    pub task_arn: Option<String>,
    pub task_status: Option<EcsTaskStatus>,
    pub stop_code: Option<String>,
    pub stopped_reason: Option<String>,
    /// Exit code of the job's own container (not of sidecars).
    pub exit_code: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub stopped_at: Option<DateTime<Utc>>,
    /// `detail.version` of the last ECS event written into this attempt; internal.
    pub event_version: Option<u64>,
    /// The service stopped this attempt's task because it ran longer than the job's
    /// `timeoutSeconds` (this many seconds).
    pub timed_out_after: Option<u64>,
}

impl Attempt {
    pub(super) fn new(number: u32, now: DateTime<Utc>) -> Self {
        Self {
            number,
            task_arn: None,
            task_status: None,
            stop_code: None,
            stopped_reason: None,
            exit_code: None,
            created_at: now,
            started_at: None,
            stopped_at: None,
            event_version: None,
            timed_out_after: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: JobId,
    pub owner: Owner,
    pub definition: String,
    /// The definition's job container, recorded at creation so that a later change of
    /// configuration never reinterprets the events of a job already running.
    pub container: String,
    pub parameters: BTreeMap<String, String>,
    pub idempotency_key: Option<String>,
    pub status: JobStatus,
    pub status_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub attempts: Attempts,
    /// Why the current attempt has no task yet, and when it is tried next.
    pub queue: Option<Queued>,
    /// The concurrency slots the job holds while its task may run.
    pub slots: Vec<SlotPool>,
    /// The job waited in the launch queue at some point, so its submission was answered
    /// `201` whatever became of it: a replay of that request is answered the same way.
    pub was_queued: bool,
    /// Its definition's retry policy as it was when the job was submitted (with fewer
    /// attempts if the request asked), so that a later change of configuration never
    /// reinterprets a job already running.
    pub retry: RetryPolicy,
    /// How long one attempt may run (`timeoutSeconds`), if limited.
    pub timeout: Option<Duration>,
    /// When its owner asked to cancel it: from then on it never launches again, and it
    /// ends CANCELLED.
    pub cancel_requested_at: Option<DateTime<Utc>>,
    /// Its definition's log configuration at submission (`None`: no log is kept).
    pub logs: Option<super::LogSettings>,
}

/// What a new job is made of, once the request has been validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    pub id: JobId,
    pub owner: Owner,
    pub definition: String,
    pub container: String,
    pub parameters: BTreeMap<String, String>,
    pub idempotency_key: Option<IdempotencyKey>,
    pub retry: RetryPolicy,
    pub timeout: Option<Duration>,
    pub logs: Option<super::LogSettings>,
}

impl Job {
    pub fn submitted(new: NewJob, now: DateTime<Utc>) -> Self {
        Self {
            id: new.id,
            owner: new.owner,
            definition: new.definition,
            container: new.container,
            parameters: new.parameters,
            idempotency_key: new.idempotency_key.map(|k| k.0),
            status: JobStatus::Submitted,
            status_reason: None,
            created_at: now,
            updated_at: now,
            attempts: Attempts::first(now),
            queue: None,
            slots: Vec::new(),
            was_queued: false,
            retry: new.retry,
            timeout: new.timeout,
            cancel_requested_at: None,
            logs: new.logs,
        }
    }

    pub fn current_attempt(&self) -> &Attempt {
        self.attempts.current()
    }

    /// Recorded, but no task is known for the current attempt yet: the launch has not
    /// happened, or its outcome was lost (crash, timeout) and may be retried.
    pub fn awaiting_launch(&self) -> bool {
        self.status == JobStatus::Submitted && self.current_attempt().task_arn.is_none()
    }

    /// ECS refused to run the current attempt: no task exists and none ever will.
    pub fn failed_at_launch(&self) -> bool {
        self.status == JobStatus::Failed && self.current_attempt().task_arn.is_none()
    }

    /// ECS refused the launch of the request that created the job, which was answered
    /// with that refusal (`502`); a job that waited first was answered `201`.
    pub fn refused_at_submission(&self) -> bool {
        self.failed_at_launch() && !self.was_queued
    }

    /// Whether a request carries the same body as the one that created this job.
    pub fn matches_request(&self, definition: &str, parameters: &BTreeMap<String, String>) -> bool {
        self.definition == definition && &self.parameters == parameters
    }

    /// When the job started running: its first attempt that reached a container.
    pub fn started_at(&self) -> Option<DateTime<Utc>> {
        self.attempts.iter().find_map(|a| a.started_at)
    }

    /// When the job reached its terminal status.
    pub fn stopped_at(&self) -> Option<DateTime<Utc>> {
        if !self.status.is_terminal() {
            return None;
        }
        Some(self.current_attempt().stopped_at.unwrap_or(self.updated_at))
    }
}

/// Why recorded attempts cannot be a job's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidAttempts {
    #[error("a job has at least one attempt")]
    None,
    #[error("attempt {number} is recorded in position {position}")]
    OutOfOrder { number: u32, position: u32 },
}

/// A job's attempts: never empty, numbered 1, 2, … in order, the last one the current.
/// A job is created with its first attempt, so "the current attempt" always exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempts {
    earlier: Vec<Attempt>,
    current: Attempt,
}

impl Attempts {
    fn first(now: DateTime<Utc>) -> Self {
        Self {
            earlier: Vec::new(),
            current: Attempt::new(1, now),
        }
    }

    /// Attempts as a store recorded them; refused unless numbered 1, 2, … in order.
    pub fn from_recorded(attempts: Vec<Attempt>) -> Result<Self, InvalidAttempts> {
        if let Some((position, attempt)) = (1..).zip(&attempts).find(|(n, a)| a.number != *n) {
            return Err(InvalidAttempts::OutOfOrder {
                number: attempt.number,
                position,
            });
        }
        let mut earlier = attempts;
        let current = earlier.pop().ok_or(InvalidAttempts::None)?;
        Ok(Self { earlier, current })
    }

    pub fn current(&self) -> &Attempt {
        &self.current
    }

    pub fn current_mut(&mut self) -> &mut Attempt {
        &mut self.current
    }

    /// In order, the current one last.
    pub fn iter(&self) -> impl Iterator<Item = &Attempt> {
        self.earlier.iter().chain(std::iter::once(&self.current))
    }

    /// Starts the next attempt at `now`; the current one becomes an earlier one.
    pub fn start_next(&mut self, now: DateTime<Utc>) -> &Attempt {
        let next = Attempt::new(self.current.number + 1, now);
        self.earlier.push(std::mem::replace(&mut self.current, next));
        &self.current
    }

    /// Adds `attempt`, numbered next, as the current one.
    pub(super) fn push(&mut self, attempt: Attempt) {
        debug_assert_eq!(attempt.number, self.current.number + 1);
        self.earlier.push(std::mem::replace(&mut self.current, attempt));
    }

    /// How many attempts there are.
    pub fn count(&self) -> u32 {
        self.current.number
    }

    /// Replaces the attempt with `attempt`'s number, if the job has it.
    pub(super) fn replace(&mut self, attempt: Attempt) {
        let slot = if attempt.number == self.current.number {
            Some(&mut self.current)
        } else {
            self.earlier.iter_mut().find(|a| a.number == attempt.number)
        };
        if let Some(slot) = slot {
            *slot = attempt;
        }
    }
}

/// The environment variable that gives every job's container its job id.
pub const JOB_ID_VARIABLE: &str = "JOB_ID";
/// The environment variable that gives every job's container its attempt number.
pub const JOB_ATTEMPT_VARIABLE: &str = "JOB_ATTEMPT";

/// `startedBy` of the tasks this service runs: names the job and the attempt, so an
/// event finds its job with one keyed read whether or not the task ARN is recorded yet.
/// Letters, digits, `-` and `/` only, well under ECS's 128 characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartedBy {
    pub job_id: JobId,
    pub attempt: u32,
}

impl StartedBy {
    /// Prefix the EventBridge rule filters on; tasks without it are not ours.
    pub const PREFIX: &'static str = "job-tracker/";

    pub fn parse(value: &str) -> Option<Self> {
        let (job_id, attempt) = value.strip_prefix(Self::PREFIX)?.split_once('/')?;
        let attempt: u32 = attempt.parse().ok().filter(|n| *n > 0)?;
        Some(Self {
            job_id: JobId::parse(job_id)?,
            attempt,
        })
    }

    /// RunTask's `clientToken` (≤ 64 ASCII): a retried launch of the same attempt gets
    /// the same task back from ECS instead of a second one.
    pub fn client_token(&self) -> String {
        format!("{}-{}", self.job_id, self.attempt)
    }
}

impl fmt::Display for StartedBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}/{}", Self::PREFIX, self.job_id, self.attempt)
    }
}
