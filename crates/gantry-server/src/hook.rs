//! Push triggers from git hooks: installing the `post-receive` hook of a registered repository,
//! turning the hook's `old new ref` lines into outbox entries, and poking a running server.
//!
//! Invariant: the outbox entry is committed before the hook returns, so a push made while the
//! server is down is run when it comes back; the poke is best effort (the worker also polls).
//! Tests: `tests/server.rs` and the binary's `tests/serve.rs` (a real `git push`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use gantry_store::{Enqueued, NewTrigger, Repository, Store, TriggerId};
use serde::{Deserialize, Serialize};

use crate::error::ServerError;

/// All zeros: the `old` of a created ref and the `new` of a deleted one.
pub const ZERO_SHA: &str = "0000000000000000000000000000000000000000";

/// What an outbox entry of the `push` event holds (one ref update).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushUpdate {
    pub before: String,
    pub after: String,
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub pusher: String,
}

/// What an outbox entry of the `workflow_dispatch` event holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DispatchRequest {
    /// The branch, tag or SHA to run on.
    #[serde(rename = "ref")]
    pub git_ref: String,
    /// Repo-relative path of the workflow file.
    pub workflow: String,
    pub inputs: indexmap::IndexMap<String, String>,
    pub actor: String,
}

/// Parses the lines git gives a `post-receive` hook on stdin: `<old> <new> <ref>`.
pub fn parse_hook_lines(text: &str, pusher: &str) -> Result<Vec<PushUpdate>, ServerError> {
    let mut updates = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let mut fields = line.split_whitespace();
        let (Some(before), Some(after), Some(git_ref), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(ServerError::Input(format!(
                "stdin:{}: expected '<old> <new> <ref>', got {line:?}",
                index + 1
            )));
        };
        let is_sha = |s: &str| s.len() >= 40 && s.bytes().all(|b| b.is_ascii_hexdigit());
        if !is_sha(before) || !is_sha(after) {
            return Err(ServerError::Input(format!(
                "stdin:{}: '{before}' and '{after}' must be object ids",
                index + 1
            )));
        }
        updates.push(PushUpdate {
            before: before.to_owned(),
            after: after.to_owned(),
            git_ref: git_ref.to_owned(),
            pusher: pusher.to_owned(),
        });
    }
    Ok(updates)
}

/// Writes one outbox entry per ref update (branches and tags; other refs are not events).
pub async fn enqueue_push(
    store: &Store,
    repository: &Repository,
    updates: &[PushUpdate],
) -> Result<Vec<TriggerId>, ServerError> {
    let mut queued = Vec::new();
    for update in updates {
        if !(update.git_ref.starts_with("refs/heads/") || update.git_ref.starts_with("refs/tags/"))
        {
            continue;
        }
        let payload = serde_json::to_string(update).map_err(|source| ServerError::Json {
            what: format!("encoding the push of {}", update.git_ref),
            source,
        })?;
        let entry = NewTrigger {
            repository_id: repository.id,
            event: "push".to_owned(),
            source: "hook".to_owned(),
            payload,
            delivery_id: None,
        };
        if let Enqueued::Queued(id) = store.enqueue_trigger(&entry).await? {
            queued.push(id);
        }
    }
    Ok(queued)
}

fn git(dir: &Path, args: &[&str]) -> Result<String, ServerError> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|source| ServerError::Io {
            what: "running git (is it installed?)".to_owned(),
            source,
        })?;
    if !output.status.success() {
        return Err(ServerError::Git {
            args: args.join(" "),
            dir: dir.display().to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

pub(crate) fn run_git(dir: &Path, args: &[&str]) -> Result<String, ServerError> {
    git(dir, args)
}

/// A repository's default branch: where its HEAD points (`main` when unborn elsewhere).
pub fn default_branch(repository_path: &Path) -> String {
    git(repository_path, &["symbolic-ref", "--short", "HEAD"]).unwrap_or_else(|_| "main".to_owned())
}

/// Quotes a word for `sh`.
fn sh_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// Installs the `post-receive` hook of the repository at `repository_path` (bare or not; a
/// hooks path set in its config is honoured): it runs `command` with git's lines on stdin.
/// An existing hook that Gantry did not write is kept as `post-receive.before-gantry` and run
/// first. Returns the hook's path.
pub fn install_hook(repository_path: &Path, command: &[String]) -> Result<PathBuf, ServerError> {
    let hooks = git(repository_path, &["rev-parse", "--git-path", "hooks"])?;
    let hooks = if Path::new(&hooks).is_absolute() {
        PathBuf::from(hooks)
    } else {
        repository_path.join(hooks)
    };
    std::fs::create_dir_all(&hooks).map_err(|source| ServerError::Io {
        what: format!("creating {}", hooks.display()),
        source,
    })?;
    let hook = hooks.join("post-receive");
    let marker = "# installed by gantry repo add";
    let mut script = format!("#!/bin/sh\n{marker}\n");
    if let Ok(existing) = std::fs::read_to_string(&hook) {
        if !existing.contains(marker) {
            let kept = hooks.join("post-receive.before-gantry");
            std::fs::rename(&hook, &kept).map_err(|source| ServerError::Io {
                what: format!("keeping the existing hook as {}", kept.display()),
                source,
            })?;
            script.push_str("input=$(cat)\nprintf '%s\\n' \"$input\" | \"$(dirname \"$0\")/post-receive.before-gantry\" || exit $?\nprintf '%s\\n' \"$input\" | ");
        }
    }
    let words: Vec<String> = command.iter().map(|word| sh_quote(word)).collect();
    script.push_str(&format!("exec {}\n", words.join(" ")));
    std::fs::write(&hook, script).map_err(|source| ServerError::Io {
        what: format!("writing {}", hook.display()),
        source,
    })?;
    set_executable(&hook)?;
    Ok(hook)
}

#[cfg(unix)]
fn set_executable(path: &Path) -> Result<(), ServerError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).map_err(|source| {
        ServerError::Io {
            what: format!("making {} executable", path.display()),
            source,
        }
    })
}

#[cfg(not(unix))]
fn set_executable(_: &Path) -> Result<(), ServerError> {
    Ok(())
}

fn address_file(data_dir: &Path) -> PathBuf {
    data_dir.join("server.addr")
}

pub(crate) fn write_server_address(
    data_dir: &Path,
    address: SocketAddr,
) -> Result<(), ServerError> {
    let file = address_file(data_dir);
    std::fs::write(&file, address.to_string()).map_err(|source| ServerError::Io {
        what: format!("writing {}", file.display()),
        source,
    })
}

pub(crate) fn remove_server_address(data_dir: &Path) {
    let _ = std::fs::remove_file(address_file(data_dir));
}

/// Tells the server of `data_dir` (if one runs) that the outbox has entries. Best effort: a
/// server that is down finds them when it starts; one that is up also polls.
pub fn poke(data_dir: &Path) -> bool {
    let Some(address) = std::fs::read_to_string(address_file(data_dir))
        .ok()
        .and_then(|text| text.trim().parse::<SocketAddr>().ok())
    else {
        return false;
    };
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_millis(500)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!(
        "POST /api/gantry/poke HTTP/1.1\r\nHost: {address}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = [0u8; 12];
    stream.read_exact(&mut answer).is_ok() && answer.starts_with(b"HTTP/1.1 2")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook_lines() {
        let zero = ZERO_SHA;
        let sha = "a".repeat(40);
        let text = format!("{zero} {sha} refs/heads/main\n{sha} {zero} refs/tags/v1\n\n");
        let updates = parse_hook_lines(&text, "alice").unwrap();
        assert_eq!(updates.len(), 2);
        assert_eq!(updates[0].after, sha);
        assert_eq!(updates[1].git_ref, "refs/tags/v1");
        assert_eq!(updates[1].pusher, "alice");
        let error = parse_hook_lines("x y\n", "alice").unwrap_err().to_string();
        assert!(error.starts_with("stdin:1:"), "{error}");
        let error = parse_hook_lines("nothex y refs/heads/x\n", "a")
            .unwrap_err()
            .to_string();
        assert!(error.contains("object ids"), "{error}");
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(sh_quote("a b"), "'a b'");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
    }
}
