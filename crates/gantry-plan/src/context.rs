//! The run-level contexts a caller builds before lowering: the `github` context from what is
//! known about the event and the repository, and the [`EventInfo`] trigger filters need. This is
//! the one place the `github` context of a run is shaped; callers (the run library, tests) only
//! fill a [`GithubInfo`].
//!
//! Invariant: pure data shaping, no IO; values are strings where GitHub's are strings
//! (`run_number`, `run_attempt`). Job-specific fields (`job`, `workspace`, `action`, `token`,
//! `event_path`) are the executor's: they are present here, empty, and the executor fills them.
//! Tests at the bottom.

use serde_json::{json, Value};

use crate::select::EventInfo;

/// What the caller knows about the run's event and repository.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GithubInfo {
    pub event_name: String,
    /// The webhook payload (`{}` for a local run without one).
    pub event: Value,
    /// Full ref: `refs/heads/main`, `refs/tags/v1`, `refs/pull/7/merge`.
    pub git_ref: String,
    pub sha: String,
    /// `owner/name`.
    pub repository: String,
    pub actor: String,
    /// The workflow's name (or file path when unnamed).
    pub workflow: String,
    /// Repo-relative path of the workflow file.
    pub workflow_file: String,
    pub run_id: String,
    pub run_number: u64,
    /// 1 for a run's first attempt; a re-run counts up (0 is taken as 1).
    pub run_attempt: u32,
    /// `pull_request.head.ref` of the payload when empty.
    pub head_ref: String,
    /// `pull_request.base.ref` of the payload when empty.
    pub base_ref: String,
    /// Where the repository lives: github.com or a GitHub Enterprise Server.
    pub server: GithubServer,
}

/// The GitHub a run's repository belongs to. Empty fields take github.com's values, or, for a
/// GitHub Enterprise Server `server_url`, GHES's `<server>/api/v3` and `<server>/api/graphql`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GithubServer {
    pub server_url: String,
    pub api_url: String,
    pub graphql_url: String,
}

impl GithubServer {
    /// `(server_url, api_url, graphql_url)` with the defaults filled in, without a final `/`.
    pub fn urls(&self) -> (String, String, String) {
        let server_url = if self.server_url.is_empty() {
            "https://github.com".to_owned()
        } else {
            self.server_url.trim_end_matches('/').to_owned()
        };
        let (default_api, default_graphql) = if server_url == "https://github.com" {
            (
                "https://api.github.com".to_owned(),
                "https://api.github.com/graphql".to_owned(),
            )
        } else {
            (
                format!("{server_url}/api/v3"),
                format!("{server_url}/api/graphql"),
            )
        };
        let given = |url: &str, default: String| {
            if url.is_empty() {
                default
            } else {
                url.trim_end_matches('/').to_owned()
            }
        };
        let api_url = given(&self.api_url, default_api);
        let graphql_url = given(&self.graphql_url, default_graphql);
        (server_url, api_url, graphql_url)
    }
}

fn ref_parts(git_ref: &str) -> (&str, &str) {
    if let Some(tag) = git_ref.strip_prefix("refs/tags/") {
        (tag, "tag")
    } else if let Some(branch) = git_ref.strip_prefix("refs/heads/") {
        (branch, "branch")
    } else if let Some(pull) = git_ref.strip_prefix("refs/pull/") {
        (pull, "branch")
    } else {
        (git_ref, "branch")
    }
}

/// Builds the `github` context.
pub fn github_context(info: &GithubInfo) -> Value {
    let (server_url, api_url, graphql_url) = info.server.urls();
    let (ref_name, ref_type) = ref_parts(&info.git_ref);
    let pull = info.event.get("pull_request");
    let from_payload = |given: &str, pointer: &str| {
        if given.is_empty() {
            pull.and_then(|p| p.pointer(pointer))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        } else {
            given.to_owned()
        }
    };
    let head_ref = from_payload(&info.head_ref, "/head/ref");
    let base_ref = from_payload(&info.base_ref, "/base/ref");
    let owner = info.repository.split('/').next().unwrap_or("");
    let host = server_url
        .split_once("://")
        .map_or(server_url.as_str(), |(_, host)| host);
    json!({
        "event_name": info.event_name,
        "event": if info.event.is_null() { json!({}) } else { info.event.clone() },
        "ref": info.git_ref,
        "ref_name": ref_name,
        "ref_type": ref_type,
        "ref_protected": false,
        "sha": info.sha,
        "head_ref": head_ref,
        "base_ref": base_ref,
        "repository": info.repository,
        "repository_owner": owner,
        "repositoryUrl": format!("git://{host}/{}.git", info.repository),
        "actor": info.actor,
        "triggering_actor": info.actor,
        "workflow": info.workflow,
        "workflow_ref": format!("{}/{}@{}", info.repository, info.workflow_file, info.git_ref),
        "workflow_sha": info.sha,
        "run_id": info.run_id,
        "run_number": info.run_number.to_string(),
        "run_attempt": info.run_attempt.max(1).to_string(),
        "retention_days": "90",
        "server_url": server_url,
        "api_url": api_url,
        "graphql_url": graphql_url,
        "secret_source": "None",
        "token": "",
        "workspace": "",
        "action": "",
        "job": "",
    })
}

impl EventInfo {
    /// The trigger-filter view of an event: activity type from `payload.action`, base branch
    /// from `payload.pull_request.base.ref`. Changed files are left unknown.
    pub fn from_payload(event_name: &str, git_ref: &str, payload: &Value) -> EventInfo {
        EventInfo {
            name: event_name.to_owned(),
            action: payload
                .get("action")
                .and_then(Value::as_str)
                .map(str::to_owned),
            git_ref: (!git_ref.is_empty()).then(|| git_ref.to_owned()),
            base_ref: payload
                .pointer("/pull_request/base/ref")
                .and_then(Value::as_str)
                .map(str::to_owned),
            changed_files: None,
            schedule: payload
                .get("schedule")
                .and_then(Value::as_str)
                .map(str::to_owned),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_context_fields() {
        let info = GithubInfo {
            event_name: "pull_request".into(),
            event: json!({"action": "opened", "pull_request": {"head": {"ref": "feature"}, "base": {"ref": "main"}}}),
            git_ref: "refs/pull/7/merge".into(),
            sha: "abc".into(),
            repository: "octo/repo".into(),
            actor: "me".into(),
            workflow: "CI".into(),
            workflow_file: ".github/workflows/ci.yml".into(),
            run_id: "42".into(),
            run_number: 3,
            run_attempt: 0,
            ..GithubInfo::default()
        };
        let github = github_context(&info);
        for (pointer, expected) in [
            ("/ref_name", json!("7/merge")),
            ("/head_ref", json!("feature")),
            ("/base_ref", json!("main")),
            ("/repository_owner", json!("octo")),
            ("/run_number", json!("3")),
            ("/run_attempt", json!("1")),
            ("/api_url", json!("https://api.github.com")),
            (
                "/workflow_ref",
                json!("octo/repo/.github/workflows/ci.yml@refs/pull/7/merge"),
            ),
            ("/event/action", json!("opened")),
        ] {
            assert_eq!(github.pointer(pointer), Some(&expected), "{pointer}");
        }
        let tag = github_context(&GithubInfo {
            git_ref: "refs/tags/v1".into(),
            run_attempt: 3,
            head_ref: "given".into(),
            server: GithubServer {
                server_url: "https://ghe.local/".into(),
                ..GithubServer::default()
            },
            ..GithubInfo::default()
        });
        assert_eq!(tag["ref_name"], "v1");
        assert_eq!(tag["ref_type"], "tag");
        assert_eq!(tag["server_url"], "https://ghe.local");
        assert_eq!(tag["api_url"], "https://ghe.local/api/v3");
        assert_eq!(tag["graphql_url"], "https://ghe.local/api/graphql");
        assert_eq!(tag["repositoryUrl"], "git://ghe.local/.git");
        assert_eq!(tag["run_attempt"], "3");
        assert_eq!(tag["head_ref"], "given");
        let configured = GithubServer {
            server_url: "https://ghe.local".into(),
            api_url: "https://api.ghe.local/".into(),
            graphql_url: "https://api.ghe.local/graphql".into(),
        };
        assert_eq!(
            configured.urls(),
            (
                "https://ghe.local".to_owned(),
                "https://api.ghe.local".to_owned(),
                "https://api.ghe.local/graphql".to_owned()
            )
        );
        assert_eq!(tag["event"], json!({}));
    }

    #[test]
    fn event_info_from_payload() {
        let payload = json!({"action": "synchronize", "pull_request": {"base": {"ref": "main"}}});
        let event = EventInfo::from_payload("pull_request", "refs/pull/1/merge", &payload);
        assert_eq!(event.action.as_deref(), Some("synchronize"));
        assert_eq!(event.base_ref.as_deref(), Some("main"));
        let push = EventInfo::from_payload("push", "refs/heads/dev", &json!({}));
        assert_eq!(
            (push.action, push.git_ref.as_deref()),
            (None, Some("refs/heads/dev"))
        );
    }
}
