//! Labels and names of what Gantry creates in the engine.
//!
//! Invariant: every container, network and volume Gantry creates carries `gantry.managed=true` and
//! `gantry.run=<run id>`, so [`crate::Engine::gc`] can find leftovers by label alone, and names its
//! creator (`gantry.host`, `gantry.pid`, `gantry.pid_start`), so [`crate::Engine::gc_stale`] can tell
//! the objects of a process that is gone ([`is_stale`]); names are valid Docker object names
//! (`[a-zA-Z0-9][a-zA-Z0-9_.-]*`) whatever the run id or job key contains.
//! Tests: `check` cases at the bottom of this file.

use std::collections::HashMap;
use std::sync::OnceLock;

pub const LABEL_MANAGED: &str = "gantry.managed";
pub const LABEL_RUN: &str = "gantry.run";
pub const LABEL_JOB: &str = "gantry.job";
/// The service key (`services.<key>`) of a service container; absent on a job container.
pub const LABEL_SERVICE: &str = "gantry.service";
/// On images Gantry built: what for (`action` for a Docker action's Dockerfile).
pub const LABEL_BUILT: &str = "gantry.built";
/// The host name of the machine whose process created the object.
pub const LABEL_HOST: &str = "gantry.host";
/// The id of the process that created the object.
pub const LABEL_PID: &str = "gantry.pid";
/// That process's start time (field 22 of `/proc/<pid>/stat`, clock ticks since boot), which tells
/// a reused pid from the creator.
pub const LABEL_PID_START: &str = "gantry.pid_start";

/// The process that creates objects: host name, pid and start time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub host: String,
    pub pid: u32,
    /// `None` where `/proc` is not readable (not Linux).
    pub pid_start: Option<u64>,
}

impl Owner {
    /// This process (computed once).
    pub fn current() -> &'static Owner {
        static CURRENT: OnceLock<Owner> = OnceLock::new();
        CURRENT.get_or_init(|| {
            let pid = std::process::id();
            Owner {
                host: host_name(),
                pid,
                pid_start: process_start_time(pid),
            }
        })
    }

    /// The owner labels of this process.
    pub fn labels(&self) -> impl Iterator<Item = (String, String)> + '_ {
        [
            Some((LABEL_HOST.to_string(), self.host.clone())),
            Some((LABEL_PID.to_string(), self.pid.to_string())),
            self.pid_start
                .map(|start| (LABEL_PID_START.to_string(), start.to_string())),
        ]
        .into_iter()
        .flatten()
    }
}

/// This machine's host name (`/proc/sys/kernel/hostname`, else `$HOSTNAME`, else `localhost`).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .or_else(|| {
            std::env::var("HOSTNAME")
                .ok()
                .filter(|name| !name.is_empty())
        })
        .unwrap_or_else(|| String::from("localhost"))
}

/// The start time of process `pid` (field 22 of `/proc/<pid>/stat`); `None` when there is no such
/// process or no `/proc`.
pub fn process_start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_start_time(&stat)
}

/// Field 22 of a `/proc/<pid>/stat` line. The command name (field 2) is in parentheses and may hold
/// spaces and parentheses itself, so fields are counted after its last `)`.
fn parse_start_time(stat: &str) -> Option<u64> {
    // `)` is one byte, so the index after it is a character boundary.
    let after_name = &stat[stat.rfind(')')? + 1..];
    // After the name come field 3 (state) onwards; field 22 is the 20th of them.
    after_name.split_whitespace().nth(19)?.parse().ok()
}

/// What [`is_stale`] knows of a process on this host.
pub trait ProcessTable {
    /// The start time of `pid`, `Some(None)` when it runs but its start time cannot be read, `None`
    /// when no such process runs.
    fn start_time(&self, pid: u32) -> Option<Option<u64>>;
}

/// This machine's `/proc`.
pub struct ProcTable;

impl ProcessTable for ProcTable {
    fn start_time(&self, pid: u32) -> Option<Option<u64>> {
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            return None;
        }
        Some(process_start_time(pid))
    }
}

/// True when the object with `labels` was created by a process of `this_host` that is gone: no
/// such pid runs, or the pid now belongs to a process started at another time. Objects without
/// owner labels count as stale (they predate them); objects of other hosts never do.
pub fn is_stale(
    labels: &HashMap<String, String>,
    this_host: &str,
    processes: &dyn ProcessTable,
) -> bool {
    let (Some(host), Some(pid)) = (labels.get(LABEL_HOST), labels.get(LABEL_PID)) else {
        return true;
    };
    if host != this_host {
        return false;
    }
    let Ok(pid) = pid.parse::<u32>() else {
        return true;
    };
    match processes.start_time(pid) {
        None => true,
        Some(running_since) => {
            let recorded = labels
                .get(LABEL_PID_START)
                .and_then(|start| start.parse::<u64>().ok());
            matches!((recorded, running_since), (Some(recorded), Some(now)) if recorded != now)
        }
    }
}

/// The labels of an object that belongs to `run_id` (and `job_key`, `service` when given), created
/// by this process.
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
    labels.extend(Owner::current().labels());
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
        let owner = Owner::current();
        assert_eq!(owner.pid, std::process::id());
        assert_eq!(labels.get(LABEL_PID), Some(&owner.pid.to_string()));
        assert_eq!(labels.get(LABEL_HOST), Some(&owner.host));
        assert!(
            owner.pid_start.is_some(),
            "no start time in /proc/self/stat"
        );
        assert_eq!(
            labels.get(LABEL_PID_START),
            owner.pid_start.map(|start| start.to_string()).as_ref()
        );
    }

    #[test]
    fn parses_the_start_time_of_a_stat_line() {
        let line = "11607 (cat) R 11604 11604 9225 0 -1 4194304 99 0 0 0 0 0 0 0 20 0 1 0 1669776 3133440 382";
        assert_eq!(parse_start_time(line), Some(1669776));
        let odd_name = "7 (a) b (c)) S 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 42 1 2";
        assert_eq!(parse_start_time(odd_name), Some(42));
        assert_eq!(parse_start_time("7 (short) S 1"), None);
        assert_eq!(parse_start_time("no parenthesis"), None);
    }

    /// Processes 10 (started at 500) and 11 (start time unreadable) run on host "here".
    struct Table;
    impl ProcessTable for Table {
        fn start_time(&self, pid: u32) -> Option<Option<u64>> {
            match pid {
                10 => Some(Some(500)),
                11 => Some(None),
                _ => None,
            }
        }
    }

    fn check_stale(labels: &[(&str, &str)], expected: bool) {
        let labels: HashMap<String, String> = labels
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect();
        assert_eq!(is_stale(&labels, "here", &Table), expected, "{labels:?}");
    }

    #[test]
    fn tells_stale_objects() {
        let (host, pid, start) = (LABEL_HOST, LABEL_PID, LABEL_PID_START);
        check_stale(&[(host, "here"), (pid, "10"), (start, "500")], false);
        check_stale(&[(host, "here"), (pid, "10")], false);
        check_stale(&[(host, "here"), (pid, "10"), (start, "499")], true);
        check_stale(&[(host, "here"), (pid, "10"), (start, "x")], false);
        check_stale(&[(host, "here"), (pid, "11"), (start, "500")], false);
        check_stale(&[(host, "here"), (pid, "12"), (start, "500")], true);
        check_stale(&[(host, "here"), (pid, "12")], true);
        check_stale(&[(host, "here"), (pid, "-1")], true);
        check_stale(&[(host, "elsewhere"), (pid, "12")], false);
        check_stale(&[(host, "here")], true);
        check_stale(&[(pid, "10")], true);
        check_stale(&[], true);
    }
}
