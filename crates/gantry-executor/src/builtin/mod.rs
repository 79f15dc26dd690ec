//! Native built-ins for well-known actions, used when the action cache has no copy of them.
//!
//! Invariant: each built-in honours the inputs listed in its own `//!` head and nothing more; an
//! input it cannot honour is reported as a warning, never silently dropped when it changes the
//! result. Built-ins run in-process (no network) and report through the same log/annotation
//! path as process steps. Tests: `tests/host.rs`.

pub mod artifact;
pub mod cache;
pub mod checkout;
pub mod setup;

use gantry_plan::StepSpec;
use indexmap::IndexMap;

use crate::job::{ActionResult, Frame, Job};

/// Whether `name` (`owner/repo[/path]`, lowercase) has a built-in.
pub fn is_builtin(name: &str) -> bool {
    matches!(
        name,
        "actions/checkout"
            | "actions/cache"
            | "actions/cache/restore"
            | "actions/cache/save"
            | "actions/upload-artifact"
            | "actions/download-artifact"
    ) || setup::tool_for(name).is_some()
}

/// Runs the built-in `name`.
pub(crate) async fn run(
    job: &mut Job,
    frame: &mut Frame,
    step: &StepSpec,
    log: Option<usize>,
    name: &str,
    inputs: IndexMap<String, String>,
    step_env: &IndexMap<String, String>,
) -> ActionResult {
    let _ = step;
    match name {
        "actions/checkout" => checkout::run(job, log, &inputs).await,
        "actions/cache" => cache::restore(job, log, &inputs, true),
        "actions/cache/restore" => cache::restore(job, log, &inputs, false),
        "actions/cache/save" => cache::save_now(job, log, &inputs),
        "actions/upload-artifact" => artifact::upload(job, log, &inputs),
        "actions/download-artifact" => artifact::download(job, log, &inputs),
        other => match setup::tool_for(other) {
            Some(tool) => setup::run(job, frame, log, other, tool, &inputs, step_env),
            None => {
                job.error(log, &format!("no built-in for '{other}'"));
                ActionResult::failure()
            }
        },
    }
}

/// An input by name (case-insensitive), trimmed; `None` when absent or empty.
pub(crate) fn input<'a>(inputs: &'a IndexMap<String, String>, name: &str) -> Option<&'a str> {
    inputs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// A multi-line input's non-empty lines.
pub(crate) fn input_lines(inputs: &IndexMap<String, String>, name: &str) -> Vec<String> {
    input(inputs, name)
        .map(|v| {
            v.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// A boolean input (`true`/`false`), with a default.
pub(crate) fn input_bool(inputs: &IndexMap<String, String>, name: &str, default: bool) -> bool {
    match input(inputs, name) {
        Some(v) => v.eq_ignore_ascii_case("true"),
        None => default,
    }
}
