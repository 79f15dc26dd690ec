//! Fuzzes the workflow loader: `load_workflow` then `check_workflow` (with no project files),
//! and `load_action`, on arbitrary bytes. Oracles: no panic, no stack overflow, no hang or
//! memory blow-up (run with `-timeout` and `-rss_limit_mb`), and every diagnostic's span is
//! well formed: 1-based line and column inside the text (line at most the number of `\n` + 1,
//! column at most the line's length in chars + 1), byte offset on a char boundary of the
//! loaded text, and line/column agreeing with the offset; start never after end.

#![no_main]

use gantry_workflow::check::{check_workflow, NoProject};
use gantry_workflow::{load_action, load_workflow, Diagnostic, Pos};
use libfuzzer_sys::fuzz_target;

/// Byte offset where each line starts (line 1 at index 0); lines end at `\n` only.
fn line_starts(text: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect()
}

fn check_pos(pos: Pos, text: &str, starts: &[usize], what: &str, d: &Diagnostic) {
    let ctx = || format!("{what} {pos:?} of {d:?} in {} bytes, {} lines", text.len(), starts.len());
    assert!(pos.line >= 1 && pos.col >= 1, "{}: not 1-based", ctx());
    assert!(pos.line as usize <= starts.len(), "{}: line past the end", ctx());
    let offset = pos.offset as usize;
    assert!(offset <= text.len(), "{}: offset past the end", ctx());
    assert!(text.is_char_boundary(offset), "{}: offset splits a char", ctx());
    let line_start = starts[pos.line as usize - 1];
    let line_end = starts.get(pos.line as usize).map_or(text.len(), |next| next - 1);
    let line_text = &text[line_start..line_end];
    assert!(
        pos.col as usize <= line_text.chars().count() + 1,
        "{}: column past the end of the line",
        ctx()
    );
    assert!(
        offset >= line_start && offset <= line_end,
        "{}: offset not on its line ({line_start}..={line_end})",
        ctx()
    );
    let col = text[line_start..offset].chars().count() + 1;
    assert_eq!(col, pos.col as usize, "{}: column disagrees with offset", ctx());
}

fn check_diagnostics(diagnostics: &[Diagnostic], text: &str) {
    let starts = line_starts(text);
    for d in diagnostics {
        check_pos(d.span.start, text, &starts, "start", d);
        check_pos(d.span.end, text, &starts, "end", d);
        assert!(
            d.span.start.offset <= d.span.end.offset,
            "span reversed: {d:?}"
        );
        assert!(!d.code.is_empty() && !d.message.is_empty(), "empty diagnostic: {d:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let (workflow, diagnostics) = load_workflow(data);
    check_diagnostics(&diagnostics, &workflow.source);
    let checked = check_workflow(&workflow, &NoProject);
    check_diagnostics(&checked, &workflow.source);

    let (action, diagnostics) = load_action(data);
    check_diagnostics(&diagnostics, &action.source);
});
