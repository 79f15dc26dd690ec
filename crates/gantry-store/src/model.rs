//! The store's typed rows: ids, the small enums kept as lowercase TEXT (`as_str`/`parse` are the
//! one mapping between a variant and its column value) and one struct per table.
//! Times are Unix milliseconds, UTC.

use crate::error::{Result, StoreError};

macro_rules! ids {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    )*};
}

ids! {
    /// A registered repository.
    RepositoryId;
    /// A workflow file of a repository.
    WorkflowId;
    /// A run; GitHub's `run_id`, unique across repositories.
    RunId;
    /// One attempt of a run (the row, not the `run_attempt` number).
    AttemptId;
    /// A job of one attempt (one matrix leg).
    JobId;
    /// A user.
    UserId;
    /// An API token.
    TokenId;
    /// An artifact.
    ArtifactId;
    /// A trigger waiting in the outbox.
    TriggerId;
    /// An audit event.
    AuditId;
}

macro_rules! str_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal,)* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name { $($variant,)* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)* }
            }

            pub fn parse(text: &str) -> Option<$name> {
                match text { $($text => Some($name::$variant),)* _ => None }
            }

            pub(crate) fn from_column(column: &'static str, text: String) -> Result<$name> {
                $name::parse(&text).ok_or(StoreError::BadValue { column, value: text })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

str_enum! {
    /// Where a run, attempt, job or step is (GitHub's `status`).
    Status {
        Queued => "queued",
        InProgress => "in_progress",
        Completed => "completed",
        Waiting => "waiting",
    }
}

str_enum! {
    /// How something completed (GitHub's `conclusion`).
    Conclusion {
        Success => "success",
        Failure => "failure",
        Cancelled => "cancelled",
        Skipped => "skipped",
        Neutral => "neutral",
        TimedOut => "timed_out",
        ActionRequired => "action_required",
        Stale => "stale",
        StartupFailure => "startup_failure",
    }
}

str_enum! {
    /// A workflow's state (GitHub's `state` of a workflow).
    WorkflowState {
        Active => "active",
        DisabledManually => "disabled_manually",
        Deleted => "deleted",
    }
}

str_enum! {
    /// What a user or token may do; each role may do what the ones before it may.
    Role {
        Viewer => "viewer",
        Developer => "developer",
        Maintainer => "maintainer",
        Admin => "admin",
    }
}

impl Role {
    fn rank(self) -> u8 {
        match self {
            Role::Viewer => 0,
            Role::Developer => 1,
            Role::Maintainer => 2,
            Role::Admin => 3,
        }
    }

    /// True when this role may do what `needed` may.
    pub fn allows(self, needed: Role) -> bool {
        self.rank() >= needed.rank()
    }

    /// The lesser of two roles: a token never grants more than its user has.
    pub fn min(self, other: Role) -> Role {
        if self.rank() <= other.rank() {
            self
        } else {
            other
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repository {
    pub id: RepositoryId,
    pub owner: String,
    pub name: String,
    pub path: Option<String>,
    pub clone_url: Option<String>,
    pub default_branch: String,
    /// Where the webhook secret is kept (a file or key name), never the secret itself.
    pub webhook_secret_ref: Option<String>,
    pub created_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewRepository {
    pub owner: String,
    pub name: String,
    pub path: Option<String>,
    pub clone_url: Option<String>,
    pub default_branch: String,
    pub webhook_secret_ref: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workflow {
    pub id: WorkflowId,
    pub repository_id: RepositoryId,
    pub path: String,
    pub name: String,
    pub state: WorkflowState,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A run as listed: everything but the event payload and the diagnostics (`RunDetail`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    pub id: RunId,
    pub repository_id: RepositoryId,
    pub workflow_id: WorkflowId,
    pub run_number: i64,
    pub run_attempt: i64,
    pub event: String,
    pub git_ref: Option<String>,
    pub head_branch: Option<String>,
    pub head_sha: String,
    pub actor: String,
    pub status: Status,
    pub conclusion: Option<Conclusion>,
    /// Why the run concluded the way it did when the jobs do not say it ("the server stopped").
    pub conclusion_reason: Option<String>,
    pub display_title: String,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub updated_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunDetail {
    pub run: Run,
    /// The event payload, JSON.
    pub payload: String,
    /// The workflow file's diagnostics, JSON, for an "invalid workflow file" run.
    pub diagnostics: Option<String>,
}

/// What creating a run needs; the store allocates `id` and `run_number`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewRun {
    pub workflow_id: WorkflowId,
    pub event: String,
    pub git_ref: Option<String>,
    pub head_branch: Option<String>,
    pub head_sha: String,
    pub actor: String,
    pub display_title: String,
    pub payload: String,
    /// `Some` records a run that failed at once with these diagnostics ("invalid workflow file").
    pub diagnostics: Option<String>,
    pub created_at: i64,
    /// The outbox entry this run answers; it is marked done in the run's transaction.
    pub trigger: Option<TriggerId>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    pub id: AttemptId,
    pub run_id: RunId,
    pub attempt: i64,
    pub actor: String,
    pub status: Status,
    pub conclusion: Option<Conclusion>,
    pub conclusion_reason: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub updated_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewJob {
    pub job_key: String,
    pub name: String,
    /// JSON object of the matrix leg, `None` without a matrix.
    pub matrix: Option<String>,
    /// `Queued` for a job ready to run, `Waiting` for one held (needs, approval).
    pub status: Status,
    pub environment: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    pub id: JobId,
    pub run_id: RunId,
    pub attempt_id: AttemptId,
    pub job_key: String,
    pub name: String,
    pub matrix: Option<String>,
    pub status: Status,
    pub conclusion: Option<Conclusion>,
    pub conclusion_reason: Option<String>,
    pub runner: Option<String>,
    pub environment: Option<String>,
    pub outputs: Option<String>,
    pub created_at: i64,
    pub claimed_at: Option<i64>,
    pub started_at: Option<i64>,
    pub completed_at: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub job_id: JobId,
    pub number: i64,
    pub name: String,
    pub status: Status,
    pub conclusion: Option<Conclusion>,
    pub started_at: Option<i64>,
    pub completed_at: Option<i64>,
}

/// Where a batch of a job's log lines went: `line_count` lines, numbered from `first_line`
/// (1-based, per job), at `byte_offset..byte_offset + byte_len` of `file` (relative to the
/// data dir).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogChunk {
    pub job_id: JobId,
    pub step_number: Option<i64>,
    pub file: String,
    pub byte_offset: i64,
    pub byte_len: i64,
    pub first_line: i64,
    pub line_count: i64,
}

/// A step's (or the job's, `step_number: None`) log span, summed over its chunks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogSpan {
    pub step_number: Option<i64>,
    pub chunks: i64,
    pub bytes: i64,
    pub lines: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artifact {
    pub id: ArtifactId,
    pub run_id: RunId,
    pub name: String,
    pub size_bytes: i64,
    pub path: String,
    pub created_at: i64,
    pub expires_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub login: String,
    pub role: Role,
    pub created_at: i64,
}

/// A token as listed: its prefix, never its secret or hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub id: TokenId,
    pub user_id: UserId,
    pub name: String,
    pub role: Role,
    pub prefix: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// Who a presented token belongs to and what it may do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub user: User,
    pub token_id: TokenId,
    /// The token's role bounded by the user's.
    pub role: Role,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAuditEvent {
    pub actor_user_id: Option<UserId>,
    /// A login, or `anonymous`/`system`.
    pub actor: String,
    pub action: String,
    pub target: String,
    pub remote_addr: Option<String>,
    /// JSON object.
    pub details: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent {
    pub id: AuditId,
    pub at: i64,
    pub actor_user_id: Option<UserId>,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub remote_addr: Option<String>,
    pub details: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewTrigger {
    pub repository_id: RepositoryId,
    pub event: String,
    /// Where it came from: `hook`, `webhook`, `dispatch`, `schedule`, `api`.
    pub source: String,
    pub payload: String,
    /// `X-GitHub-Delivery` of a webhook; a second delivery with the same id is dropped.
    pub delivery_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trigger {
    pub id: TriggerId,
    pub repository_id: RepositoryId,
    pub event: String,
    pub source: String,
    pub payload: String,
    pub delivery_id: Option<String>,
    pub created_at: i64,
    pub claimed_at: Option<i64>,
    pub claimed_by: Option<String>,
}

/// What `Store::enqueue_trigger` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Enqueued {
    Queued(TriggerId),
    /// The delivery id was seen before; nothing was queued.
    DuplicateDelivery,
}

/// Who holds a concurrency group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConcurrencyHold {
    pub repository_id: RepositoryId,
    pub group_name: String,
    pub run_id: RunId,
    pub job_id: Option<JobId>,
    pub acquired_at: i64,
}

/// What `Store::recover` changed after an unclean stop.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Jobs that had started and were concluded as failed.
    pub jobs_failed: u64,
    /// Jobs that were claimed but had not started, queued again.
    pub jobs_requeued: u64,
    /// Runs concluded because none of their jobs can still run.
    pub runs_concluded: u64,
    /// Outbox entries claimed by the dead server, offered again.
    pub triggers_released: u64,
    /// Concurrency groups held by runs that are now completed.
    pub holds_released: u64,
}
