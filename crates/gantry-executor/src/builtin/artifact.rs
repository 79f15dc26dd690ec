//! Built-in `actions/upload-artifact` and `actions/download-artifact` over a per-run store
//! (`artifact_dir/<run id>/<name>/`), shared by the jobs of a run.
//!
//! upload honours: `name` (default `artifact`), `path` (one per line: files, directories or
//! workspace glob patterns, `!pattern` excludes), `if-no-files-found` (`warn` default, `error`,
//! `ignore`), `overwrite` (default `false`: a second upload of a name fails), `include-hidden-files`
//! (default `false`). Files are stored relative to the least common ancestor of the paths, as the
//! real action does. Ignored: `retention-days`, `compression-level`. Output: `artifact-id`.
//! download honours: `name` (else every artifact), `path` (default the workspace), `pattern`
//! (glob over names, when `name` is unset), `merge-multiple`. Output: `download-path`.

use std::fs;
use std::path::{Path, PathBuf};

use globset::Glob;
use indexmap::IndexMap;

use super::{input, input_bool, input_lines};
use crate::job::{ActionResult, Job};
use crate::workspace::{copy_tree, sanitize};

fn run_store(job: &Job) -> PathBuf {
    job.options.artifact_dir.join(sanitize(&job.run_id))
}

fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '[', '{'])
}

fn is_hidden(relative: &Path) -> bool {
    relative
        .components()
        .any(|c| c.as_os_str().to_string_lossy().starts_with('.'))
}

/// The files to upload and the root they are stored relative to.
fn collect(job: &Job, lines: &[String]) -> Result<(Vec<PathBuf>, PathBuf), String> {
    let workspace = &job.dirs.workspace;
    let mut files = Vec::new();
    let mut roots = Vec::new();
    let excludes: Vec<String> = lines
        .iter()
        .filter(|l| l.starts_with('!'))
        .cloned()
        .collect();
    for line in lines.iter().filter(|l| !l.starts_with('!')) {
        if has_glob(line) {
            let mut patterns = vec![line.clone()];
            patterns.extend(excludes.iter().cloned());
            let found = crate::hash_files::matched_files(workspace, &patterns)
                .map_err(|e| e.to_string())?;
            // The root of a pattern is its literal directory prefix.
            let literal: PathBuf = Path::new(line)
                .components()
                .take_while(|c| !has_glob(&c.as_os_str().to_string_lossy()))
                .collect();
            roots.push(workspace.join(literal));
            files.extend(found);
        } else {
            let path = workspace.join(line);
            if path.is_file() {
                roots.push(path.parent().map(Path::to_path_buf).unwrap_or_default());
                files.push(path);
            } else if path.is_dir() {
                roots.push(path.clone());
                for entry in walkdir::WalkDir::new(&path)
                    .sort_by_file_name()
                    .into_iter()
                    .filter_map(Result::ok)
                {
                    if entry.file_type().is_file() {
                        files.push(entry.path().to_owned());
                    }
                }
            }
        }
    }
    if !excludes.is_empty() {
        let patterns: Vec<String> = excludes
            .iter()
            .map(|e| e.trim_start_matches('!').to_owned())
            .collect();
        let excluded =
            crate::hash_files::matched_files(workspace, &patterns).map_err(|e| e.to_string())?;
        files.retain(|f| !excluded.contains(f));
    }
    files.sort();
    files.dedup();
    let root = common_ancestor(&roots).unwrap_or_else(|| workspace.clone());
    Ok((files, root))
}

fn common_ancestor(paths: &[PathBuf]) -> Option<PathBuf> {
    let mut iter = paths.iter();
    let mut common = iter.next()?.clone();
    for p in iter {
        while !p.starts_with(&common) {
            if !common.pop() {
                return None;
            }
        }
    }
    Some(common)
}

pub(crate) fn upload(
    job: &mut Job,
    log: Option<usize>,
    inputs: &IndexMap<String, String>,
) -> ActionResult {
    let name = input(inputs, "name").unwrap_or("artifact").to_owned();
    let lines = input_lines(inputs, "path");
    if lines.is_empty() {
        job.error(log, "Input required and not supplied: path");
        return ActionResult::failure();
    }
    let (mut files, root) = match collect(job, &lines) {
        Ok(x) => x,
        Err(e) => {
            job.error(log, &e);
            return ActionResult::failure();
        }
    };
    if !input_bool(inputs, "include-hidden-files", false) {
        files.retain(|f| !f.strip_prefix(&root).map(is_hidden).unwrap_or(false));
    }
    if files.is_empty() {
        let message = format!(
            "No files were found with the provided path: {}. No artifacts will be uploaded.",
            lines.join("\n")
        );
        return match input(inputs, "if-no-files-found").unwrap_or("warn") {
            "error" => {
                job.error(log, &message);
                ActionResult::failure()
            }
            "ignore" => {
                job.log(log, &message);
                ActionResult::success(IndexMap::new())
            }
            _ => {
                job.warning(log, &message);
                ActionResult::success(IndexMap::new())
            }
        };
    }
    let store = run_store(job).join(sanitize(&name));
    if store.exists() {
        if input_bool(inputs, "overwrite", false) {
            let _ = fs::remove_dir_all(&store);
        } else {
            job.error(log, &format!("Failed to CreateArtifact: an artifact with this name already exists on the workflow run: {name}"));
            return ActionResult::failure();
        }
    }
    for file in &files {
        let relative = file.strip_prefix(&root).unwrap_or(file);
        let target = store.join(relative);
        let copied = target
            .parent()
            .map_or(Ok(()), fs::create_dir_all)
            .and_then(|_| fs::copy(file, &target).map(|_| ()));
        if let Err(e) = copied {
            job.error(log, &format!("cannot store {}: {e}", file.display()));
            return ActionResult::failure();
        }
    }
    job.log(
        log,
        &format!(
            "Artifact {name} has been successfully uploaded ({} files)",
            files.len()
        ),
    );
    let mut outputs = IndexMap::new();
    outputs.insert("artifact-id".to_owned(), sanitize(&name));
    outputs.insert("artifact-url".to_owned(), store.display().to_string());
    ActionResult::success(outputs)
}

pub(crate) fn download(
    job: &mut Job,
    log: Option<usize>,
    inputs: &IndexMap<String, String>,
) -> ActionResult {
    let target = match input(inputs, "path") {
        Some(p) => {
            let p = p.strip_prefix("~/").map_or_else(
                || job.dirs.workspace.join(p),
                |rest| {
                    std::env::var_os("HOME").map_or_else(
                        || job.dirs.workspace.join(p),
                        |h| PathBuf::from(h).join(rest),
                    )
                },
            );
            p
        }
        None => job.dirs.workspace.clone(),
    };
    let store = run_store(job);
    let mut outputs = IndexMap::new();
    outputs.insert("download-path".to_owned(), target.display().to_string());
    if let Some(name) = input(inputs, "name") {
        let source = store.join(sanitize(name));
        if !source.is_dir() {
            job.error(
                log,
                &format!("Unable to download artifact(s): Artifact not found for name: {name}"),
            );
            return ActionResult::failure();
        }
        if let Err(e) = copy_tree(&source, &target) {
            job.error(log, &format!("cannot download {name}: {e}"));
            return ActionResult::failure();
        }
        job.log(
            log,
            &format!("Artifact {name} was downloaded to {}", target.display()),
        );
        return ActionResult::success(outputs);
    }
    let pattern = match input(inputs, "pattern").map(|p| Glob::new(p).map(|g| g.compile_matcher()))
    {
        Some(Ok(m)) => Some(m),
        Some(Err(e)) => {
            job.error(log, &format!("invalid pattern: {e}"));
            return ActionResult::failure();
        }
        None => None,
    };
    let merge = input_bool(inputs, "merge-multiple", false);
    let mut names: Vec<String> = fs::read_dir(&store)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| pattern.as_ref().is_none_or(|p| p.is_match(n)))
        .collect();
    names.sort();
    for name in &names {
        let dest = if merge {
            target.clone()
        } else {
            target.join(name)
        };
        if let Err(e) = copy_tree(&store.join(name), &dest) {
            job.error(log, &format!("cannot download {name}: {e}"));
            return ActionResult::failure();
        }
    }
    job.log(
        log,
        &format!(
            "Total of {} artifact(s) downloaded to {}",
            names.len(),
            target.display()
        ),
    );
    ActionResult::success(outputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ancestors() {
        let p = |s: &str| PathBuf::from(s);
        assert_eq!(
            common_ancestor(&[p("/w/a/b"), p("/w/a/c")]),
            Some(p("/w/a"))
        );
        assert_eq!(common_ancestor(&[p("/w/a")]), Some(p("/w/a")));
        assert_eq!(common_ancestor(&[p("/w/a"), p("/x")]), Some(p("/")));
        assert_eq!(common_ancestor(&[]), None);
    }
}
