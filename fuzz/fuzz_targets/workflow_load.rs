//! Fuzzes the workflow loader: `load_workflow` then `check_workflow` (with no project files) on
//! arbitrary bytes. Oracles: no panic, no stack overflow, no hang or memory blow-up (run with
//! `-timeout` and `-rss_limit_mb`); the model's `source` is the input as decoded (BOM removed,
//! invalid UTF-8 replaced); and every diagnostic's start and end are positions of that text
//! under the loader's own line index (`LineIndex::check_pos`: the line exists, the offset is a
//! char boundary on it, the column agrees with the offset), start not after end, with a rule
//! code and a message. Regressions: `crates/gantry-workflow/tests/fuzz_regressions.rs`.

#![no_main]

use gantry_fuzz::{assert_decoded, assert_diagnostics};
use gantry_workflow::check::{check_workflow, NoProject};
use gantry_workflow::load_workflow;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (workflow, diagnostics) = load_workflow(data);
    assert_decoded(data, &workflow.source);
    assert_diagnostics(&diagnostics, &workflow.source);
    let checked = check_workflow(&workflow, &NoProject);
    assert_diagnostics(&checked, &workflow.source);
});
