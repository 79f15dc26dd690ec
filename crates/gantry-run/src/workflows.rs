//! Finding, loading and checking the workflows of a run, and reading the repository's files for
//! the checks and the planner (local actions, reusable workflows).
//!
//! Invariant: a run starts only from workflows that loaded and checked without an error (the
//! same checks as `gantry lint`, plus the container preflight); any error in any file stops the
//! run before anything is built. Paths a workflow names are read only inside the repository.
//! Tests: `crates/gantry/tests/run.rs` (exit 2 on errors) and `tests/api.rs`.

use std::path::{Path, PathBuf};

use gantry_plan::WorkflowSource;
use gantry_workflow::check::{check_workflow, Project};
use gantry_workflow::{load_workflow, Diagnostic, Pos, Span, Workflow};

use crate::error::{bail_input, Error, IoContext, Result, WorkflowErrors};

/// Files larger than this are not read whole; the loader would refuse them anyway.
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// A workflow file that loaded and checked without errors.
#[derive(Debug, Clone)]
pub struct LoadedWorkflow {
    /// Repo-relative path with `/` (`.github/workflows/ci.yml`).
    pub rel: String,
    pub workflow: Workflow,
}

/// The workflow files of `path`: the file itself, or the `*.yml`/`*.yaml` files under a
/// directory, sorted.
pub fn collect_files(path: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    if path.is_dir() {
        walk(path, &mut files)
            .io_context(|| format!("looking for workflows in {}", path.display()))?;
        files.sort();
    } else if path.is_file() {
        files.push(path.to_path_buf());
    } else {
        bail_input!(
            "looking for workflows in {}: no such file or directory",
            path.display()
        );
    }
    Ok(files)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            walk(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
            out.push(path);
        }
    }
    Ok(())
}

/// Loads and checks every file; all of them, or the errors of every file that has some.
pub fn load_all(repository: &Repository, files: &[PathBuf]) -> Result<Vec<LoadedWorkflow>> {
    let mut failed = Vec::new();
    let mut loaded = Vec::new();
    for file in files {
        match load_checked(repository, file) {
            Ok(workflow) => loaded.push(workflow),
            Err(errors) => failed.push(errors),
        }
    }
    if failed.is_empty() {
        Ok(loaded)
    } else {
        Err(Error::Workflows(failed))
    }
}

fn load_checked(
    repository: &Repository,
    file: &Path,
) -> std::result::Result<LoadedWorkflow, WorkflowErrors> {
    let path = file.display().to_string();
    let source = match read_limited(file) {
        Ok(bytes) => bytes,
        Err(message) => {
            let start = Pos {
                line: 1,
                col: 1,
                offset: 0,
            };
            return Err(WorkflowErrors {
                path,
                source: Vec::new(),
                diagnostics: vec![Diagnostic::error("io", Span::point(start), message)],
            });
        }
    };
    let (workflow, mut diagnostics) = load_and_check(&source, repository);
    diagnostics.retain(Diagnostic::is_error);
    if !diagnostics.is_empty() {
        return Err(WorkflowErrors {
            path,
            source,
            diagnostics,
        });
    }
    let rel = file
        .strip_prefix(&repository.root)
        .unwrap_or(file)
        .to_string_lossy()
        .replace('\\', "/");
    Ok(LoadedWorkflow { rel, workflow })
}

/// Loads a workflow and runs every check on it: the loader's, the semantic checks (local actions
/// and reusable workflows read from `repository`) and the container preflight; the diagnostics
/// sorted by position. What `gantry lint` reports, and what stops a run when it has an error.
pub fn load_and_check(source: &[u8], repository: &Repository) -> (Workflow, Vec<Diagnostic>) {
    let (workflow, mut diagnostics) = load_workflow(source);
    diagnostics.extend(check_workflow(&workflow, repository));
    diagnostics.extend(crate::preflight::check(&workflow));
    diagnostics.sort_by(|a, b| (a.span.start, a.code).cmp(&(b.span.start, b.code)));
    diagnostics.dedup();
    (workflow, diagnostics)
}

/// Reads a workflow or action file, refusing files larger than any the loader accepts; the
/// error is a sentence for a diagnostic.
pub fn read_limited(path: &Path) -> std::result::Result<Vec<u8>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read the file: {e}"))?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!(
            "the file is {} bytes; workflow files larger than {MAX_FILE_BYTES} bytes are not read",
            meta.len()
        ));
    }
    std::fs::read(path).map_err(|e| format!("cannot read the file: {e}"))
}

/// The repository's files, for the checks (`check::Project`) and the planner
/// (`WorkflowSource`), with one guard: nothing outside the root.
#[derive(Debug, Clone)]
pub struct Repository {
    pub root: PathBuf,
}

impl Repository {
    /// The path of a repo-relative `path`, or `None` when it would leave the repository.
    fn resolve(&self, path: &str) -> Option<PathBuf> {
        let rel = path.trim_start_matches("./");
        if rel.split('/').any(|c| c == "..") || Path::new(rel).is_absolute() {
            return None;
        }
        Some(self.root.join(rel))
    }
}

impl Project for Repository {
    fn read_file(&self, path: &str) -> Option<Vec<u8>> {
        read_limited(&self.resolve(path)?).ok()
    }
}

impl WorkflowSource for Repository {
    fn read_workflow(&self, path: &str) -> std::result::Result<Vec<u8>, String> {
        let full = self
            .resolve(path)
            .ok_or_else(|| "paths outside the repository are not allowed".to_owned())?;
        read_limited(&full)
    }
}
