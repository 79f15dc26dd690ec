//! Reads what `gantry run` needs from the local git repository: HEAD's sha and ref, the remote's
//! `owner/repo`, the actor, recent commits and changed files.
//!
//! The binary asks `git` itself (read-only commands) rather than linking a git library: it is
//! what users have, and it honours their config. A repository without commits, without a remote
//! or with a detached HEAD still yields a usable (documented) default for every field.
//! Tests: `tests/run.rs` builds throwaway repositories.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

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
        .context("running git (is it installed?)")?;
    if !output.status.success() {
        return Ok(None);
    }
    Ok(Some(
        String::from_utf8_lossy(&output.stdout)
            .trim_end_matches('\n')
            .to_string(),
    ))
}

/// Finds the repository containing `dir`.
pub fn find_root(dir: &Path) -> Result<PathBuf> {
    match git(dir, &["rev-parse", "--show-toplevel"])? {
        Some(top) if !top.is_empty() => Ok(PathBuf::from(top)),
        _ => bail!(
            "{} is not inside a git repository (gantry run needs one to build the event)",
            dir.display()
        ),
    }
}

pub fn inspect(root: &Path) -> Result<RepoInfo> {
    let sha = git(root, &["rev-parse", "--verify", "-q", "HEAD"])?;
    let git_ref = match git(root, &["symbolic-ref", "-q", "HEAD"])? {
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
    let repository = git(root, &["config", "--get", "remote.origin.url"])?
        .and_then(|url| owner_repo_from_url(&url))
        .unwrap_or_else(|| format!("local/{folder}"));
    let actor = git(root, &["config", "--get", "user.name"])?
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "gantry".to_string());
    let default_branch = git(
        root,
        &["symbolic-ref", "-q", "--short", "refs/remotes/origin/HEAD"],
    )?
    .and_then(|s| s.strip_prefix("origin/").map(str::to_string))
    .or_else(|| {
        git(root, &["config", "--get", "init.defaultBranch"])
            .ok()
            .flatten()
    })
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
    git(root, &["rev-parse", "--verify", "-q", "HEAD~1"])
}

/// Commits in `range` (`a..b`), oldest first, at most `limit` (GitHub caps push payloads at 20).
pub fn commits(root: &Path, range: &str, limit: usize) -> Result<Vec<CommitInfo>> {
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
    use super::owner_repo_from_url;

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
