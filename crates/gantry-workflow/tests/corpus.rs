//! Corpus tests: valid real-world files load without errors.
//!
//! - every `test_data/actionlint/ok/*.yaml` workflow (actionlint's "no error" set);
//! - every `test_data/runner/TestData/*.yml` file that is an action (`runs:` at top level);
//! - every `test_data/actionlint/action_metadata/*/action.y*ml` that is not in a directory named
//!   for a broken or duplicate case.

use std::path::{Path, PathBuf};

use gantry_workflow::{load_action, load_workflow, Diagnostic};

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../test_data")
        .join(rel)
}

fn files(dir: &Path, ext: &[&str]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| ext.contains(&x))
        })
        .collect();
    out.sort();
    out
}

fn errors(diags: &[Diagnostic]) -> Vec<String> {
    diags
        .iter()
        .filter(|d| d.is_error())
        .map(|d| {
            format!(
                "{}:{} [{}] {}",
                d.span.start.line, d.span.start.col, d.code, d.message
            )
        })
        .collect()
}

#[test]
fn actionlint_ok_workflows_load_without_errors() {
    let paths = files(&data("actionlint/ok"), &["yaml", "yml"]);
    assert!(paths.len() >= 80, "found {} files", paths.len());
    let mut failures = Vec::new();
    for path in &paths {
        let bytes = std::fs::read(path).expect("readable");
        let (_, diags) = load_workflow(&bytes);
        let errs = errors(&diags);
        if !errs.is_empty() {
            failures.push(format!("{}: {}", path.display(), errs.join(" | ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn runner_test_data_actions_load_without_errors() {
    let paths = files(&data("runner/TestData"), &["yml", "yaml"]);
    let mut n_actions = 0;
    let mut failures = Vec::new();
    for path in &paths {
        let bytes = std::fs::read(path).expect("readable");
        let text = String::from_utf8_lossy(&bytes);
        if !text.lines().any(|l| l.starts_with("runs:")) {
            continue;
        }
        n_actions += 1;
        let (action, diags) = load_action(&bytes);
        let errs = errors(&diags);
        if !errs.is_empty() {
            failures.push(format!("{}: {}", path.display(), errs.join(" | ")));
        }
        assert!(action.runs.is_some(), "{}: no runs", path.display());
    }
    assert!(n_actions >= 15, "found {n_actions} action files");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn actionlint_action_metadata_loads_without_errors() {
    let root = data("actionlint/action_metadata");
    let mut n = 0;
    let mut failures = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    dirs.sort();
    for dir in dirs {
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        if ["broken", "empty", "input-duplicate", "output-duplicate"].contains(&name.as_str()) {
            continue;
        }
        for file in ["action.yml", "action.yaml"] {
            let path = dir.join(file);
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            n += 1;
            let (_, diags) = load_action(&bytes);
            let errs = errors(&diags);
            if !errs.is_empty() {
                failures.push(format!("{}: {}", path.display(), errs.join(" | ")));
            }
        }
    }
    assert!(n >= 5, "found {n} action files");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every prefix of a valid file is some kind of broken file: loading must not panic on any of
/// them (cut at byte positions, so some cuts split UTF-8 sequences too).
#[test]
fn truncated_and_mangled_workflows_never_panic() {
    let paths = files(&data("actionlint/ok"), &["yaml", "yml"]);
    let mut n = 0;
    for path in &paths {
        let bytes = std::fs::read(path).expect("readable");
        let step = (bytes.len() / 12).max(1);
        for cut in (0..bytes.len()).step_by(step) {
            let _ = load_workflow(&bytes[..cut]);
            let _ = load_action(&bytes[..cut]);
            // The same cut with the rest of the file re-indented by one space and tabs added.
            let mut mangled = bytes[..cut].to_vec();
            mangled.extend_from_slice(b"\n \t");
            mangled.extend(bytes[cut..].iter().flat_map(|&b| {
                if b == b'\n' {
                    vec![b'\n', b' ']
                } else {
                    vec![b]
                }
            }));
            let _ = load_workflow(&mangled);
            n += 1;
        }
    }
    assert!(n > 500, "only {n} inputs");
}

#[test]
fn the_model_serializes_to_json() {
    let bytes = std::fs::read(data("actionlint/ok/workflow_call_job.yaml")).expect("readable");
    let (workflow, _) = load_workflow(&bytes);
    let json = serde_json::to_value(&workflow).expect("serializes");
    assert!(
        json["jobs"]
            .as_object()
            .is_some_and(|jobs| !jobs.is_empty()),
        "{json}"
    );
}
