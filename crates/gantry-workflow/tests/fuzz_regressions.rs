//! Regression tests for what fuzzing (`fuzz/fuzz_targets/workflow_load.rs`) found in the loader
//! and the checks. Each test is named for the bug it pins and holds its input inline.

use gantry_workflow::check::{check_workflow, NoProject};
use gantry_workflow::load_workflow;

/// `line:col code` of every diagnostic, after checking that its byte offset agrees with its
/// line and column (what the fuzz target asserts).
fn errors(src: &str) -> Vec<String> {
    let (workflow, mut diagnostics) = load_workflow(src.as_bytes());
    diagnostics.extend(check_workflow(&workflow, &NoProject));
    diagnostics
        .iter()
        .map(|d| {
            let pos = d.span.start;
            let line_start = src
                .split_inclusive('\n')
                .take(pos.line as usize - 1)
                .map(str::len)
                .sum::<usize>();
            let col_offset = line_start
                + src[line_start..]
                    .chars()
                    .take(pos.col as usize - 1)
                    .map(char::len_utf8)
                    .sum::<usize>();
            assert_eq!(
                pos.offset as usize, col_offset,
                "offset and column disagree: {d:?}"
            );
            format!("{}:{} {}", pos.line, pos.col, d.code)
        })
        .collect()
}

/// The column of a glob error moved to the offending character but its byte offset stayed at
/// the start of the pattern, so renderers underlined the wrong place.
#[test]
fn glob_error_offset_follows_its_column() {
    let tail = "jobs:\n  j:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n";
    assert_eq!(
        errors(&format!("on:\n  push:\n    tags:\n      - 'v*+'\n{tail}")),
        ["4:12 glob"]
    );
    assert_eq!(
        errors(&format!("on:\n  push:\n    tags:\n      - 'é*+'\n{tail}")),
        ["4:12 glob"]
    );
}

/// A syntax error at the end of a file without a final newline was placed on a line after the
/// last one (the scanner's end-of-stream mark), outside the text.
#[test]
fn syntax_error_at_end_of_text_stays_inside_it() {
    assert_eq!(errors("on: push\nj"), ["2:2 syntax-check"]);
    let (_, diagnostics) = load_workflow(b"on: push\nj\x04\x8e8\xe3\x8e8\xe3\x8e");
    assert!(!diagnostics.is_empty());
    for d in &diagnostics {
        assert!(d.span.start.line <= 2, "{d:?}");
    }
}

/// A scanner mark past the end of its line (a lone `\r` line break, invalid UTF-8 replaced by
/// wider characters) gave a column beyond the line's last character.
#[test]
fn syntax_error_column_stays_on_its_line() {
    let input: &[u8] = b"on:\r [push]\n\njobs:\n  tesname\xb8\xb8\xb8\xb8\xb8\xb8\xb8\xb8\xb8\xb8\xb8\xb8\xb8\xb8\xb8\xb8\xb8\xb8\xb8\xb8\xb8\xb8\xb8\xb8\xb8\xb8\xb8\xb8\xb8\xb8\xb8\xb8\xb8\xb8\xb8\xb8\xb8\x98\xb8\xb8\xb8  :\n        foo: ['a', 'b']\n        excludn: ubuntu-latesfoo: ${\xfb giho ${{ matrix.foo }}\n";
    let (workflow, diagnostics) = load_workflow(input);
    assert!(
        diagnostics.iter().any(|d| d.code == "syntax-check"),
        "{diagnostics:?}"
    );
    // Lines as YAML breaks them (the input has a lone CR).
    let lines = gantry_workflow::yaml::split_lines(&workflow.source);
    for d in &diagnostics {
        let pos = d.span.start;
        let line = lines
            .get(pos.line as usize - 1)
            .unwrap_or_else(|| panic!("line past the end: {d:?}"));
        assert!(
            pos.col as usize <= line.chars().count() + 1,
            "column past the end of the line: {d:?}"
        );
        assert!(pos.offset as usize <= workflow.source.len(), "{d:?}");
    }
}
