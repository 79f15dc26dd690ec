//! The contract between the scheduler and executors: what one job is ([`JobSpec`]), what it
//! reports while running ([`JobEvent`]) and when done ([`JobResult`]), and the [`Executor`] trait.
//!
//! Invariant: every type here is plain data that round-trips through serde (JSON), because remote
//! agents will receive the same `JobSpec` over the wire. Templates (`${{ }}`) are kept raw; the
//! executor evaluates them in order. Round-trip tests are at the bottom of this file.

use std::future::Future;
use std::pin::Pin;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::secret::Secrets;

/// One job, self-contained: everything an executor needs to run it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSpec {
    pub run_id: String,
    pub run_number: u64,
    pub attempt: u32,
    /// Unique key in the run: the job id, plus a matrix suffix (`test-3`, 1-based leg index),
    /// plus a `caller/` prefix for jobs of a called reusable workflow (`call/build`).
    pub job_key: String,
    /// The job id as written in its workflow file.
    pub job_id: String,
    /// `test (ubuntu, 18)`, as GitHub shows it.
    pub display_name: String,
    /// Repo-relative path of the workflow file that defines the job, for messages.
    pub workflow_file: String,
    pub runs_on: Vec<String>,
    /// Contexts known before the job runs: `github`, `inputs`, `vars`, `matrix`, `strategy`,
    /// `needs`, `job` (partial). The executor adds `runner`, `env`, `steps`, `secrets`.
    pub contexts: serde_json::Map<String, serde_json::Value>,
    /// Every value is masked in all output; the values travel on the wire.
    #[serde(with = "crate::secret::exposed")]
    pub secrets: Secrets,
    /// Workflow env then job env, raw templates, evaluated by the executor in order.
    pub env: Vec<(String, String)>,
    pub defaults_run: RunDefaults,
    pub steps: Vec<StepSpec>,
    /// Job outputs: name -> template, evaluated after the steps.
    pub outputs: Vec<(String, String)>,
    /// Already evaluated by the scheduler (it also enforces it by cancelling).
    pub timeout_minutes: Option<f64>,
    /// Already evaluated by the scheduler.
    pub continue_on_error: bool,
    pub workspace: WorkspaceSpec,
    /// `container:`, templates evaluated by the executor.
    pub container: Option<crate::ContainerSpec>,
    /// `services:`, templates evaluated by the executor.
    pub services: crate::ServicesSpec,
}

/// `defaults.run` merged from workflow then job level.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunDefaults {
    pub shell: Option<String>,
    pub working_directory: Option<String>,
}

/// Where the job's repository comes from. The executor makes the job's own copy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkspaceSpec {
    /// Path of the source repository (a local checkout) on the machine that plans the run.
    pub source_path: String,
    /// Commit the run is for, when known.
    pub sha: Option<String>,
    /// Full ref (`refs/heads/main`), when known.
    pub git_ref: Option<String>,
}

/// One step of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepSpec {
    /// The user's `id:`.
    pub id: Option<String>,
    /// The id GitHub would use: the user's id, else `__run`, `__run_2`, `__actions_checkout`, ...
    pub generated_id: String,
    pub name: Option<String>,
    /// Raw condition; `success()` when absent. May or may not be wrapped in `${{ }}`.
    pub if_expr: String,
    pub action: StepAction,
    /// Raw templates, in order.
    pub env: Vec<(String, String)>,
    /// `"false"`, `"true"` or a template.
    pub continue_on_error: String,
    /// Raw value or template, when given.
    pub timeout_minutes: Option<String>,
    /// `file:line:col` of the step in its workflow file.
    pub location: String,
}

impl StepSpec {
    /// A `run:` step with every other field as an absent key leaves it (no id, name, env,
    /// shell or timeout; `if: success()`). For callers that build specs by hand: tests, benches.
    pub fn run(generated_id: impl Into<String>, script: impl Into<String>) -> StepSpec {
        StepSpec {
            id: None,
            generated_id: generated_id.into(),
            name: None,
            if_expr: "success()".into(),
            action: StepAction::Run {
                script: script.into(),
                shell: None,
                working_directory: None,
            },
            env: vec![],
            continue_on_error: "false".into(),
            timeout_minutes: None,
            location: String::new(),
        }
    }
}

/// What a step does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum StepAction {
    Run {
        script: String,
        shell: Option<String>,
        working_directory: Option<String>,
    },
    Uses {
        uses: String,
        /// Raw templates, in order.
        with: Vec<(String, String)>,
    },
}

/// A job's or step's conclusion, printed as GitHub prints them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Conclusion {
    Success,
    Failure,
    Cancelled,
    Skipped,
}

impl Conclusion {
    pub fn as_str(self) -> &'static str {
        match self {
            Conclusion::Success => "success",
            Conclusion::Failure => "failure",
            Conclusion::Cancelled => "cancelled",
            Conclusion::Skipped => "skipped",
        }
    }
}

impl std::fmt::Display for Conclusion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a job ended with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobResult {
    pub conclusion: Conclusion,
    pub outputs: IndexMap<String, String>,
    /// Why the job failed or was cancelled, when there is more to say than the steps' logs.
    pub error: Option<String>,
}

impl JobResult {
    pub fn new(conclusion: Conclusion) -> JobResult {
        JobResult {
            conclusion,
            outputs: IndexMap::new(),
            error: None,
        }
    }
}

/// What an executor reports while a job runs. Log lines are already masked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum JobEvent {
    StepStarted {
        index: usize,
        name: String,
    },
    Log {
        step: Option<usize>,
        line: String,
    },
    Annotation {
        level: String,
        message: String,
        file: Option<String>,
        line: Option<u32>,
        col: Option<u32>,
    },
    StepFinished {
        index: usize,
        outcome: Conclusion,
        conclusion: Conclusion,
    },
    Summary {
        markdown: String,
    },
}

/// The future an executor returns for one job.
pub type JobFuture = Pin<Box<dyn Future<Output = JobResult> + Send>>;

/// Runs jobs. Implemented by the host executor, Docker, remote agents and test fakes.
pub trait Executor: Send + Sync {
    /// Runs one job to completion. `cancel` requests graceful cancellation: `always()` steps
    /// still run, then what is left is killed. The result of a cancelled job is `Cancelled`
    /// (or `Failure`, when the job failed before the cancellation reached it). `events` is
    /// bounded: what reads a step's output waits on its [`crate::flow::Gate`].
    fn run_job(
        &self,
        spec: JobSpec,
        events: crate::flow::Sender<JobEvent>,
        cancel: CancellationToken,
    ) -> JobFuture;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T>(value: &T) -> T
    where
        T: Serialize + for<'de> Deserialize<'de>,
    {
        let text = serde_json::to_string(value).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    fn sample_spec() -> JobSpec {
        let mut contexts = serde_json::Map::new();
        contexts.insert(
            "matrix".into(),
            serde_json::json!({"os": "ubuntu", "node": 18}),
        );
        JobSpec {
            run_id: "1".into(),
            run_number: 7,
            attempt: 1,
            job_key: "test-1".into(),
            job_id: "test".into(),
            display_name: "test (ubuntu, 18)".into(),
            workflow_file: ".github/workflows/ci.yml".into(),
            runs_on: vec!["ubuntu-latest".into()],
            contexts,
            secrets: Secrets::from([("TOKEN".to_string(), "s3cret".into())]),
            env: vec![("A".into(), "${{ matrix.os }}".into())],
            defaults_run: RunDefaults {
                shell: Some("bash".into()),
                working_directory: None,
            },
            steps: vec![
                StepSpec {
                    id: None,
                    generated_id: "__actions_checkout".into(),
                    name: None,
                    if_expr: "success()".into(),
                    action: StepAction::Uses {
                        uses: "actions/checkout@v4".into(),
                        with: vec![("fetch-depth".into(), "0".into())],
                    },
                    env: vec![],
                    continue_on_error: "false".into(),
                    timeout_minutes: None,
                    location: ".github/workflows/ci.yml:10:9".into(),
                },
                StepSpec {
                    id: Some("build".into()),
                    generated_id: "build".into(),
                    name: Some("Build".into()),
                    if_expr: "always()".into(),
                    action: StepAction::Run {
                        script: "make".into(),
                        shell: None,
                        working_directory: Some("src".into()),
                    },
                    env: vec![("X".into(), "1".into())],
                    continue_on_error: "${{ matrix.experimental }}".into(),
                    timeout_minutes: Some("5".into()),
                    location: ".github/workflows/ci.yml:12:9".into(),
                },
            ],
            outputs: vec![("v".into(), "${{ steps.build.outputs.v }}".into())],
            timeout_minutes: Some(360.0),
            continue_on_error: false,
            workspace: WorkspaceSpec {
                source_path: "/repo".into(),
                sha: Some("abc".into()),
                git_ref: Some("refs/heads/main".into()),
            },
            container: None,
            services: Vec::new(),
        }
    }

    #[test]
    fn job_spec_round_trips() {
        let spec = sample_spec();
        assert_eq!(round_trip(&spec), spec);
    }

    #[test]
    fn conclusions_serialise_lowercase() {
        for (conclusion, text) in [
            (Conclusion::Success, "\"success\""),
            (Conclusion::Failure, "\"failure\""),
            (Conclusion::Cancelled, "\"cancelled\""),
            (Conclusion::Skipped, "\"skipped\""),
        ] {
            assert_eq!(serde_json::to_string(&conclusion).unwrap(), text);
            assert_eq!(round_trip(&conclusion), conclusion);
            assert_eq!(format!("\"{conclusion}\""), text);
        }
    }

    #[test]
    fn job_result_and_events_round_trip() {
        let mut result = JobResult::new(Conclusion::Failure);
        result.outputs.insert("a".into(), "1".into());
        result.error = Some("step 2 failed".into());
        assert_eq!(round_trip(&result), result);

        let events = vec![
            JobEvent::StepStarted {
                index: 0,
                name: "Build".into(),
            },
            JobEvent::Log {
                step: Some(0),
                line: "hello ***".into(),
            },
            JobEvent::Annotation {
                level: "error".into(),
                message: "bad".into(),
                file: Some("a.rs".into()),
                line: Some(3),
                col: None,
            },
            JobEvent::StepFinished {
                index: 0,
                outcome: Conclusion::Failure,
                conclusion: Conclusion::Success,
            },
            JobEvent::Summary {
                markdown: "# hi".into(),
            },
        ];
        for event in events {
            assert_eq!(round_trip(&event), event);
        }
    }
}
