//! The environment variables GitHub's runner gives every step: `GITHUB_*` from the `github`
//! context, `RUNNER_*` from the `runner` context, `CI` and `GITHUB_ACTIONS`.
//!
//! Invariant: exactly the runner's allowlist of `github` keys is exported (as `GITHUB_<KEY>`,
//! string and boolean values only), and `runner` keys become `RUNNER_<KEY>`; the caller layers
//! workflow, job and step `env:` on top, so user values win. Tests: the `tests` module below.

use serde_json::{Map, Value};

/// `github` context keys the runner exports as `GITHUB_<KEY>` (actions/runner `GitHubContext`).
pub const GITHUB_ENV_ALLOWLIST: &[&str] = &[
    "action_path",
    "action_ref",
    "action_repository",
    "action",
    "actor",
    "actor_id",
    "api_url",
    "base_ref",
    "env",
    "event_name",
    "event_path",
    "graphql_url",
    "head_ref",
    "job",
    "output",
    "path",
    "ref_name",
    "ref_protected",
    "ref_type",
    "ref",
    "repository",
    "repository_id",
    "repository_owner",
    "repository_owner_id",
    "retention_days",
    "run_attempt",
    "run_id",
    "run_number",
    "server_url",
    "sha",
    "state",
    "step_summary",
    "triggering_actor",
    "workflow",
    "workflow_ref",
    "workflow_sha",
    "workspace",
];

/// `GITHUB_*` variables from a `github` context object.
pub fn github_vars(github: &Map<String, Value>) -> Vec<(String, String)> {
    let mut out = vec![
        ("CI".to_owned(), "true".to_owned()),
        ("GITHUB_ACTIONS".to_owned(), "true".to_owned()),
    ];
    for (key, value) in github {
        if !GITHUB_ENV_ALLOWLIST.contains(&key.as_str()) {
            continue;
        }
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Bool(b) => b.to_string(),
            _ => continue,
        };
        out.push((format!("GITHUB_{}", key.to_ascii_uppercase()), text));
    }
    out
}

/// `RUNNER_*` variables from a `runner` context object.
pub fn runner_vars(runner: &Map<String, Value>) -> Vec<(String, String)> {
    runner
        .iter()
        .filter_map(|(key, value)| {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Bool(b) => b.to_string(),
                Value::Number(n) => n.to_string(),
                _ => return None,
            };
            Some((format!("RUNNER_{}", key.to_ascii_uppercase()), text))
        })
        .collect()
}

/// `RUNNER_OS` as GitHub spells it.
pub fn runner_os() -> &'static str {
    match std::env::consts::OS {
        "linux" => "Linux",
        "macos" => "macOS",
        "windows" => "Windows",
        other => other,
    }
}

/// `RUNNER_ARCH` as GitHub spells it.
pub fn runner_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "X64",
        "x86" => "X86",
        "aarch64" => "ARM64",
        "arm" => "ARM",
        other => other,
    }
}

/// Fills `github` keys GitHub always has when the plan left them out (derived from the others).
pub fn complete_github(github: &mut Map<String, Value>) {
    let mut set_default = |key: &str, value: String| {
        if github.get(key).is_none_or(|v| v.is_null()) {
            github.insert(key.to_owned(), Value::String(value));
        }
    };
    set_default("server_url", "https://github.com".to_owned());
    set_default("api_url", "https://api.github.com".to_owned());
    set_default("graphql_url", "https://api.github.com/graphql".to_owned());
    let text = |github: &Map<String, Value>, key: &str| {
        github
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let git_ref = text(github, "ref");
    let repository = text(github, "repository");
    if !github.contains_key("ref_name") {
        let name = git_ref
            .strip_prefix("refs/heads/")
            .or_else(|| git_ref.strip_prefix("refs/tags/"))
            .unwrap_or(&git_ref)
            .to_owned();
        github.insert("ref_name".to_owned(), Value::String(name));
    }
    if !github.contains_key("ref_type") && !git_ref.is_empty() {
        let kind = if git_ref.starts_with("refs/tags/") {
            "tag"
        } else {
            "branch"
        };
        github.insert("ref_type".to_owned(), Value::String(kind.to_owned()));
    }
    if !github.contains_key("repository_owner") {
        if let Some((owner, _)) = repository.split_once('/') {
            github.insert(
                "repository_owner".to_owned(),
                Value::String(owner.to_owned()),
            );
        }
    }
    for key in ["head_ref", "base_ref"] {
        if !github.contains_key(key) {
            github.insert(key.to_owned(), Value::String(String::new()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!("test data is an object"),
        }
    }

    #[test]
    fn exports_allowlisted_github_keys() {
        let github = obj(json!({
            "sha": "abc", "ref": "refs/heads/main", "ref_protected": false,
            "event": {"x": 1}, "token": "t", "run_number": "7", "retention_days": 90
        }));
        let vars = github_vars(&github);
        let get = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("CI"), Some("true"));
        assert_eq!(get("GITHUB_ACTIONS"), Some("true"));
        assert_eq!(get("GITHUB_SHA"), Some("abc"));
        assert_eq!(get("GITHUB_REF"), Some("refs/heads/main"));
        assert_eq!(get("GITHUB_REF_PROTECTED"), Some("false"));
        assert_eq!(get("GITHUB_RUN_NUMBER"), Some("7"));
        assert_eq!(get("GITHUB_EVENT"), None);
        assert_eq!(get("GITHUB_TOKEN"), None);
        assert_eq!(get("GITHUB_RETENTION_DAYS"), None);
    }

    #[test]
    fn runner_keys() {
        let vars = runner_vars(&obj(json!({"os": "Linux", "temp": "/t", "debug": null})));
        assert_eq!(
            vars,
            vec![
                ("RUNNER_OS".to_owned(), "Linux".to_owned()),
                ("RUNNER_TEMP".to_owned(), "/t".to_owned())
            ]
        );
    }

    #[test]
    fn completes_derived_keys() {
        let mut github = obj(json!({"ref": "refs/tags/v1.2", "repository": "octo/hello"}));
        complete_github(&mut github);
        assert_eq!(github["ref_name"], "v1.2");
        assert_eq!(github["ref_type"], "tag");
        assert_eq!(github["repository_owner"], "octo");
        assert_eq!(github["server_url"], "https://github.com");
        assert_eq!(github["head_ref"], "");
        let mut github = obj(json!({"ref": "refs/heads/feature/x", "ref_name": "given"}));
        complete_github(&mut github);
        assert_eq!(github["ref_name"], "given");
        assert_eq!(github["ref_type"], "branch");
    }
}
