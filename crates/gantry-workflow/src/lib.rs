//! Workflow and action.yml text -> typed model with spans, plus diagnostics. No IO.
//!
//! The pipeline, one file per stage: `yaml` (bytes -> spanned YAML tree with safety limits),
//! `load` (tree -> typed `model` plus structural diagnostics), `srcmap` (offsets inside scalars ->
//! file positions), `check` (semantic rules over the model), `project` (reading repository files:
//! trait and path guard). Beside them: `uses` (the parsed form of `uses:` values) and `glob`
//! (GitHub's filter patterns: validation for the checks, matching for the run engine).
//!
//! Entry points: [`load_workflow`] / [`load_action`] (and [`load::load_workflow_with`] for
//! custom [`yaml::Limits`]) return `(model, Vec<Diagnostic>)`. Every string that may hold
//! `${{ }}` is a [`model::TStr`] with its parsed template; `if:` values are
//! [`model::Condition`]s; [`model::TStr::pos_at`] maps an expression span back to the file.
//!
//! Architecture invariant: loading never fails and never panics; it returns the model and a
//! list of [`Diagnostic`]s with positions. Whatever IO is needed (local `uses:` paths) goes
//! through the [`Project`] trait the caller implements, behind the one path guard [`RepoPath`]. Tests: `tests/` (YAML layer, loader diagnostics,
//! languageservices and actionlint conformance, corpora).

pub mod check;
pub mod diagnostic;
pub mod glob;
pub mod load;
pub mod model;
pub mod project;
pub mod srcmap;
pub mod uses;
pub mod yaml;

pub use diagnostic::{Diagnostic, Pos, Severity, Span};
pub use load::{load_action, load_workflow};
pub use model::{Action, Job, Step, Workflow};
pub use project::{NoProject, Project, ReadError, RepoPath};
pub use uses::{UsesError, UsesRef};
