//! Job setup on the host: the job's own directory with its temp dir (`RUNNER_TEMP`) and its own
//! copy of the repository as the workspace (`GITHUB_WORKSPACE`).
//!
//! Invariant: a job never works in the source repository itself. A git source is copied with
//! `git clone --shared --no-checkout` plus a detached checkout of the job's commit (objects are
//! borrowed, nothing is written to the source; ~50 ms for a small repository, against ~25 ms for
//! `git worktree add`, which would write into the source's `.git`); a plain directory is copied
//! file by file; an empty `source_path` gives an empty workspace. Without a `sha` the job gets
//! the source's working tree as it is: `HEAD` plus uncommitted and untracked (not ignored) files.
//! Tests: `tests/host.rs`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("cannot create job directory '{path}'")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot copy repository '{source_path}' into the workspace: {detail}")]
    Copy { source_path: String, detail: String },
}

/// The directories of one job.
#[derive(Debug, Clone)]
pub struct JobDirs {
    pub root: PathBuf,
    pub workspace: PathBuf,
    pub temp: PathBuf,
    pub file_commands: PathBuf,
}

/// Makes a path component out of arbitrary text (job keys contain `/` and spaces).
pub fn sanitize(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    match cleaned.as_str() {
        "" | "." | ".." => "_".to_owned(),
        _ => cleaned,
    }
}

fn create_dir(path: &Path) -> Result<(), SetupError> {
    fs::create_dir_all(path).map_err(|source| SetupError::CreateDir {
        path: path.to_owned(),
        source,
    })
}

/// Creates `root/{workspace-name, _temp, _temp/_runner_file_commands}`; `root` is emptied first.
pub fn create_dirs(root: &Path, repo_name: &str) -> Result<JobDirs, SetupError> {
    if root.exists() {
        let _ = fs::remove_dir_all(root);
    }
    let dirs = JobDirs {
        root: root.to_owned(),
        workspace: root.join(sanitize(repo_name)),
        temp: root.join("_temp"),
        file_commands: root.join("_temp").join("_runner_file_commands"),
    };
    for dir in [&dirs.workspace, &dirs.temp, &dirs.file_commands] {
        create_dir(dir)?;
    }
    Ok(dirs)
}

/// Fills `workspace` (which exists and is empty) from `source` at `sha`.
pub async fn copy_repository(
    source: &Path,
    sha: Option<&str>,
    workspace: &Path,
) -> Result<(), SetupError> {
    let copy_error = |detail: String| SetupError::Copy {
        source_path: source.display().to_string(),
        detail,
    };
    if source.join(".git").exists() {
        git(
            None,
            &[
                "clone",
                "--quiet",
                "--shared",
                "--no-checkout",
                &source.display().to_string(),
                &workspace.display().to_string(),
            ],
        )
        .await
        .map_err(copy_error)?;
        let sha = sha.filter(|s| !s.is_empty());
        git(
            Some(workspace),
            &["checkout", "--quiet", "--detach", sha.unwrap_or("HEAD")],
        )
        .await
        .map_err(copy_error)?;
        if sha.is_none() {
            overlay_working_tree(source, workspace)
                .await
                .map_err(copy_error)?;
        }
        Ok(())
    } else if source.is_dir() {
        let source = source.to_owned();
        let workspace = workspace.to_owned();
        tokio::task::spawn_blocking(move || copy_tree(&source, &workspace))
            .await
            .map_err(|e| copy_error(e.to_string()))?
            .map_err(|e| copy_error(e.to_string()))
    } else {
        Err(copy_error("not a directory".to_owned()))
    }
}

/// Brings the source's uncommitted state into a checkout of its `HEAD`: modified and untracked
/// (not ignored) files are copied over, deleted ones removed.
pub async fn overlay_working_tree(source: &Path, workspace: &Path) -> Result<(), String> {
    let changed = git(
        Some(source),
        &[
            "ls-files",
            "-z",
            "--modified",
            "--others",
            "--exclude-standard",
        ],
    )
    .await?;
    for relative in changed.split('\0').filter(|p| !p.is_empty()) {
        let from = source.join(relative);
        let to = workspace.join(relative);
        let Ok(meta) = fs::symlink_metadata(&from) else {
            continue;
        };
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        let _ = fs::remove_file(&to);
        let copied = if meta.file_type().is_symlink() {
            fs::read_link(&from).and_then(|link| std::os::unix::fs::symlink(link, &to))
        } else {
            fs::copy(&from, &to).map(|_| ())
        };
        copied.map_err(|e| format!("cannot copy {}: {e}", from.display()))?;
    }
    let deleted = git(Some(source), &["ls-files", "-z", "--deleted"]).await?;
    for relative in deleted.split('\0').filter(|p| !p.is_empty()) {
        let _ = fs::remove_file(workspace.join(relative));
    }
    Ok(())
}

/// Runs git; the error is its stderr.
pub async fn git(cwd: Option<&Path>, args: &[&str]) -> Result<String, String> {
    let mut command = tokio::process::Command::new("git");
    command.args(args).stdin(std::process::Stdio::null());
    if let Some(cwd) = cwd {
        command.current_dir(cwd);
    }
    let output = command
        .output()
        .await
        .map_err(|e| format!("cannot run git: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "git {} failed: {}",
            args.first().unwrap_or(&""),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// Copies a directory tree (files, directories and symlinks as links).
pub fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_symlink() {
            let link = fs::read_link(entry.path())?;
            let _ = fs::remove_file(&target);
            std::os::unix::fs::symlink(link, &target)?;
        } else {
            fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitizes_names() {
        for (input, expected) in [
            ("build", "build"),
            ("call/build-2", "call_build-2"),
            ("test (ubuntu, 18)", "test__ubuntu__18_"),
            ("..", "_"),
            ("", "_"),
        ] {
            assert_eq!(sanitize(input), expected, "{input:?}");
        }
    }

    #[test]
    fn copies_trees() {
        let from = tempfile::tempdir().unwrap();
        fs::create_dir_all(from.path().join("a/b")).unwrap();
        fs::write(from.path().join("a/b/f.txt"), "x").unwrap();
        std::os::unix::fs::symlink("a/b/f.txt", from.path().join("link")).unwrap();
        let to = tempfile::tempdir().unwrap();
        copy_tree(from.path(), to.path()).unwrap();
        assert_eq!(
            fs::read_to_string(to.path().join("a/b/f.txt")).unwrap(),
            "x"
        );
        assert_eq!(fs::read_to_string(to.path().join("link")).unwrap(), "x");
    }
}
