//! `uses:` steps: finding the action and running it.
//!
//! Resolution order (add new sources in [`Job::resolve`]): `docker://` (not supported on the
//! host), a local path `./dir` (its `action.yml`/`action.yaml`), a remote `owner/repo[/path]@ref`
//! put in the action cache directory by hand (`owner/repo/ref/[path/]`), then a native built-in
//! for the well-known actions (see `builtin/`), then the action fetched from its repository at
//! `ref` into the cache (`fetch.rs`, logged with its commit as GitHub's runner does), else an
//! error naming the action. Composite actions run
//! their steps in a nested frame (own `steps` context and status, `inputs`, `github.action_path`);
//! JavaScript actions (`runs.using: nodeNN`) run `main` with the machine's `node`, `pre` at job
//! start and `post` at job end in reverse order, with `INPUT_*` and `STATE_*` variables.
//!
//! Invariant: a missing or broken action fails its step with a message naming it; offline runs
//! never touch the network. Tests: `tests/host.rs`, `tests/fetch.rs`.

use std::path::{Path, PathBuf};

use gantry_expr::{Map, Value};
use gantry_plan::{lower_action_steps, Conclusion, JobEvent, JobSpec, StepAction, StepSpec};
use gantry_workflow::model::{Action, RunsKind};
use indexmap::IndexMap;

use crate::eval::{eval_condition, eval_string};
use crate::job::{
    error_chain, ActionInfo, ActionResult, Frame, Job, PostKind, PostStep, ProcessStep, StepCall,
};
use crate::shell::which;

/// Why a `uses:` step cannot run: its reference, its metadata, or its inputs.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ActionError {
    #[error("'{uses}' names no image")]
    NoImage { uses: String },
    #[error("Expected format {{owner}}/{{repo}}[/path]@ref. Actual '{uses}'")]
    BadReference { uses: String },
    #[error("Can't find 'action.yml' or 'action.yaml' under '{}'. Did you forget to run actions/checkout before running your local action?", dir.display())]
    NoMetadata { dir: PathBuf },
    #[error("cannot read {}", file.display())]
    ReadMetadata {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}:{column}: {message}", file.display())]
    InvalidMetadata {
        file: PathBuf,
        line: u32,
        column: u32,
        message: String,
    },
    #[error("Unable to resolve action '{uses}' from the workflow's repository: {message}")]
    SelfRepository { uses: String, message: String },
    #[error("Unable to resolve action '{uses}'")]
    Fetch {
        uses: String,
        #[source]
        source: crate::fetch::FetchError,
    },
    #[error("Unable to resolve action '{uses}': no action cache is configured and it is not a built-in action")]
    NoCache { uses: String },
    #[error("error evaluating with '{name}'")]
    With {
        name: String,
        #[source]
        source: crate::eval::EvalError,
    },
    #[error("JavaScript actions need 'node' on PATH")]
    NoNode,
}

/// Where a `uses:` points.
pub(crate) enum Resolved {
    /// A `uses: docker://IMAGE` step.
    DockerImage(String),
    /// An `action.yml` found on disk.
    Metadata {
        dir: PathBuf,
        action: Box<Action>,
        info: ActionInfo,
    },
    /// A native built-in (`owner/repo[/path]`, lowercase).
    Builtin(String),
}

/// `owner/repo[/path]@ref` split up.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct RemoteRef {
    pub owner: String,
    pub repo: String,
    pub path: String,
    pub git_ref: String,
}

pub(crate) fn parse_remote(uses: &str) -> Option<RemoteRef> {
    let (name, git_ref) = uses.split_once('@')?;
    let mut parts = name.splitn(3, '/');
    let owner = parts.next()?.to_owned();
    let repo = parts.next()?.to_owned();
    let path = parts.next().unwrap_or("").trim_end_matches('/').to_owned();
    if owner.is_empty() || repo.is_empty() || git_ref.is_empty() {
        return None;
    }
    Some(RemoteRef {
        owner,
        repo,
        path,
        git_ref: git_ref.to_owned(),
    })
}

/// The action file of the action in `dir`: `action.yml`, else `action.yaml`.
fn metadata_file(dir: &Path) -> Option<PathBuf> {
    ["action.yml", "action.yaml"]
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.is_file())
}

fn load_metadata(dir: &Path) -> Result<Box<Action>, ActionError> {
    let file = metadata_file(dir).ok_or_else(|| ActionError::NoMetadata {
        dir: dir.to_owned(),
    })?;
    let bytes = std::fs::read(&file).map_err(|source| ActionError::ReadMetadata {
        file: file.clone(),
        source,
    })?;
    let (action, diagnostics) = gantry_workflow::load_action(&bytes);
    if let Some(d) = diagnostics
        .iter()
        .find(|d| d.severity == gantry_workflow::Severity::Error)
    {
        return Err(ActionError::InvalidMetadata {
            file,
            line: d.span.start.line,
            column: d.span.start.col,
            message: d.message.clone(),
        });
    }
    Ok(Box::new(action))
}

/// `INPUT_<NAME>` as the runner spells it.
pub(crate) fn input_env_name(name: &str) -> String {
    format!("INPUT_{}", name.replace(' ', "_").to_ascii_uppercase())
}

/// A JavaScript action's entry points: `runs.main` (and `post`, with its condition) in `dir`.
pub(crate) struct NodeEntry<'a> {
    pub dir: &'a Path,
    pub main: &'a str,
    pub post: Option<String>,
    pub post_if: String,
}

impl Job {
    pub(crate) async fn resolve(
        &self,
        uses: &str,
        log: Option<usize>,
    ) -> Result<Resolved, ActionError> {
        let uses = uses.trim();
        if let Some(image) = uses.strip_prefix("docker://") {
            if image.trim().is_empty() {
                return Err(ActionError::NoImage {
                    uses: uses.to_owned(),
                });
            }
            return Ok(Resolved::DockerImage(image.trim().to_owned()));
        }
        if let Ok(self_ref @ gantry_workflow::UsesRef::SelfRepo { .. }) =
            gantry_workflow::UsesRef::parse(uses)
        {
            let rel = self_ref.repo_path().unwrap_or_default();
            let dir = self.self_repository_dir(uses, &rel).await?;
            let action = load_metadata(&dir)?;
            return Ok(Resolved::Metadata {
                info: ActionInfo {
                    path: dir.clone(),
                    repository: String::new(),
                    git_ref: String::new(),
                },
                dir,
                action,
            });
        }
        if uses.starts_with("./") || uses == "." || uses.starts_with("../") {
            let dir = self.dirs.workspace.join(uses);
            let action = load_metadata(&dir)?;
            return Ok(Resolved::Metadata {
                info: ActionInfo {
                    path: dir.clone(),
                    repository: String::new(),
                    git_ref: String::new(),
                },
                dir,
                action,
            });
        }
        let remote = parse_remote(uses).ok_or_else(|| ActionError::BadReference {
            uses: uses.to_owned(),
        })?;
        if let Some(cache) = &self.options.action_cache {
            let root = cache
                .join(&remote.owner)
                .join(&remote.repo)
                .join(&remote.git_ref);
            // A commit's tree is where the fetcher keeps it too: it says which commit it used.
            let fetched_layout =
                self.fetcher.is_some() && crate::fetch::is_full_sha(&remote.git_ref);
            if root.is_dir() && !fetched_layout {
                let dir = if remote.path.is_empty() {
                    root
                } else {
                    root.join(&remote.path)
                };
                let action = load_metadata(&dir)?;
                return Ok(Resolved::Metadata {
                    info: ActionInfo {
                        path: dir.clone(),
                        repository: format!("{}/{}", remote.owner, remote.repo),
                        git_ref: remote.git_ref.clone(),
                    },
                    dir,
                    action,
                });
            }
        }
        let name = if remote.path.is_empty() {
            format!("{}/{}", remote.owner, remote.repo)
        } else {
            format!("{}/{}/{}", remote.owner, remote.repo, remote.path)
        }
        .to_ascii_lowercase();
        if crate::builtin::is_builtin(&name) {
            return Ok(Resolved::Builtin(name));
        }
        let Some(fetcher) = &self.fetcher else {
            return Err(ActionError::NoCache {
                uses: uses.to_owned(),
            });
        };
        let fetched = fetcher
            .fetch(&remote.owner, &remote.repo, &remote.git_ref)
            .await
            .map_err(|source| ActionError::Fetch {
                uses: uses.to_owned(),
                source,
            })?;
        self.log(
            log,
            &format!(
                "Download action repository '{}/{}@{}' (SHA:{})",
                remote.owner, remote.repo, remote.git_ref, fetched.sha
            ),
        );
        let dir = if remote.path.is_empty() {
            fetched.root
        } else {
            fetched.root.join(&remote.path)
        };
        let action = load_metadata(&dir)?;
        Ok(Resolved::Metadata {
            info: ActionInfo {
                path: dir.clone(),
                repository: format!("{}/{}", remote.owner, remote.repo),
                git_ref: remote.git_ref.clone(),
            },
            dir,
            action,
        })
    }

    /// The directory `rel` of the workflow's own repository at the running commit (`uses: $/…`):
    /// read from git, not from the workspace, which the job may not have checked out or may have
    /// changed. Extracted once per job into its temp dir. A source that is not a git repository
    /// (or a run without a commit) is read as it is.
    async fn self_repository_dir(&self, uses: &str, rel: &str) -> Result<PathBuf, ActionError> {
        let source = Path::new(&self.source_path);
        let (Some(sha), true) = (self.sha.as_deref(), source.join(".git").exists()) else {
            return Ok(source.join(rel));
        };
        let root = self
            .dirs
            .temp
            .join("_self")
            .join(crate::workspace::sanitize(sha));
        let dir = root.join(rel);
        if dir.is_dir() {
            return Ok(dir);
        }
        let failed = |message: String| ActionError::SelfRepository {
            uses: uses.to_owned(),
            message,
        };
        std::fs::create_dir_all(&root).map_err(|e| failed(e.to_string()))?;
        let archive = root.with_extension("tar");
        let archive_text = archive.to_string_lossy().into_owned();
        let mut args = vec!["archive", "--format=tar", "-o", &archive_text, sha];
        if !rel.is_empty() {
            args.extend(["--", rel]);
        }
        crate::workspace::git(Some(source), &args)
            .await
            .map_err(|e| failed(crate::job::error_chain(&e)))?;
        let extracted = tokio::process::Command::new("tar")
            .arg("-xf")
            .arg(&archive)
            .arg("-C")
            .arg(&root)
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .map_err(|e| failed(format!("cannot run tar: {e}")))?;
        let _ = std::fs::remove_file(&archive);
        if !extracted.status.success() {
            return Err(failed(
                String::from_utf8_lossy(&extracted.stderr).trim().to_owned(),
            ));
        }
        Ok(dir)
    }

    /// Evaluates `with:` in order.
    fn eval_with(
        &self,
        frame: &Frame,
        step_env: &IndexMap<String, String>,
        with: &[(String, String)],
    ) -> Result<IndexMap<String, String>, ActionError> {
        let scope = self.scope(frame, step_env);
        let host = self.status_host(frame);
        let mut out = IndexMap::new();
        for (k, raw) in with {
            let v = eval_string(raw, &scope, &host).map_err(|source| ActionError::With {
                name: k.clone(),
                source,
            })?;
            out.insert(k.clone(), v);
        }
        Ok(out)
    }

    /// Adds action.yml defaults for inputs not given; warns about unexpected ones.
    fn complete_inputs(
        &self,
        frame: &Frame,
        step_env: &IndexMap<String, String>,
        action: &Action,
        given: IndexMap<String, String>,
        log: Option<usize>,
    ) -> IndexMap<String, String> {
        let unexpected: Vec<&String> = given
            .keys()
            .filter(|k| !action.inputs.keys().any(|n| n.eq_ignore_ascii_case(k)))
            .collect();
        if !unexpected.is_empty() && !action.inputs.is_empty() {
            let valid: Vec<String> = action.inputs.keys().map(|k| format!("'{k}'")).collect();
            let list: Vec<String> = unexpected.iter().map(|k| format!("'{k}'")).collect();
            self.warning(
                log,
                &format!(
                    "Unexpected input(s) {}, valid inputs are [{}]",
                    list.join(", "),
                    valid.join(", ")
                ),
            );
        }
        let mut inputs = given;
        let scope = self.scope(frame, step_env);
        let host = self.status_host(frame);
        for (name, input) in &action.inputs {
            if inputs.keys().any(|k| k.eq_ignore_ascii_case(name)) {
                continue;
            }
            if let Some(default) = &input.default {
                let value = eval_string(&default.raw, &scope, &host).unwrap_or_default();
                inputs.insert(name.clone(), value);
            }
        }
        inputs
    }

    pub(crate) async fn run_uses(
        &mut self,
        frame: &mut Frame,
        call: StepCall<'_>,
        uses: &str,
        with: &[(String, String)],
    ) -> ActionResult {
        let StepCall {
            step,
            log,
            env: step_env,
            ..
        } = call;
        let given = match self.eval_with(frame, step_env, with) {
            Ok(w) => w,
            Err(e) => {
                self.error(log, &error_chain(&e));
                return ActionResult::failure();
            }
        };
        let resolved = match self.resolve(uses, log).await {
            Ok(r) => r,
            Err(e) => {
                self.error(log, &error_chain(&e));
                return ActionResult::failure();
            }
        };
        self.log(log, &format!("##[group]Run {uses}"));
        if !given.is_empty() {
            self.log(log, "with:");
            for (k, v) in &given {
                self.log(log, &format!("  {k}: {v}"));
            }
        }
        let shown_env: Vec<(String, String)> = self
            .env
            .iter()
            .chain(&frame.env)
            .chain(step_env)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !shown_env.is_empty() {
            self.log(log, "env:");
            for (k, v) in shown_env {
                self.log(log, &format!("  {k}: {v}"));
            }
        }
        self.log(log, "##[endgroup]");
        match resolved {
            Resolved::Builtin(builtin) => {
                crate::builtin::run(self, frame, step, log, &builtin, given, step_env).await
            }
            Resolved::DockerImage(image) => {
                let entrypoint = given.get("entrypoint").cloned().filter(|e| !e.is_empty());
                let args = match given.get("args") {
                    Some(args) => match gantry_docker::split_words(args) {
                        Ok(words) => words,
                        Err(e) => {
                            self.error(log, &format!("with.args: {e}"));
                            return ActionResult::failure();
                        }
                    },
                    None => Vec::new(),
                };
                let run = crate::docker_action::DockerRun {
                    source: crate::docker_action::ImageSource::Image(image),
                    entrypoint,
                    args,
                    env: Vec::new(),
                };
                self.run_docker_action(frame, call, run, given).await
            }
            Resolved::Metadata { dir, action, info } => {
                let inputs = self.complete_inputs(frame, step_env, &action, given, log);
                let kind = action.runs.as_ref().map(|r| &r.kind);
                match kind {
                    Some(RunsKind::Composite(composite)) => {
                        let file = metadata_file(&dir).unwrap_or_else(|| dir.join("action.yml"));
                        let items = composite.steps.as_ref().map_or(&[][..], |s| &s.items);
                        let steps = match lower_action_steps(&file.display().to_string(), items) {
                            Ok(steps) => steps,
                            Err(e) => {
                                self.error(log, &e.to_string());
                                return ActionResult::failure();
                            }
                        };
                        self.run_composite(frame, call, &action, steps, inputs, info)
                            .await
                    }
                    Some(RunsKind::Node(node)) => {
                        let Some(main) = node.main.as_ref().map(|m| m.raw.clone()) else {
                            self.error(log, &format!("The action '{uses}' has no 'runs.main'"));
                            return ActionResult::failure();
                        };
                        let post = node.post.as_ref().map(|p| p.raw.clone());
                        let post_if = node
                            .post_if
                            .as_ref()
                            .map(|c| c.text.raw.clone())
                            .unwrap_or_else(|| "always()".to_owned());
                        let entry = NodeEntry {
                            dir: &dir,
                            main: &main,
                            post,
                            post_if,
                        };
                        self.run_node(frame, call, entry, inputs, info).await
                    }
                    Some(RunsKind::Docker(docker)) => {
                        let run = match self.docker_run(frame, step_env, &dir, docker, &inputs) {
                            Ok(run) => run,
                            Err(e) => {
                                self.error(
                                    log,
                                    &format!("The action '{uses}': {}", error_chain(&e)),
                                );
                                return ActionResult::failure();
                            }
                        };
                        self.run_docker_action(frame, call, run, inputs).await
                    }
                    Some(RunsKind::Unknown) | None => {
                        let using = action
                            .runs
                            .as_ref()
                            .and_then(|r| r.using.as_ref())
                            .map(|u| u.value.clone())
                            .unwrap_or_default();
                        self.error(
                            log,
                            &format!("The action '{uses}' uses an unsupported runtime '{using}'"),
                        );
                        ActionResult::failure()
                    }
                }
            }
        }
    }

    async fn run_composite(
        &mut self,
        frame: &mut Frame,
        call: StepCall<'_>,
        action: &Action,
        steps: Vec<StepSpec>,
        inputs: IndexMap<String, String>,
        info: ActionInfo,
    ) -> ActionResult {
        let StepCall {
            log,
            env: step_env,
            timeout,
            ..
        } = call;
        let own_deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        let deadline = match (frame.deadline, own_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let inputs_value: Map = inputs
            .iter()
            .map(|(k, v)| (k.as_str(), Value::from(v.as_str())))
            .collect();
        let mut github = match self.base.get("github") {
            Some(Value::Object(m)) => (**m).clone(),
            _ => Map::new(),
        };
        github.insert("action_path", Value::from(info.path.display().to_string()));
        github.insert("action_repository", Value::from(info.repository.as_str()));
        github.insert("action_ref", Value::from(info.git_ref.as_str()));
        let mut env = frame.env.clone();
        for (k, v) in step_env {
            env.insert(k.clone(), v.clone());
        }
        let mut nested = Frame {
            steps: Map::new(),
            failed: false,
            inputs: Some(Value::from(inputs_value)),
            github: Some(Value::from(github)),
            env,
            top_level: false,
            action: Some(info),
            log_step: log,
            deadline,
        };
        let mut cancelled = false;
        for step in &steps {
            let record = self.run_step(&mut nested, step, None).await;
            if record.outcome == Conclusion::Cancelled {
                cancelled = true;
            }
            nested.record(&step.generated_id, &record);
        }
        let mut outputs = IndexMap::new();
        {
            let scope = self.scope(&nested, &IndexMap::new());
            let host = self.status_host(&nested);
            for (name, output) in &action.outputs {
                let raw = output.value.as_ref().map(|v| v.raw.as_str()).unwrap_or("");
                match eval_string(raw, &scope, &host) {
                    Ok(v) => {
                        outputs.insert(name.clone(), v);
                    }
                    Err(e) => {
                        self.error(log, &format!("error evaluating output '{name}': {e}"));
                    }
                }
            }
        }
        let outcome = if nested.failed {
            Conclusion::Failure
        } else if cancelled {
            Conclusion::Cancelled
        } else {
            Conclusion::Success
        };
        ActionResult { outcome, outputs }
    }

    pub(crate) fn node_program(&self) -> Result<PathBuf, ActionError> {
        if let Some(node) = &self.options.node {
            return Ok(node.clone());
        }
        let path: String = self.base_path.clone();
        which("node", std::ffi::OsStr::new(&path)).ok_or(ActionError::NoNode)
    }

    fn node_env(
        inputs: &IndexMap<String, String>,
        info: &ActionInfo,
        state: &[(String, String)],
    ) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = inputs
            .iter()
            .map(|(k, v)| (input_env_name(k), v.clone()))
            .collect();
        for (k, v) in state {
            env.push((format!("STATE_{k}"), v.clone()));
        }
        env.push(("GITHUB_ACTION_PATH".into(), info.path.display().to_string()));
        env.push(("GITHUB_ACTION_REPOSITORY".into(), info.repository.clone()));
        env.push(("GITHUB_ACTION_REF".into(), info.git_ref.clone()));
        env
    }

    async fn run_node(
        &mut self,
        frame: &mut Frame,
        call: StepCall<'_>,
        entry: NodeEntry<'_>,
        inputs: IndexMap<String, String>,
        info: ActionInfo,
    ) -> ActionResult {
        let StepCall {
            step,
            log,
            name,
            env: step_env,
            timeout,
            timeout_minutes,
        } = call;
        let NodeEntry {
            dir,
            main,
            post,
            post_if,
        } = entry;
        let node = match self.node_program() {
            Ok(n) => n,
            Err(e) => {
                self.error(log, &e.to_string());
                return ActionResult::failure();
            }
        };
        let mut state: Vec<(String, String)> = self
            .pre_state
            .get(&step.generated_id)
            .cloned()
            .unwrap_or_default();
        let env = Job::node_env(&inputs, &info, &state);
        let process = ProcessStep {
            program: node.clone(),
            args: vec![dir.join(main).display().to_string()],
            cwd: self.dirs.workspace.clone(),
            env,
            timeout,
            display_name: name.to_owned(),
            timeout_minutes,
            docker: None,
        };
        let mut saved = Vec::new();
        let result = self
            .run_process_step(frame, step, log, process, step_env, Some(&mut saved))
            .await;
        state.extend(saved);
        if let Some(post) = post {
            let mut env = Job::node_env(&inputs, &info, &state);
            env.extend(step_env.iter().map(|(k, v)| (k.clone(), v.clone())));
            self.posts.push(PostStep {
                name: format!("Post {name}"),
                condition: post_if,
                kind: PostKind::Node {
                    script: dir.join(post),
                    env,
                    state,
                    action: info,
                    step_id: step.generated_id.clone(),
                },
            });
        }
        result
    }

    /// `pre` of the job's JavaScript actions, in step order, before the first step.
    pub(crate) async fn run_pre_steps(&mut self, top: &mut Frame, spec: &JobSpec) {
        for step in &spec.steps {
            let StepAction::Uses { uses, with } = &step.action else {
                continue;
            };
            let Ok(Resolved::Metadata { dir, action, info }) = self.resolve(uses, None).await
            else {
                continue;
            };
            let Some(RunsKind::Node(node)) = action.runs.as_ref().map(|r| &r.kind) else {
                continue;
            };
            let Some(pre) = node.pre.as_ref().map(|p| p.raw.clone()) else {
                continue;
            };
            let pre_if = node
                .pre_if
                .as_ref()
                .map(|c| c.text.raw.clone())
                .unwrap_or_else(|| "always()".to_owned());
            let run = {
                let scope = self.scope(top, &IndexMap::new());
                let host = self.status_host(top);
                eval_condition(&pre_if, &scope, &host).unwrap_or(false)
            };
            if !run {
                continue;
            }
            let Ok(given) = self.eval_with(top, &IndexMap::new(), with) else {
                continue;
            };
            let inputs = self.complete_inputs(top, &IndexMap::new(), &action, given, None);
            let node_program = match self.node_program() {
                Ok(n) => n,
                Err(e) => {
                    self.error(None, &e.to_string());
                    self.failed = true;
                    continue;
                }
            };
            self.log(None, &format!("##[group]Pre Run {uses}"));
            self.log(None, "##[endgroup]");
            let env = Job::node_env(&inputs, &info, &[]);
            let process = ProcessStep {
                program: node_program,
                args: vec![dir.join(&pre).display().to_string()],
                cwd: self.dirs.workspace.clone(),
                env,
                timeout: None,
                display_name: format!("Pre Run {uses}"),
                timeout_minutes: None,
                docker: None,
            };
            let mut saved = Vec::new();
            let result = self
                .run_process_step(top, step, None, process, &IndexMap::new(), Some(&mut saved))
                .await;
            self.pre_state.insert(step.generated_id.clone(), saved);
            if result.outcome == Conclusion::Failure {
                self.failed = true;
            }
        }
    }

    /// Post steps in reverse order of registration.
    pub(crate) async fn run_post_steps(&mut self, top: &Frame) {
        while let Some(post) = self.posts.pop() {
            if !self.cancelled && self.cancel.is_cancelled() {
                self.cancelled = true;
            }
            let run = {
                let scope = self.scope(top, &IndexMap::new());
                let host = self.status_host(top);
                eval_condition(&post.condition, &scope, &host)
            };
            match run {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    self.error(None, &format!("error evaluating post condition: {e}"));
                    self.failed = true;
                    continue;
                }
            }
            let _ = self.events.send(JobEvent::Log {
                step: None,
                line: self.masker.mask(&format!("##[group]{}", post.name)),
            });
            self.log(None, "##[endgroup]");
            let outcome = match post.kind {
                PostKind::Node {
                    script,
                    env,
                    state,
                    action,
                    step_id,
                } => {
                    let node = match self.node_program() {
                        Ok(n) => n,
                        Err(e) => {
                            self.error(None, &e.to_string());
                            self.failed = true;
                            continue;
                        }
                    };
                    let mut env = env;
                    for (k, v) in &state {
                        env.push((format!("STATE_{k}"), v.clone()));
                    }
                    let mut frame = Frame::top();
                    frame.action = Some(action);
                    frame.steps = top.steps.clone();
                    let cancel_timeout = self.cancelled.then_some(self.options.cancel_timeout);
                    let process = ProcessStep {
                        program: node,
                        args: vec![script.display().to_string()],
                        cwd: self.dirs.workspace.clone(),
                        env,
                        timeout: cancel_timeout,
                        display_name: post.name.clone(),
                        timeout_minutes: None,
                        docker: None,
                    };
                    self.run_process_with_id(
                        &mut frame,
                        &step_id,
                        None,
                        process,
                        &IndexMap::new(),
                        None,
                    )
                    .await
                    .outcome
                }
                PostKind::CacheSave(request) => crate::builtin::cache::save(self, &request),
            };
            if outcome == Conclusion::Failure {
                self.failed = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_refs() {
        let r = |o: &str, r: &str, p: &str, g: &str| {
            Some(RemoteRef {
                owner: o.into(),
                repo: r.into(),
                path: p.into(),
                git_ref: g.into(),
            })
        };
        assert_eq!(
            parse_remote("actions/checkout@v4"),
            r("actions", "checkout", "", "v4")
        );
        assert_eq!(
            parse_remote("actions/cache/restore@v4"),
            r("actions", "cache", "restore", "v4")
        );
        assert_eq!(parse_remote("o/r/a/b@main"), r("o", "r", "a/b", "main"));
        assert_eq!(parse_remote("actions/checkout"), None);
        assert_eq!(parse_remote("checkout@v4"), None);
        assert_eq!(parse_remote("o/r@"), None);
    }

    #[test]
    fn action_error_texts() {
        let check = |error: ActionError, expected: &str| {
            assert_eq!(crate::job::error_chain(&error), expected);
        };
        check(
            ActionError::BadReference {
                uses: "octo".into(),
            },
            "Expected format {owner}/{repo}[/path]@ref. Actual 'octo'",
        );
        check(
            ActionError::NoMetadata {
                dir: "/w/acts/a".into(),
            },
            "Can't find 'action.yml' or 'action.yaml' under '/w/acts/a'. Did you forget to run actions/checkout before running your local action?",
        );
        check(
            ActionError::InvalidMetadata {
                file: "/w/acts/a/action.yml".into(),
                line: 3,
                column: 5,
                message: "unexpected key".into(),
            },
            "/w/acts/a/action.yml:3:5: unexpected key",
        );
        check(
            ActionError::With {
                name: "who".into(),
                source: crate::eval::EvalError::MinutesNotPositive { minutes: -1.0 },
            },
            "error evaluating with 'who': timeout-minutes must be a positive number, got -1",
        );
        check(
            ActionError::NoCache {
                uses: "octo/x@v1".into(),
            },
            "Unable to resolve action 'octo/x@v1': no action cache is configured and it is not a built-in action",
        );
    }

    #[test]
    fn input_names() {
        assert_eq!(input_env_name("fetch-depth"), "INPUT_FETCH-DEPTH");
        assert_eq!(input_env_name("my input"), "INPUT_MY_INPUT");
    }
}
