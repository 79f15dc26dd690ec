//! The one run path: every caller (the CLI today, the server and agents next) starts, observes,
//! cancels and re-runs workflow runs through this crate.
//!
//! The flow: a [`RunRequest`] (repository, event, workflows, inputs, secrets, vars, env,
//! options) → [`prepare`] finds the repository (`git`), reads `.gantry/config.toml` (`config`),
//! loads and checks every workflow (`workflows`, `preflight`; any error stops here), builds the
//! event (`event`), selects the workflows whose `on:` matches, lowers each to a plan and keeps
//! the `-j` jobs → [`Prepared`] (what `gantry run -l`/`--dry-run` print) →
//! [`Prepared::start`] removes what killed runs left (`workroot`, Docker objects), runs each plan
//! with the scheduler on the host executor, records it under `.gantry/runs/<n>/` (`record`) and
//! hands every [`RunEvent`] to the subscribers ([`EventStream`]) → [`RunHandle::wait`] gives each
//! run's [`Finished`] outcome; [`Canceller`] cancels gracefully or kills; [`Finished::rerun`]
//! makes the [`Rerun`] of a finished run (all jobs, failed jobs and dependents, one job).
//!
//! Architecture invariant: nothing here prints; terminal rendering is the caller's. Secrets are
//! [`Secrets`] from the request to the executor, and every event and outcome a subscriber gets
//! is masked. Tests: `tests/api.rs` (a throwaway git repository on the host executor, observed,
//! cancelled, re-run) and the binary's `crates/gantry/tests/`.

pub mod actions;
pub mod config;
pub mod dotenv;
pub mod error;
pub mod event;
pub mod git;
mod handle;
pub mod joblog;
pub mod preflight;
mod prepare;
pub mod record;
mod request;
pub mod workflows;
pub mod workroot;

pub use error::{Error, Result, WorkflowErrors};
pub use gantry_executor::fetch::{ActionSource, FetchError, Fetched, Pulled};
pub use gantry_plan::{GithubServer, Secret, Secrets};
pub use gantry_scheduler::{RunEvent, RunOutcome};
pub use handle::{default_action_cache, Canceller, EventStream, Finished, RunHandle, RunUpdate};
pub use prepare::{prepare, PlannedRun, Prepared};
pub use request::{EventRequest, Rerun, RerunScope, RunOptions, RunRequest, WorkspaceMode};
