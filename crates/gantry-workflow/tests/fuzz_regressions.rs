//! Regression tests for what fuzzing (`fuzz/fuzz_targets/workflow_load.rs`) found in the loader
//! and the checks. Each test is named for the bug it pins and holds its input inline.

use gantry_workflow::check::{check_workflow, NoProject};
use gantry_workflow::yaml::LineIndex;
use gantry_workflow::{load_action, load_workflow, Diagnostic};

/// Asserts what the fuzz target asserts of every diagnostic: start and end are positions of the
/// loaded text under the loader's own line index, start not after end.
fn assert_positions(diagnostics: &[Diagnostic], source: &str) {
    let index = LineIndex::new(source);
    for d in diagnostics {
        for pos in [d.span.start, d.span.end] {
            if let Err(e) = index.check_pos(pos) {
                panic!("{e} in {source:?}: {d:?}");
            }
        }
        assert!(d.span.start.offset <= d.span.end.offset, "{d:?}");
    }
}

/// `line:col code` of every diagnostic of loading and checking `src` as a workflow, after
/// checking their positions.
fn errors(src: &str) -> Vec<String> {
    errors_of_bytes(src.as_bytes())
}

fn errors_of_bytes(src: &[u8]) -> Vec<String> {
    let (workflow, mut diagnostics) = load_workflow(src);
    diagnostics.extend(check_workflow(&workflow, &NoProject));
    assert_positions(&diagnostics, &workflow.source);
    diagnostics
        .iter()
        .map(|d| format!("{}:{} {}", d.span.start.line, d.span.start.col, d.code))
        .collect()
}

/// [`errors`] for `src` loaded as an action.yml.
fn action_errors(src: &str) -> Vec<String> {
    let (action, diagnostics) = load_action(src.as_bytes());
    assert_positions(&diagnostics, &action.source);
    diagnostics
        .iter()
        .map(|d| format!("{}:{} {}", d.span.start.line, d.span.start.col, d.code))
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
    assert_positions(&diagnostics, &workflow.source);
}

/// `\r )` (a lone CR, then a stray `)`): the loader rightly reports line 2, since a lone CR
/// breaks lines in YAML, but the fuzz oracle counted lines at LF only and called it past the
/// end. The oracle now uses the loader's [`LineIndex`].
#[test]
fn lone_cr_is_a_line_break_for_diagnostics() {
    let found = errors("\r )");
    assert!(found.iter().all(|e| e.starts_with("2:")), "{found:?}");
    assert!(found.contains(&"2:2 syntax-check".to_string()), "{found:?}");
    assert!(action_errors("\r )").iter().all(|e| e.starts_with("2:")));
}

/// CRLF is one line break, not two: the `)` is on line 2.
#[test]
fn crlf_is_one_line_break() {
    let found = errors("\r\n )");
    assert!(found.contains(&"2:2 syntax-check".to_string()), "{found:?}");
    assert!(found.iter().all(|e| e.starts_with("2:")), "{found:?}");
}

/// Two lone CRs are two line breaks: the `)` is on line 3.
#[test]
fn two_lone_crs_are_two_line_breaks() {
    let found = errors("\r\r )");
    assert!(found.contains(&"3:2 syntax-check".to_string()), "{found:?}");
    assert!(found.iter().all(|e| e.starts_with("3:")), "{found:?}");
}

/// A CR ending the file opens an empty last line, where the end of the text is.
#[test]
fn cr_at_end_of_file_opens_a_last_line() {
    assert_eq!(
        LineIndex::new("on: push\r").line_range(2),
        Some(9..9),
        "the empty line after the final CR"
    );
    for src in [
        "on: push\r",
        "j\r",
        "\r",
        "on: [push\r",
        "x: 'a\r",
        "- a\r b: c\r",
    ] {
        errors(src);
        action_errors(src);
    }
    let found = errors("on: [push\r");
    assert!(
        !found.is_empty() && found.iter().all(|e| e.starts_with("2:")),
        "{found:?}"
    );
}

/// An expression error inside a block scalar whose lines end with lone CRs is mapped back to
/// the file through the same line breaks (`srcmap`).
#[test]
fn cr_inside_block_scalar_maps_expression_positions() {
    let src = "on: push\rjobs:\r  j:\r    runs-on: ubuntu-latest\r    steps:\r      - run: |\r          echo a\r          echo ${{ foo( }}\r";
    let found = errors(src);
    assert!(
        found
            .iter()
            .any(|e| e.starts_with("8:") && e.ends_with(" expression")),
        "{found:?}"
    );
    let crlf = src.replace('\r', "\r\n");
    assert_eq!(errors(&crlf), found, "CRLF and lone CR break lines alike");
}

/// Found by fuzzing `action_load`: the repair of an under-indented quoted scalar counted lines
/// at LF only, so after a lone CR it shifted the column of the wrong line and the end of the
/// document got column 3 for byte offset 8 (`n:\r '\n\n'`, where offset 8 is column 2).
#[test]
fn quoted_scalar_repair_after_lone_cr_keeps_columns() {
    let src = "n:\r '\n\n'";
    action_errors(src);
    errors(src);
    let (action, diagnostics) = load_action(src.as_bytes());
    let ends: Vec<_> = diagnostics.iter().map(|d| d.span.end).collect();
    assert!(
        ends.iter().all(|end| end.line != 4 || end.col == 2),
        "{ends:?} in {:?}",
        action.source
    );
    // The same repairs with CRLF and LF line breaks, and a comment touching a flow collection
    // on a line after a lone CR.
    for src in [
        "n:\r\n '\r\n\r\n'",
        "n:\n '\n\n'",
        "on:\r  push:\r    branches: [a]#c\r",
        "x: 1\ron: [push]#c\rjobs: {}#d\r",
    ] {
        errors(src);
        action_errors(src);
    }
}
