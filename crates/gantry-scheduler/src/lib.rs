//! Runs a plan: ready set, job `if:`, matrix expansion, needs results and outputs, fail-fast,
//! max-parallel, concurrency groups, job timeouts, cancellation, reusable workflow calls.
//!
//! Architecture invariant: the scheduler owns everything between jobs and nothing inside them;
//! a job is handed to an [`gantry_plan::Executor`] as a self-contained `JobSpec`. All state lives
//! in one task ([`run::run_plan`]); legs run as tasks that report back through a channel, and
//! observers receive a closed enum of [`RunEvent`]s and never reach back. Time is tokio time, so
//! tests drive it with a paused clock. Tests: `tests/scenarios.rs` runs every
//! `tests/scenarios/*.toml` on the [`fake`] executor; `benches/scheduler.rs` measures overhead.

pub mod concurrency;
mod error;
mod eval;
pub mod event;
pub mod fake;
pub mod run;

pub use concurrency::{ConcurrencyGroups, GroupPermit};
pub use event::{RunEvent, RunOutcome};
pub use run::{run_plan, SchedulerOptions, CANCEL_GRACE, DEFAULT_TIMEOUT_MINUTES};
