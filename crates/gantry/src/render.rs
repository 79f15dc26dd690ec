//! Renders lint results: compiler-style text (file:line:col, the source line, a caret under the
//! span, the rule code) or JSON for tools.
//!
//! Invariant: rendering never fails on odd input (non-UTF-8 bytes, tabs, spans past the end of
//! a line or of the file); it prints what it can. Tests: `tests/cli.rs` snapshots the output.

use gantry_workflow::{Diagnostic, Severity};
use serde::Serialize;
use std::io::{self, Write};

/// Everything found in one file.
pub struct FileReport {
    pub path: String,
    pub source: Vec<u8>,
    pub diagnostics: Vec<Diagnostic>,
}

const RED: &str = "\x1b[1;31m";
const YELLOW: &str = "\x1b[1;33m";
const BLUE: &str = "\x1b[1;34m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

pub fn render_text(out: &mut impl Write, reports: &[FileReport], colored: bool) -> io::Result<()> {
    let paint = |style: &'static str| if colored { style } else { "" };
    let reset = paint(RESET);
    let (mut n_errors, mut n_warnings) = (0usize, 0usize);
    for report in reports {
        let text = String::from_utf8_lossy(&report.source);
        let lines = gantry_workflow::yaml::split_lines(&text);
        for d in &report.diagnostics {
            let (label, style) = match d.severity {
                Severity::Error => {
                    n_errors += 1;
                    ("error", RED)
                }
                Severity::Warning => {
                    n_warnings += 1;
                    ("warning", YELLOW)
                }
            };
            let start = d.span.start;
            writeln!(
                out,
                "{bold}{}:{}:{}:{reset} {}{label}{reset}: {} {blue}[{}]{reset}",
                report.path,
                start.line,
                start.col,
                paint(style),
                d.message,
                d.code,
                bold = paint(BOLD),
                blue = paint(BLUE),
            )?;
            let Some(line) = (start.line as usize)
                .checked_sub(1)
                .and_then(|i| lines.get(i))
            else {
                continue;
            };
            let gutter = start.line.to_string();
            let pad = " ".repeat(gutter.len());
            writeln!(out, "{blue}{gutter} |{reset} {line}", blue = paint(BLUE))?;
            let n_chars = line.chars().count();
            let col0 = (start.col.max(1) as usize - 1).min(n_chars);
            let width = if d.span.end.line == start.line && d.span.end.col > start.col {
                (d.span.end.col - start.col) as usize
            } else {
                1
            };
            let width = width.min(n_chars.saturating_sub(col0)).max(1);
            // Keep tabs so that the caret lines up under tab-indented text.
            let indent: String = line
                .chars()
                .take(col0)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            writeln!(
                out,
                "{blue}{pad} |{reset} {indent}{}{}{reset}",
                paint(style),
                "^".repeat(width),
                blue = paint(BLUE),
            )?;
        }
    }
    let n_files = reports.len();
    if n_errors + n_warnings == 0 {
        writeln!(
            out,
            "no problems found in {n_files} file{}",
            plural(n_files)
        )?;
    } else {
        writeln!(
            out,
            "{n_errors} error{}, {n_warnings} warning{} in {n_files} file{}",
            plural(n_errors),
            plural(n_warnings),
            plural(n_files)
        )?;
    }
    Ok(())
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

#[derive(Serialize)]
struct JsonDiagnostic<'a> {
    file: &'a str,
    line: u32,
    column: u32,
    end_line: u32,
    end_column: u32,
    severity: &'static str,
    code: &'static str,
    message: &'a str,
}

pub fn render_json(out: &mut impl Write, reports: &[FileReport]) -> io::Result<()> {
    let items: Vec<JsonDiagnostic> = reports
        .iter()
        .flat_map(|r| {
            r.diagnostics.iter().map(move |d| JsonDiagnostic {
                file: &r.path,
                line: d.span.start.line,
                column: d.span.start.col,
                end_line: d.span.end.line,
                end_column: d.span.end.col,
                severity: match d.severity {
                    Severity::Error => "error",
                    Severity::Warning => "warning",
                },
                code: d.code,
                message: &d.message,
            })
        })
        .collect();
    serde_json::to_writer_pretty(&mut *out, &items)?;
    writeln!(out)
}
