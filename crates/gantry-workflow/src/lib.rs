//! Workflow and action.yml text -> typed model with spans, plus diagnostics. No IO.
//!
//! Architecture invariant: loading never fails and never panics; it returns the model and a
//! list of [`Diagnostic`]s with positions. Whatever IO is needed (local `uses:` paths) goes
//! through a trait the caller implements.

pub mod diagnostic;

pub use diagnostic::{Diagnostic, Pos, Severity, Span};
