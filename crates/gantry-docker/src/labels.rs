//! Labels and names of what Gantry creates in the engine.
//!
//! Invariant: every container, network and volume Gantry creates carries `gantry.managed=true` and
//! `gantry.run=<run id>`, so [`crate::Engine::gc`] can find leftovers by label alone; names are valid
//! Docker object names (`[a-zA-Z0-9][a-zA-Z0-9_.-]*`) whatever the run id or job key contains.
//! Tests: `check` cases at the bottom of this file.

use std::collections::HashMap;

pub const LABEL_MANAGED: &str = "gantry.managed";
pub const LABEL_RUN: &str = "gantry.run";
pub const LABEL_JOB: &str = "gantry.job";
/// The service key (`services.<key>`) of a service container; absent on a job container.
pub const LABEL_SERVICE: &str = "gantry.service";

/// The labels of an object that belongs to `run_id` (and `job_key`, `service` when given).
pub fn labels(
    run_id: &str,
    job_key: Option<&str>,
    service: Option<&str>,
) -> HashMap<String, String> {
    let mut labels = HashMap::new();
    labels.insert(LABEL_MANAGED.to_string(), "true".to_string());
    labels.insert(LABEL_RUN.to_string(), run_id.to_string());
    if let Some(job_key) = job_key {
        labels.insert(LABEL_JOB.to_string(), job_key.to_string());
    }
    if let Some(service) = service {
        labels.insert(LABEL_SERVICE.to_string(), service.to_string());
    }
    labels
}

/// The engine's label filter for everything Gantry manages, or only one run's objects.
pub fn label_filter(run_id: Option<&str>) -> HashMap<String, Vec<String>> {
    let mut wanted = vec![format!("{LABEL_MANAGED}=true")];
    if let Some(run_id) = run_id {
        wanted.push(format!("{LABEL_RUN}={run_id}"));
    }
    HashMap::from([(String::from("label"), wanted)])
}

/// Longest name part kept before a hash suffix takes over (Docker names have no hard limit, but
/// hostnames derived from them must stay below 64 characters).
const MAX_PART: usize = 40;

/// Makes `text` usable inside a Docker object name: characters outside `[a-zA-Z0-9_.-]` become `-`;
/// a long or altered part keeps a short hash of the original so distinct inputs stay distinct.
pub fn sanitize(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let altered = out != text;
    if out.len() > MAX_PART {
        out.truncate(MAX_PART);
    }
    let out = out
        .trim_matches(|c| matches!(c, '-' | '.' | '_'))
        .to_string();
    if altered || out.len() != text.len() || out.is_empty() {
        let hash = fnv1a(text.as_bytes());
        if out.is_empty() {
            return format!("{:08x}", hash as u32);
        }
        return format!("{out}-{:08x}", hash as u32);
    }
    out
}

/// The per-run network: `gantry-<run>`.
pub fn network_name(run_id: &str) -> String {
    format!("gantry-{}", sanitize(run_id))
}

/// A job's container: `gantry-<run>-<job>`.
pub fn job_container_name(run_id: &str, job_key: &str) -> String {
    format!("gantry-{}-{}", sanitize(run_id), sanitize(job_key))
}

/// A service container: `gantry-<run>-<job>-<service>`.
pub fn service_container_name(run_id: &str, job_key: &str, service: &str) -> String {
    format!(
        "gantry-{}-{}-{}",
        sanitize(run_id),
        sanitize(job_key),
        sanitize(service)
    )
}

/// 64-bit FNV-1a: a stable, dependency-free hash for name suffixes (not for security).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: &str) {
        assert_eq!(sanitize(input), expected, "input: {input:?}");
    }

    #[test]
    fn sanitizes_name_parts() {
        check("build", "build");
        check("test-3", "test-3");
        check("run_1.2", "run_1.2");
        check("test (ubuntu, 18)", "test--ubuntu--18-ee3b1e62");
        check("a/b", "a-b-0468cf61");
        check("", "84222325");
        check("日本", "a6d3ce91");
        check("-lead", "lead-b7d6335e");
        check(
            &"x".repeat(60),
            "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx-2cf0af95",
        );
    }

    #[test]
    fn names_and_labels() {
        assert_eq!(network_name("42"), "gantry-42");
        assert_eq!(job_container_name("42", "test-3"), "gantry-42-test-3");
        assert_eq!(
            service_container_name("42", "build", "postgres"),
            "gantry-42-build-postgres"
        );
        let labels = labels("42", Some("build"), Some("redis"));
        assert_eq!(labels.get(LABEL_MANAGED).map(String::as_str), Some("true"));
        assert_eq!(labels.get(LABEL_RUN).map(String::as_str), Some("42"));
        assert_eq!(labels.get(LABEL_JOB).map(String::as_str), Some("build"));
        assert_eq!(labels.get(LABEL_SERVICE).map(String::as_str), Some("redis"));
        assert_eq!(
            label_filter(Some("42")).get("label"),
            Some(&vec![
                "gantry.managed=true".to_string(),
                "gantry.run=42".to_string()
            ])
        );
        assert_eq!(
            label_filter(None).get("label"),
            Some(&vec!["gantry.managed=true".to_string()])
        );
    }
}
