//! Event + workflow -> job graph IR (self-contained, serialisable job specs).
//!
//! Architecture invariant: no IO and no process spawning. This crate owns the contract between
//! the scheduler and executors ([`spec`]): a [`JobSpec`] is a complete, serialisable description
//! of one job, so a remote agent can run the very same value.

pub mod lower;
pub mod matrix;
pub mod plan;
pub mod select;
pub mod spec;

pub use lower::{lower, LowerError, RunContext, WorkflowSource, MAX_CALL_DEPTH};
pub use plan::{
    CallInput, CallJob, CallSecrets, CalledWorkflow, ConcurrencySpec, GraphError, JobBody,
    JobGraph, Plan, PlanJob, RunInfo, StepsJob, StrategySpec, TemplateValue,
};
pub use select::{resolve_dispatch_inputs, select, EventInfo, InputError, NotTriggered};
pub use spec::{
    Conclusion, Executor, JobEvent, JobFuture, JobResult, JobSpec, RunDefaults, StepAction,
    StepSpec, WorkspaceSpec,
};
