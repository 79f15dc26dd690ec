//! What a caller asks for: a [`RunRequest`] (repository, event, workflows, inputs, secrets,
//! vars, env, options) and, for a re-run, a [`Rerun`].
//!
//! Invariant: a request is plain data a caller fills (the CLI from its flags, a server from a
//! webhook or an API call); secrets are [`Secrets`], so `{:?}` of a request shows none. Tests:
//! `tests/api.rs`.

use std::path::PathBuf;

use gantry_docker::PullPolicy;
use gantry_executor::Platform;
use gantry_plan::{GithubServer, JobResult, Secrets};
use gantry_scheduler::RunOutcome;
use indexmap::IndexMap;
use serde_json::Value;

/// One request to run the workflows of a repository for an event.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// A directory inside the repository (its root is found with git).
    pub directory: PathBuf,
    pub event: EventRequest,
    /// A workflow file or a directory of them (relative to `directory`); the repository's
    /// `.github/workflows` when `None`.
    pub workflows: Option<PathBuf>,
    /// Only these jobs and the jobs they need (`-j`); all when empty.
    pub jobs: Vec<String>,
    /// `workflow_dispatch` inputs, checked against each workflow's declarations.
    pub inputs: IndexMap<String, String>,
    pub secrets: Secrets,
    /// The `vars` context.
    pub vars: IndexMap<String, String>,
    /// Environment variables for every job, before the workflow's own `env:`.
    pub env: Vec<(String, String)>,
    pub options: RunOptions,
    /// Set for a re-run of an earlier run.
    pub rerun: Option<Rerun>,
}

impl RunRequest {
    /// A request for `event` in the repository around `directory`, with default options.
    pub fn new(directory: impl Into<PathBuf>, event: impl Into<String>) -> RunRequest {
        RunRequest {
            directory: directory.into(),
            event: EventRequest {
                name: event.into(),
                payload: None,
                before: None,
            },
            workflows: None,
            jobs: Vec::new(),
            inputs: IndexMap::new(),
            secrets: Secrets::new(),
            vars: IndexMap::new(),
            env: Vec::new(),
            options: RunOptions::default(),
            rerun: None,
        }
    }
}

/// The event: its name, and the payload GitHub would send (built from git when `None`).
#[derive(Debug, Clone)]
pub struct EventRequest {
    pub name: String,
    pub payload: Option<Value>,
    /// For a built `push` payload: what the ref pointed to before the push (a server knows it
    /// from the push itself; all zeros for a created ref). `None`: the commit's parent, as for a
    /// local `gantry run`.
    pub before: Option<String>,
}

/// What a job's workspace holds when it starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WorkspaceMode {
    /// Its own copy of the repository at the run's commit (act's habit).
    #[default]
    Copy,
    /// Nothing until `actions/checkout` runs, as on GitHub.
    Empty,
}

/// How the run goes.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// `runs-on` label → platform; these win over the repository's `.gantry/config.toml`.
    pub platforms: Vec<(String, Platform)>,
    pub pull: PullPolicy,
    pub workspace: WorkspaceMode,
    /// At most this many jobs at once over all the run's workflows (the number of cores when
    /// `None`).
    pub concurrent_jobs: Option<usize>,
    /// The action cache (`<user cache>/gantry/actions`): remote actions (`owner/repo@ref`) are
    /// fetched into it, or found there as put by hand.
    pub action_cache: Option<PathBuf>,
    /// Where remote actions are fetched from, and whether the network may be used.
    pub action_source: gantry_executor::fetch::ActionSource,
    /// The `actions/cache` store (`<user cache>/gantry/cache`).
    pub cache_dir: Option<PathBuf>,
    /// Job directories and snapshots (`$TMPDIR/gantry-<pid>`); removed when the run ends.
    pub work_root: Option<PathBuf>,
    /// Where run records go (`<repository>/.gantry/runs`).
    pub runs_dir: Option<PathBuf>,
    /// The GitHub the repository belongs to; the `[github]` table of `.gantry/config.toml`
    /// when `None`.
    pub github_server: Option<GithubServer>,
}

/// Which jobs of an earlier run a re-run runs again (GitHub's three buttons).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RerunScope {
    /// Every job.
    All,
    /// The jobs that did not succeed, and the jobs that need them, transitively; the others
    /// keep their results and outputs.
    FailedJobs,
    /// This job and the jobs that need it, transitively.
    Job(String),
}

/// A re-run of one workflow run: the same run id and number, the next attempt.
#[derive(Debug, Clone)]
pub struct Rerun {
    /// Repo-relative path of the workflow file that ran.
    pub workflow_file: String,
    pub run_id: String,
    pub run_number: u64,
    /// The attempt being re-run; the re-run is `previous_attempt + 1`.
    pub previous_attempt: u32,
    /// How the earlier attempt ended.
    pub previous: RunOutcome,
    pub scope: RerunScope,
}

impl Rerun {
    /// The top-level jobs (by id) the re-run keeps from the earlier attempt, with what their
    /// dependents see in `needs`: every job not in the re-run set of `scope`. `needs` gives
    /// each job id's needs.
    pub fn reused(&self, needs: &IndexMap<String, Vec<String>>) -> IndexMap<String, JobResult> {
        let mut again: Vec<String> = match &self.scope {
            RerunScope::All => return IndexMap::new(),
            RerunScope::FailedJobs => needs
                .keys()
                .filter(|id| {
                    self.previous.needs_results.get(*id) != Some(&gantry_plan::Conclusion::Success)
                })
                .cloned()
                .collect(),
            RerunScope::Job(id) => vec![id.clone()],
        };
        // Close under dependents.
        loop {
            let more: Vec<String> = needs
                .iter()
                .filter(|(id, job_needs)| {
                    !again.contains(id) && job_needs.iter().any(|need| again.contains(need))
                })
                .map(|(id, _)| id.clone())
                .collect();
            if more.is_empty() {
                break;
            }
            again.extend(more);
        }
        needs
            .keys()
            .filter(|id| !again.contains(id))
            .filter_map(|id| {
                let conclusion = *self.previous.needs_results.get(id)?;
                Some((
                    id.clone(),
                    JobResult {
                        conclusion,
                        outputs: self.outputs_of(id, needs),
                        error: None,
                    },
                ))
            })
            .collect()
    }

    /// A job's outputs in the earlier attempt: its own, or its matrix legs' (`<id>-<n>`) merged
    /// in finish order, as `needs.<id>.outputs` saw them.
    fn outputs_of(
        &self,
        id: &str,
        needs: &IndexMap<String, Vec<String>>,
    ) -> IndexMap<String, String> {
        let mut outputs = IndexMap::new();
        for (key, job) in &self.previous.jobs {
            let is_leg = key
                .strip_prefix(id)
                .and_then(|rest| rest.strip_prefix('-'))
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                && !needs.contains_key(key);
            if key == id || is_leg {
                // As the scheduler merges legs: a non-empty value wins.
                for (name, value) in &job.result.outputs {
                    if !value.is_empty() || !outputs.contains_key(name) {
                        outputs.insert(name.clone(), value.clone());
                    }
                }
            }
        }
        outputs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gantry_plan::Conclusion;
    use gantry_scheduler::event::JobOutcome;

    /// A finished job of the earlier attempt: key, conclusion, outputs.
    type Job<'a> = (&'a str, Conclusion, &'a [(&'a str, &'a str)]);

    fn outcome(jobs: &[Job<'_>]) -> RunOutcome {
        RunOutcome {
            conclusion: Conclusion::Failure,
            jobs: jobs
                .iter()
                .map(|(key, conclusion, outputs)| {
                    let result = JobResult {
                        conclusion: *conclusion,
                        outputs: outputs
                            .iter()
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .collect(),
                        error: None,
                    };
                    let display_name = key.to_string();
                    (
                        key.to_string(),
                        JobOutcome {
                            display_name,
                            result,
                        },
                    )
                })
                .collect(),
            needs_results: IndexMap::new(),
            error: None,
        }
    }

    fn check(scope: RerunScope, expected: &[&str]) {
        // a → b → c, m (a matrix of two legs) → c, d alone.
        let needs: IndexMap<String, Vec<String>> = [
            ("a", vec![]),
            ("b", vec!["a"]),
            ("m", vec![]),
            ("c", vec!["b", "m"]),
            ("d", vec![]),
        ]
        .into_iter()
        .map(|(id, needs)| {
            (
                id.to_owned(),
                needs.into_iter().map(str::to_owned).collect(),
            )
        })
        .collect();
        let mut previous = outcome(&[
            ("a", Conclusion::Success, &[("v", "1")]),
            ("m-1", Conclusion::Success, &[("os", "linux"), ("x", "")]),
            ("m-2", Conclusion::Success, &[("os", ""), ("x", "2")]),
            ("b", Conclusion::Failure, &[]),
            ("c", Conclusion::Skipped, &[]),
            ("d", Conclusion::Success, &[]),
        ]);
        for (id, conclusion) in [
            ("a", Conclusion::Success),
            ("m", Conclusion::Success),
            ("b", Conclusion::Failure),
            ("c", Conclusion::Skipped),
            ("d", Conclusion::Success),
        ] {
            previous.needs_results.insert(id.to_owned(), conclusion);
        }
        let rerun = Rerun {
            workflow_file: ".github/workflows/ci.yml".into(),
            run_id: "1".into(),
            run_number: 1,
            previous_attempt: 1,
            previous,
            scope: scope.clone(),
        };
        let reused = rerun.reused(&needs);
        let ids: Vec<&str> = reused.keys().map(String::as_str).collect();
        assert_eq!(ids, expected, "{scope:?}");
        if let Some(a) = reused.get("a") {
            assert_eq!(a.outputs["v"], "1");
        }
        if let Some(m) = reused.get("m") {
            assert_eq!(
                (m.outputs["os"].as_str(), m.outputs["x"].as_str()),
                ("linux", "2")
            );
        }
    }

    #[test]
    fn a_rerun_runs_the_chosen_jobs_and_their_dependents_and_reuses_the_rest() {
        check(RerunScope::All, &[]);
        check(RerunScope::FailedJobs, &["a", "m", "d"]);
        check(RerunScope::Job("a".into()), &["m", "d"]);
        check(RerunScope::Job("d".into()), &["a", "b", "m", "c"]);
    }
}
