//! The work root of this process (`$TMPDIR/gantry-<pid>`: job directories and repository
//! snapshots), and the clean-up of work roots that killed runs left.
//!
//! Invariant: only directories named `gantry-<pid>` whose process is gone and that hold nothing
//! but run directories (`<run id>-<attempt>`) are removed, so another program's folder or a
//! live run's is never touched. Tests: `crates/gantry/tests/run.rs` (a killed run's work root
//! goes at the next run).

use std::path::{Path, PathBuf};

/// Job directories live outside the repository, so a job's copy never contains another's.
pub fn default_work_root() -> PathBuf {
    std::env::temp_dir().join(format!("gantry-{}", std::process::id()))
}

/// Removes, on a thread of its own, the work roots (`$TMPDIR/gantry-<pid>`) that runs killed
/// before their clean-up left: those whose process is gone. A pid that runs again (reused) keeps
/// its directory until it is gone too. Nothing is done where `/proc` does not tell.
pub fn sweep_stale_work_roots() -> Option<std::thread::JoinHandle<()>> {
    if !Path::new("/proc/self").exists() {
        return None;
    }
    let entries = std::fs::read_dir(std::env::temp_dir()).ok()?;
    let stale: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|entry| {
            let name = entry.file_name();
            let pid = name
                .to_str()
                .and_then(|n| n.strip_prefix("gantry-"))
                .and_then(|n| n.parse::<u32>().ok());
            pid.is_some_and(|pid| {
                pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists()
            }) && entry.file_type().is_ok_and(|t| t.is_dir())
                && holds_only_run_dirs(&entry.path())
        })
        .map(|entry| entry.path())
        .collect();
    if stale.is_empty() {
        return None;
    }
    // Beside the run, joined at its end (a removal cut short by a kill goes on next time).
    Some(std::thread::spawn(move || {
        for dir in stale {
            let _ = std::fs::remove_dir_all(dir);
        }
    }))
}

/// Whether everything in `dir` is named like a run's directory (`<run id>-<attempt>`), so that a
/// `gantry-<n>` directory of some other program is left alone.
fn holds_only_run_dirs(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.filter_map(Result::ok).all(|entry| {
            let name = entry.file_name();
            name.to_str()
                .and_then(|n| n.split_once('-'))
                .is_some_and(|(run, attempt)| {
                    !run.is_empty()
                        && !attempt.is_empty()
                        && run.bytes().all(|b| b.is_ascii_digit())
                        && attempt.bytes().all(|b| b.is_ascii_digit())
                })
        })
    })
}
