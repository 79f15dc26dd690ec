//! Fuzzes the action.yml loader (`load_action`) on arbitrary bytes. Oracles: no panic, no stack
//! overflow, no hang or memory blow-up; the model's `source` is the input as decoded; every
//! diagnostic's start and end are positions of that text under the loader's line index, start
//! not after end. Regressions: `crates/gantry-workflow/tests/fuzz_regressions.rs`.

#![no_main]

use gantry_fuzz::{assert_decoded, assert_diagnostics};
use gantry_workflow::load_action;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (action, diagnostics) = load_action(data);
    assert_decoded(data, &action.source);
    assert_diagnostics(&diagnostics, &action.source);
});
