//! Where a run's work root (job directories, repository snapshots, workspace copies) goes when
//! the user did not choose one: on a memory file system (tmpfs) when one has room to spare and
//! the repository is small, otherwise in the system's temp dir.
//!
//! Why: every job creates and deletes ~25 files and directories (its directories, file-command
//! files, `event.json`, the step script, its copy of the repository with its `.git`). On a disk
//! file system that is most of a short job's cost (see docs/benchmarks.md); on tmpfs it costs
//! little. The risk is memory: whatever jobs write into their workspace or temp dir (build
//! outputs, downloaded tools) lives in RAM until the job ends. So tmpfs is used only when
//! - the user did not set `TMPDIR` (setting it, e.g. `TMPDIR=/var/tmp`, always wins),
//! - the system temp dir is not tmpfs already (then it is used as it is),
//! - the repository's working tree (ignored files such as build outputs included, `.git` and
//!   `.gantry` left out) is small: at most [`SMALL_TREE_BYTES`] in at most [`SMALL_TREE_ENTRIES`]
//!   entries — a large tree, or one with large build outputs, means jobs that write a lot,
//! - the tmpfs has at least [`MIN_FREE_BYTES`] free and the machine as much available memory.
//!
//! `$XDG_RUNTIME_DIR` (private to the user) is tried before `/dev/shm`. The directory is created
//! here, mode 0700, and must not exist yet (a shared directory such as `/dev/shm` may hold one
//! made by someone else); if it cannot be created the next place is tried.
//! Invariant: the returned directory is either freshly created by this process or does not exist.
//! Tests: the `tests` module below.

use std::path::{Path, PathBuf};

/// The largest working tree whose runs go to tmpfs.
pub const SMALL_TREE_BYTES: u64 = 32 * 1024 * 1024;
/// The most files and directories a working tree whose runs go to tmpfs may have.
pub const SMALL_TREE_ENTRIES: usize = 5_000;
/// Free space the tmpfs, and available memory the machine, must have.
pub const MIN_FREE_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// The work root for a run of `repository`: `<place>/<name>`, see the module comment.
pub fn default_work_root(repository: &Path, name: &str) -> PathBuf {
    let temp = std::env::temp_dir();
    let user_chose = std::env::var_os("TMPDIR").is_some_and(|v| !v.is_empty());
    if user_chose || is_tmpfs(&temp) {
        return temp.join(name);
    }
    let candidates: Vec<PathBuf> = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .into_iter()
        .chain([PathBuf::from("/dev/shm")])
        .filter(|dir| is_tmpfs(dir) && has_room(dir))
        .collect();
    if candidates.is_empty() || !memory_available() || !is_small_tree(repository) {
        return temp.join(name);
    }
    for dir in candidates {
        let root = dir.join(name);
        if create_private_dir(&root).is_ok() {
            return root;
        }
    }
    temp.join(name)
}

/// Whether the tree under `dir` (but `.git` and `.gantry` at any depth) has at most
/// [`SMALL_TREE_ENTRIES`] entries and [`SMALL_TREE_BYTES`] bytes. Stops reading as soon as it
/// is not, so a large tree costs a bounded walk.
pub fn is_small_tree(dir: &Path) -> bool {
    let mut entries = 0usize;
    let mut bytes = 0u64;
    let walk = walkdir::WalkDir::new(dir)
        .min_depth(1)
        .into_iter()
        .filter_entry(|e| {
            !(e.file_type().is_dir() && matches!(e.file_name().to_str(), Some(".git" | ".gantry")))
        });
    for entry in walk {
        let Ok(entry) = entry else {
            return false;
        };
        entries += 1;
        if entry.file_type().is_file() {
            bytes += entry.metadata().map(|m| m.len()).unwrap_or(0);
        }
        if entries > SMALL_TREE_ENTRIES || bytes > SMALL_TREE_BYTES {
            return false;
        }
    }
    true
}

fn create_private_dir(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().mode(0o700).create(path)
}

#[cfg(target_os = "linux")]
fn is_tmpfs(dir: &Path) -> bool {
    nix::sys::statfs::statfs(dir)
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::TMPFS_MAGIC)
}

#[cfg(not(target_os = "linux"))]
fn is_tmpfs(_dir: &Path) -> bool {
    false
}

/// Whether `dir` is writable by us and its file system has [`MIN_FREE_BYTES`] free.
// The block counts are `u64` on Linux x86-64 but narrower types elsewhere.
#[allow(clippy::useless_conversion)]
fn has_room(dir: &Path) -> bool {
    let writable = nix::unistd::access(
        dir,
        nix::unistd::AccessFlags::W_OK | nix::unistd::AccessFlags::X_OK,
    )
    .is_ok();
    writable
        && nix::sys::statvfs::statvfs(dir).is_ok_and(|s| {
            u64::from(s.blocks_available()).saturating_mul(u64::from(s.fragment_size()))
                >= MIN_FREE_BYTES
        })
}

/// Whether the machine has [`MIN_FREE_BYTES`] of available memory (`MemAvailable`): a tmpfs
/// may be larger than the memory left to fill it.
fn memory_available() -> bool {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            let line = text.lines().find_map(|l| l.strip_prefix("MemAvailable:"))?;
            let kib: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
            Some(kib.saturating_mul(1024) >= MIN_FREE_BYTES)
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn small_trees() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        fs::create_dir_all(dir.join(".git/objects")).unwrap();
        fs::create_dir_all(dir.join("src")).unwrap();
        fs::write(dir.join("src/main.rs"), "fn main() {}\n").unwrap();
        assert!(is_small_tree(dir));
        // `.git` and `.gantry` do not count, however large.
        let big = vec![0u8; (SMALL_TREE_BYTES + 1) as usize];
        fs::write(dir.join(".git/objects/pack"), &big).unwrap();
        fs::create_dir_all(dir.join(".gantry/runs")).unwrap();
        fs::write(dir.join(".gantry/runs/log"), &big).unwrap();
        assert!(is_small_tree(dir));
        // Build outputs count: a tree with large ones is not small.
        fs::create_dir_all(dir.join("target")).unwrap();
        fs::write(dir.join("target/app"), &big).unwrap();
        assert!(!is_small_tree(dir));
        fs::remove_file(dir.join("target/app")).unwrap();
        assert!(is_small_tree(dir));
        // Nor is one with too many entries.
        for n in 0..SMALL_TREE_ENTRIES {
            fs::write(dir.join(format!("target/{n}")), "").unwrap();
        }
        assert!(!is_small_tree(dir));
        assert!(!is_small_tree(&dir.join("missing")));
    }

    #[test]
    fn the_root_is_new_and_private_or_in_the_temp_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let name = format!("gantry-work-root-test-{}", std::process::id());
        let root = default_work_root(tmp.path(), &name);
        assert_eq!(
            root.file_name().and_then(|n| n.to_str()),
            Some(name.as_str())
        );
        if root.parent() == Some(std::env::temp_dir().as_path()) {
            assert!(!root.exists());
        } else {
            let meta = fs::metadata(&root).unwrap();
            assert_eq!(
                std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
                0o700
            );
            assert!(is_tmpfs(root.parent().unwrap()));
            fs::remove_dir(&root).unwrap();
        }
        // A directory that exists already (someone else's in a shared place) is never reused.
        let taken = tmp.path().join("taken");
        fs::create_dir(&taken).unwrap();
        assert!(create_private_dir(&taken).is_err());
    }
}
