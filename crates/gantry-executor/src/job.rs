//! The host executor: runs one [`JobSpec`] on this machine with GitHub's step semantics.
//!
//! Invariant: the job's state (status so far, `env` with `GITHUB_ENV` additions, `PATH`
//! prefixes, `steps` context, masks) lives in one [`Job`] value owned by the running future; a
//! step's effects are applied only after it finished. Every log line and annotation is masked.
//! After cancellation the running step is stopped, later steps run only when their condition is
//! true (`always()`, `cancelled()`), each bounded by `cancel_timeout`; post steps then run in
//! reverse order. Every process carries the job's `RUNNER_TRACKING_ID`; whatever is still running
//! with it when the job ends is killed, as the runner does with orphans.
//! Tests: `tests/host.rs` (end to end, real processes), `benches/steps.rs`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use gantry_expr::{Map, Value};
use gantry_plan::flow;
use gantry_plan::{
    Conclusion, Executor, JobEvent, JobFuture, JobResult, JobSpec, StepAction, StepSpec,
};
use indexmap::IndexMap;
use tokio_util::sync::CancellationToken;

use crate::container::{DockerJob, JobContainer, Platform};
use crate::env::{complete_github, github_vars, runner_arch, runner_os, runner_vars};
use crate::eval::{eval_bool, eval_condition, eval_minutes, eval_string, Scope, StatusHost};
use crate::files::FileCommands;
use crate::mask::Masker;
use crate::output::{Emitter, OutputSink};
use crate::process::{run_process, ProcessEnd, ProcessSpec, RunLimits};
use crate::shell::Shell;
use crate::workspace::{create_dirs, run_dir, sanitize, JobDirs, Snapshots};

/// How the host executor is set up. Build with [`HostExecutorOptions::new`] and adjust fields.
#[derive(Debug, Clone)]
pub struct HostExecutorOptions {
    /// Jobs get `work_dir/<run>-<attempt>/<job key>/` (workspace and `_temp`).
    pub work_dir: PathBuf,
    /// Remote actions (`owner/repo@ref`): a tree put here by hand as `owner/repo/ref/` is used as
    /// it is; otherwise the action is fetched from `action_source` into `owner/repo/<sha>/`
    /// (`fetch.rs`). `None`: remote actions other than the built-ins fail.
    pub action_cache: Option<PathBuf>,
    /// Where remote actions are fetched from, and whether the network may be used.
    pub action_source: crate::fetch::ActionSource,
    /// Store of the `actions/cache` built-in (shared by runs).
    pub cache_dir: PathBuf,
    /// Store of the artifact built-ins: `artifact_dir/<run id>/<name>/`.
    pub artifact_dir: PathBuf,
    /// `RUNNER_TOOL_CACHE`.
    pub tool_cache: PathBuf,
    /// `RUNNER_NAME`.
    pub runner_name: String,
    /// Time between SIGINT and SIGKILL when a step is stopped.
    pub kill_grace: Duration,
    /// How long each step that runs after cancellation (`always()`) may take.
    pub cancel_timeout: Duration,
    /// Keep job directories after the job (for debugging); removed by default.
    pub keep_job_dirs: bool,
    /// The `node` that runs JavaScript actions; looked up on PATH when unset.
    pub node: Option<PathBuf>,
    /// Where jobs run by `runs-on` label (first matching label wins); unmatched labels run on the
    /// host. A job with `container:` always runs in Docker.
    pub platforms: Vec<(String, Platform)>,
    /// When images are pulled (default: always, falling back to a local copy).
    pub pull: gantry_docker::PullPolicy,
    /// Whether each job's workspace starts as a copy of the repository (the default, as act
    /// does) or empty until `actions/checkout` runs (as on GitHub).
    pub prefill_workspace: bool,
}

/// The start of the `RUNNER_TRACKING_ID` of every job of `run_id` (the job key and a time follow).
pub(crate) fn tracking_id_prefix(run_id: &str) -> String {
    format!("gantry_{}_", sanitize(run_id))
}

impl HostExecutorOptions {
    pub fn new(work_dir: impl Into<PathBuf>) -> HostExecutorOptions {
        let work_dir = work_dir.into();
        HostExecutorOptions {
            action_cache: None,
            action_source: crate::fetch::ActionSource::default(),
            cache_dir: work_dir.join("_cache"),
            artifact_dir: work_dir.join("_artifacts"),
            tool_cache: work_dir.join("_tool"),
            runner_name: "gantry".to_owned(),
            kill_grace: Duration::from_secs(5),
            cancel_timeout: Duration::from_secs(300),
            keep_job_dirs: false,
            node: None,
            platforms: Vec::new(),
            pull: gantry_docker::PullPolicy::default(),
            prefill_workspace: true,
            work_dir,
        }
    }
}

/// Runs jobs as processes on this machine, or in Docker containers when a job asks for one.
#[derive(Clone)]
pub struct HostExecutor {
    options: Arc<HostExecutorOptions>,
    host_env: Arc<Vec<(String, String)>>,
    /// The Docker engine, connected by the first job that needs it.
    engine: EngineCell,
    snapshots: Arc<Snapshots>,
    /// Remote actions, each ref resolved once for all jobs of this executor.
    fetcher: Option<Arc<crate::fetch::ActionFetcher>>,
}

/// A lazily connected engine shared by the jobs of one executor (the error is kept too, so every
/// job that needs Docker reports it without trying again).
pub(crate) type EngineCell = Arc<tokio::sync::OnceCell<Result<gantry_docker::Engine, String>>>;

impl HostExecutor {
    pub fn new(options: HostExecutorOptions) -> HostExecutor {
        // The runner's own variables from an outer CI must not leak into jobs.
        let host_env = std::env::vars()
            .filter(|(k, _)| {
                !["GITHUB_", "RUNNER_", "INPUT_", "STATE_", "ACTIONS_"]
                    .iter()
                    .any(|p| k.starts_with(p))
            })
            .collect();
        let fetcher = options.action_cache.as_ref().map(|cache| {
            Arc::new(crate::fetch::ActionFetcher::new(
                cache,
                options.action_source.clone(),
            ))
        });
        HostExecutor {
            options: Arc::new(options),
            host_env: Arc::new(host_env),
            engine: Arc::new(tokio::sync::OnceCell::new()),
            snapshots: Arc::new(Snapshots::new()),
            fetcher,
        }
    }

    pub fn options(&self) -> &HostExecutorOptions {
        &self.options
    }

    /// Removes what a run (attempt) left in the work directory: its repository snapshots and
    /// the job directories still being deleted. Call it when no job of the run is running.
    pub fn remove_run(&self, run_id: &str, attempt: u32) {
        let dir = run_dir(&self.options.work_dir, run_id, attempt);
        self.snapshots.forget_run(&dir);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

impl std::fmt::Debug for HostExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostExecutor")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Executor for HostExecutor {
    fn run_job(
        &self,
        spec: JobSpec,
        events: flow::Sender<JobEvent>,
        cancel: CancellationToken,
    ) -> JobFuture {
        let options = self.options.clone();
        let host_env = self.host_env.clone();
        let engine = self.engine.clone();
        let snapshots = self.snapshots.clone();
        let fetcher = self.fetcher.clone();
        Box::pin(async move {
            run_job(
                options, host_env, engine, snapshots, spec, events, cancel, fetcher,
            )
            .await
        })
    }
}

/// What a finished step leaves in the `steps` context.
#[derive(Debug, Clone)]
pub(crate) struct StepRecord {
    pub outputs: IndexMap<String, String>,
    pub outcome: Conclusion,
    pub conclusion: Conclusion,
}

impl StepRecord {
    pub fn skipped() -> StepRecord {
        StepRecord {
            outputs: IndexMap::new(),
            outcome: Conclusion::Skipped,
            conclusion: Conclusion::Skipped,
        }
    }

    fn to_value(&self) -> Value {
        let outputs: Map = self
            .outputs
            .iter()
            .map(|(k, v)| (k.as_str(), Value::from(v.as_str())))
            .collect();
        let mut m = Map::new();
        m.insert("outputs", Value::from(outputs));
        m.insert("outcome", Value::from(self.outcome.as_str()));
        m.insert("conclusion", Value::from(self.conclusion.as_str()));
        Value::from(m)
    }
}

/// A list of steps being run: the job's own, or a composite action's.
pub(crate) struct Frame {
    pub steps: Map,
    pub failed: bool,
    pub inputs: Option<Value>,
    pub github: Option<Value>,
    /// `env:` of the composite step, under the nested steps' own `env:`.
    pub env: IndexMap<String, String>,
    pub top_level: bool,
    /// For composite actions: the action's directory and `owner/repo`, `ref`.
    pub action: Option<ActionInfo>,
    /// Where nested steps log: the job step that runs the composite action.
    pub log_step: Option<usize>,
    /// When the composite step's `timeout-minutes` runs out: no nested process runs past it.
    pub deadline: Option<tokio::time::Instant>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct ActionInfo {
    pub path: PathBuf,
    pub repository: String,
    pub git_ref: String,
}

impl Frame {
    pub fn top() -> Frame {
        Frame {
            steps: Map::new(),
            failed: false,
            inputs: None,
            github: None,
            env: IndexMap::new(),
            top_level: true,
            action: None,
            log_step: None,
            deadline: None,
        }
    }

    pub fn record(&mut self, id: &str, record: &StepRecord) {
        self.steps.insert(id, record.to_value());
    }
}

/// A registered post step (JavaScript action `post`, built-in cache save), run at job end in
/// reverse order.
pub(crate) struct PostStep {
    pub name: String,
    pub condition: String,
    pub kind: PostKind,
}

pub(crate) enum PostKind {
    Node {
        script: PathBuf,
        env: Vec<(String, String)>,
        state: Vec<(String, String)>,
        action: ActionInfo,
        step_id: String,
    },
    CacheSave(crate::builtin::cache::SaveRequest),
}

/// The state of one running job.
pub(crate) struct Job {
    pub options: Arc<HostExecutorOptions>,
    pub host_env: Arc<Vec<(String, String)>>,
    pub events: flow::Sender<JobEvent>,
    pub cancel: CancellationToken,
    pub dirs: JobDirs,
    pub run_id: String,
    pub source_path: String,
    pub sha: Option<String>,
    /// github, inputs, vars, matrix, strategy, needs, job, runner, secrets.
    pub base: HashMap<String, Value>,
    pub github_json: serde_json::Map<String, serde_json::Value>,
    /// `GITHUB_*` and `RUNNER_*` from the contexts, the same for every step of the job.
    pub runtime_vars: Vec<(String, String)>,
    /// Resolved shells by (`shell:` value, PATH).
    pub shells: HashMap<(Option<String>, String), Shell>,
    pub env: IndexMap<String, String>,
    pub prepend_path: Vec<String>,
    pub masker: Masker,
    pub failed: bool,
    pub cancelled: bool,
    pub debug: bool,
    pub defaults_shell: Option<String>,
    pub defaults_working_directory: Option<String>,
    pub posts: Vec<PostStep>,
    /// What `pre` steps saved, by step id, for their `main` and `post`.
    pub pre_state: HashMap<String, Vec<(String, String)>>,
    /// `RUNNER_TRACKING_ID` of this job's processes: what is still running at job end is killed.
    pub tracking_id: String,
    /// Taken before the job's first process: orphans are looked for among newer processes.
    pub pid_mark: Option<crate::process::PidMark>,
    /// The process groups of the job's host steps (each step's pid), for the orphan clean-up.
    pub step_groups: Vec<i32>,
    /// Reused by every step (emptied after each); see [`FileCommands::reset`].
    pub file_commands: Option<FileCommands>,
    pub base_path: String,
    pub engine_cell: EngineCell,
    /// Fetches remote actions (shared by the executor's jobs).
    pub fetcher: Option<Arc<crate::fetch::ActionFetcher>>,
    /// The job's containers and network, when it uses Docker.
    pub docker: Option<DockerJob>,
    /// The repository's name: the workspace directory's name.
    pub repo_name: String,
    pub job_key: String,
}

/// One step as the runners of its action see it: the step, where its log lines go, its display
/// name, its evaluated `env`, and its time limit (the duration, and the minutes as written for
/// the timeout message).
#[derive(Clone, Copy)]
pub(crate) struct StepCall<'a> {
    pub step: &'a StepSpec,
    /// The step's log (its index among the job's steps); `None` for job-level messages.
    pub log: Option<usize>,
    pub name: &'a str,
    pub env: &'a IndexMap<String, String>,
    pub timeout: Option<Duration>,
    pub timeout_minutes: Option<f64>,
}

/// Result of running a step's action.
pub(crate) struct ActionResult {
    pub outcome: Conclusion,
    pub outputs: IndexMap<String, String>,
}

impl ActionResult {
    pub fn success(outputs: IndexMap<String, String>) -> ActionResult {
        ActionResult {
            outcome: Conclusion::Success,
            outputs,
        }
    }

    pub fn failure() -> ActionResult {
        ActionResult {
            outcome: Conclusion::Failure,
            outputs: IndexMap::new(),
        }
    }
}

/// What to run for a process step (a `run:` script, a node entry point).
pub(crate) struct ProcessStep {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub cwd: PathBuf,
    pub env: Vec<(String, String)>,
    pub timeout: Option<Duration>,
    pub display_name: String,
    pub timeout_minutes: Option<f64>,
    /// Run in a container of its own (a Docker action) instead of as a process.
    pub docker: Option<crate::docker_action::DockerRun>,
}

#[allow(clippy::too_many_arguments)]
async fn run_job(
    options: Arc<HostExecutorOptions>,
    host_env: Arc<Vec<(String, String)>>,
    engine: EngineCell,
    snapshots: Arc<Snapshots>,
    spec: JobSpec,
    events: flow::Sender<JobEvent>,
    cancel: CancellationToken,
    fetcher: Option<Arc<crate::fetch::ActionFetcher>>,
) -> JobResult {
    let root = run_dir(&options.work_dir, &spec.run_id, spec.attempt).join(sanitize(&spec.job_key));
    let set_up = Job::set_up(
        options.clone(),
        host_env,
        engine,
        &snapshots,
        &spec,
        events.clone(),
        cancel,
    );
    let mut job = match set_up.await {
        Ok(mut job) => {
            job.fetcher = fetcher;
            job
        }
        Err(message) => {
            let _ = events.send(JobEvent::Log {
                step: None,
                line: format!("##[error]{message}"),
            });
            let _ = events.send(JobEvent::Annotation {
                level: "error".to_owned(),
                message: message.clone(),
                file: None,
                line: None,
                col: None,
            });
            let mut result = JobResult::new(Conclusion::Failure);
            result.error = Some(message);
            if !options.keep_job_dirs {
                let _ = std::fs::remove_dir_all(&root);
            }
            return result;
        }
    };
    let result = job.run(&spec).await;
    job.clean_up(&snapshots).await;
    result
}

impl Job {
    async fn set_up(
        options: Arc<HostExecutorOptions>,
        host_env: Arc<Vec<(String, String)>>,
        engine_cell: EngineCell,
        snapshots: &Snapshots,
        spec: &JobSpec,
        events: flow::Sender<JobEvent>,
        cancel: CancellationToken,
    ) -> Result<Job, String> {
        let run_dir = run_dir(&options.work_dir, &spec.run_id, spec.attempt);
        let root = run_dir.join(sanitize(&spec.job_key));
        let mut github_json = match spec.contexts.get("github") {
            Some(serde_json::Value::Object(m)) => m.clone(),
            _ => serde_json::Map::new(),
        };
        let repository = github_json
            .get("repository")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_owned();
        let repo_name = repository
            .rsplit('/')
            .next()
            .filter(|s| !s.is_empty())
            .unwrap_or("workspace")
            .to_owned();
        let dirs = create_dirs(&root, &repo_name).map_err(|e| error_chain(&e))?;
        if !spec.workspace.source_path.is_empty() && options.prefill_workspace {
            snapshots
                .fill_workspace(
                    &run_dir,
                    Path::new(&spec.workspace.source_path),
                    spec.workspace.sha.as_deref(),
                    &dirs.workspace,
                )
                .await
                .map_err(|e| error_chain(&e))?;
        }
        let event_dir = dirs.temp.join("_github_workflow");
        std::fs::create_dir_all(&event_dir)
            .map_err(|e| format!("cannot create {}: {e}", event_dir.display()))?;
        let event_path = event_dir.join("event.json");
        let event = github_json
            .get("event")
            .cloned()
            .unwrap_or_else(|| serde_json::Value::Object(serde_json::Map::new()));
        std::fs::write(
            &event_path,
            serde_json::to_vec_pretty(&event).unwrap_or_default(),
        )
        .map_err(|e| format!("cannot write {}: {e}", event_path.display()))?;

        let text = |s: &str| serde_json::Value::String(s.to_owned());
        github_json.insert(
            "workspace".into(),
            text(&dirs.workspace.display().to_string()),
        );
        github_json.insert("event_path".into(), text(&event_path.display().to_string()));
        github_json.insert("job".into(), text(&spec.job_id));
        github_json
            .entry("run_id")
            .or_insert_with(|| text(&spec.run_id));
        github_json
            .entry("run_number")
            .or_insert_with(|| text(&spec.run_number.to_string()));
        github_json
            .entry("run_attempt")
            .or_insert_with(|| text(&spec.attempt.to_string()));
        if let Some(sha) = &spec.workspace.sha {
            github_json.entry("sha").or_insert_with(|| text(sha));
        }
        if let Some(r) = &spec.workspace.git_ref {
            github_json.entry("ref").or_insert_with(|| text(r));
        }
        github_json
            .entry("retention_days")
            .or_insert_with(|| text("90"));
        complete_github(&mut github_json);

        let secrets_debug = spec
            .secrets
            .get("ACTIONS_STEP_DEBUG")
            .map(|v| v.expose() == "true")
            .unwrap_or(false);
        let vars_debug = spec
            .contexts
            .get("vars")
            .and_then(|v| v.get("ACTIONS_STEP_DEBUG"))
            .and_then(|v| v.as_str())
            .map(|v| v == "true")
            .unwrap_or(false);
        let debug = secrets_debug || vars_debug;

        let mut runner_json = serde_json::Map::new();
        runner_json.insert("os".into(), text(runner_os()));
        runner_json.insert("arch".into(), text(runner_arch()));
        runner_json.insert("name".into(), text(&options.runner_name));
        runner_json.insert("temp".into(), text(&dirs.temp.display().to_string()));
        runner_json.insert(
            "tool_cache".into(),
            text(&options.tool_cache.display().to_string()),
        );
        runner_json.insert("environment".into(), text("self-hosted"));
        if let Some(parent) = dirs.workspace.parent() {
            runner_json.insert("workspace".into(), text(&parent.display().to_string()));
        }
        if debug {
            runner_json.insert("debug".into(), text("1"));
        }

        let mut base: HashMap<String, Value> = HashMap::new();
        for (name, value) in &spec.contexts {
            base.insert(name.to_ascii_lowercase(), Value::from_json(value));
        }
        base.insert(
            "github".into(),
            Value::from_json(&serde_json::Value::Object(github_json.clone())),
        );
        base.insert(
            "runner".into(),
            Value::from_json(&serde_json::Value::Object(runner_json.clone())),
        );
        let secrets: Map = spec
            .secrets
            .iter()
            .map(|(k, v)| (k.as_str(), Value::from(v.expose())))
            .collect();
        base.insert("secrets".into(), Value::from(secrets));
        for name in ["inputs", "vars", "matrix", "needs", "strategy", "job"] {
            base.entry(name.to_owned())
                .or_insert_with(|| Value::from(Map::new()));
        }

        let mut masker = Masker::new();
        masker.extend(spec.secrets.values().map(gantry_plan::Secret::expose));
        if let Some(token) = github_json.get("token").and_then(|v| v.as_str()) {
            masker.add(token);
        }
        let base_path = host_env
            .iter()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".to_owned());

        let runtime_vars = github_vars(&github_json)
            .into_iter()
            .filter(|(k, _)| k != "CI" && k != "GITHUB_ACTIONS")
            .chain(runner_vars(&runner_json))
            .collect();
        Ok(Job {
            options,
            host_env,
            events,
            cancel,
            dirs,
            run_id: spec.run_id.clone(),
            source_path: spec.workspace.source_path.clone(),
            sha: spec.workspace.sha.clone(),
            base,
            github_json,
            runtime_vars,
            shells: HashMap::new(),
            env: IndexMap::new(),
            prepend_path: Vec::new(),
            masker,
            failed: false,
            cancelled: false,
            debug,
            defaults_shell: spec.defaults_run.shell.clone(),
            defaults_working_directory: spec.defaults_run.working_directory.clone(),
            posts: Vec::new(),
            pre_state: HashMap::new(),
            file_commands: None,
            tracking_id: format!(
                "{}{}_{}",
                tracking_id_prefix(&spec.run_id),
                sanitize(&spec.job_key),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0)
            ),
            base_path,
            pid_mark: crate::process::PidMark::now(),
            step_groups: Vec::new(),
            engine_cell,
            fetcher: None,
            docker: None,
            repo_name: sanitize(&repo_name),
            job_key: spec.job_key.clone(),
        })
    }

    pub fn emitter(&self, step: Option<usize>) -> Emitter<'_> {
        Emitter {
            events: &self.events,
            step,
        }
    }

    pub fn log(&self, step: Option<usize>, line: &str) {
        self.emitter(step).log(&self.masker, line);
    }

    pub fn error(&self, step: Option<usize>, message: &str) {
        self.emitter(step).error(&self.masker, message);
    }

    pub fn warning(&self, step: Option<usize>, message: &str) {
        self.emitter(step).warning(&self.masker, message);
    }

    fn env_value(&self, frame: &Frame, extra: &IndexMap<String, String>) -> Value {
        let mut m = Map::with_capacity(self.env.len() + frame.env.len() + extra.len());
        for (k, v) in self.env.iter().chain(&frame.env).chain(extra) {
            m.insert(k.as_str(), Value::from(v.as_str()));
        }
        Value::from(m)
    }

    /// The contexts a step in `frame` sees, with `extra` env on top.
    pub fn scope<'a>(&'a self, frame: &Frame, extra: &IndexMap<String, String>) -> Scope<'a> {
        Scope {
            base: &self.base,
            env: self.env_value(frame, extra),
            steps: Value::from(frame.steps.clone()),
            inputs: frame.inputs.clone(),
            github: frame.github.clone(),
            job_status: if self.failed {
                "failure"
            } else if self.cancelled {
                "cancelled"
            } else {
                "success"
            },
        }
    }

    pub fn status_host(&self, frame: &Frame) -> StatusHost<'_> {
        StatusHost {
            failed: if frame.top_level {
                self.failed
            } else {
                frame.failed
            },
            cancelled: self.cancelled,
            workspace: &self.dirs.workspace,
        }
    }

    async fn run(&mut self, spec: &JobSpec) -> JobResult {
        // Where the job runs is known first: a job container changes the paths in the contexts.
        let docker_plan = match self.docker_plan(spec) {
            Ok(plan) => plan,
            Err(message) => {
                self.error(None, &message);
                let mut result = JobResult::new(Conclusion::Failure);
                result.error = Some(message);
                return result;
            }
        };
        if docker_plan.container.is_some() {
            self.use_container_paths();
        }
        // Workflow env then job env, each value seeing the ones before it.
        let mut top = Frame::top();
        for (name, raw) in &spec.env {
            let value = {
                let scope = self.scope(&top, &IndexMap::new());
                let host = self.status_host(&top);
                eval_string(raw, &scope, &host)
            };
            match value {
                Ok(v) => {
                    self.env.insert(name.clone(), v);
                }
                Err(e) => {
                    let message = format!("error evaluating env '{name}': {e}");
                    self.error(None, &message);
                    let mut result = JobResult::new(Conclusion::Failure);
                    result.error = Some(message);
                    return result;
                }
            }
        }

        if !docker_plan.is_empty() {
            let repo_name = self.repo_name.clone();
            if let Err(message) = self.start_docker(spec, docker_plan, &repo_name).await {
                self.error(None, &message);
                let mut result = JobResult::new(Conclusion::Failure);
                result.error = Some(message);
                return result;
            }
        }

        self.run_pre_steps(&mut top, spec).await;

        for (index, step) in spec.steps.iter().enumerate() {
            if !self.cancelled && self.cancel.is_cancelled() {
                self.cancelled = true;
            }
            let record = self.run_step(&mut top, step, Some(index)).await;
            if record.conclusion == Conclusion::Failure {
                self.failed = true;
            }
            top.record(&step.generated_id, &record);
        }

        self.run_post_steps(&top).await;

        let mut result = JobResult::new(if self.failed {
            Conclusion::Failure
        } else if self.cancelled || self.cancel.is_cancelled() {
            Conclusion::Cancelled
        } else {
            Conclusion::Success
        });
        for (name, raw) in &spec.outputs {
            let value = {
                let scope = self.scope(&top, &IndexMap::new());
                let host = self.status_host(&top);
                eval_string(raw, &scope, &host)
            };
            match value {
                Ok(v) => {
                    if self.masker.mask(&v) != v {
                        self.warning(
                            None,
                            &format!("Skip output '{name}' since it may contain secret."),
                        );
                    } else {
                        result.outputs.insert(name.clone(), v);
                    }
                }
                Err(e) => {
                    self.error(None, &format!("error evaluating job output '{name}': {e}"));
                }
            }
        }
        result
    }

    async fn clean_up(&mut self, snapshots: &Snapshots) {
        self.stop_docker().await;
        let killed =
            crate::process::kill_tracked(&self.tracking_id, self.pid_mark, &self.step_groups);
        if killed > 0 {
            self.log(
                None,
                &format!("Terminated {killed} orphan process(es) left by the job's steps"),
            );
        }
        if !self.options.keep_job_dirs {
            if let Some(run_dir) = self.dirs.root.parent() {
                snapshots.discard_job_dir(run_dir, &self.dirs.root);
            }
        }
    }

    /// The default name of a step.
    fn default_name(step: &StepSpec) -> String {
        match &step.action {
            StepAction::Run { script, .. } => {
                let first = script
                    .trim_start_matches([' ', '\t', '\r', '\n'])
                    .lines()
                    .next()
                    .unwrap_or("");
                format!("Run {first}")
            }
            StepAction::Uses { uses, .. } => format!("Run {uses}"),
        }
    }

    /// Runs one step in `frame`; `index` is its position in the job (None inside a composite).
    pub fn run_step<'a>(
        &'a mut self,
        frame: &'a mut Frame,
        step: &'a StepSpec,
        index: Option<usize>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = StepRecord> + Send + 'a>> {
        Box::pin(async move {
            if !self.cancelled && self.cancel.is_cancelled() {
                self.cancelled = true;
            }
            let log = index.or(frame.log_step);
            let name = match &step.name {
                Some(raw) => {
                    let scope = self.scope(frame, &IndexMap::new());
                    let host = self.status_host(frame);
                    eval_string(raw, &scope, &host).unwrap_or_else(|_| raw.clone())
                }
                None => Job::default_name(step),
            };
            let name = self.masker.mask(&name);
            if let Some(index) = index {
                let _ = self.events.send(JobEvent::StepStarted {
                    index,
                    name: name.clone(),
                });
            }
            let condition = {
                let scope = self.scope(frame, &IndexMap::new());
                let host = self.status_host(frame);
                eval_condition(&step.if_expr, &scope, &host)
            };
            let record = match condition {
                Ok(false) => {
                    if index.is_none() {
                        self.log(log, &format!("Skipping {name}"));
                    }
                    StepRecord::skipped()
                }
                Err(e) => {
                    self.error(
                        log,
                        &format!(
                            "The step failed: error evaluating 'if' condition '{}': {e}",
                            step.if_expr
                        ),
                    );
                    let record = StepRecord {
                        outputs: IndexMap::new(),
                        outcome: Conclusion::Failure,
                        conclusion: Conclusion::Failure,
                    };
                    if !frame.top_level {
                        frame.failed = true;
                    }
                    record
                }
                Ok(true) => self.execute_step(frame, step, log, &name).await,
            };
            if let Some(index) = index {
                let _ = self.events.send(JobEvent::StepFinished {
                    index,
                    outcome: record.outcome,
                    conclusion: record.conclusion,
                });
            }
            if !frame.top_level && record.conclusion == Conclusion::Failure {
                frame.failed = true;
            }
            record
        })
    }

    async fn execute_step(
        &mut self,
        frame: &mut Frame,
        step: &StepSpec,
        index: Option<usize>,
        name: &str,
    ) -> StepRecord {
        let cancelled_before = self.cancelled;
        // Step env: each value sees the job env and the step's earlier values.
        let mut step_env: IndexMap<String, String> = IndexMap::new();
        let mut failure: Option<String> = None;
        for (key, raw) in &step.env {
            let value = {
                let scope = self.scope(frame, &step_env);
                let host = self.status_host(frame);
                eval_string(raw, &scope, &host)
            };
            match value {
                Ok(v) => {
                    step_env.insert(key.clone(), v);
                }
                Err(e) => {
                    failure = Some(format!("error evaluating env '{key}': {e}"));
                    break;
                }
            }
        }
        let (continue_on_error, timeout_minutes) = {
            let scope = self.scope(frame, &step_env);
            let host = self.status_host(frame);
            let coe = eval_bool(&step.continue_on_error, &scope, &host);
            let timeout = step
                .timeout_minutes
                .as_deref()
                .map(|raw| eval_minutes(raw, &scope, &host));
            (coe, timeout)
        };
        let continue_on_error = match continue_on_error {
            Ok(b) => b,
            Err(e) => {
                failure.get_or_insert(format!("error evaluating continue-on-error: {e}"));
                false
            }
        };
        let timeout_minutes = match timeout_minutes {
            Some(Ok(m)) => Some(m),
            Some(Err(e)) => {
                failure.get_or_insert(format!("error evaluating timeout-minutes: {e}"));
                None
            }
            None => None,
        };
        let result = match failure {
            Some(message) => {
                self.error(index, &message);
                ActionResult::failure()
            }
            None => {
                let mut timeout = timeout_minutes.map(|m| Duration::from_secs_f64(m * 60.0));
                if cancelled_before {
                    timeout = Some(timeout.map_or(self.options.cancel_timeout, |t| {
                        t.min(self.options.cancel_timeout)
                    }));
                }
                let call = StepCall {
                    step,
                    log: index,
                    name,
                    env: &step_env,
                    timeout,
                    timeout_minutes,
                };
                match &step.action {
                    StepAction::Run {
                        script,
                        shell,
                        working_directory,
                    } => {
                        self.run_script(
                            frame,
                            call,
                            script,
                            shell.as_deref(),
                            working_directory.as_deref(),
                        )
                        .await
                    }
                    StepAction::Uses { uses, with } => self.run_uses(frame, call, uses, with).await,
                }
            }
        };
        let conclusion = if result.outcome == Conclusion::Failure && continue_on_error {
            Conclusion::Success
        } else {
            result.outcome
        };
        StepRecord {
            outputs: result.outputs,
            outcome: result.outcome,
            conclusion,
        }
    }

    /// The step's full process environment.
    pub fn process_env(
        &self,
        frame: &Frame,
        step_env: &IndexMap<String, String>,
        files: Option<&FileCommands>,
        step_id: &str,
        extra: &[(String, String)],
    ) -> Vec<(String, String)> {
        // Later entries win (the spawn keeps the last value of a name). As the runner does: the
        // machine's variables and CI, then workflow/job/step env, then the contexts' runtime
        // variables (GITHUB_*, RUNNER_*), which user env cannot override.
        let mut env: Vec<(String, String)> = Vec::with_capacity(
            self.host_env.len() + self.env.len() + step_env.len() + self.runtime_vars.len() + 16,
        );
        // In a job container the image's environment stands in for the machine's.
        if self.container().is_none() {
            env.extend(self.host_env.iter().cloned());
        }
        env.push(("CI".into(), "true".into()));
        env.push(("GITHUB_ACTIONS".into(), "true".into()));
        for (k, v) in self.env.iter().chain(&frame.env).chain(step_env) {
            env.push((k.clone(), v.clone()));
        }
        env.extend(self.runtime_vars.iter().cloned());
        env.push(("GITHUB_ACTION".into(), step_id.to_owned()));
        if let Some(action) = &frame.action {
            env.push((
                "GITHUB_ACTION_PATH".into(),
                action.path.display().to_string(),
            ));
            env.push(("GITHUB_ACTION_REPOSITORY".into(), action.repository.clone()));
            env.push(("GITHUB_ACTION_REF".into(), action.git_ref.clone()));
        }
        if let Some(files) = files {
            for (k, v) in files.env_vars() {
                env.push((k.to_owned(), v));
            }
        }
        env.extend(extra.iter().cloned());
        env.push(("RUNNER_TRACKING_ID".into(), self.tracking_id.clone()));
        if !self.prepend_path.is_empty() {
            let current = env
                .iter()
                .rev()
                .find(|(k, _)| k == "PATH")
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| self.default_path().to_owned());
            let mut parts: Vec<&str> = self.prepend_path.iter().rev().map(String::as_str).collect();
            parts.push(&current);
            let path = parts.join(":");
            env.push(("PATH".into(), path));
        }
        env
    }

    /// The job container, when steps run in one.
    pub fn container(&self) -> Option<&JobContainer> {
        self.docker.as_ref().and_then(|d| d.container.as_ref())
    }

    /// PATH before the job's additions: the machine's, or the job container's.
    fn default_path(&self) -> &str {
        match self.container() {
            Some(container) => &container.path,
            None => &self.base_path,
        }
    }

    /// PATH as the step will see it (for finding the shell).
    fn step_path(&self, frame: &Frame, step_env: &IndexMap<String, String>) -> String {
        let current = step_env
            .get("PATH")
            .or_else(|| frame.env.get("PATH"))
            .or_else(|| self.env.get("PATH"))
            .cloned()
            .unwrap_or_else(|| self.default_path().to_owned());
        let mut parts: Vec<&str> = self.prepend_path.iter().rev().map(String::as_str).collect();
        parts.push(&current);
        parts.join(":")
    }

    /// The job's file command files, created on first use.
    fn file_commands(&mut self) -> std::io::Result<FileCommands> {
        if let Some(files) = &self.file_commands {
            return Ok(files.clone());
        }
        let files = FileCommands::create(&self.dirs.file_commands, "job")?;
        self.file_commands = Some(files.clone());
        Ok(files)
    }

    async fn run_script(
        &mut self,
        frame: &mut Frame,
        call: StepCall<'_>,
        script: &str,
        shell: Option<&str>,
        working_directory: Option<&str>,
    ) -> ActionResult {
        let StepCall {
            step,
            log: index,
            name,
            env: step_env,
            timeout,
            timeout_minutes,
        } = call;
        let script = {
            let scope = self.scope(frame, step_env);
            let host = self.status_host(frame);
            eval_string(script, &scope, &host)
        };
        let script = match script {
            Ok(s) => s,
            Err(e) => {
                self.error(index, &format!("error evaluating run: {e}"));
                return ActionResult::failure();
            }
        };
        let shell_raw = shell.map(str::to_owned).or_else(|| {
            frame
                .top_level
                .then(|| self.defaults_shell.clone())
                .flatten()
        });
        let shell_raw = match shell_raw {
            Some(raw) => {
                let scope = self.scope(frame, step_env);
                let host = self.status_host(frame);
                match eval_string(&raw, &scope, &host) {
                    Ok(s) => Some(s),
                    Err(e) => {
                        self.error(index, &format!("error evaluating shell: {e}"));
                        return ActionResult::failure();
                    }
                }
            }
            None => None,
        };
        let wd_raw = working_directory.map(str::to_owned).or_else(|| {
            frame
                .top_level
                .then(|| self.defaults_working_directory.clone())
                .flatten()
        });
        let cwd = match wd_raw {
            Some(raw) => {
                let scope = self.scope(frame, step_env);
                let host = self.status_host(frame);
                match eval_string(&raw, &scope, &host) {
                    Ok(wd) => self.dirs.workspace.join(wd),
                    Err(e) => {
                        self.error(index, &format!("error evaluating working-directory: {e}"));
                        return ActionResult::failure();
                    }
                }
            }
            None => self.dirs.workspace.clone(),
        };
        let path = self.step_path(frame, step_env);
        let key = (shell_raw, path);
        let in_container = self.container().map(|c| c.default_shell);
        let shell = match self.shells.get(&key) {
            Some(shell) => shell.clone(),
            None if in_container.is_some() => {
                let default = in_container.unwrap_or("sh");
                match Shell::in_container(key.0.as_deref(), default) {
                    Ok(shell) => {
                        self.shells.insert(key, shell.clone());
                        shell
                    }
                    Err(e) => {
                        self.error(index, &e.to_string());
                        return ActionResult::failure();
                    }
                }
            }
            None => match Shell::resolve(key.0.as_deref(), std::ffi::OsStr::new(&key.1)) {
                Ok(shell) => {
                    self.shells.insert(key, shell.clone());
                    shell
                }
                Err(e) => {
                    self.error(index, &e.to_string());
                    return ActionResult::failure();
                }
            },
        };
        // The log header, as the runner prints it.
        let first = script
            .trim_start_matches([' ', '\t', '\r', '\n'])
            .lines()
            .next()
            .unwrap_or("");
        self.log(index, &format!("##[group]Run {first}"));
        for line in script
            .replace("\r\n", "\n")
            .trim_end_matches('\n')
            .split('\n')
        {
            self.log(index, line);
        }
        self.log(index, &shell.display());
        let shown_env: Vec<(String, String)> = self
            .env
            .iter()
            .chain(&frame.env)
            .chain(step_env)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !shown_env.is_empty() {
            self.log(index, "env:");
            for (k, v) in shown_env {
                self.log(index, &format!("  {k}: {v}"));
            }
        }
        self.log(index, "##[endgroup]");

        // One script file per extension, overwritten by each step: the previous step's shell has
        // exited, and creating a new file per step costs more than the rest of the step's overhead.
        let script_path = self
            .dirs
            .temp
            .join(format!("_step_script{}", shell.extension));
        if let Err(e) = crate::files::overwrite(&script_path, shell.fix_up(&script).as_bytes()) {
            self.error(
                index,
                &format!("cannot write script {}: {e}", script_path.display()),
            );
            return ActionResult::failure();
        }
        let args = shell.args(&script_path);
        let result = self
            .run_process_step(
                frame,
                step,
                index,
                ProcessStep {
                    program: shell.program.clone(),
                    args,
                    cwd,
                    env: Vec::new(),
                    timeout,
                    display_name: name.to_owned(),
                    timeout_minutes,
                    docker: None,
                },
                step_env,
                None,
            )
            .await;
        ActionResult {
            outcome: result.outcome,
            outputs: result.outputs,
        }
    }

    /// Spawns a process step with fresh file commands, streams its output, applies its effects.
    /// `state` receives what the step saved with `GITHUB_STATE`/`save-state` when given.
    pub async fn run_process_step(
        &mut self,
        frame: &mut Frame,
        step: &StepSpec,
        index: Option<usize>,
        process: ProcessStep,
        step_env: &IndexMap<String, String>,
        state: Option<&mut Vec<(String, String)>>,
    ) -> ActionResult {
        self.run_process_with_id(frame, &step.generated_id, index, process, step_env, state)
            .await
    }

    pub async fn run_process_with_id(
        &mut self,
        frame: &mut Frame,
        step_id: &str,
        index: Option<usize>,
        process: ProcessStep,
        step_env: &IndexMap<String, String>,
        state: Option<&mut Vec<(String, String)>>,
    ) -> ActionResult {
        let files = match self.file_commands() {
            Ok(f) => f,
            Err(e) => {
                self.error(index, &format!("cannot create file command files: {e}"));
                return ActionResult::failure();
            }
        };
        let env = self.process_env(frame, step_env, Some(&files), step_id, &process.env);
        let allow_unsecure = env
            .iter()
            .rev()
            .find(|(k, _)| k == "ACTIONS_ALLOW_UNSECURE_COMMANDS")
            .is_some_and(|(_, v)| v.eq_ignore_ascii_case("true"));
        let mut timeout = process.timeout;
        if let Some(deadline) = frame.deadline {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            timeout = Some(timeout.map_or(left, |t| t.min(left)));
        }
        let spec = ProcessSpec {
            program: process.program.clone(),
            args: process.args,
            env,
            cwd: process.cwd.clone(),
        };
        // Steps that run after cancellation are not stopped by it (they are bounded by timeout).
        let never = CancellationToken::new();
        let cancel = if self.cancelled { &never } else { &self.cancel };
        let limits = RunLimits {
            timeout,
            kill_grace: self.options.kill_grace,
        };
        let action = match &process.docker {
            Some(run) => match self.engine().await {
                Ok(engine) => Some((
                    engine,
                    self.action_container(run, &spec, &self.action_paths()),
                )),
                Err(e) => {
                    self.error(index, &e);
                    return ActionResult::failure();
                }
            },
            None => None,
        };
        let debug = self.debug;
        let events = self.events.clone();
        let mut sink = OutputSink::new(
            &mut self.masker,
            Emitter {
                events: &events,
                step: index,
            },
            debug,
            allow_unsecure,
        );
        let mut container = self.docker.as_mut().and_then(|d| {
            d.container
                .clone()
                .map(|c| (d.engine.clone(), c, d.take_session()))
        });
        let ran = match (&action, &mut container) {
            (Some((engine, action)), _) => {
                crate::docker_action::run_action_container(engine, action, limits, cancel, &mut sink)
                    .await
            }
            (None, None) => run_process(&spec, limits, cancel, &events.gate(), &mut |stream, fragment| {
                sink.on_fragment(stream, fragment)
            })
            .await
            .map(|(end, pgid)| {
                if pgid > 0 {
                    self.step_groups.push(pgid);
                }
                end
            })
            .map_err(|e| {
                if !process.cwd.is_dir() {
                    format!(
                        "An error occurred trying to start process '{}' with working directory '{}'. No such file or directory",
                        process.program.display(),
                        process.cwd.display()
                    )
                } else {
                    error_chain(&e)
                }
            }),
            (None, Some((engine, container, session))) => {
                crate::container::exec_step(
                    engine,
                    container,
                    session.as_mut(),
                    &spec,
                    limits,
                    cancel,
                    &mut sink,
                )
                .await
            }
        };
        sink.finish();
        let effects = std::mem::take(&mut sink.effects);
        drop(sink);
        if let Some((_, _, Some(session))) = container {
            if let Some(docker) = &mut self.docker {
                docker.put_session(session);
            }
        }

        let mut outcome = Conclusion::Success;
        match ran {
            Err(message) => {
                self.error(index, &message);
                outcome = Conclusion::Failure;
            }
            Ok(end) => match end {
                ProcessEnd::Exited(0) => {}
                ProcessEnd::Exited(code) => {
                    self.error(index, &format!("Process completed with exit code {code}."));
                    outcome = Conclusion::Failure;
                }
                ProcessEnd::TimedOut => {
                    let minutes = process
                        .timeout_minutes
                        .unwrap_or_else(|| process.timeout.map_or(0.0, |t| t.as_secs_f64() / 60.0));
                    self.error(
                        index,
                        &format!(
                            "The action '{}' has timed out after {} minutes.",
                            process.display_name,
                            gantry_expr::number::expression_text(minutes)
                        ),
                    );
                    outcome = Conclusion::Failure;
                }
                ProcessEnd::Cancelled => {
                    self.error(index, "The operation was canceled.");
                    self.cancelled = true;
                    outcome = Conclusion::Cancelled;
                }
            },
        }
        if effects.failed && outcome == Conclusion::Success {
            outcome = Conclusion::Failure;
        }

        let mut outputs: IndexMap<String, String> = IndexMap::new();
        for (k, v) in effects.outputs {
            outputs.insert(k, v);
        }
        let mut saved_state = effects.state;
        for (k, v) in effects.env {
            self.env.insert(k, v);
        }
        for p in effects.path {
            self.add_path(p);
        }
        match files.collect() {
            Ok(results) => {
                for (k, v) in results.outputs {
                    outputs.insert(k, v);
                }
                for (k, v) in results.env {
                    self.env.insert(k, v);
                }
                for p in results.path {
                    self.add_path(p);
                }
                if let Some(summary) = results.summary {
                    let _ = self.events.send(JobEvent::Summary {
                        markdown: self.masker.mask(&summary),
                    });
                }
                saved_state.extend(results.state);
            }
            Err(e) => {
                self.error(
                    index,
                    &format!("Unable to process file command: {}", error_chain(&e)),
                );
                if outcome == Conclusion::Success {
                    outcome = Conclusion::Failure;
                }
            }
        }
        if let Err(e) = files.reset() {
            self.error(index, &format!("cannot reset file command files: {e}"));
            self.file_commands = None;
        }
        if let Some(state) = state {
            state.extend(saved_state);
        }
        ActionResult { outcome, outputs }
    }

    fn add_path(&mut self, path: String) {
        self.prepend_path.retain(|p| p != &path);
        self.prepend_path.push(path);
    }
}

/// An error with its sources, for log lines.
pub(crate) use gantry_plan::error_chain;
