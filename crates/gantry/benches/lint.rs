//! Lint throughput: runs the real `gantry lint` binary over the actionlint test files and the
//! 1,503 real-world workflows of `test_data/actionlint/realworld/dataset.zip`, and prints files
//! per second (wall clock, best of several runs, both cores used as the CLI does).
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
    for (label, dir, n) in [
        ("real-world workflows", &realworld, n_real),
        ("actionlint test files", &testfiles, n_test),
    ] {
        let mut best = Duration::MAX;
        let mut files_with_errors = 0;
        for _ in 0..7 {
            let start = Instant::now();
            let output = Command::new(&exe)
                .args(["lint", "--format", "json"])
                .arg(dir)
                .output()
                .expect("run gantry");
            best = best.min(start.elapsed());
            let found: serde_json::Value = serde_json::from_slice(&output.stdout)
                .expect("gantry lint --format json prints JSON");
            let mut files: Vec<&str> = found
                .as_array()
                .expect("array")
                .iter()
                .filter(|d| d["severity"] == "error")
                .filter_map(|d| d["file"].as_str())
                .collect();
            files.dedup();
            files_with_errors = files.len();
        }
        println!(
            "lint {label}: {n} files in {:.1} ms (best of 7) = {:.0} files/s; {files_with_errors} files with errors",
            best.as_secs_f64() * 1e3,
            n as f64 / best.as_secs_f64()
        );
    }
}
