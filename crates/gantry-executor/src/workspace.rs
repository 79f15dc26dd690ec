//! Job setup on the host: the job's own directory with its temp dir (`RUNNER_TEMP`) and its own
//! copy of the repository as the workspace (`GITHUB_WORKSPACE`), taken from a snapshot of the
//! repository made once per run.
//!
//! Invariant: a job never works in the source repository itself, and no two jobs share a file.
//! A git source is snapshotted once per (run, source, sha) into the run's directory
//! ([`Snapshots`]): a `.git` that borrows the source's objects (an `alternates` file, the source's
//! branches as `origin/*`, as `git clone --shared` makes it) plus a detached checkout of the
//! commit by one `git read-tree`; nothing is written to the source. Each job then gets a plain
//! file copy of the snapshot, `.git` included (never hard links: jobs modify their files). A
//! source git cannot be snapshotted by hand (repository extensions such as sha256 objects or
//! reftable, a commit given by name) is snapshotted with `git clone --shared --no-checkout` and a
//! checkout instead. A small snapshot is also read into memory once ([`TreeImage`]), and jobs'
//! copies are written from there. A plain directory is copied file by file; an empty `source_path` gives an
//! empty workspace. Without a `sha` the snapshot is the source's working tree as it is when the
//! run's first job starts: `HEAD` plus uncommitted and untracked (not ignored) files.
//! Job directories are moved aside when a job ends and deleted in the background.
//! Tests: the `tests` module below, `tests/host.rs`.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::OnceCell;

use crate::job::error_chain;

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

/// A git command that could not run or failed.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("cannot run git")]
    Spawn(#[source] io::Error),
    #[error("git {command} failed: {stderr}")]
    Failed { command: String, stderr: String },
    #[error("git checkout of {commit} failed: {stderr}")]
    Checkout { commit: String, stderr: String },
}

/// Bringing a working tree's uncommitted state into a checkout failed.
#[derive(Debug, thiserror::Error)]
pub enum OverlayError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error("cannot create {}", path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot copy {}", path.display())]
    Copy {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
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
        .map_err(|e| copy_error(error_chain(&e)))?;
        let sha = sha.filter(|s| !s.is_empty());
        git(
            Some(workspace),
            &["checkout", "--quiet", "--detach", sha.unwrap_or("HEAD")],
        )
        .await
        .map_err(|e| copy_error(error_chain(&e)))?;
        if sha.is_none() {
            overlay_working_tree(source, workspace)
                .await
                .map_err(|e| copy_error(error_chain(&e)))?;
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
pub async fn overlay_working_tree(source: &Path, workspace: &Path) -> Result<(), OverlayError> {
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
            fs::create_dir_all(parent).map_err(|source| OverlayError::CreateDir {
                path: parent.to_owned(),
                source,
            })?;
        }
        let _ = fs::remove_file(&to);
        let copied = if meta.file_type().is_symlink() {
            fs::read_link(&from).and_then(|link| std::os::unix::fs::symlink(link, &to))
        } else {
            fs::copy(&from, &to).map(|_| ())
        };
        copied.map_err(|source| OverlayError::Copy {
            path: from.clone(),
            source,
        })?;
    }
    let deleted = git(Some(source), &["ls-files", "-z", "--deleted"]).await?;
    for relative in deleted.split('\0').filter(|p| !p.is_empty()) {
        let _ = fs::remove_file(workspace.join(relative));
    }
    Ok(())
}

/// Runs git; the error carries its stderr.
pub async fn git(cwd: Option<&Path>, args: &[&str]) -> Result<String, GitError> {
    let mut command = tokio::process::Command::new("git");
    command.args(args).stdin(std::process::Stdio::null());
    if let Some(cwd) = cwd {
        command.current_dir(cwd);
    }
    let output = command.output().await.map_err(GitError::Spawn)?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(GitError::Failed {
            command: (*args.first().unwrap_or(&"")).to_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
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

/// The directory of one run (attempt) under the work root; its jobs' directories are inside.
pub fn run_dir(work_dir: &Path, run_id: &str, attempt: u32) -> PathBuf {
    work_dir.join(sanitize(&format!("{run_id}-{attempt}")))
}

/// Snapshot directories live in the run's directory under names no job directory can have
/// ([`sanitize`] never produces `@`).
const SNAPSHOT_PREFIX: &str = "@source-";
const TRASH_DIR: &str = "@trash";

type SnapshotKey = (PathBuf, PathBuf, Option<String>);
type SnapshotCell = Arc<OnceCell<Result<Snapshot, String>>>;

/// A finished snapshot: its directory and, when it is small, its contents in memory.
#[derive(Debug, Clone)]
struct Snapshot {
    dir: PathBuf,
    image: Option<Arc<TreeImage>>,
}

/// The largest snapshot kept in memory (it stays for the whole run, in the engine's memory).
const IMAGE_MAX_BYTES: u64 = 512 * 1024;
/// The most entries a snapshot kept in memory may have.
const IMAGE_MAX_ENTRIES: usize = 1_000;

/// A directory tree held in memory, parents before children, written out by [`TreeImage::write`]
/// with one `mkdir` per directory and one create and write per file, without reading the
/// snapshot again.
#[derive(Debug, Default, PartialEq, Eq)]
struct TreeImage {
    entries: Vec<(PathBuf, ImageEntry)>,
}

#[derive(Debug, PartialEq, Eq)]
enum ImageEntry {
    Dir,
    /// Contents and permission bits.
    File(Vec<u8>, u32),
    Symlink(PathBuf),
}

impl TreeImage {
    /// Reads the tree under `dir`, or `None` when it is larger than [`IMAGE_MAX_BYTES`] or
    /// [`IMAGE_MAX_ENTRIES`] or cannot be read (then it is copied file by file).
    fn read(dir: &Path) -> Option<TreeImage> {
        use std::os::unix::fs::PermissionsExt;
        let mut image = TreeImage::default();
        let mut bytes = 0u64;
        for entry in walkdir::WalkDir::new(dir).min_depth(1).sort_by_file_name() {
            let entry = entry.ok()?;
            let relative = entry.path().strip_prefix(dir).ok()?.to_owned();
            let kind = entry.file_type();
            let item = if kind.is_dir() {
                ImageEntry::Dir
            } else if kind.is_symlink() {
                ImageEntry::Symlink(fs::read_link(entry.path()).ok()?)
            } else if kind.is_file() {
                let meta = entry.metadata().ok()?;
                bytes += meta.len();
                if bytes > IMAGE_MAX_BYTES {
                    return None;
                }
                ImageEntry::File(fs::read(entry.path()).ok()?, meta.permissions().mode())
            } else {
                return None;
            };
            image.entries.push((relative, item));
            if image.entries.len() > IMAGE_MAX_ENTRIES {
                return None;
            }
        }
        Some(image)
    }

    /// Writes the tree into `to`, which exists and is empty.
    fn write(&self, to: &Path) -> io::Result<()> {
        use std::io::Write;
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        for (relative, item) in &self.entries {
            let target = to.join(relative);
            match item {
                ImageEntry::Dir => fs::create_dir(&target)?,
                ImageEntry::Symlink(link) => std::os::unix::fs::symlink(link, &target)?,
                ImageEntry::File(contents, mode) => {
                    let mut file = fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .mode(*mode)
                        .open(&target)?;
                    file.write_all(contents)?;
                    // The mode given at creation is filtered by the umask; the snapshot's own
                    // files were, too, so this only runs when the umask changed meanwhile.
                    if file.metadata()?.permissions().mode() != *mode {
                        file.set_permissions(fs::Permissions::from_mode(*mode))?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// The repository snapshots of the runs in progress, shared by the jobs of each run.
///
/// The first job of a run that needs `(source, sha)` makes the snapshot; the others wait for it
/// and copy it. A failed snapshot is remembered, so the jobs of the run all report the same error.
#[derive(Debug, Default)]
pub struct Snapshots {
    entries: Mutex<HashMap<SnapshotKey, SnapshotCell>>,
    counter: AtomicU64,
    trash: Arc<Mutex<Trash>>,
}

/// Job directories waiting to be deleted, and whether a blocking task is deleting them. One
/// task at a time deletes them, oldest first, so that deletions never hold up the blocking
/// threads that copy workspaces for starting jobs.
#[derive(Debug, Default)]
struct Trash {
    queue: std::collections::VecDeque<PathBuf>,
    deleting: bool,
}

impl Snapshots {
    pub fn new() -> Snapshots {
        Snapshots::default()
    }

    /// Fills `workspace` (which exists and is empty) with the job's own copy of `source` at
    /// `sha`, made from the run's snapshot in `run_dir`.
    pub async fn fill_workspace(
        &self,
        run_dir: &Path,
        source: &Path,
        sha: Option<&str>,
        workspace: &Path,
    ) -> Result<(), SetupError> {
        let copy_error = |detail: String| SetupError::Copy {
            source_path: source.display().to_string(),
            detail,
        };
        if !source.join(".git").exists() {
            // A plain directory is copied as it is; a snapshot would only add a second copy.
            return copy_repository(source, sha, workspace).await;
        }
        let sha = sha.filter(|s| !s.is_empty()).map(str::to_owned);
        let cell = self
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((run_dir.to_owned(), source.to_owned(), sha.clone()))
            .or_default()
            .clone();
        let snapshot = cell
            .get_or_init(|| async {
                let dir = self.new_snapshot_dir(run_dir)?;
                make_snapshot(source, sha.as_deref(), &dir).await?;
                let read_from = dir.clone();
                let image = tokio::task::spawn_blocking(move || TreeImage::read(&read_from))
                    .await
                    .ok()
                    .flatten()
                    .map(Arc::new);
                Ok(Snapshot { dir, image })
            })
            .await
            .clone()
            .map_err(copy_error)?;
        let workspace = workspace.to_owned();
        tokio::task::spawn_blocking(move || match &snapshot.image {
            Some(image) => image.write(&workspace),
            None => copy_tree(&snapshot.dir, &workspace),
        })
        .await
        .map_err(|e| copy_error(e.to_string()))?
        .map_err(|e| copy_error(format!("cannot copy the snapshot: {e}")))
    }

    /// Creates a new, empty snapshot directory in `run_dir`, under a name no other snapshot has.
    fn new_snapshot_dir(&self, run_dir: &Path) -> Result<PathBuf, String> {
        fs::create_dir_all(run_dir)
            .map_err(|e| format!("cannot create {}: {e}", run_dir.display()))?;
        loop {
            let n = self.counter.fetch_add(1, Ordering::Relaxed);
            let dir = run_dir.join(format!("{SNAPSHOT_PREFIX}{n}"));
            match fs::create_dir(&dir) {
                Ok(()) => return Ok(dir),
                // Left by an earlier process with the same work root.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(format!("cannot create {}: {e}", dir.display())),
            }
        }
    }

    /// Forgets the snapshots of `run_dir` (the caller removes the directory).
    pub fn forget_run(&self, run_dir: &Path) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|(dir, _, _), _| dir != run_dir);
    }

    /// Removes a finished job's directory off the critical path: it is renamed into the run's
    /// trash at once (so a new job with the same key can start) and deleted by a blocking task
    /// (a runtime waits for its blocking tasks when it shuts down).
    /// Without a runtime, or when the rename fails, it is deleted here.
    pub fn discard_job_dir(&self, run_dir: &Path, job_root: &Path) {
        let trash = run_dir.join(TRASH_DIR);
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let target = trash.join(format!("{n}-{}", std::process::id()));
        let moved = fs::rename(job_root, &target)
            .or_else(|_| fs::create_dir_all(&trash).and_then(|()| fs::rename(job_root, &target)));
        match (moved, tokio::runtime::Handle::try_current()) {
            (Ok(()), Ok(handle)) => {
                let start = {
                    let mut trash = self.trash.lock().unwrap_or_else(PoisonError::into_inner);
                    trash.queue.push_back(target);
                    !std::mem::replace(&mut trash.deleting, true)
                };
                if start {
                    let trash = self.trash.clone();
                    handle.spawn_blocking(move || loop {
                        let next = {
                            let mut trash = trash.lock().unwrap_or_else(PoisonError::into_inner);
                            match trash.queue.pop_front() {
                                Some(next) => next,
                                None => {
                                    trash.deleting = false;
                                    return;
                                }
                            }
                        };
                        let _ = fs::remove_dir_all(&next);
                    });
                }
            }
            (Ok(()), Err(_)) => {
                let _ = fs::remove_dir_all(&target);
            }
            (Err(_), _) => {
                let _ = fs::remove_dir_all(job_root);
            }
        }
    }
}

/// Makes the snapshot of `source` at `sha` (or its working tree) in `dir`, which is empty.
async fn make_snapshot(source: &Path, sha: Option<&str>, dir: &Path) -> Result<(), String> {
    let by_hand = match plan_git_dir(source, sha) {
        Some(plan) => {
            write_git_dir(&plan, source, dir)
                .map_err(|e| format!("cannot write {}: {e}", dir.join(".git").display()))?;
            read_tree(dir, &plan.commit)
                .await
                .map_err(|e| error_chain(&e))?;
            true
        }
        None => false,
    };
    if !by_hand {
        copy_repository(source, sha, dir)
            .await
            .map_err(|e| match e {
                SetupError::Copy { detail, .. } => detail,
                other => other.to_string(),
            })?;
        return Ok(());
    }
    if sha.is_none() {
        overlay_working_tree(source, dir)
            .await
            .map_err(|e| error_chain(&e))?;
    }
    Ok(())
}

/// What the snapshot's `.git` holds, read from the source without running git.
#[derive(Debug, PartialEq, Eq)]
struct GitDirPlan {
    /// The source's object directory (shared through `objects/info/alternates`).
    objects: PathBuf,
    /// The full sha checked out (detached).
    commit: String,
    /// The source's branches and tags, by full ref name.
    refs: BTreeMap<String, String>,
    /// The branch the source's `HEAD` is on, if any.
    head_branch: Option<String>,
    /// The source's `shallow` file, if it is a shallow repository.
    shallow: Option<Vec<u8>>,
}

fn is_full_sha(text: &str) -> bool {
    text.len() == 40 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Reads what a snapshot needs from the source's `.git`, or `None` when the repository is not
/// the plain kind this reading understands (then `git clone` makes the snapshot).
fn plan_git_dir(source: &Path, sha: Option<&str>) -> Option<GitDirPlan> {
    let dot_git = source.join(".git");
    let git_dir = if fs::metadata(&dot_git).ok()?.is_dir() {
        dot_git
    } else {
        // A linked worktree or a submodule: `.git` is a file naming the real directory.
        let text = fs::read_to_string(&dot_git).ok()?;
        source.join(text.strip_prefix("gitdir:")?.trim())
    };
    let common_dir = match fs::read_to_string(git_dir.join("commondir")) {
        Ok(text) => git_dir.join(text.trim()),
        Err(_) => git_dir.clone(),
    };
    // Extensions change the object format, the ref storage, partial clones, per-worktree
    // config...; leave all of those to git itself.
    let config = fs::read_to_string(common_dir.join("config")).ok()?;
    if config.to_ascii_lowercase().contains("[extensions") || common_dir.join("reftable").exists() {
        return None;
    }
    let refs = read_refs(&common_dir)?;
    let head = fs::read_to_string(git_dir.join("HEAD")).ok()?;
    let head = head.trim();
    let (head_branch, head_commit) = match head.strip_prefix("ref:") {
        Some(name) => {
            let name = name.trim();
            let commit = refs.get(name).cloned();
            (name.strip_prefix("refs/heads/").map(str::to_owned), commit)
        }
        None if is_full_sha(head) => (None, Some(head.to_owned())),
        None => return None,
    };
    let commit = match sha {
        Some(sha) if is_full_sha(sha) => sha.to_ascii_lowercase(),
        // A revision given by name is resolved by git.
        Some(_) => return None,
        None => head_commit?,
    };
    let objects = fs::canonicalize(common_dir.join("objects")).ok()?;
    let shallow = fs::read(common_dir.join("shallow")).ok();
    Some(GitDirPlan {
        objects,
        commit,
        refs,
        head_branch,
        shallow,
    })
}

/// The branches and tags of a repository: `packed-refs`, overridden by loose refs.
fn read_refs(common_dir: &Path) -> Option<BTreeMap<String, String>> {
    let mut refs = BTreeMap::new();
    match fs::read_to_string(common_dir.join("packed-refs")) {
        Ok(text) => {
            for line in text.lines() {
                if line.starts_with('#') || line.starts_with('^') {
                    continue;
                }
                let (sha, name) = line.split_once(' ')?;
                if is_full_sha(sha) && is_branch_or_tag(name) {
                    refs.insert(name.to_owned(), sha.to_owned());
                }
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(_) => return None,
    }
    for kind in ["refs/heads", "refs/tags"] {
        let base = common_dir.join(kind);
        if !base.exists() {
            continue;
        }
        for entry in walkdir::WalkDir::new(&base) {
            let entry = entry.ok()?;
            if !entry.file_type().is_file() {
                continue;
            }
            let relative = entry.path().strip_prefix(common_dir).ok()?;
            let name = relative.to_str()?.replace('\\', "/");
            if name.ends_with(".lock") {
                continue;
            }
            let text = fs::read_to_string(entry.path()).ok()?;
            let sha = text.trim();
            // Symbolic refs other than HEAD are rare; they are left out as clone leaves them.
            if is_full_sha(sha) {
                refs.insert(name, sha.to_owned());
            }
        }
    }
    Some(refs)
}

fn is_branch_or_tag(name: &str) -> bool {
    name.starts_with("refs/heads/") || name.starts_with("refs/tags/")
}

/// Quotes a value for a git config file.
fn config_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Writes the `.git` of a `git clone --shared` of `source` with a detached `HEAD` at the commit:
/// remote `origin` is the source, its branches are `origin/*`, its tags are tags, the branch its
/// `HEAD` is on exists locally.
fn write_git_dir(plan: &GitDirPlan, source: &Path, dir: &Path) -> io::Result<()> {
    let git = dir.join(".git");
    // Only what git needs to see a repository: each directory is copied into every job, and
    // creating files is what a job's setup costs. Git creates the others when it needs them.
    for sub in ["objects/info", "refs"] {
        fs::create_dir_all(git.join(sub))?;
    }
    let source = fs::canonicalize(source).unwrap_or_else(|_| source.to_owned());
    let mut config = String::from(
        "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = false\n\tlogallrefupdates = true\n",
    );
    config.push_str(&format!(
        "[remote \"origin\"]\n\turl = {}\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n",
        config_value(&source.to_string_lossy())
    ));
    let mut packed = String::from("# pack-refs with: sorted \n");
    let mut lines: BTreeMap<String, &str> = BTreeMap::new();
    for (name, sha) in &plan.refs {
        if let Some(branch) = name.strip_prefix("refs/heads/") {
            lines.insert(format!("refs/remotes/origin/{branch}"), sha);
        } else {
            lines.insert(name.clone(), sha);
        }
    }
    if let Some(branch) = &plan.head_branch {
        if let Some(sha) = plan.refs.get(&format!("refs/heads/{branch}")) {
            lines.insert(format!("refs/heads/{branch}"), sha);
            config.push_str(&format!(
                "[branch {}]\n\tremote = origin\n\tmerge = refs/heads/{branch}\n",
                config_value(branch)
            ));
            let origin = git.join("refs/remotes/origin");
            fs::create_dir_all(&origin)?;
            fs::write(
                origin.join("HEAD"),
                format!("ref: refs/remotes/origin/{branch}\n"),
            )?;
        }
    }
    for (name, sha) in &lines {
        packed.push_str(&format!("{sha} {name}\n"));
    }
    fs::write(git.join("config"), config)?;
    fs::write(git.join("packed-refs"), packed)?;
    fs::write(
        git.join("objects/info/alternates"),
        format!("{}\n", plan.objects.display()),
    )?;
    if let Some(shallow) = &plan.shallow {
        fs::write(git.join("shallow"), shallow)?;
    }
    fs::write(git.join("HEAD"), format!("{}\n", plan.commit))
}

/// Fills the index and the working tree of the snapshot in `dir` from `commit`.
async fn read_tree(dir: &Path, commit: &str) -> Result<(), GitError> {
    let git_dir = format!("--git-dir={}", dir.join(".git").display());
    let work_tree = format!("--work-tree={}", dir.display());
    let output = tokio::process::Command::new("git")
        .args([&git_dir, &work_tree, "read-tree", "--reset", "-u", commit])
        .current_dir(dir)
        // Variables a git hook may have set would point git elsewhere.
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .env_remove("GIT_OBJECT_DIRECTORY")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(GitError::Spawn)?;
    if output.status.success() {
        Ok(())
    } else {
        Err(GitError::Checkout {
            commit: commit.to_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn git_errors_name_the_command_and_keep_stderr() {
        let err = git(None, &["no-such-command-xyz"]).await.unwrap_err();
        let text = error_chain(&err);
        assert!(
            text.starts_with("git no-such-command-xyz failed: "),
            "{text}"
        );
        assert!(text.contains("no-such-command-xyz"), "{text}");
        let missing = tempfile::tempdir().unwrap();
        let err = overlay_working_tree(&missing.path().join("gone"), missing.path())
            .await
            .unwrap_err();
        assert!(error_chain(&err).starts_with("cannot run git: "), "{err:?}");
    }

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
    fn tree_images_write_what_they_read() {
        use std::os::unix::fs::PermissionsExt;
        let from = tempfile::tempdir().unwrap();
        fs::create_dir_all(from.path().join("a/b")).unwrap();
        fs::create_dir_all(from.path().join("empty")).unwrap();
        fs::write(from.path().join("a/b/f.txt"), "x").unwrap();
        fs::write(from.path().join("run.sh"), "echo hi\n").unwrap();
        fs::set_permissions(
            from.path().join("run.sh"),
            fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        std::os::unix::fs::symlink("a/b/f.txt", from.path().join("link")).unwrap();
        let image = TreeImage::read(from.path()).expect("a small tree");
        let to = tempfile::tempdir().unwrap();
        image.write(to.path()).unwrap();
        assert_eq!(TreeImage::read(to.path()), Some(image));
        assert_eq!(
            fs::metadata(to.path().join("run.sh"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o755
        );
        assert_eq!(
            fs::read_link(to.path().join("link")).unwrap(),
            Path::new("a/b/f.txt")
        );
        // Too large a tree is not held in memory.
        fs::write(
            from.path().join("big"),
            vec![0u8; IMAGE_MAX_BYTES as usize + 1],
        )
        .unwrap();
        assert_eq!(TreeImage::read(from.path()), None);
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
    /// Runs git in `dir`, returns its trimmed stdout; panics on failure (tests only).
    fn run_git(dir: &Path, args: &[&str]) -> String {
        let out = std::process::Command::new("git")
            .args([
                "-c",
                "user.email=t@example.com",
                "-c",
                "user.name=t",
                "-c",
                "init.defaultBranch=main",
            ])
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// A repository with two commits on `main`, a tag, a second branch and an executable file;
    /// returns the sha of `HEAD`.
    fn make_repo(dir: &Path) -> String {
        fs::create_dir_all(dir.join("sub")).unwrap();
        fs::write(dir.join("a.txt"), "one\n").unwrap();
        run_git(dir, &["init", "-q"]);
        run_git(dir, &["add", "."]);
        run_git(dir, &["commit", "-qm", "first"]);
        run_git(dir, &["tag", "v1"]);
        run_git(dir, &["branch", "other"]);
        fs::write(dir.join("a.txt"), "two\n").unwrap();
        fs::write(dir.join("sub/run.sh"), "echo hi\n").unwrap();
        std::os::unix::fs::symlink("a.txt", dir.join("link")).unwrap();
        let mut perms = fs::metadata(dir.join("sub/run.sh")).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        fs::set_permissions(dir.join("sub/run.sh"), perms).unwrap();
        run_git(dir, &["add", "."]);
        run_git(dir, &["commit", "-qm", "second"]);
        run_git(dir, &["rev-parse", "HEAD"])
    }

    /// Every file under `dir` (but `.git`) with its contents, for comparing trees.
    fn tree(dir: &Path) -> Vec<(String, String)> {
        let mut files: Vec<(String, String)> = walkdir::WalkDir::new(dir)
            .into_iter()
            .filter_entry(|e| e.file_name() != ".git")
            .map(|e| e.unwrap())
            .filter(|e| !e.file_type().is_dir())
            .map(|e| {
                let rel = e.path().strip_prefix(dir).unwrap().display().to_string();
                (rel, fs::read_to_string(e.path()).unwrap_or_default())
            })
            .collect();
        files.sort();
        files
    }

    fn status_of(dir: &Path) -> String {
        run_git(dir, &["status", "--porcelain"])
    }

    #[tokio::test]
    async fn jobs_of_a_run_get_independent_full_copies() {
        let tmp = tempfile::tempdir().unwrap();
        let source = tmp.path().join("repo");
        let sha = make_repo(&source);
        let before = (
            tree(&source),
            status_of(&source),
            run_git(&source, &["rev-parse", "HEAD"]),
        );
        let run = tmp.path().join("work/1-1");
        let snapshots = Snapshots::new();
        let (one, two) = (run.join("one/ws"), run.join("two/ws"));
        for ws in [&one, &two] {
            fs::create_dir_all(ws).unwrap();
            snapshots
                .fill_workspace(&run, &source, Some(&sha), ws)
                .await
                .unwrap();
        }
        // One snapshot for the run, each job with the full tree and a working `.git`.
        let snapshot_dirs: Vec<_> = fs::read_dir(&run)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(SNAPSHOT_PREFIX))
            .collect();
        assert_eq!(snapshot_dirs.len(), 1, "{snapshot_dirs:?}");
        for ws in [&one, &two] {
            assert_eq!(tree(ws), tree(&source));
            assert_eq!(run_git(ws, &["rev-parse", "HEAD"]), sha);
            assert_eq!(status_of(ws), "");
            assert!(fs::symlink_metadata(ws.join("link"))
                .unwrap()
                .file_type()
                .is_symlink());
            let mode = fs::metadata(ws.join("sub/run.sh")).unwrap().permissions();
            assert_eq!(
                std::os::unix::fs::PermissionsExt::mode(&mode) & 0o111,
                0o111
            );
        }
        // A job's writes stay in its own copy: files, the index, refs.
        fs::write(one.join("a.txt"), "changed by one\n").unwrap();
        fs::write(one.join("new.txt"), "new\n").unwrap();
        run_git(&one, &["add", "."]);
        run_git(&one, &["commit", "-qm", "in one"]);
        run_git(&one, &["tag", "from-one"]);
        assert_eq!(fs::read_to_string(two.join("a.txt")).unwrap(), "two\n");
        assert!(!two.join("new.txt").exists());
        assert_eq!(run_git(&two, &["rev-parse", "HEAD"]), sha);
        assert_eq!(status_of(&two), "");
        assert_eq!(run_git(&two, &["tag", "-l", "from-one"]), "");
        // A third job after those writes still gets the pristine snapshot.
        let three = run.join("three/ws");
        fs::create_dir_all(&three).unwrap();
        snapshots
            .fill_workspace(&run, &source, Some(&sha), &three)
            .await
            .unwrap();
        assert_eq!(tree(&three), tree(&source));
        // The source is untouched.
        let after = (
            tree(&source),
            status_of(&source),
            run_git(&source, &["rev-parse", "HEAD"]),
        );
        assert_eq!(before, after);
        assert_eq!(run_git(&source, &["tag", "-l", "from-one"]), "");
    }

    #[tokio::test]
    async fn snapshot_git_dir_is_like_a_shared_clone() {
        let tmp = tempfile::tempdir().unwrap();
        let source = tmp.path().join("repo");
        let sha = make_repo(&source);
        let first = run_git(&source, &["rev-parse", "v1"]);
        let run = tmp.path().join("run");
        let ws = tmp.path().join("ws");
        fs::create_dir_all(&ws).unwrap();
        Snapshots::new()
            .fill_workspace(&run, &source, Some(&first), &ws)
            .await
            .unwrap();
        assert_eq!(fs::read_to_string(ws.join("a.txt")).unwrap(), "one\n");
        assert!(!ws.join("sub").exists());
        let check = |args: &[&str], expected: &str| {
            assert_eq!(run_git(&ws, args), expected, "git {args:?}");
        };
        check(&["rev-parse", "HEAD"], &first);
        check(&["rev-parse", "origin/main"], &sha);
        check(&["rev-parse", "origin/other"], &first);
        check(&["rev-parse", "main"], &sha);
        check(&["rev-parse", "v1^{commit}"], &first);
        check(
            &["symbolic-ref", "refs/remotes/origin/HEAD"],
            "refs/remotes/origin/main",
        );
        check(&["log", "--format=%s", "origin/main"], "second\nfirst");
        check(&["status", "--porcelain"], "");
        let url = run_git(&ws, &["config", "remote.origin.url"]);
        assert_eq!(Path::new(&url), fs::canonicalize(&source).unwrap());
        // What the checkout built-in does in a workspace.
        run_git(
            &ws,
            &["checkout", "-q", "--force", "--detach", "origin/main"],
        );
        check(&["rev-parse", "HEAD"], &sha);
        assert_eq!(fs::read_to_string(ws.join("a.txt")).unwrap(), "two\n");
        run_git(&ws, &["fetch", "-q", "origin"]);
    }

    #[tokio::test]
    async fn snapshots_of_every_kind_of_source() {
        let tmp = tempfile::tempdir().unwrap();
        let source = tmp.path().join("repo");
        let sha = make_repo(&source);
        let linked = tmp.path().join("linked");
        run_git(
            &source,
            &["worktree", "add", "-q", linked.to_str().unwrap(), "other"],
        );
        let first = run_git(&source, &["rev-parse", "v1"]);
        let snapshots = Snapshots::new();
        let run = tmp.path().join("run");
        // Full sha, HEAD of the source, a revision by name (snapshotted by git clone), and a
        // linked worktree (`.git` is a file).
        let cases: [(&Path, Option<&str>, &str, &str); 5] = [
            (&source, Some(&sha), &sha, "two\n"),
            (&source, None, &sha, "two\n"),
            (&source, Some("v1"), &first, "one\n"),
            (&linked, None, &first, "one\n"),
            (&linked, Some(&sha), &sha, "two\n"),
        ];
        for (n, (source, sha, expected_head, a_txt)) in cases.into_iter().enumerate() {
            let ws = tmp.path().join(format!("ws{n}"));
            fs::create_dir_all(&ws).unwrap();
            snapshots
                .fill_workspace(&run, source, sha, &ws)
                .await
                .unwrap();
            let case = format!("{source:?} {sha:?}");
            assert_eq!(
                run_git(&ws, &["rev-parse", "HEAD"]),
                expected_head,
                "{case}"
            );
            assert_eq!(
                fs::read_to_string(ws.join("a.txt")).unwrap(),
                a_txt,
                "{case}"
            );
            assert_eq!(status_of(&ws), "", "{case}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn snapshot_errors_and_working_trees() {
        let tmp = tempfile::tempdir().unwrap();
        let source = tmp.path().join("repo");
        make_repo(&source);
        let snapshots = Snapshots::new();
        let run = tmp.path().join("run");
        let ws = tmp.path().join("ws");
        fs::create_dir_all(&ws).unwrap();
        let missing = "0123456789abcdef0123456789abcdef01234567";
        let err = snapshots
            .fill_workspace(&run, &source, Some(missing), &ws)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("cannot copy repository") && err.contains(missing),
            "{err}"
        );
        // The working tree as it is: edits and untracked files, not ignored ones or deletions.
        fs::write(source.join("a.txt"), "edited\n").unwrap();
        fs::write(source.join("untracked.txt"), "u\n").unwrap();
        fs::remove_file(source.join("sub/run.sh")).unwrap();
        snapshots
            .fill_workspace(&run, &source, None, &ws)
            .await
            .unwrap();
        assert_eq!(fs::read_to_string(ws.join("a.txt")).unwrap(), "edited\n");
        assert_eq!(fs::read_to_string(ws.join("untracked.txt")).unwrap(), "u\n");
        assert!(!ws.join("sub/run.sh").exists());
        // Forgetting the run makes the next job take a new snapshot.
        snapshots.forget_run(&run);
        fs::write(source.join("a.txt"), "later\n").unwrap();
        let ws2 = tmp.path().join("ws2");
        fs::create_dir_all(&ws2).unwrap();
        snapshots
            .fill_workspace(&run, &source, None, &ws2)
            .await
            .unwrap();
        assert_eq!(fs::read_to_string(ws2.join("a.txt")).unwrap(), "later\n");
    }

    #[tokio::test]
    async fn job_dirs_are_discarded() {
        let tmp = tempfile::tempdir().unwrap();
        let run = tmp.path().join("run");
        let snapshots = Snapshots::new();
        for n in 0..5 {
            let other = create_dirs(&run.join(format!("other{n}")), "repo").unwrap();
            fs::write(other.workspace.join("f"), "x").unwrap();
            snapshots.discard_job_dir(&run, &other.root);
            assert!(!other.root.exists());
        }
        let dirs = create_dirs(&run.join("job"), "repo").unwrap();
        fs::write(dirs.workspace.join("f"), "x").unwrap();
        snapshots.discard_job_dir(&run, &dirs.root);
        assert!(!dirs.root.exists());
        // A job with the same key can start at once.
        let again = create_dirs(&run.join("job"), "repo").unwrap();
        assert!(again.workspace.is_dir());
        for _ in 0..200 {
            let trash = run.join(TRASH_DIR);
            if fs::read_dir(&trash).map(|d| d.count() == 0).unwrap_or(true) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the discarded job directory was not deleted");
    }
    #[test]
    fn which_sources_are_snapshotted_by_hand() {
        let tmp = tempfile::tempdir().unwrap();
        let source = tmp.path().join("repo");
        let sha = make_repo(&source);
        let plan = plan_git_dir(&source, Some(&sha)).expect("a plain repository");
        assert_eq!(plan.commit, sha);
        assert_eq!(plan.head_branch.as_deref(), Some("main"));
        let names: Vec<&str> = plan.refs.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            ["refs/heads/main", "refs/heads/other", "refs/tags/v1"]
        );
        run_git(&source, &["pack-refs", "--all"]);
        assert_eq!(plan_git_dir(&source, Some(&sha)), Some(plan));
        let check = |sha: Option<&str>, by_hand: bool| {
            assert_eq!(plan_git_dir(&source, sha).is_some(), by_hand, "{sha:?}");
        };
        check(None, true);
        check(Some("main"), false);
        check(Some("abc123"), false);
        run_git(&source, &["config", "extensions.worktreeConfig", "true"]);
        check(Some(&sha), false);
        check(None, false);
    }
}
