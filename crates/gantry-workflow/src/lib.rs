//! Workflow and action.yml text -> typed model with spans, plus diagnostics. No IO.
