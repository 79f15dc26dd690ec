//! Docker actions: `runs.using: docker` (an image, or a Dockerfile built locally through the
//! Engine API) and `uses: docker://IMAGE` steps. Each runs in a container of its own, to its end,
//! with GitHub's mounts: the workspace at `/github/workspace`, the file command files under
//! `/github/file_commands`, `/github/home` and `/github/workflow`; `INPUT_*`, the job's env and the
//! `GITHUB_*` variables (their paths as the container sees them); `runs.args` and `runs.env`
//! evaluated with the action's `inputs`; the job's network when it has services.
//!
//! Invariant: an image built from a Dockerfile is tagged `gantry-action/<name>:<content hash>`, so
//! an unchanged action is built once; the action's container is removed however the step ends
//! (`Engine::run_to_end`). Output, masking, outputs and env from the file commands go through the
//! same path as any process step (`Job::run_process_with_id`).
//! Tests: `tests/docker.rs` (`docker_action_*`).

use std::path::{Path, PathBuf};

use gantry_docker::{labels, ContainerSpec, Engine};
use gantry_expr::{Map, Value};
use gantry_workflow::model::DockerRuns;
use indexmap::IndexMap;
use tokio_util::sync::CancellationToken;

use crate::container::PathMap;
use crate::job::{ActionResult, Frame, Job, ProcessStep, StepCall};
use crate::output::OutputSink;
use crate::process::{ProcessEnd, ProcessSpec, RunLimits};

/// Where the action's image comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ImageSource {
    /// A ready image (`docker://IMAGE`).
    Image(String),
    /// A Dockerfile, relative to the action's directory, which is the build context.
    Dockerfile {
        context: PathBuf,
        dockerfile: String,
    },
}

/// One Docker action run, evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DockerRun {
    pub source: ImageSource,
    pub entrypoint: Option<String>,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
}

/// Why a Docker action's `runs:` cannot be turned into a container to run.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DockerRunError {
    #[error("runs.image is missing")]
    NoImage,
    #[error("{field}")]
    Field {
        field: String,
        #[source]
        source: crate::eval::EvalError,
    },
}

impl Job {
    /// Evaluates an action's `runs:` for Docker, with its `inputs` in scope.
    pub(crate) fn docker_run(
        &self,
        frame: &Frame,
        step_env: &IndexMap<String, String>,
        dir: &Path,
        runs: &DockerRuns,
        inputs: &IndexMap<String, String>,
    ) -> Result<DockerRun, DockerRunError> {
        let mut scope_frame = Frame::top();
        scope_frame.env = frame.env.clone();
        let values: Map = inputs
            .iter()
            .map(|(k, v)| (k.as_str(), Value::from(v.as_str())))
            .collect();
        scope_frame.inputs = Some(Value::from(values));
        let scope = self.scope(&scope_frame, step_env);
        let host = self.status_host(&scope_frame);
        let eval = |raw: &str| crate::eval::eval_string(raw, &scope, &host);
        let image = runs
            .image
            .as_ref()
            .map(|i| i.raw.trim().to_owned())
            .filter(|i| !i.is_empty())
            .ok_or(DockerRunError::NoImage)?;
        let source = match image.strip_prefix("docker://") {
            Some(image) => ImageSource::Image(image.to_owned()),
            None => ImageSource::Dockerfile {
                context: dir.to_owned(),
                dockerfile: image,
            },
        };
        let entrypoint = match &runs.entrypoint {
            Some(e) => Some(eval(&e.raw).map_err(|source| DockerRunError::Field {
                field: "runs.entrypoint".to_owned(),
                source,
            })?),
            None => None,
        };
        let mut args = Vec::new();
        if let Some(list) = &runs.args {
            for arg in &list.value {
                args.push(eval(&arg.raw).map_err(|source| DockerRunError::Field {
                    field: "runs.args".to_owned(),
                    source,
                })?);
            }
        }
        let mut env = Vec::new();
        if let Some(vars) = &runs.env {
            for (name, value) in &vars.entries {
                let value = eval(&value.value.raw).map_err(|source| DockerRunError::Field {
                    field: format!("runs.env.{name}"),
                    source,
                })?;
                env.push((name.clone(), value));
            }
        }
        Ok(DockerRun {
            source,
            entrypoint: entrypoint.filter(|e| !e.is_empty()),
            args,
            env,
        })
    }

    /// Makes the image ready (pulls or uses the local copy, or builds the Dockerfile once per
    /// content hash); returns its reference.
    async fn docker_action_image(
        &self,
        engine: &Engine,
        source: &ImageSource,
        log: Option<usize>,
    ) -> Result<String, String> {
        match source {
            ImageSource::Image(image) => {
                self.ensure_image(engine, image, None, log).await?;
                Ok(image.clone())
            }
            ImageSource::Dockerfile {
                context,
                dockerfile,
            } => {
                let hash = gantry_docker::context_hash(context, Some(dockerfile), &[])
                    .map_err(|e| format!("cannot read the action's build context: {e}"))?;
                let name = self.action_image_name(context);
                let short = hash.get(..16).unwrap_or(&hash);
                let tag = format!("gantry-action/{name}:{short}");
                if engine
                    .image_exists(&tag)
                    .await
                    .map_err(|e| crate::job::error_chain(&e))?
                {
                    self.log(log, &format!("Using image {tag} built earlier"));
                    return Ok(tag);
                }
                self.log(log, &format!("##[group]Building {tag} from {dockerfile}"));
                let mut fragments = Vec::new();
                let built = engine
                    .build_image(context, Some(dockerfile), &tag, &[], &mut |fragment| {
                        fragments.push(fragment)
                    })
                    .await;
                let mut pieces = crate::output::LinePieces::default();
                let emit = self.emitter(log);
                for fragment in fragments {
                    pieces.log(&emit, &self.masker, fragment);
                }
                if let Some(text) = pieces.finish(&self.masker) {
                    emit.log_masked(text);
                }
                self.log(log, "##[endgroup]");
                built.map_err(|e| crate::job::error_chain(&e))?;
                Ok(tag)
            }
        }
    }

    /// The repository part of a built action's image name: `owner-repo[-path]` for an action from
    /// the action cache (`owner/repo/ref[/path]`), else the action directory's name.
    fn action_image_name(&self, context: &Path) -> String {
        let cached = self
            .options
            .action_cache
            .as_ref()
            .and_then(|cache| context.strip_prefix(cache).ok())
            .and_then(|rel| {
                let parts: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                // owner/repo/ref[/path]: all but the ref.
                let (head, rest) = (parts.get(..2)?, parts.get(3..)?);
                Some(
                    head.iter()
                        .chain(rest)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join("-"),
                )
            });
        let name = cached
            .or_else(|| {
                context
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
            })
            .unwrap_or_else(|| "action".to_owned());
        labels::sanitize(&name).to_ascii_lowercase()
    }

    /// Runs a Docker action step; `inputs` become `INPUT_*`.
    pub(crate) async fn run_docker_action(
        &mut self,
        frame: &mut Frame,
        call: StepCall<'_>,
        mut run: DockerRun,
        inputs: IndexMap<String, String>,
    ) -> ActionResult {
        let StepCall {
            step,
            log,
            name,
            env: step_env,
            timeout,
            timeout_minutes,
        } = call;
        let engine = match self.engine().await {
            Ok(engine) => engine,
            Err(e) => {
                self.error(log, &e);
                return ActionResult::failure();
            }
        };
        let image = match self.docker_action_image(&engine, &run.source, log).await {
            Ok(image) => image,
            Err(e) => {
                self.error(log, &e);
                return ActionResult::failure();
            }
        };
        run.source = ImageSource::Image(image);
        let mut env: Vec<(String, String)> = inputs
            .iter()
            .map(|(k, v)| (crate::actions::input_env_name(k), v.clone()))
            .collect();
        env.append(&mut run.env);
        let process = ProcessStep {
            program: PathBuf::new(),
            args: Vec::new(),
            cwd: self.dirs.workspace.clone(),
            env,
            timeout,
            display_name: name.to_owned(),
            timeout_minutes,
            docker: Some(run),
        };
        self.run_process_step(frame, step, log, process, step_env, None)
            .await
    }

    /// The mounts of a Docker action's container.
    pub(crate) fn action_paths(&self) -> PathMap {
        PathMap::new(vec![
            (self.dirs.workspace.clone(), "/github/workspace".to_owned()),
            (
                self.dirs.file_commands.clone(),
                "/github/file_commands".to_owned(),
            ),
            (
                self.dirs.temp.join("_github_home"),
                "/github/home".to_owned(),
            ),
            (
                self.dirs.temp.join("_github_workflow"),
                "/github/workflow".to_owned(),
            ),
        ])
    }

    /// The container of a Docker action step (image ready, env complete, paths translated).
    pub(crate) fn action_container(
        &self,
        run: &DockerRun,
        spec: &ProcessSpec,
        paths: &PathMap,
    ) -> ContainerSpec {
        let image = match &run.source {
            ImageSource::Image(image) => image.clone(),
            ImageSource::Dockerfile { dockerfile, .. } => dockerfile.clone(),
        };
        // The machine's own variables stay outside; the image's PATH and HOME apply.
        let mut seen = std::collections::HashSet::new();
        let mut env: Vec<(String, String)> = spec
            .env
            .iter()
            .rev()
            .filter(|(k, v)| {
                k != "PATH"
                    && k != "HOME"
                    && !self.host_env.iter().any(|(hk, hv)| hk == k && hv == v)
            })
            .filter(|(k, _)| seen.insert(k.clone()))
            .map(|(k, v)| (k.clone(), paths.translate(v)))
            .collect();
        env.reverse();
        env.push(("HOME".to_owned(), "/github/home".to_owned()));
        env.push((
            "GITHUB_WORKSPACE".to_owned(),
            "/github/workspace".to_owned(),
        ));
        env.push((
            "GITHUB_EVENT_PATH".to_owned(),
            "/github/workflow/event.json".to_owned(),
        ));
        let mut binds = paths.binds(&[]);
        if Path::new("/var/run/docker.sock").exists() {
            binds.push("/var/run/docker.sock:/var/run/docker.sock".to_owned());
        }
        ContainerSpec {
            name: String::new(),
            image,
            run_id: self.run_id.clone(),
            job_key: Some(self.job_key.clone()),
            env,
            binds,
            network: self.docker.as_ref().and_then(|d| d.network.clone()),
            entrypoint: run.entrypoint.as_ref().map(|e| vec![e.clone()]),
            cmd: (!run.args.is_empty()).then(|| run.args.clone()),
            working_dir: Some("/github/workspace".to_owned()),
            ..ContainerSpec::default()
        }
    }
}

/// Runs the action's container to its end, its output through `sink`.
pub(crate) async fn run_action_container(
    engine: &Engine,
    container: &ContainerSpec,
    limits: RunLimits,
    cancel: &CancellationToken,
    sink: &mut OutputSink<'_>,
) -> Result<ProcessEnd, String> {
    let token = cancel.child_token();
    let mut on_line = crate::container::line_handler(sink);
    let run = engine.run_to_end(container, &mut on_line, &token, limits.kill_grace);
    crate::container::bounded(run, &token, limits.timeout, || {
        format!("the container of image {}", container.image)
    })
    .await
}
