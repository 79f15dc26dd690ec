//! Loads every workflow file given on the command line (or every `*.yml`/`*.yaml` in a given
//! directory) and prints the diagnostics and the time spent loading, for corpus runs and
//! benchmarks: `cargo run --release -p gantry-workflow --example load_files -- DIR [--quiet]`
//! (`--yaml-only` times the YAML layer alone).

use std::path::PathBuf;
use std::time::{Duration, Instant};

fn main() {
    let mut quiet = false;
    let mut yaml_only = false;
    let mut paths: Vec<PathBuf> = Vec::new();
    for arg in std::env::args().skip(1) {
        if arg == "--quiet" {
            quiet = true;
            continue;
        }
        if arg == "--yaml-only" {
            yaml_only = true;
            continue;
        }
        let path = PathBuf::from(arg);
        if path.is_dir() {
            let Ok(entries) = std::fs::read_dir(&path) else {
                continue;
            };
            let mut found: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
                .collect();
            found.sort();
            paths.extend(found);
        } else {
            paths.push(path);
        }
    }
    let files: Vec<(PathBuf, Vec<u8>)> = paths
        .into_iter()
        .filter_map(|p| std::fs::read(&p).ok().map(|b| (p, b)))
        .collect();
    let total_bytes: usize = files.iter().map(|(_, b)| b.len()).sum();
    let mut elapsed = Duration::ZERO;
    let (mut n_errors, mut n_files_with_errors) = (0usize, 0usize);
    for (path, bytes) in &files {
        let start = Instant::now();
        if yaml_only {
            let mut diags = Vec::new();
            let parsed = gantry_workflow::yaml::parse_bytes(bytes, &mut diags);
            elapsed += start.elapsed();
            std::hint::black_box(&parsed.root);
            continue;
        }
        let (workflow, diags) = gantry_workflow::load_workflow(bytes);
        elapsed += start.elapsed();
        std::hint::black_box(&workflow);
        let errors: Vec<_> = diags.iter().filter(|d| d.is_error()).collect();
        if !errors.is_empty() {
            n_files_with_errors += 1;
        }
        n_errors += errors.len();
        if !quiet {
            for d in &errors {
                println!(
                    "{}:{}:{}: {} [{}]",
                    path.display(),
                    d.span.start.line,
                    d.span.start.col,
                    d.message,
                    d.code
                );
            }
        }
    }
    let n = files.len().max(1);
    eprintln!(
        "{} files, {} KiB, {} errors in {} files; load time {:.1} ms total, {:.3} ms/file, {:.0} files/s",
        files.len(),
        total_bytes / 1024,
        n_errors,
        n_files_with_errors,
        elapsed.as_secs_f64() * 1e3,
        elapsed.as_secs_f64() * 1e3 / n as f64,
        n as f64 / elapsed.as_secs_f64().max(1e-9)
    );
}
