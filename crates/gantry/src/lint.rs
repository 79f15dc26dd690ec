//! `gantry lint`: finds workflow and action files, loads and checks them in parallel (with
//! shellcheck and pyflakes on `run:` scripts when installed, always under `CI=true`), renders
//! the diagnostics.
//!
//! Invariant: every input file is reported on, in a stable order (sorted by path), whatever the
//! thread scheduling; an unreadable file is a diagnostic-like error line, not an abort of the
//! other files. Tests: `tests/cli.rs` runs the real binary.

use crate::render::{render_json, render_text, FileReport};
use crate::script_tools::ScriptTools;
use crate::{ColorChoice, Format};
use anyhow::{bail, Result};
use gantry_run::workflows::{read_limited, Repository};
use gantry_workflow::check::scripts::{scripts, Script};
use gantry_workflow::{load_action, load_workflow, Diagnostic, Pos, Span, Workflow};
use rayon::prelude::*;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub fn run(
    paths: &[PathBuf],
    format: Format,
    color: ColorChoice,
    verbose: bool,
) -> Result<ExitCode> {
    let tools = ScriptTools::detect();
    let missing = tools.missing();
    // In CI a check that silently does not run is worse than a failed build.
    if is_ci() {
        if let Some((tool, what)) = missing.first() {
            bail!("{tool} is not installed, so {what} cannot be checked; CI=true requires it (on Debian or Ubuntu: apt-get install shellcheck pyflakes3)");
        }
    } else if verbose {
        for (tool, what) in &missing {
            eprintln!("note: {tool} is not installed: {what} are not checked with it");
        }
    }
    let files = collect_files(paths)?;
    // Load every file first, so that the script linters start at once on all the scripts
    // (a few processes in all, not one per file) and work while the checks run.
    let loaded: Vec<Loaded> = files.par_iter().map(|path| load_file(path)).collect();
    let scripts: Vec<(usize, Script<'_>)> = loaded
        .iter()
        .enumerate()
        .filter_map(|(i, file)| file.workflow.as_ref().map(|w| (i, w)))
        .flat_map(|(i, workflow)| scripts(workflow).into_iter().map(move |s| (i, s)))
        .collect();
    let script_list: Vec<&Script<'_>> = scripts.iter().map(|(_, s)| s).collect();
    let running = tools.start(&script_list);
    let mut reports: Vec<FileReport> = loaded.par_iter().map(check_loaded).collect();
    let sources: Vec<&str> = scripts
        .iter()
        .map(|(i, _)| loaded[*i].workflow.as_ref().map_or("", |w| &w.source[..]))
        .collect();
    for (script, diagnostic) in running.finish(&script_list, &sources) {
        reports[scripts[script].0].diagnostics.push(diagnostic);
    }
    for report in &mut reports {
        sort_diagnostics(&mut report.diagnostics);
    }

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

/// `CI=true`, as CI services set it.
fn is_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true"))
}

/// A file read and loaded, before its semantic checks.
struct Loaded {
    path: PathBuf,
    bytes: Vec<u8>,
    /// Set for workflow files (not action.yml, not unreadable files).
    workflow: Option<Workflow>,
    diagnostics: Vec<Diagnostic>,
}

fn load_file(path: &Path) -> Loaded {
    let mut loaded = Loaded {
        path: path.to_path_buf(),
        bytes: Vec::new(),
        workflow: None,
        diagnostics: Vec::new(),
    };
    match read_limited(path) {
        Ok(bytes) => loaded.bytes = bytes,
        Err(message) => {
            let at = Span::point(Pos {
                line: 1,
                col: 1,
                offset: 0,
            });
            loaded
                .diagnostics
                .push(Diagnostic::error("io", at, message));
            return loaded;
        }
    }
    if is_action_file(path) {
        loaded.diagnostics = load_action(&loaded.bytes).1;
    } else {
        let (workflow, diagnostics) = load_workflow(&loaded.bytes);
        loaded.workflow = Some(workflow);
        loaded.diagnostics = diagnostics;
    }
    loaded
}

/// The semantic checks of a loaded workflow file, and its report.
fn check_loaded(loaded: &Loaded) -> FileReport {
    let mut diagnostics = loaded.diagnostics.clone();
    if let Some(workflow) = &loaded.workflow {
        let (root, root_guess) = match project_root(&loaded.path) {
            ProjectRoot::Found(root) => (root, None),
            ProjectRoot::Guess(root) => (root, Some(ROOT_GUESS)),
        };
        let mut repository = Repository::new(root);
        if let Some(why) = root_guess {
            repository = repository.with_root_guess(why);
        }
        diagnostics.extend(gantry_run::workflows::check(workflow, &repository));
    }
    FileReport {
        path: loaded.path.display().to_string(),
        source: loaded.bytes.clone(),
        diagnostics,
    }
}

fn sort_diagnostics(diagnostics: &mut Vec<Diagnostic>) {
    diagnostics.sort_by(|a, b| (a.span.start, a.code).cmp(&(b.span.start, b.code)));
    diagnostics.dedup();
}

fn is_action_file(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n == "action.yml" || n == "action.yaml")
}

/// Where the repository of a workflow file is, and whether that is known or a guess.
pub enum ProjectRoot {
    /// The folder above `.github/workflows`, or the nearest ancestor holding `.git`.
    Found(PathBuf),
    /// Neither exists (a file linted outside its repository, as editors and pre-commit hooks
    /// do): the current directory.
    Guess(PathBuf),
}

/// Why a [`ProjectRoot::Guess`] is one, for the diagnostics it weakens.
const ROOT_GUESS: &str = "the file is neither in a .github/workflows folder nor in a git repository, so the current directory is taken as the repository root";

/// The repository a workflow belongs to: the folder above `.github/workflows` when the file is
/// in one, otherwise the nearest ancestor holding `.git`, otherwise (a guess) the current
/// directory.
pub fn project_root(path: &Path) -> ProjectRoot {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut dir = absolute.parent();
    while let Some(d) = dir {
        if d.file_name().is_some_and(|n| n == "workflows")
            && d.parent()
                .and_then(Path::file_name)
                .is_some_and(|n| n == ".github")
        {
            if let Some(root) = d.parent().and_then(Path::parent) {
                return ProjectRoot::Found(root.to_path_buf());
            }
        }
        dir = d.parent();
    }
    let mut dir = absolute.parent();
    while let Some(d) = dir {
        if d.join(".git").exists() {
            return ProjectRoot::Found(d.to_path_buf());
        }
        dir = d.parent();
    }
    ProjectRoot::Guess(std::env::current_dir().unwrap_or_default())
}
