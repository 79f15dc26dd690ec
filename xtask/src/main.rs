//! Project chores run as `cargo run -p xtask -- <task>`.
//!
//! `tidy` fails when a Rust source file lacks its `//!` head comment, when a test is hidden
//! with an ignore attribute, when a stub (`todo!`, `unimplemented!`) is left in, or when a crate
//! depends on a crate its layer may not see (the table is `LAYERS` below and in
//! ARCHITECTURE.md).

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// Who may depend on whom: a crate may depend only on crates of a lower layer.
/// Crates of one layer are siblings and never depend on each other.
const LAYERS: &[(&str, u8)] = &[
    ("gantry-expr", 0),
    ("gantry-workflow", 1),
    ("gantry-plan", 2),
    ("gantry-docker", 2),
    ("gantry-scheduler", 3),
    ("gantry-executor", 3),
    ("gantry-store", 3),
    ("gantry-deploy", 3),
    ("gantry-run", 4),
    ("gantry-server", 5),
    ("gantry", 6),
];

fn main() -> Result<()> {
    let task = std::env::args().nth(1).unwrap_or_default();
    match task.as_str() {
        "tidy" => tidy(),
        other => bail!("unknown task {other:?}; tasks: tidy"),
    }
}

fn tidy() -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("xtask has a parent")?;
    let mut problems = Vec::new();
    let mut files = Vec::new();
    for dir in ["crates", "xtask", "fuzz/fuzz_targets"] {
        collect_rs(&root.join(dir), &mut files)?;
    }
    let forbidden = [
        concat!("#[", "ignore"),
        concat!("todo", "!("),
        concat!("unimplemented", "!("),
        concat!("should", "_panic"),
    ];
    for file in &files {
        let text = std::fs::read_to_string(file)?;
        let rel = file
            .strip_prefix(root)
            .unwrap_or(file)
            .display()
            .to_string();
        let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        if !first.starts_with("//!") {
            problems.push(format!(
                "{rel}: the file does not open with a `//!` comment"
            ));
        }
        for (idx, line) in text.lines().enumerate() {
            for pat in forbidden {
                if line.contains(pat) {
                    problems.push(format!("{rel}:{}: `{pat}` is not allowed", idx + 1));
                }
            }
        }
    }
    for (name, layer) in LAYERS {
        let manifest = root.join("crates").join(name).join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest)
            .with_context(|| format!("reading {}", manifest.display()))?;
        let mut section = String::new();
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('[') {
                section = line.to_string();
                continue;
            }
            if section != "[dependencies]" {
                continue;
            }
            let dep = line.split(['=', '.', ' ']).next().unwrap_or("");
            if let Some((_, dep_layer)) = LAYERS.iter().find(|(n, _)| *n == dep) {
                let allowed = *dep_layer < *layer;
                if !allowed {
                    problems.push(format!(
                        "crates/{name}: depends on {dep} (layer {dep_layer}), but layer {layer} may only use lower layers"
                    ));
                }
            }
        }
    }
    if problems.is_empty() {
        println!("tidy: {} files checked, no problems", files.len());
        Ok(())
    } else {
        for p in &problems {
            eprintln!("tidy: {p}");
        }
        bail!("tidy found {} problem(s)", problems.len())
    }
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries {
        let path = entry?.path();
        if path.is_dir() {
            if path
                .file_name()
                .is_some_and(|n| n == "target" || n.to_string_lossy().starts_with("target-"))
            {
                continue;
            }
            collect_rs(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}
