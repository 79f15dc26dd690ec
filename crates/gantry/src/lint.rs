//! `gantry lint`: finds workflow and action files, loads and checks them in parallel, renders
//! the diagnostics.
//!
//! Invariant: every input file is reported on, in a stable order (sorted by path), whatever the
//! thread scheduling; an unreadable file is a diagnostic-like error line, not an abort of the
//! other files. Tests: `tests/cli.rs` runs the real binary.

use crate::render::{render_json, render_text, FileReport};
use crate::{ColorChoice, Format};
use anyhow::{bail, Result};
use gantry_run::workflows::{load_and_check, read_limited, Repository};
use gantry_workflow::{load_action, Diagnostic, Pos, Span};
use rayon::prelude::*;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub fn run(paths: &[PathBuf], format: Format, color: ColorChoice) -> Result<ExitCode> {
    let files = collect_files(paths)?;
    let reports: Vec<FileReport> = files.par_iter().map(|path| lint_file(path)).collect();

    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match format {
        Format::Json => render_json(&mut out, &reports)?,
        Format::Text => {
            let colored = match color {
                ColorChoice::Always => true,
                ColorChoice::Never => false,
                ColorChoice::Auto => {
                    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
                }
            };
            render_text(&mut out, &reports, colored)?;
        }
    }
    out.flush()?;
    let has_errors = reports
        .iter()
        .any(|r| r.diagnostics.iter().any(Diagnostic::is_error));
    Ok(if has_errors {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Expands directories into the workflow files under them, sorted; keeps named files as given.
pub fn collect_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let before = files.len();
            walk(path, &mut files)?;
            files[before..].sort();
        } else if path.is_file() {
            files.push(path.clone());
        } else {
            bail!("{}: no such file or directory", path.display());
        }
    }
    Ok(files)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let file_type = entry.file_type()?;
        if file_type.is_dir() {
            walk(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
            out.push(path);
        }
    }
    Ok(())
}

pub fn lint_file(path: &Path) -> FileReport {
    let display = path.display().to_string();
    let bytes = match read_limited(path) {
        Ok(bytes) => bytes,
        Err(message) => {
            let diagnostic = Diagnostic::error(
                "io",
                Span::point(Pos {
                    line: 1,
                    col: 1,
                    offset: 0,
                }),
                message,
            );
            return FileReport {
                path: display,
                source: Vec::new(),
                diagnostics: vec![diagnostic],
            };
        }
    };
    let mut diagnostics = if is_action_file(path) {
        load_action(&bytes).1
    } else {
        let repository = Repository {
            root: project_root(path),
        };
        load_and_check(&bytes, &repository).1
    };
    diagnostics.sort_by(|a, b| (a.span.start, a.code).cmp(&(b.span.start, b.code)));
    diagnostics.dedup();
    FileReport {
        path: display,
        source: bytes,
        diagnostics,
    }
}

fn is_action_file(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n == "action.yml" || n == "action.yaml")
}

/// The repository a workflow belongs to: the folder above `.github/workflows` when the file is
/// in one, otherwise the nearest ancestor holding `.git`, otherwise the current directory.
pub fn project_root(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut dir = absolute.parent();
    while let Some(d) = dir {
        if d.file_name().is_some_and(|n| n == "workflows")
            && d.parent()
                .and_then(Path::file_name)
                .is_some_and(|n| n == ".github")
        {
            if let Some(root) = d.parent().and_then(Path::parent) {
                return root.to_path_buf();
            }
        }
        dir = d.parent();
    }
    let mut dir = absolute.parent();
    while let Some(d) = dir {
        if d.join(".git").exists() {
            return d.to_path_buf();
        }
        dir = d.parent();
    }
    std::env::current_dir().unwrap_or_default()
}
