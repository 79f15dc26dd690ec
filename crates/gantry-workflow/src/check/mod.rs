//! Semantic checks of a loaded workflow: the rules beyond structure (events, filters, cron,
//! `needs:` graph, matrix, expressions and their contexts, local actions and reusable
//! workflows, permissions, runner labels, script injection...).
//!
//! Invariant: checks never fail and never panic; they only add [`Diagnostic`]s, each with a
//! rule `code` (the kind names actionlint uses, so results compare with its test data). Data
//! tables live in their own modules and are built at compile time. Tests: unit tests in each
//! module, `tests/actionlint.rs` for the conformance suite.
//!
//! [`Diagnostic`]: crate::Diagnostic

pub mod contexts;
pub mod cron;
pub mod events;
pub mod glob;
pub mod permissions;
pub mod runner_labels;
mod timezones;
pub mod untrusted;
