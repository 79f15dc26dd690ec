//! Builds the event a local run is for: the payload GitHub would send (`github.event`), the refs
//! the `github` context takes from it, and the facts trigger filters need (`EventInfo`). The
//! `github` context itself is shaped by `gantry_plan::github_context`.
//!
//! Defaults come from the repository (HEAD, its parent, the remote's `owner/repo`, the default
//! branch); `-e event.json` replaces the generated payload, and the refs it names (`ref`,
//! `pull_request.head/base`) win over the repository's. Tests: `crates/gantry/tests/run.rs`, `tests/api.rs`.

use super::git::{self, RepoInfo};
use crate::error::{bail_input, Result};
use gantry_plan::EventInfo;
use serde_json::{json, Map, Value};

/// Everything the run derives from the event.
#[derive(Debug, Clone)]
pub struct Event {
    pub name: String,
    pub payload: Value,
    pub info: EventInfo,
    pub git_ref: String,
    pub sha: String,
    pub head_ref: String,
    pub base_ref: String,
}

const ZERO_SHA: &str = "0000000000000000000000000000000000000000";

fn repository_object(repo: &RepoInfo) -> Value {
    let (owner, name) = repo
        .repository
        .split_once('/')
        .unwrap_or(("local", &repo.repository));
    json!({
        "name": name,
        "full_name": repo.repository,
        "owner": { "login": owner, "name": owner },
        "default_branch": repo.default_branch,
        "master_branch": repo.default_branch,
        "private": true,
        "html_url": format!("https://github.com/{}", repo.repository),
        "clone_url": format!("https://github.com/{}.git", repo.repository),
    })
}

/// The payload for `event_name`, generated from the repository, unless `given` replaces it.
pub fn build(
    repo: &RepoInfo,
    event_name: &str,
    given: Option<Value>,
    push_before: Option<&str>,
    inputs: &Map<String, Value>,
) -> Result<Event> {
    let sha = repo.sha.clone().unwrap_or_else(|| ZERO_SHA.to_string());
    let sender = json!({ "login": repo.actor, "type": "User" });
    let mut head_ref = String::new();
    let mut base_ref = String::new();
    let mut git_ref = repo.git_ref.clone();
    let mut changed_files = None;

    let generated = match event_name {
        "push" => {
            // A created ref (`before` all zeros, as GitHub sends it): a tag brings no commits,
            // a branch its head; paths filters then compare with the head's parent.
            let created = push_before == Some(ZERO_SHA);
            let parent = git::parent_sha(&repo.root)?;
            let before = match push_before {
                Some(before) if !created => Some(before.to_owned()),
                _ => parent.clone(),
            };
            let commits = match (&before, &repo.sha) {
                (_, Some(_)) if created && repo.git_ref.starts_with("refs/tags/") => Vec::new(),
                (Some(_), Some(after)) if created => git::commits(
                    &repo.root,
                    &format!("{}..{after}", parent.as_deref().unwrap_or(after)),
                    20,
                )?,
                (Some(before), Some(after)) => {
                    git::commits(&repo.root, &format!("{before}..{after}"), 20)?
                }
                (None, Some(after)) => git::commits(&repo.root, after, 20)?,
                _ => Vec::new(),
            };
            if let Some(after) = &repo.sha {
                changed_files = Some(git::changed_files(&repo.root, before.as_deref(), after)?);
            }
            let before = if created { None } else { before };
            let commit_value = |c: &git::CommitInfo| {
                json!({
                    "id": c.id, "tree_id": "", "distinct": true, "message": c.message,
                    "timestamp": c.timestamp,
                    "author": { "name": c.author_name, "email": c.author_email },
                    "committer": { "name": c.author_name, "email": c.author_email },
                    "added": [], "removed": [], "modified": [],
                })
            };
            let commit_values: Vec<Value> = commits.iter().map(commit_value).collect();
            // The pushed commit itself, also when `commits` is empty (a created tag).
            let head_commit = match (commit_values.last(), &repo.sha) {
                (Some(head), _) => head.clone(),
                (None, Some(after)) => git::commits(&repo.root, after, 1)?
                    .first()
                    .map(commit_value)
                    .unwrap_or(Value::Null),
                (None, None) => Value::Null,
            };
            json!({
                "ref": repo.git_ref,
                "before": before.unwrap_or_else(|| ZERO_SHA.to_string()),
                "after": sha,
                "created": created, "deleted": false, "forced": false,
                "base_ref": null,
                "compare": format!("https://github.com/{}/commit/{}", repo.repository, sha),
                "commits": commit_values,
                "head_commit": head_commit,
                "pusher": { "name": repo.actor },
            })
        }
        "pull_request" | "pull_request_target" => {
            head_ref = repo.ref_name.clone();
            base_ref = repo.default_branch.clone();
            git_ref = "refs/pull/1/merge".to_string();
            let base_sha = git::merge_base(&repo.root, &base_ref)?;
            if let Some(after) = &repo.sha {
                changed_files = Some(git::changed_files(&repo.root, base_sha.as_deref(), after)?);
            }
            json!({
                "action": "opened",
                "number": 1,
                "pull_request": {
                    "number": 1,
                    "title": format!("Local changes on {head_ref}"),
                    "body": "",
                    "state": "open",
                    "draft": false,
                    "merged": false,
                    "user": sender,
                    "labels": [],
                    "head": { "ref": head_ref, "sha": sha, "label": head_ref, "repo": repository_object(repo) },
                    "base": { "ref": base_ref, "sha": base_sha.unwrap_or_else(|| ZERO_SHA.to_string()), "label": base_ref, "repo": repository_object(repo) },
                },
            })
        }
        "workflow_dispatch" => json!({ "ref": repo.git_ref, "inputs": inputs }),
        _ => json!({}),
    };

    let mut payload = match given {
        Some(Value::Object(given)) => Value::Object(given),
        Some(_) => bail_input!("the event payload must be a JSON object"),
        None => generated,
    };
    if let Value::Object(map) = &mut payload {
        map.entry("repository")
            .or_insert_with(|| repository_object(repo));
        map.entry("sender").or_insert(sender);
    }

    // A given payload decides the refs it names.
    if let Some(r) = payload.get("ref").and_then(Value::as_str) {
        if event_name == "push" || event_name == "workflow_dispatch" {
            git_ref = r.to_string();
        }
    }
    if let Some(pr) = payload.get("pull_request") {
        if let Some(h) = pr.pointer("/head/ref").and_then(Value::as_str) {
            head_ref = h.to_string();
        }
        if let Some(b) = pr.pointer("/base/ref").and_then(Value::as_str) {
            base_ref = b.to_string();
        }
        if let Some(n) = pr.get("number").and_then(Value::as_u64) {
            git_ref = format!("refs/pull/{n}/merge");
        }
    }

    let action = payload
        .get("action")
        .and_then(Value::as_str)
        .map(str::to_string);
    let schedule = payload
        .get("schedule")
        .and_then(Value::as_str)
        .map(str::to_string);
    let info = EventInfo {
        name: event_name.to_string(),
        action,
        git_ref: Some(git_ref.clone()),
        base_ref: (!base_ref.is_empty()).then(|| base_ref.clone()),
        changed_files,
        schedule,
    };
    Ok(Event {
        name: event_name.to_string(),
        payload,
        info,
        git_ref,
        sha,
        head_ref,
        base_ref,
    })
}
