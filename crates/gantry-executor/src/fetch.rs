//! Fetching remote actions (`uses: owner/repo[/path]@ref`) into the action cache, as GitHub's
//! runner downloads them at job set-up: the ref (tag, branch or full commit SHA) is resolved
//! against the action's repository at a base URL (GitHub by default; a GitHub Enterprise host or a
//! mirror by configuration), and the tree at that commit is stored as
//! `<cache>/<owner>/<repo>/<sha>/` (no `.git`). `<cache>/<owner>/<repo>/.refs` remembers which
//! commit each ref resolved to last, for offline runs.
//!
//! Invariant: a tree in the cache is complete: it is checked out in a temporary directory next to
//! its final place and renamed there, so a killed fetch or two runs fetching the same action never
//! leave a half-written action behind. A ref is resolved once per executor (one run): every job of
//! a run sees the same commit, and a failing server is asked once. Offline, the network is never
//! touched. Errors never show the credentials of a base URL. `git` is run with prompts off and a
//! time limit. Tests: `tests/fetch.rs` against a local `git daemon`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::OnceCell;

/// Where remote actions come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionSource {
    /// `https://github.com`, a GitHub Enterprise server, or a mirror serving `<base>/<owner>/<repo>`
    /// over any URL git understands.
    pub base_url: String,
    /// Use the action cache only; never touch the network.
    pub offline: bool,
    /// The longest a ref lookup or a download may take.
    pub timeout: Duration,
}

impl Default for ActionSource {
    fn default() -> ActionSource {
        ActionSource {
            base_url: "https://github.com".to_owned(),
            offline: false,
            timeout: Duration::from_secs(300),
        }
    }
}

/// An action's repository at one commit, in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The repository's tree (the action is at its `path` inside).
    pub root: PathBuf,
    pub sha: String,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    #[error("'{name}@{git_ref}' is not in the action cache '{cache}' and the run is offline (fetch it first with `gantry actions pull` while online)")]
    Offline {
        name: String,
        git_ref: String,
        cache: String,
    },
    #[error("the repository {url} has no tag or branch '{git_ref}'")]
    NoSuchRef { url: String, git_ref: String },
    #[error(
        "'{git_ref}' is a short commit SHA: use the full 40-character SHA, as GitHub requires"
    )]
    ShortSha { git_ref: String },
    #[error("{what} {url} failed: {message}")]
    Git {
        what: &'static str,
        url: String,
        message: String,
    },
    #[error("{what} {url} took longer than {}s", .after.as_secs())]
    TimedOut {
        what: &'static str,
        url: String,
        after: Duration,
    },
    #[error("writing the action cache at {path}: {message}")]
    Cache { path: String, message: String },
}

type Memo = Arc<OnceCell<Result<Fetched, FetchError>>>;

/// Fetches remote actions into a cache directory; one per executor.
#[derive(Debug)]
pub struct ActionFetcher {
    cache: PathBuf,
    source: ActionSource,
    resolved: Mutex<HashMap<(String, String, String), Memo>>,
}

impl ActionFetcher {
    pub fn new(cache: impl Into<PathBuf>, source: ActionSource) -> ActionFetcher {
        ActionFetcher {
            cache: cache.into(),
            source,
            resolved: Mutex::new(HashMap::new()),
        }
    }

    pub fn source(&self) -> &ActionSource {
        &self.source
    }

    /// The repository `owner/repo` at `git_ref`, from the cache or fetched into it. Concurrent calls
    /// for the same action wait for one fetch.
    pub async fn fetch(
        &self,
        owner: &str,
        repo: &str,
        git_ref: &str,
    ) -> Result<Fetched, FetchError> {
        let key = (
            owner.to_ascii_lowercase(),
            repo.to_ascii_lowercase(),
            git_ref.to_owned(),
        );
        let memo = {
            // A poisoned lock only means another fetch panicked; the map is still usable.
            let mut map = self.resolved.lock().unwrap_or_else(|e| e.into_inner());
            map.entry(key).or_default().clone()
        };
        memo.get_or_init(|| self.fetch_uncached(owner, repo, git_ref))
            .await
            .clone()
    }

    async fn fetch_uncached(
        &self,
        owner: &str,
        repo: &str,
        git_ref: &str,
    ) -> Result<Fetched, FetchError> {
        let repo_dir = self.cache.join(owner).join(repo);
        let full_sha = is_full_sha(git_ref).then(|| git_ref.to_ascii_lowercase());
        if let Some(sha) = &full_sha {
            let root = repo_dir.join(sha);
            if root.is_dir() {
                return Ok(Fetched {
                    root,
                    sha: sha.clone(),
                });
            }
        }
        if self.source.offline {
            if let Some(sha) = read_refs(&repo_dir).remove(git_ref) {
                let root = repo_dir.join(&sha);
                if root.is_dir() {
                    return Ok(Fetched { root, sha });
                }
            }
            return Err(FetchError::Offline {
                name: format!("{owner}/{repo}"),
                git_ref: git_ref.to_owned(),
                cache: self.cache.display().to_string(),
            });
        }
        let (sha, wanted) = match full_sha {
            Some(sha) => (sha.clone(), sha),
            None => self.resolve(owner, repo, git_ref).await?,
        };
        let root = repo_dir.join(&sha);
        if !root.is_dir() {
            self.download(owner, repo, &wanted, &sha, &root).await?;
        }
        if !is_full_sha(git_ref) {
            remember_ref(&repo_dir, git_ref, &sha);
        }
        Ok(Fetched { root, sha })
    }

    fn url(&self, owner: &str, repo: &str) -> String {
        format!(
            "{}/{owner}/{repo}",
            self.source.base_url.trim_end_matches('/')
        )
    }

    /// The commit `git_ref` names (a tag before a branch, as git resolves a bare name; an annotated
    /// tag peeled to its commit) and the full ref name to fetch.
    async fn resolve(
        &self,
        owner: &str,
        repo: &str,
        git_ref: &str,
    ) -> Result<(String, String), FetchError> {
        let url = self.url(owner, repo);
        let tag = format!("refs/tags/{git_ref}");
        let branch = format!("refs/heads/{git_ref}");
        let listing = self
            .git(
                "looking up refs of",
                &url,
                None,
                &[
                    "ls-remote",
                    "--",
                    &url,
                    &tag,
                    &format!("{tag}^{{}}"),
                    &branch,
                ],
            )
            .await?;
        let mut found: HashMap<&str, &str> = HashMap::new();
        for line in listing.lines() {
            if let Some((sha, name)) = line.split_once('\t') {
                found.insert(name.trim(), sha.trim());
            }
        }
        let peeled = format!("{tag}^{{}}");
        let hit = found
            .get(peeled.as_str())
            .map(|sha| (*sha, tag.clone()))
            .or_else(|| found.get(tag.as_str()).map(|sha| (*sha, tag.clone())))
            .or_else(|| found.get(branch.as_str()).map(|sha| (*sha, branch.clone())));
        match hit {
            Some((sha, name)) if is_full_sha(sha) => Ok((sha.to_ascii_lowercase(), name)),
            // GitHub refuses short SHAs too; say so rather than "no such ref".
            _ if git_ref.len() >= 7 && is_hex(git_ref) => Err(FetchError::ShortSha {
                git_ref: git_ref.to_owned(),
            }),
            _ => Err(FetchError::NoSuchRef {
                url: redact_url(&url),
                git_ref: git_ref.to_owned(),
            }),
        }
    }

    /// Downloads commit `sha` (fetched as `wanted`: a ref name, or the SHA itself) into `root`.
    async fn download(
        &self,
        owner: &str,
        repo: &str,
        wanted: &str,
        sha: &str,
        root: &Path,
    ) -> Result<(), FetchError> {
        let url = self.url(owner, repo);
        let parent = root.parent().unwrap_or(root);
        let cache_error = |e: std::io::Error| FetchError::Cache {
            path: parent.display().to_string(),
            message: e.to_string(),
        };
        std::fs::create_dir_all(parent).map_err(cache_error)?;
        let temp = tempfile::Builder::new()
            .prefix(".fetch-")
            .tempdir_in(parent)
            .map_err(cache_error)?;
        let dir = temp.path();
        self.git(
            "initialising a checkout of",
            &url,
            Some(dir),
            &["init", "-q"],
        )
        .await?;
        let shallow = self
            .git(
                "downloading",
                &url,
                Some(dir),
                &[
                    "fetch",
                    "-q",
                    "--no-tags",
                    "--depth",
                    "1",
                    "--",
                    &url,
                    wanted,
                ],
            )
            .await;
        if shallow.is_err() {
            // Servers that do not let a client ask for a commit by its SHA (plain `git daemon`)
            // still serve it with everything else.
            self.git(
                "downloading",
                &url,
                Some(dir),
                &["fetch", "-q", "--", &url, "+refs/*:refs/fetched/*"],
            )
            .await?;
        }
        self.git(
            "checking out",
            &url,
            Some(dir),
            &["-c", "advice.detachedHead=false", "checkout", "-q", sha],
        )
        .await?;
        std::fs::remove_dir_all(dir.join(".git")).map_err(cache_error)?;
        let temp = temp.keep();
        if let Err(error) = std::fs::rename(&temp, root) {
            let _ = std::fs::remove_dir_all(&temp);
            // Another run put the same commit there first.
            if !root.is_dir() {
                return Err(cache_error(error));
            }
        }
        Ok(())
    }

    /// Runs `git args` (in `dir`), with prompts off and the time limit; stdout on success.
    async fn git(
        &self,
        what: &'static str,
        url: &str,
        dir: Option<&Path>,
        args: &[&str],
    ) -> Result<String, FetchError> {
        let mut command = tokio::process::Command::new("git");
        command
            .args(args)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_ASKPASS", "true")
            .env("GIT_HTTP_LOW_SPEED_LIMIT", "1000")
            .env("GIT_HTTP_LOW_SPEED_TIME", "30")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        if let Some(dir) = dir {
            command.current_dir(dir);
        }
        let shown = redact_url(url);
        let output = match tokio::time::timeout(self.source.timeout, command.output()).await {
            Err(_) => {
                return Err(FetchError::TimedOut {
                    what,
                    url: shown,
                    after: self.source.timeout,
                })
            }
            Ok(Err(error)) => {
                return Err(FetchError::Git {
                    what,
                    url: shown,
                    message: format!("cannot run git: {error}"),
                })
            }
            Ok(Ok(output)) => output,
        };
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let message = stderr
                .lines()
                .map(str::trim)
                .rfind(|l| !l.is_empty())
                .unwrap_or("git failed without a message");
            return Err(FetchError::Git {
                what,
                url: shown,
                message: redact_in(message, url),
            });
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

/// Every `uses:` of `steps`, `parallel:` groups included.
pub fn step_uses(steps: &gantry_workflow::model::Steps) -> Vec<String> {
    let mut out = Vec::new();
    for step in &steps.items {
        if let Some(uses) = &step.uses {
            out.push(uses.raw.trim().to_owned());
        }
        if let Some(group) = &step.parallel {
            out.extend(step_uses(group));
        }
    }
    out
}

/// What [`ActionFetcher::pull`] did for one `uses:`.
#[derive(Debug)]
pub struct Pulled {
    pub uses: String,
    pub result: Result<Fetched, FetchError>,
}

impl ActionFetcher {
    /// Fetches every remote action of `uses` and, for composite actions, the actions their steps
    /// use, each once. Local (`./`), `docker://` and expression references are left out, and so
    /// are the actions a run replaces with its built-ins (`actions/checkout`, …).
    pub async fn pull(&self, uses: impl IntoIterator<Item = String>) -> Vec<Pulled> {
        let mut queue: std::collections::VecDeque<String> = uses.into_iter().collect();
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        while let Some(uses) = queue.pop_front() {
            if !seen.insert(uses.clone()) || uses.contains("${{") {
                continue;
            }
            let Some((name, git_ref)) = uses.split_once('@') else {
                continue;
            };
            let mut parts = name.splitn(3, '/');
            let (Some(owner), Some(repo)) = (parts.next(), parts.next()) else {
                continue;
            };
            if owner.is_empty() || owner == "." || owner == ".." || owner.contains(':') {
                continue;
            }
            let path = parts.next().unwrap_or("").trim_end_matches('/');
            if crate::builtin::is_builtin(&name.trim_end_matches('/').to_ascii_lowercase()) {
                continue;
            }
            let result = self.fetch(owner, repo, git_ref).await;
            if let Ok(fetched) = &result {
                queue.extend(composite_uses(&fetched.root.join(path)));
            }
            out.push(Pulled { uses, result });
        }
        out
    }
}

/// The `uses:` of the steps of the composite action in `dir`, if it is one.
fn composite_uses(dir: &Path) -> Vec<String> {
    let Some(bytes) = ["action.yml", "action.yaml"]
        .iter()
        .find_map(|name| std::fs::read(dir.join(name)).ok())
    else {
        return Vec::new();
    };
    let (action, _) = gantry_workflow::load_action(&bytes);
    match action.runs.map(|runs| runs.kind) {
        Some(gantry_workflow::model::RunsKind::Composite(composite)) => {
            composite.steps.as_ref().map(step_uses).unwrap_or_default()
        }
        _ => Vec::new(),
    }
}

fn is_hex(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_hexdigit())
}

pub(crate) fn is_full_sha(text: &str) -> bool {
    text.len() == 40 && is_hex(text)
}

/// `url` without the user and password of its authority (`https://user:token@host/…`).
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// `text` with `url` (and its credentials alone) replaced by the redacted form.
fn redact_in(text: &str, url: &str) -> String {
    let redacted = redact_url(url);
    let mut out = text.replace(url, &redacted);
    if let Some((_, rest)) = url.split_once("://") {
        let authority_end = rest.find('/').unwrap_or(rest.len());
        if let Some(at) = rest[..authority_end].rfind('@') {
            let userinfo = &rest[..at];
            if !userinfo.is_empty() {
                out = out.replace(userinfo, "***");
            }
        }
    }
    out
}

const REFS_FILE: &str = ".refs";

/// `ref → sha` as last resolved (lines `sha ref`).
fn read_refs(repo_dir: &Path) -> HashMap<String, String> {
    let text = std::fs::read_to_string(repo_dir.join(REFS_FILE)).unwrap_or_default();
    text.lines()
        .filter_map(|line| line.split_once(' '))
        .filter(|(sha, _)| is_full_sha(sha))
        .map(|(sha, name)| (name.to_owned(), sha.to_owned()))
        .collect()
}

/// Records that `git_ref` resolved to `sha`. Best effort: a lost record only means an offline run
/// cannot use that ref until it is fetched again.
fn remember_ref(repo_dir: &Path, git_ref: &str, sha: &str) {
    let mut refs = read_refs(repo_dir);
    if refs.get(git_ref).map(String::as_str) == Some(sha) {
        return;
    }
    refs.insert(git_ref.to_owned(), sha.to_owned());
    let mut names: Vec<_> = refs.into_iter().collect();
    names.sort();
    let text: String = names
        .iter()
        .map(|(name, sha)| format!("{sha} {name}\n"))
        .collect();
    let Ok(mut temp) = tempfile::NamedTempFile::new_in(repo_dir) else {
        return;
    };
    if std::io::Write::write_all(&mut temp, text.as_bytes()).is_ok() {
        let _ = temp.persist(repo_dir.join(REFS_FILE));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_credentials() {
        assert_eq!(
            redact_url("https://user:tok3n@ghe.example/octo/x"),
            "https://***@ghe.example/octo/x"
        );
        assert_eq!(
            redact_url("https://github.com/a/b"),
            "https://github.com/a/b"
        );
        assert_eq!(redact_url("git://h/a@b"), "git://h/a@b");
        assert_eq!(
            redact_in(
                "fatal: unable to access 'https://user:tok3n@h/a/': denied for user:tok3n",
                "https://user:tok3n@h/a"
            ),
            "fatal: unable to access 'https://***@h/a/': denied for ***"
        );
    }

    #[test]
    fn shas() {
        assert!(is_full_sha("0123456789abcdef0123456789abcdef01234567"));
        assert!(!is_full_sha("0123456"));
        assert!(!is_full_sha("v1"));
    }
}
