//! Reads what `gantry run` needs from the local git repository: HEAD's sha and ref, the remote's
//! `owner/repo`, the actor, recent commits and changed files.
//!
//! The run asks `git` itself (read-only commands) rather than linking a git library: it is
//! what users have, and it honours their config. A repository without commits, without a remote
//! or with a detached HEAD still yields a usable (documented) default for every field.
//!
//! Every `git` process costs a few milliseconds, a large part of a short run, so the facts are
//! gathered with few of them: one `rev-parse` for the top level and the git directories, then,
//! side by side, one `config --get-regexp` for the three settings and one `log -1` for HEAD, its
//! parents, its message and the files it changed (what a push event needs for the usual single
//! commit). `HEAD` and `origin/HEAD` are read from their files (symbolic refs are always files,
//! except in reftable repositories, where git is asked). Facts read once are remembered for the
//! later questions of the same process ([`parent_sha`], [`commits`], [`changed_files`]).
//! Tests: `crates/gantry/tests/run.rs` and `tests/api.rs` build throwaway repositories; the
//! `tests` module below.

use crate::error::{Error, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// The facts about a repository that the `github` context and event payloads are built from.
#[derive(Debug, Clone)]
pub struct RepoInfo {
    pub root: PathBuf,
    /// `None` for a repository without commits.
    pub sha: Option<String>,
    /// `refs/heads/x` or `refs/tags/x` (a detached HEAD on a tag gives the tag).
    pub git_ref: String,
    pub ref_name: String,
    /// `owner/name` from the `origin` remote, or `local/<folder name>`.
    pub repository: String,
    pub actor: String,
    pub default_branch: String,
}

/// One commit as push payloads describe it.
#[derive(Debug, Clone)]
pub struct CommitInfo {
    pub id: String,
    pub message: String,
    pub author_name: String,
    pub author_email: String,
    pub timestamp: String,
}

fn git(root: &Path, args: &[&str]) -> Result<Option<String>> {
    let output = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .map_err(Error::Git)?;
    if !output.status.success() {
        return Ok(None);
    }
    Ok(Some(
        String::from_utf8_lossy(&output.stdout)
            .trim_end_matches('\n')
            .to_string(),
    ))
}

/// What this process learnt about a repository, by top-level directory.
#[derive(Debug, Clone, Default)]
struct Known {
    /// The repository's own git directory and the common one (they differ in linked worktrees).
    git_dirs: Option<(PathBuf, PathBuf)>,
    /// HEAD's parent, once HEAD was read.
    parent: Option<Option<String>>,
    /// HEAD with its parents and the files it changed against its first parent (all its files
    /// for a root commit).
    head: Option<HeadCommit>,
}

#[derive(Debug, Clone)]
struct HeadCommit {
    commit: CommitInfo,
    parents: Vec<String>,
    files: Vec<String>,
}

/// Reads HEAD, its parents and the files it changed with one `git log` (`None` without commits).
fn read_head(root: &Path) -> Result<Option<HeadCommit>> {
    let Some(out) = git(
        root,
        &[
            "log",
            "-1",
            "-z",
            "--no-show-signature",
            "--root",
            "--no-renames",
            "--name-only",
            "--format=%H%x1f%P%x1f%an%x1f%ae%x1f%aI%x1f%B%x1e",
            "HEAD",
        ],
    )?
    else {
        return Ok(None);
    };
    let Some((record, names)) = out.split_once('\x1e') else {
        return Ok(None);
    };
    let mut fields = record.splitn(6, '\x1f');
    let (Some(id), Some(parents), Some(name), Some(email), Some(timestamp), Some(message)) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return Ok(None);
    };
    if id.is_empty() {
        return Ok(None);
    }
    Ok(Some(HeadCommit {
        commit: CommitInfo {
            id: id.to_string(),
            message: message.trim_end().to_string(),
            author_name: name.to_string(),
            author_email: email.to_string(),
            timestamp: timestamp.to_string(),
        },
        parents: parents
            .split(' ')
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect(),
        files: names
            .split('\0')
            .map(|n| n.trim_start_matches('\n'))
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .collect(),
    }))
}

fn known() -> &'static Mutex<HashMap<PathBuf, Known>> {
    static KNOWN: OnceLock<Mutex<HashMap<PathBuf, Known>>> = OnceLock::new();
    KNOWN.get_or_init(Mutex::default)
}

fn remember(root: &Path, update: impl FnOnce(&mut Known)) {
    let mut known = known()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    update(known.entry(root.to_path_buf()).or_default());
}

fn recall(root: &Path) -> Known {
    let known = known()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    known.get(root).cloned().unwrap_or_default()
}

/// Finds the repository containing `dir`.
pub fn find_root(dir: &Path) -> Result<PathBuf> {
    let out = git(
        dir,
        &[
            "rev-parse",
            "--show-toplevel",
            "--absolute-git-dir",
            "--git-common-dir",
        ],
    )?;
    let mut lines = out.as_deref().unwrap_or("").lines();
    match (lines.next(), lines.next(), lines.next()) {
        (Some(top), git_dir, common_dir) if !top.is_empty() => {
            let root = PathBuf::from(top);
            if let (Some(git_dir), Some(common_dir)) = (git_dir, common_dir) {
                // `--git-common-dir` may be relative to `dir`.
                let git_dirs = (PathBuf::from(git_dir), dir.join(common_dir));
                remember(&root, |k| k.git_dirs = Some(git_dirs));
            }
            Ok(root)
        }
        _ => Err(Error::NotARepository(dir.to_path_buf())),
    }
}

/// Reads a symbolic ref from its file: `Some(Some(target))`, `Some(None)` when it is not a
/// symbolic ref (or does not exist), `None` when only git can tell (reftable).
fn read_symref(git_dir: &Path, common_dir: &Path, name: &str) -> Option<Option<String>> {
    if common_dir.join("reftable").exists() {
        return None;
    }
    let dir = if name == "HEAD" { git_dir } else { common_dir };
    match std::fs::read_to_string(dir.join(name)) {
        Ok(text) => Some(
            text.trim_end()
                .strip_prefix("ref: ")
                .map(|target| target.trim().to_string()),
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && name != "HEAD" => Some(None),
        Err(_) => None,
    }
}

/// The last value of each of `keys` (lowercase names) in the repository's config.
fn config_values(root: &Path, keys: &[&str]) -> Result<HashMap<String, String>> {
    let pattern = format!(
        "^({})$",
        keys.iter()
            .map(|k| k.replace('.', "\\."))
            .collect::<Vec<_>>()
            .join("|")
    );
    let mut values = HashMap::new();
    let out = git(root, &["config", "-z", "--get-regexp", &pattern])?.unwrap_or_default();
    for entry in out.split('\0').filter(|e| !e.is_empty()) {
        let (key, value) = entry.split_once('\n').unwrap_or((entry, ""));
        values.insert(key.to_ascii_lowercase(), value.to_string());
    }
    Ok(values)
}

pub fn inspect(root: &Path) -> Result<RepoInfo> {
    let git_dirs = match recall(root).git_dirs {
        Some(dirs) => Some(dirs),
        None => git(
            root,
            &["rev-parse", "--absolute-git-dir", "--git-common-dir"],
        )?
        .and_then(|out| {
            let mut lines = out.lines();
            Some((PathBuf::from(lines.next()?), root.join(lines.next()?)))
        }),
    };
    // The two git processes are independent: run them side by side.
    let (head, config) = std::thread::scope(|scope| {
        let config = scope.spawn(|| {
            config_values(
                root,
                &["remote.origin.url", "user.name", "init.defaultbranch"],
            )
        });
        let head = read_head(root);
        let config = config
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (head, config)
    });
    let (head, mut config) = (head?, config?);
    let sha = head.as_ref().map(|h| h.commit.id.clone());
    let parent = head.as_ref().and_then(|h| h.parents.first().cloned());
    remember(root, |k| {
        k.parent = Some(parent);
        k.head = head;
    });
    let symbolic = |name: &str, args: &[&str]| -> Result<Option<String>> {
        match git_dirs
            .as_ref()
            .and_then(|(git_dir, common)| read_symref(git_dir, common, name))
        {
            Some(target) => Ok(target),
            None => git(root, args),
        }
    };
    let head_ref = symbolic("HEAD", &["symbolic-ref", "-q", "HEAD"])?;
    let git_ref = match head_ref {
        Some(r) => r,
        None => match git(root, &["describe", "--tags", "--exact-match", "HEAD"])? {
            Some(tag) => format!("refs/tags/{tag}"),
            None => "refs/heads/HEAD".to_string(),
        },
    };
    let ref_name = git_ref
        .strip_prefix("refs/heads/")
        .or_else(|| git_ref.strip_prefix("refs/tags/"))
        .unwrap_or(&git_ref)
        .to_string();
    let folder = root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let repository = config
        .remove("remote.origin.url")
        .and_then(|url| owner_repo_from_url(&url))
        .unwrap_or_else(|| format!("local/{folder}"));
    let actor = config
        .remove("user.name")
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "gantry".to_string());
    let origin_head = symbolic(
        "refs/remotes/origin/HEAD",
        &["symbolic-ref", "-q", "refs/remotes/origin/HEAD"],
    )?;
    let default_branch = origin_head
        .and_then(|s| s.strip_prefix("refs/remotes/origin/").map(str::to_string))
        .or_else(|| config.remove("init.defaultbranch"))
        .unwrap_or_else(|| "main".to_string());
    Ok(RepoInfo {
        root: root.to_path_buf(),
        sha,
        git_ref,
        ref_name,
        repository,
        actor,
        default_branch,
    })
}

/// `git@github.com:owner/repo.git`, `https://host/owner/repo(.git)` → `owner/repo`.
pub fn owner_repo_from_url(url: &str) -> Option<String> {
    let url = url.trim().trim_end_matches('/').trim_end_matches(".git");
    let path = if let Some((_, rest)) = url.split_once("://") {
        rest.split_once('/')?.1
    } else if let Some((_, rest)) = url.split_once(':') {
        rest
    } else {
        url
    };
    let mut parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    if parts.len() < 2 {
        return None;
    }
    let name = parts.pop()?;
    let owner = parts.pop()?;
    Some(format!("{owner}/{name}"))
}

/// The parent of HEAD, or `None` for a root commit.
pub fn parent_sha(root: &Path) -> Result<Option<String>> {
    match recall(root).parent {
        Some(parent) => Ok(parent),
        None => git(root, &["rev-parse", "--verify", "-q", "HEAD~1"]),
    }
}

/// Commits in `range` (`a..b`), oldest first, at most `limit` (GitHub caps push payloads at 20).
pub fn commits(root: &Path, range: &str, limit: usize) -> Result<Vec<CommitInfo>> {
    // The usual push: HEAD alone, from its only parent (or a root commit), already read.
    if let Some(head) = recall(root)
        .head
        .filter(|h| h.parents.len() <= 1 && limit > 0)
    {
        let head_only = match head.parents.first() {
            Some(parent) => format!("{parent}..{}", head.commit.id),
            None => head.commit.id.clone(),
        };
        if range == head_only {
            return Ok(vec![head.commit]);
        }
    }
    let max = format!("--max-count={limit}");
    let Some(out) = git(
        root,
        &[
            "log",
            &max,
            "--reverse",
            "--format=%H%x1f%an%x1f%ae%x1f%aI%x1f%B%x1e",
            range,
        ],
    )?
    else {
        return Ok(Vec::new());
    };
    Ok(out
        .split('\x1e')
        .filter_map(|record| {
            let record = record.trim_start_matches('\n');
            let mut fields = record.splitn(5, '\x1f');
            let id = fields.next()?.to_string();
            if id.is_empty() {
                return None;
            }
            Some(CommitInfo {
                id,
                author_name: fields.next()?.to_string(),
                author_email: fields.next()?.to_string(),
                timestamp: fields.next()?.to_string(),
                message: fields.next()?.trim_end().to_string(),
            })
        })
        .collect())
}

/// Files changed between `base` and `head` (for `paths` filters). With no base, every file in
/// `head` counts as changed (a first push).
pub fn changed_files(root: &Path, base: Option<&str>, head: &str) -> Result<Vec<String>> {
    if let Some(known) = recall(root).head.filter(|h| h.parents.len() <= 1) {
        if known.commit.id == head && known.parents.first().map(String::as_str) == base {
            return Ok(known.files);
        }
    }
    let out = match base {
        Some(base) => git(root, &["diff", "--name-only", "--no-renames", base, head])?,
        None => git(root, &["ls-tree", "-r", "--name-only", head])?,
    };
    Ok(out
        .map(|s| s.lines().map(str::to_string).collect())
        .unwrap_or_default())
}

/// The commit where HEAD left `branch` (for pull request bases), if that branch exists.
pub fn merge_base(root: &Path, branch: &str) -> Result<Option<String>> {
    git(root, &["merge-base", "HEAD", branch])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(["-c", "user.email=t@example.com", "-c", "user.name=t"])
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// The facts as the individual git commands give them, to compare `inspect` with.
    fn by_git_commands(root: &Path) -> (Option<String>, String, String, String, Option<String>) {
        let ask = |args: &[&str]| git(root, args).unwrap();
        let git_ref = ask(&["symbolic-ref", "-q", "HEAD"])
            .or_else(|| {
                ask(&["describe", "--tags", "--exact-match", "HEAD"])
                    .map(|t| format!("refs/tags/{t}"))
            })
            .unwrap_or_else(|| "refs/heads/HEAD".to_string());
        let default_branch = ask(&["symbolic-ref", "-q", "--short", "refs/remotes/origin/HEAD"])
            .and_then(|s| s.strip_prefix("origin/").map(str::to_string))
            .or_else(|| ask(&["config", "--get", "init.defaultBranch"]))
            .unwrap_or_else(|| "main".to_string());
        let repository = ask(&["config", "--get", "remote.origin.url"])
            .and_then(|u| owner_repo_from_url(&u))
            .unwrap_or_else(|| format!("local/{}", root.file_name().unwrap().to_string_lossy()));
        (
            ask(&["rev-parse", "--verify", "-q", "HEAD"]),
            git_ref,
            default_branch,
            repository,
            ask(&["rev-parse", "--verify", "-q", "HEAD~1"]),
        )
    }

    fn check(dir: &Path, what: &str) {
        let root = find_root(dir).unwrap();
        let info = inspect(&root).unwrap();
        let got = (
            info.sha.clone(),
            info.git_ref.clone(),
            info.default_branch.clone(),
            info.repository.clone(),
            parent_sha(&root).unwrap(),
        );
        assert_eq!(got, by_git_commands(&root), "{what}");
        // The push payload's commits and changed files, remembered or asked for.
        let Some(sha) = info.sha.clone() else {
            return;
        };
        let parent = parent_sha(&root).unwrap();
        let range = match &parent {
            Some(parent) => format!("{parent}..{sha}"),
            None => sha.clone(),
        };
        let push_facts = || {
            (
                format!("{:?}", commits(&root, &range, 20).unwrap()),
                changed_files(&root, parent.as_deref(), &sha).unwrap(),
            )
        };
        let remembered = push_facts();
        known().lock().unwrap().remove(&root);
        assert_eq!(remembered, push_facts(), "{what}");
        assert!(remembered.0.contains(&sha), "{what}: {remembered:?}");
    }

    #[test]
    fn inspect_agrees_with_git_commands() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("shop");
        std::fs::create_dir_all(repo.join("sub")).unwrap();
        run_git(&repo, &["init", "-q", "-b", "trunk"]);
        check(&repo, "no commits");
        run_git(&repo, &["config", "init.defaultBranch", "dev"]);
        std::fs::write(repo.join("sub/a.txt"), "a").unwrap();
        std::fs::write(repo.join("b.txt"), "b").unwrap();
        run_git(&repo, &["add", "."]);
        run_git(&repo, &["commit", "-q", "-m", "one\n\nwith a body\n"]);
        check(&repo, "one commit");
        check(&repo.join("sub"), "from a subdirectory");
        std::fs::write(repo.join("b.txt"), "changed").unwrap();
        std::fs::write(repo.join("c d.txt"), "new").unwrap();
        run_git(&repo, &["add", "."]);
        run_git(&repo, &["commit", "-q", "-m", "two"]);
        run_git(&repo, &["tag", "v1"]);
        check(&repo, "two commits");
        run_git(&repo, &["checkout", "-q", "-b", "topic", "HEAD~1"]);
        std::fs::write(repo.join("t.txt"), "t").unwrap();
        run_git(&repo, &["add", "."]);
        run_git(&repo, &["commit", "-q", "-m", "topic"]);
        run_git(&repo, &["checkout", "-q", "trunk"]);
        run_git(&repo, &["merge", "-q", "--no-ff", "-m", "merge", "topic"]);
        check(&repo, "a merge commit");
        run_git(
            &repo,
            &["remote", "add", "origin", "git@github.com:acme/shop.git"],
        );
        run_git(
            &repo,
            &["update-ref", "refs/remotes/origin/release", "HEAD"],
        );
        run_git(
            &repo,
            &[
                "symbolic-ref",
                "refs/remotes/origin/HEAD",
                "refs/remotes/origin/release",
            ],
        );
        check(&repo, "with a remote and origin/HEAD");
        run_git(&repo, &["pack-refs", "--all"]);
        check(&repo, "packed refs");
        run_git(&repo, &["checkout", "-q", "--detach", "HEAD~1"]);
        check(&repo, "detached");
        run_git(&repo, &["checkout", "-q", "v1"]);
        check(&repo, "detached on a tag");
        let linked = tmp.path().join("linked");
        run_git(
            &repo,
            &[
                "worktree",
                "add",
                "-q",
                "-b",
                "side",
                linked.to_str().unwrap(),
                "trunk",
            ],
        );
        check(&linked, "linked worktree");
    }

    #[test]
    fn owner_repo_from_remote_urls() {
        let check = |url: &str, expected: Option<&str>| {
            assert_eq!(owner_repo_from_url(url).as_deref(), expected, "{url}");
        };
        check("git@github.com:acme/shop.git", Some("acme/shop"));
        check("https://github.com/acme/shop", Some("acme/shop"));
        check("https://github.com/acme/shop.git/", Some("acme/shop"));
        check(
            "ssh://git@example.com:2222/group/sub/shop.git",
            Some("sub/shop"),
        );
        check("/srv/git/shop", Some("git/shop"));
        check("shop", None);
    }
}
