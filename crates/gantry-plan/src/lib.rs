//! Event + workflow -> job graph IR (self-contained, serialisable job specs).
//!
//! Architecture invariant: no IO and no process spawning. This crate owns the contract between
//! the scheduler and executors ([`spec`]): a [`JobSpec`] is a complete, serialisable description
//! of one job, so a remote agent can run the very same value.
//!
//! The pipeline, one module per stage:
//! 1. `gantry_workflow::load_workflow(bytes)` gives the model and diagnostics (refuse to run on
//!    errors);
//! 2. [`select::select`] decides whether `on:` fires for the event ([`EventInfo`], e.g.
//!    [`EventInfo::from_payload`]); [`select::resolve_dispatch_inputs`] checks
//!    `workflow_dispatch` inputs and gives the `inputs` context;
//! 3. [`context::github_context`] builds the `github` context;
//! 4. [`lower::lower`] turns the model plus a [`RunContext`] into a [`Plan`], reading local
//!    reusable workflows through [`gantry_workflow::Project`];
//! 5. `gantry_scheduler::run_plan(plan, executor, options, events, cancel)` runs it.
//!
//! [`matrix`] holds GitHub's matrix expansion, used by the scheduler when a job becomes ready.

pub mod container;
pub mod context;
mod error_text;
pub mod flow;
pub mod lower;
pub mod matrix;
pub mod plan;
pub mod secret;
pub mod select;
pub mod spec;

pub use container::{ContainerSpec, CredentialsSpec, ServicesSpec};
pub use context::{github_context, GithubInfo, GithubServer};
pub use error_text::error_chain;
pub use lower::{lower, lower_action_steps, LowerError, RunContext, MAX_CALL_DEPTH};
pub use plan::{
    CallInput, CallJob, CallSecrets, CalledWorkflow, ConcurrencySpec, GraphError, JobBody,
    JobGraph, Plan, PlanJob, RunInfo, StepsJob, StrategySpec, TemplateValue,
};
pub use secret::{Secret, Secrets};
pub use select::{resolve_dispatch_inputs, select, EventInfo, InputError, NotTriggered};
pub use spec::{
    Conclusion, Executor, JobEvent, JobFuture, JobResult, JobSpec, RunDefaults, StepAction,
    StepSpec, WorkspaceSpec,
};
