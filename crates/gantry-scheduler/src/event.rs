//! What the scheduler tells its observers (store, log stream, UI, terminal renderer).
//!
//! Invariant: a closed enum sent through a channel; observers never reach back into the
//! scheduler. For every job key, `JobQueued` comes before `JobStarted`, which comes before its
//! `JobEvent`s and its one `JobFinished`; `RunFinished` is last. Jobs that never start (skipped,
//! cancelled while queued) get `JobFinished` without `JobStarted`.

use gantry_plan::{Conclusion, JobEvent, JobResult};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RunEvent {
    RunStarted {
        run_id: String,
        workflow_name: String,
        /// `run-name:` evaluated; the workflow name when absent, blank or invalid.
        run_name: String,
    },
    /// A job (or a matrix leg) was created and waits for a slot.
    JobQueued {
        key: String,
        display_name: String,
    },
    JobStarted {
        key: String,
        display_name: String,
    },
    JobEvent {
        key: String,
        event: JobEvent,
    },
    JobFinished {
        key: String,
        display_name: String,
        result: JobResult,
    },
    RunFinished {
        conclusion: Conclusion,
    },
}

/// One finished job as the run saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobOutcome {
    pub display_name: String,
    pub result: JobResult,
}

/// The end state of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunOutcome {
    pub conclusion: Conclusion,
    /// Every job and matrix leg that finished (including skipped ones), by key, in finish order.
    pub jobs: IndexMap<String, JobOutcome>,
    /// Per workflow job (matrix legs aggregated), by key: the result `needs` saw.
    pub needs_results: IndexMap<String, Conclusion>,
    /// Why the run as a whole failed or was cancelled before its jobs ran (an invalid job
    /// graph, a concurrency group that went to a newer run).
    pub error: Option<String>,
}
