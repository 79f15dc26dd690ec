//! Docker for one job: the job container (`container:`, or a `runs-on` label mapped to an image)
//! and the service containers (`services:`), all on a network of the job's own, through
//! `gantry-docker` (the Engine API, never the docker CLI).
//!
//! Paths inside a job container are GitHub's: the job directory's workspace is mounted at
//! `/__w/<repo>/<repo>`, its temp dir at `/__w/_temp`, `_temp/_github_home` at `/github/home`,
//! `_temp/_github_workflow` at `/github/workflow`, the action cache at `/__w/_actions`, the tool
//! cache at `/__t`, the host's `node` at `/__e/node/bin/node`. A [`PathMap`] turns the host paths the
//! rest of the executor works with into these when a step is handed to the container.
//!
//! Invariants: every container and network is labelled (see `gantry_docker::labels`) and recorded
//! in [`DockerJob`] the moment it exists, so `Job::stop_docker` removes all of it on every path
//! (success, failure, timeout, cancellation); secrets never go into a container's configuration
//! (the job's env reaches steps per exec); files the container wrote into the workspace are given
//! back to the host user before the job directory is removed.
//! Tests: `tests/docker.rs` (real engine; skipped with a reason outside CI when none answers).

use std::path::{Path, PathBuf};
use std::time::Duration;

use gantry_docker::{
    labels, parse_options, ContainerSpec, Engine, ExecSpec, ImageSource, OutputLine, PortSpec,
    RegistryAuth, Session,
};
use gantry_expr::{Map, Value};
use serde_json::Value as Json;
use tokio_util::sync::CancellationToken;

use crate::eval::EvalError;
use crate::host_ports::{self, PortClaims};
use crate::job::error_chain;
use crate::job::Job;
use crate::output::OutputSink;
use crate::process::{Fragment, ProcessEnd, ProcessSpec, RunLimits};

/// Where a job's steps run, as configured for a `runs-on` label (`-P label=...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Platform {
    /// Processes on this machine.
    Host,
    /// A job container of this image.
    Docker(String),
}

impl Platform {
    /// Parses `host`, `self-hosted`, `docker://IMAGE` or a bare image name.
    pub fn parse(text: &str) -> Result<Platform, String> {
        let text = text.trim();
        match text {
            "" => Err("empty platform: expected 'host' or 'docker://IMAGE'".to_owned()),
            "host" | "-self-hosted" | "self-hosted" => Ok(Platform::Host),
            _ => {
                let image = text.strip_prefix("docker://").unwrap_or(text);
                if image.is_empty() || image.contains(char::is_whitespace) {
                    Err(format!(
                        "invalid platform '{text}': expected 'host' or 'docker://IMAGE'"
                    ))
                } else {
                    Ok(Platform::Docker(image.to_owned()))
                }
            }
        }
    }
}

/// Root of the job directory inside a job container.
pub(crate) const CONTAINER_WORK: &str = "/__w";
/// Where the host's `node` is mounted in a job container.
pub(crate) const CONTAINER_NODE: &str = "/__e/node/bin/node";

/// A `container:` or `services.<key>:` value with its templates evaluated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ContainerDef {
    pub image: String,
    pub env: Vec<(String, String)>,
    pub ports: Vec<String>,
    pub volumes: Vec<String>,
    pub options: String,
    pub entrypoint: Option<String>,
    pub command: Option<String>,
    /// `credentials:` (username and password), sent with the image pull.
    pub credentials: Option<RegistryAuth>,
}

/// A field of a `container:` or `services.<id>:` whose template failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum DefError {
    #[error(transparent)]
    Value(#[from] EvalError),
    #[error("credentials.{field}")]
    Credentials {
        field: &'static str,
        #[source]
        source: EvalError,
    },
    #[error("env '{name}'")]
    Env {
        name: String,
        #[source]
        source: EvalError,
    },
}

/// Evaluates a `container:` or `services.<id>:` spec; `None` when the image comes out empty,
/// which on GitHub means the job runs on the runner itself.
pub(crate) fn evaluate_def(
    spec: &gantry_plan::ContainerSpec,
    eval: &mut dyn FnMut(&str) -> Result<String, EvalError>,
) -> Result<Option<ContainerDef>, DefError> {
    let mut def = ContainerDef {
        image: eval(&spec.image)?.trim().to_owned(),
        ..ContainerDef::default()
    };
    if let Some(options) = &spec.options {
        def.options = eval(options)?;
    }
    if let Some(entrypoint) = &spec.entrypoint {
        def.entrypoint = Some(eval(entrypoint)?);
    }
    if let Some(command) = &spec.command {
        def.command = Some(eval(command)?);
    }
    if let Some(credentials) = &spec.credentials {
        let mut field = |name: &'static str, template: &Option<String>| match template {
            Some(template) => eval(template).map_err(|source| DefError::Credentials {
                field: name,
                source,
            }),
            None => Ok(String::new()),
        };
        let username = field("username", &credentials.username)?;
        let password = field("password", &credentials.password)?;
        // GitHub ignores credentials without a username.
        if !username.is_empty() {
            def.credentials = Some(RegistryAuth { username, password });
        }
    }
    for (name, template) in &spec.env {
        let value = eval(template).map_err(|source| DefError::Env {
            name: name.clone(),
            source,
        })?;
        def.env.push((name.clone(), value));
    }
    for port in &spec.ports {
        def.ports.push(eval(port)?);
    }
    for volume in &spec.volumes {
        def.volumes.push(eval(volume)?);
    }
    Ok((!def.image.is_empty()).then_some(def))
}

/// Host paths and where they appear in the job container; the longest host prefix wins.
#[derive(Debug, Clone, Default)]
pub(crate) struct PathMap {
    mounts: Vec<(PathBuf, String)>,
}

impl PathMap {
    pub fn new(mut mounts: Vec<(PathBuf, String)>) -> PathMap {
        mounts.sort_by_key(|(host, _)| std::cmp::Reverse(host.as_os_str().len()));
        PathMap { mounts }
    }

    /// The container path of `host`, when it lies under a mount.
    pub fn to_container(&self, host: &Path) -> Option<String> {
        self.mounts.iter().find_map(|(prefix, target)| {
            let rest = host.strip_prefix(prefix).ok()?;
            if rest.as_os_str().is_empty() {
                Some(target.clone())
            } else {
                Some(format!(
                    "{}/{}",
                    target.trim_end_matches('/'),
                    rest.display()
                ))
            }
        })
    }

    /// `text` with a leading host path under a mount replaced by its container path.
    pub fn translate(&self, text: &str) -> String {
        if !text.starts_with('/') {
            return text.to_owned();
        }
        self.to_container(Path::new(text))
            .unwrap_or_else(|| text.to_owned())
    }

    /// The `-v host:container[:ro]` binds of the mounts.
    pub fn binds(&self, read_only: &[PathBuf]) -> Vec<String> {
        self.mounts
            .iter()
            .map(|(host, target)| {
                let ro = if read_only.contains(host) { ":ro" } else { "" };
                format!("{}:{target}{ro}", host.display())
            })
            .collect()
    }
}

/// The job container once it runs.
#[derive(Debug, Clone)]
pub(crate) struct JobContainer {
    pub id: String,
    pub name: String,
    /// `bash` when the image has it, else `sh` (GitHub's default shell in a container).
    pub default_shell: &'static str,
    /// The image's `PATH`, under the job's `GITHUB_PATH` additions.
    pub path: String,
    pub paths: PathMap,
}

/// A running service container.
#[derive(Debug, Clone)]
pub(crate) struct ServiceContainer {
    pub key: String,
    pub id: String,
    pub name: String,
}

/// What the job created in the engine; everything here is removed when the job ends.
pub(crate) struct DockerJob {
    pub engine: Engine,
    pub network: Option<String>,
    pub services: Vec<ServiceContainer>,
    pub container: Option<JobContainer>,
    /// One shell in the job container that runs the steps (a step costs a fork, not an exec);
    /// steps fall back to execs when it is missing or broken.
    /// (In a mutex only so that the job stays `Sync`; it is reached through `get_mut`.)
    pub session: std::sync::Mutex<Option<Session>>,
    /// The fixed host ports this job publishes, held until its containers are removed.
    pub ports: Option<PortClaims>,
}

impl DockerJob {
    /// Takes the session out for one step (put back with [`DockerJob::put_session`]).
    pub fn take_session(&mut self) -> Option<Session> {
        self.session.get_mut().ok().and_then(Option::take)
    }

    pub fn put_session(&mut self, session: Session) {
        if let Ok(slot) = self.session.get_mut() {
            *slot = Some(session);
        }
    }
}

/// What a job asks of Docker, evaluated before anything is created.
#[derive(Debug, Clone, Default)]
pub(crate) struct DockerPlan {
    pub container: Option<ContainerDef>,
    pub services: Vec<(String, ContainerDef)>,
}

impl DockerPlan {
    pub fn is_empty(&self) -> bool {
        self.container.is_none() && self.services.is_empty()
    }
}

/// How long an image pull may take before the local copy (if any) is the only option.
const PULL_TIMEOUT: Duration = Duration::from_secs(120);
/// How long services may take to report healthy.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(600);

fn chain(error: &dyn std::error::Error) -> String {
    crate::job::error_chain(error)
}

/// The mounts of a job container (host path, container path), and which are read-only.
pub(crate) fn job_mounts(
    job: &Job,
    repo_name: &str,
    node: Option<PathBuf>,
) -> (Vec<(PathBuf, String)>, Vec<PathBuf>) {
    let mut mounts = vec![
        (
            job.dirs.workspace.clone(),
            format!("{CONTAINER_WORK}/{repo_name}/{repo_name}"),
        ),
        (job.dirs.temp.clone(), format!("{CONTAINER_WORK}/_temp")),
        (
            job.dirs.temp.join("_github_home"),
            "/github/home".to_owned(),
        ),
        (
            job.dirs.temp.join("_github_workflow"),
            "/github/workflow".to_owned(),
        ),
        (job.options.tool_cache.clone(), "/__t".to_owned()),
    ];
    let mut read_only = Vec::new();
    if let Some(cache) = &job.options.action_cache {
        if cache.is_dir() {
            mounts.push((cache.clone(), format!("{CONTAINER_WORK}/_actions")));
            read_only.push(cache.clone());
        }
    }
    if let Some(node) = node {
        mounts.push((node.clone(), CONTAINER_NODE.to_owned()));
        read_only.push(node);
    }
    (mounts, read_only)
}

impl Job {
    /// Evaluates `container:` (or the `runs-on` platform) and `services:` of `spec`.
    pub(crate) fn docker_plan(&self, spec: &gantry_plan::JobSpec) -> Result<DockerPlan, String> {
        let top = crate::job::Frame::top();
        let scope = self.scope(&top, &indexmap::IndexMap::new());
        let host = self.status_host(&top);
        let mut eval = |raw: &str| crate::eval::eval_string(raw, &scope, &host);
        let mut plan = DockerPlan::default();
        if let Some(container) = &spec.container {
            plan.container = evaluate_def(container, &mut eval)
                .map_err(|e| format!("container: {}", error_chain(&e)))?;
        }
        if spec.container.is_none() {
            let platform = spec.runs_on.iter().find_map(|label| {
                self.options
                    .platforms
                    .iter()
                    .find(|(l, _)| l.eq_ignore_ascii_case(label))
                    .map(|(_, p)| p.clone())
            });
            if let Some(Platform::Docker(image)) = platform {
                plan.container = Some(ContainerDef {
                    image,
                    ..ContainerDef::default()
                });
            }
        }
        for (key, service) in &spec.services {
            if let Some(def) = evaluate_def(service, &mut eval)
                .map_err(|e| format!("services.{key}: {}", error_chain(&e)))?
            {
                plan.services.push((key.clone(), def));
            }
        }
        Ok(plan)
    }

    /// Rewrites the paths in the `github` and `runner` contexts and the runtime variables to where
    /// the job container sees them (as GitHub does: `github.workspace` is `/__w/<repo>/<repo>`).
    /// How `host` appears to the job's steps: its path in the job container when the job has
    /// one and the path is mounted there, else the host path.
    pub(crate) fn shown_path(&self, host: &Path) -> String {
        self.docker
            .as_ref()
            .and_then(|d| d.container.as_ref())
            .and_then(|c| c.paths.to_container(host))
            .unwrap_or_else(|| host.display().to_string())
    }

    pub(crate) fn use_container_paths(&mut self) {
        let repo = self.repo_name.clone();
        let text = |s: String| Json::String(s);
        self.github_json.insert(
            "workspace".into(),
            text(format!("{CONTAINER_WORK}/{repo}/{repo}")),
        );
        self.github_json.insert(
            "event_path".into(),
            text("/github/workflow/event.json".to_owned()),
        );
        let mut runner = self
            .base
            .get("runner")
            .map(Value::to_json)
            .unwrap_or(Json::Null);
        if let Json::Object(map) = &mut runner {
            map.insert("temp".into(), text(format!("{CONTAINER_WORK}/_temp")));
            map.insert("workspace".into(), text(format!("{CONTAINER_WORK}/{repo}")));
            map.insert("tool_cache".into(), text("/__t".to_owned()));
        }
        self.base.insert(
            "github".to_owned(),
            Value::from_json(&Json::Object(self.github_json.clone())),
        );
        let runner_map = match &runner {
            Json::Object(map) => map.clone(),
            _ => serde_json::Map::new(),
        };
        self.base
            .insert("runner".to_owned(), Value::from_json(&runner));
        self.runtime_vars = crate::env::github_vars(&self.github_json)
            .into_iter()
            .filter(|(k, _)| k != "CI" && k != "GITHUB_ACTIONS")
            .chain(crate::env::runner_vars(&runner_map))
            .collect();
    }

    /// The engine, connected once per executor.
    pub(crate) async fn engine(&self) -> Result<Engine, String> {
        self.engine_cell
            .get_or_init(|| async {
                Engine::connect()
                    .await
                    .map_err(|e| format!("this job needs Docker: {}", chain(&e)))
            })
            .await
            .clone()
    }

    /// Makes sure `image` is present under the executor's pull policy and says in the job's log
    /// (setup when `log` is `None`, else that step's) where it came from.
    pub(crate) async fn ensure_image(
        &self,
        engine: &Engine,
        image: &str,
        auth: Option<&RegistryAuth>,
        log: Option<usize>,
    ) -> Result<(), String> {
        let source = engine
            .ensure_image(image, self.options.pull, auth, PULL_TIMEOUT)
            .await
            .map_err(|e| chain(&e))?;
        let line = match source {
            ImageSource::Local => format!("Using local image {image}"),
            ImageSource::Pulled => format!("Pulled image {image}"),
            ImageSource::LocalAfterFailedPull(reason) => {
                format!("Using local image {image} (the pull failed: {reason})")
            }
        };
        self.log(log, &line);
        Ok(())
    }

    /// Creates the job's network, starts its services and its job container, then waits until the
    /// services are healthy. Whatever was created is recorded in `self.docker` at once.
    pub(crate) async fn start_docker(
        &mut self,
        spec: &gantry_plan::JobSpec,
        plan: DockerPlan,
        repo_name: &str,
    ) -> Result<(), String> {
        let engine = self.engine().await?;
        self.docker = Some(DockerJob {
            engine: engine.clone(),
            network: None,
            services: Vec::new(),
            container: None,
            session: std::sync::Mutex::new(None),
            ports: None,
        });
        self.log(None, "##[group]Initialize containers");
        let result = self
            .start_docker_inner(&engine, spec, plan, repo_name)
            .await;
        self.log(None, "##[endgroup]");
        result
    }

    /// Claims the fixed host ports the job's containers publish (`ports:` and `-p` options),
    /// waiting while another job of this process holds one of them.
    async fn claim_host_ports(&mut self, plan: &DockerPlan) -> Result<(), String> {
        let defs = plan
            .container
            .iter()
            .chain(plan.services.iter().map(|(_, d)| d));
        let mut specs: Vec<String> = Vec::new();
        for def in defs {
            specs.extend(def.ports.iter().cloned());
            if let Ok(options) = parse_options(&def.options) {
                specs.extend(options.publish);
            }
        }
        let ports = host_ports::fixed_ports(specs.iter().map(String::as_str));
        if ports.is_empty() {
            return Ok(());
        }
        for (port, protocol) in host_ports::busy(&ports) {
            self.log(
                None,
                &format!("Waiting for host port {port}/{protocol}: another job publishes it"),
            );
        }
        let claims = host_ports::claim(&ports, &self.cancel).await;
        let claims = claims.ok_or_else(|| "cancelled while waiting for host ports".to_owned())?;
        if let Some(docker) = &mut self.docker {
            docker.ports = Some(claims);
        }
        Ok(())
    }

    async fn start_docker_inner(
        &mut self,
        engine: &Engine,
        spec: &gantry_plan::JobSpec,
        plan: DockerPlan,
        repo_name: &str,
    ) -> Result<(), String> {
        let network = format!(
            "{}-net",
            labels::job_container_name(&spec.run_id, &spec.job_key)
        );
        self.claim_host_ports(&plan).await?;
        // A network left by an earlier attempt of the same job would make the create fail.
        let _ = engine.remove_network(&network).await;
        engine
            .create_network(&network, &spec.run_id)
            .await
            .map_err(|e| chain(&e))?;
        self.log(None, &format!("Created network {network}"));
        if let Some(docker) = &mut self.docker {
            docker.network = Some(network.clone());
        }

        // Services: all started first, then waited for together.
        let mut service_context = Map::new();
        let mut started = Vec::new();
        for (key, def) in &plan.services {
            self.ensure_image(engine, &def.image, def.credentials.as_ref(), None)
                .await
                .map_err(|e| format!("service '{key}': {e}"))?;
            let mut container = ContainerSpec {
                name: labels::service_container_name(&spec.run_id, &spec.job_key, key),
                image: def.image.clone(),
                run_id: spec.run_id.clone(),
                job_key: Some(spec.job_key.clone()),
                service: Some(key.clone()),
                env: def.env.clone(),
                binds: def.volumes.clone(),
                network: Some(network.clone()),
                aliases: vec![key.clone()],
                entrypoint: def.entrypoint.as_ref().map(|e| vec![e.clone()]),
                cmd: match &def.command {
                    Some(command) => Some(
                        gantry_docker::split_words(command)
                            .map_err(|e| format!("services.{key}.command: {e}"))?,
                    ),
                    None => None,
                },
                ..ContainerSpec::default()
            };
            for port in &def.ports {
                container.ports.push(
                    PortSpec::parse(port)
                        .map_err(|e| format!("services.{key}.ports: '{port}': {e}"))?,
                );
            }
            let options =
                parse_options(&def.options).map_err(|e| format!("services.{key}.options: {e}"))?;
            container
                .apply_options(options)
                .map_err(|e| format!("services.{key}.options: {}", chain(&e)))?;
            // Remove a leftover of the same name (an earlier attempt killed before its cleanup).
            let _ = engine.remove_container(&container.name).await;
            let running = engine
                .start_container(&container)
                .await
                .map_err(|e| format!("service '{key}': {}", chain(&e)))?;
            self.log(
                None,
                &format!(
                    "Started service '{key}' ({}) from {}",
                    running.name, def.image
                ),
            );
            if let Some(docker) = &mut self.docker {
                docker.services.push(ServiceContainer {
                    key: key.clone(),
                    id: running.id.clone(),
                    name: running.name.clone(),
                });
            }
            let mut ports = Map::new();
            for mapped in &running.ports {
                let name = if mapped.protocol == "tcp" {
                    mapped.container_port.to_string()
                } else {
                    format!("{}/{}", mapped.container_port, mapped.protocol)
                };
                if ports.get(&name).is_none() {
                    ports.insert(name.as_str(), Value::from(mapped.host_port.to_string()));
                }
            }
            let mut entry = Map::new();
            entry.insert("id", Value::from(running.id.as_str()));
            entry.insert("network", Value::from(network.as_str()));
            entry.insert("ports", Value::from(ports));
            service_context.insert(key.as_str(), Value::from(entry));
            started.push((key.clone(), running));
        }
        // The job container starts while the services become healthy, as on GitHub: its
        // start-up is not added to the time between the services' health and the first step.
        let mut job_container_id = None;
        if let Some(def) = &plan.container {
            let container = self
                .start_job_container(engine, spec, def, &network, repo_name)
                .await?;
            job_container_id = Some(container.id.clone());
            let session = engine.open_session(&container.id, None).await;
            if let Some(docker) = &mut self.docker {
                docker.container = Some(container);
                match session {
                    Ok(session) => docker.put_session(session),
                    Err(e) => self.warning(
                        None,
                        &format!(
                            "steps run with one engine exec each (no shell session: {})",
                            chain(&e)
                        ),
                    ),
                }
            }
        }

        for (key, running) in &started {
            let health = engine
                .wait_healthy(&running.id, HEALTH_TIMEOUT, &self.cancel)
                .await;
            match health {
                Ok(gantry_docker::Health::Healthy) => {
                    self.log(None, &format!("Service '{key}' is healthy"));
                }
                Ok(gantry_docker::Health::NoHealthCheck) => {
                    self.log(
                        None,
                        &format!("Service '{key}' is running (no health check)"),
                    );
                }
                Err(e) => {
                    let logs = engine.logs(&running.id, 50).await.unwrap_or_default();
                    if !logs.trim().is_empty() {
                        self.log(None, &format!("##[group]Logs of service '{key}'"));
                        for line in logs.lines() {
                            self.log(None, line);
                        }
                        self.log(None, "##[endgroup]");
                    }
                    return Err(format!("service '{key}': {}", chain(&e)));
                }
            }
        }

        let mut job_context = match self.base.get("job") {
            Some(value) => value.to_json(),
            None => Json::Object(serde_json::Map::new()),
        };
        if let Json::Object(map) = &mut job_context {
            if !plan.services.is_empty() {
                map.insert(
                    "services".into(),
                    Value::from(service_context.clone()).to_json(),
                );
            }
        }

        if let (Some(id), Json::Object(map)) = (job_container_id, &mut job_context) {
            let mut entry = serde_json::Map::new();
            entry.insert("id".into(), Json::String(id));
            entry.insert("network".into(), Json::String(network.clone()));
            map.insert("container".into(), Json::Object(entry));
        }
        self.base
            .insert("job".to_owned(), Value::from_json(&job_context));
        Ok(())
    }

    async fn start_job_container(
        &mut self,
        engine: &Engine,
        spec: &gantry_plan::JobSpec,
        def: &ContainerDef,
        network: &str,
        repo_name: &str,
    ) -> Result<JobContainer, String> {
        self.ensure_image(engine, &def.image, def.credentials.as_ref(), None)
            .await
            .map_err(|e| format!("container: {e}"))?;
        for dir in [
            self.dirs.temp.join("_github_home"),
            self.dirs.temp.join("_github_workflow"),
            self.options.tool_cache.clone(),
        ] {
            std::fs::create_dir_all(&dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let node = self
            .node_program()
            .ok()
            .and_then(|p| std::fs::canonicalize(p).ok());
        let (mounts, read_only) = job_mounts(self, repo_name, node);
        let paths = PathMap::new(mounts);
        let workspace = format!("{CONTAINER_WORK}/{repo_name}/{repo_name}");
        let mut env = def.env.clone();
        env.push(("HOME".to_owned(), "/github/home".to_owned()));
        env.push(("GITHUB_ACTIONS".to_owned(), "true".to_owned()));
        env.push(("CI".to_owned(), "true".to_owned()));
        let mut binds = paths.binds(&read_only);
        if Path::new("/var/run/docker.sock").exists()
            && engine.endpoint() == gantry_docker::DEFAULT_HOST
        {
            binds.push("/var/run/docker.sock:/var/run/docker.sock".to_owned());
        }
        binds.extend(def.volumes.iter().cloned());
        let mut container = ContainerSpec {
            name: labels::job_container_name(&spec.run_id, &spec.job_key),
            image: def.image.clone(),
            run_id: spec.run_id.clone(),
            job_key: Some(spec.job_key.clone()),
            env,
            binds,
            network: Some(network.to_owned()),
            aliases: vec![spec.job_id.clone()],
            // As GitHub does: the container idles while steps run in it with exec.
            entrypoint: Some(vec!["tail".to_owned()]),
            cmd: Some(vec!["-f".to_owned(), "/dev/null".to_owned()]),
            working_dir: Some(workspace),
            ..ContainerSpec::default()
        };
        for port in &def.ports {
            container.ports.push(
                PortSpec::parse(port).map_err(|e| format!("container.ports: '{port}': {e}"))?,
            );
        }
        let mut options =
            parse_options(&def.options).map_err(|e| format!("container.options: {e}"))?;
        // Reaps the zombies steps leave behind; `tail` would not.
        options.init = true;
        container
            .apply_options(options)
            .map_err(|e| format!("container.options: {}", chain(&e)))?;
        if container
            .entrypoint
            .as_ref()
            .is_some_and(|e| e[0] != "tail")
        {
            // `--entrypoint` given: it replaces `tail`, and the idle command goes with it.
            container.cmd = None;
        }
        let _ = engine.remove_container(&container.name).await;
        let running = engine
            .start_container(&container)
            .await
            .map_err(|e| format!("container: {}", chain(&e)))?;
        self.log(
            None,
            &format!("Started job container {} from {}", running.name, def.image),
        );
        let mut job_container = JobContainer {
            id: running.id.clone(),
            name: running.name.clone(),
            default_shell: "sh",
            path: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_owned(),
            paths,
        };
        if let Some(docker) = &mut self.docker {
            docker.container = Some(job_container.clone());
        }
        // The image's PATH and whether it has bash, in one exec.
        let probe = ExecSpec::new([
            "sh",
            "-c",
            "printf 'PATH=%s\\n' \"$PATH\"; command -v bash >/dev/null 2>&1 && echo HAS_BASH; true",
        ]);
        let mut lines = Vec::new();
        let outcome = engine
            .exec(
                &running.id,
                &probe,
                &mut |line: OutputLine| lines.push(line.text),
                &CancellationToken::new(),
            )
            .await
            .map_err(|e| format!("container: {}", chain(&e)))?;
        if outcome.exit_code != Some(0) {
            return Err(format!(
                "container: the image {} has no working 'sh' (exit code {:?}): {}",
                def.image,
                outcome.exit_code,
                lines.join(" ")
            ));
        }
        for line in lines {
            if let Some(path) = line.strip_prefix("PATH=") {
                if !path.is_empty() {
                    job_container.path = path.to_owned();
                }
            } else if line == "HAS_BASH" {
                job_container.default_shell = "bash";
            }
        }
        Ok(job_container)
    }

    /// Removes what the job created: gives the workspace back to this user, then removes the job
    /// container, the services and the network. Failures are warnings; `gantry gc` is the backstop.
    pub(crate) async fn stop_docker(&mut self) {
        let Some(mut docker) = self.docker.take() else {
            return;
        };
        // Ends the session's shell before its container goes.
        drop(docker.take_session());
        let engine = &docker.engine;
        if let Some(container) = &docker.container {
            // Files created in the container belong to its user (often root): hand them back.
            use std::os::unix::fs::MetadataExt;
            let owner = std::fs::metadata(&self.dirs.root).map(|m| (m.uid(), m.gid()));
            if let Ok((uid, gid)) = owner {
                let targets: Vec<String> = [&self.dirs.workspace, &self.dirs.temp]
                    .iter()
                    .filter_map(|p| container.paths.to_container(p))
                    .collect();
                let mut cmd = vec!["chown".to_owned(), "-R".to_owned(), format!("{uid}:{gid}")];
                cmd.extend(targets);
                let mut spec = ExecSpec::new(cmd);
                spec.user = Some("0".to_owned());
                let _ = engine
                    .exec(
                        &container.id,
                        &spec,
                        &mut |_: OutputLine| {},
                        &CancellationToken::new(),
                    )
                    .await;
            }
            if let Err(e) = engine.remove_container(&container.id).await {
                self.warning(
                    None,
                    &format!(
                        "cannot remove job container {}: {}",
                        container.name,
                        chain(&e)
                    ),
                );
            }
        }
        for service in &docker.services {
            if let Err(e) = engine.remove_container(&service.id).await {
                self.warning(
                    None,
                    &format!(
                        "cannot remove service container '{}' ({}): {}",
                        service.key,
                        service.name,
                        chain(&e)
                    ),
                );
            }
        }
        if let Some(network) = &docker.network {
            if let Err(e) = engine.remove_network(network).await {
                self.warning(
                    None,
                    &format!("cannot remove network {network}: {}", chain(&e)),
                );
            }
        }
    }
}

/// Runs one step process in the job container: the host paths in its program, arguments, working
/// directory and environment become container paths; the output goes through `sink` as on the
/// host; the timeout and cancellation kill the step's processes in the container.
pub(crate) async fn exec_step(
    engine: &Engine,
    container: &JobContainer,
    session: Option<&mut Session>,
    spec: &ProcessSpec,
    limits: RunLimits,
    cancel: &CancellationToken,
    sink: &mut OutputSink<'_>,
) -> Result<ProcessEnd, String> {
    let paths = &container.paths;
    let mut cmd = Vec::with_capacity(spec.args.len() + 1);
    cmd.push(paths.translate(&spec.program.display().to_string()));
    cmd.extend(spec.args.iter().map(|a| paths.translate(a)));
    let mut exec = ExecSpec::new(cmd);
    // Later entries win on the host; the engine takes the first, so keep the last of each name.
    let mut seen = std::collections::HashSet::new();
    let mut env: Vec<(String, String)> = spec
        .env
        .iter()
        .rev()
        .filter(|(k, _)| seen.insert(k.as_str()))
        .map(|(k, v)| (k.clone(), paths.translate(v)))
        .collect();
    env.reverse();
    exec.env = env;
    exec.working_dir = Some(paths.translate(&spec.cwd.display().to_string()));
    exec.kill_grace = limits.kill_grace;
    exec.max_line_bytes = crate::process::MAX_LINE;
    let token = cancel.child_token();
    let mut on_line = line_handler(sink);
    let run = async {
        match session {
            Some(session) => session.run(&exec, &mut on_line, &token).await,
            None => {
                engine
                    .exec(&container.id, &exec, &mut on_line, &token)
                    .await
            }
        }
    };
    bounded(run, &token, limits.timeout, || {
        format!("the step in container {}", container.name)
    })
    .await
}

/// Hands each line or piece of engine output to `sink`, pieces marked as such: the sink masks the
/// pieces of one over-long line as one stream, so a secret cut by a piece boundary stays hidden.
pub(crate) fn line_handler<'s, 'a>(
    sink: &'s mut OutputSink<'a>,
) -> impl FnMut(OutputLine) + Send + use<'s, 'a> {
    move |line: OutputLine| {
        sink.on_fragment(
            line.stream,
            Fragment {
                text: line.text,
                end_of_line: line.end_of_line,
            },
        );
    }
}

/// Awaits `run` (an exec, a session step, an action's container), cancelling `token` when
/// `timeout` runs out, and maps its outcome to how a process step ends; `what` names it in the
/// error when the engine gave no exit code.
pub(crate) async fn bounded(
    run: impl std::future::Future<
        Output = Result<gantry_docker::ExecOutcome, gantry_docker::DockerError>,
    >,
    token: &CancellationToken,
    timeout: Option<Duration>,
    what: impl FnOnce() -> String,
) -> Result<ProcessEnd, String> {
    tokio::pin!(run);
    let timer = async {
        match timeout {
            Some(timeout) => tokio::time::sleep(timeout).await,
            None => std::future::pending::<()>().await,
        }
    };
    let mut timed_out = false;
    let outcome = tokio::select! {
        outcome = &mut run => outcome,
        () = timer => {
            timed_out = true;
            token.cancel();
            run.await
        }
    };
    let outcome = outcome.map_err(|e| chain(&e))?;
    if timed_out {
        return Ok(ProcessEnd::TimedOut);
    }
    if outcome.cancelled {
        return Ok(ProcessEnd::Cancelled);
    }
    match outcome.exit_code {
        Some(code) => Ok(ProcessEnd::Exited(i32::try_from(code).unwrap_or(1))),
        None => Err(format!("{} did not end after it was killed", what())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gantry_plan::ContainerSpec;

    #[test]
    fn platforms() {
        let check = |text: &str, expected: Result<Platform, ()>| {
            assert_eq!(Platform::parse(text).map_err(|_| ()), expected, "{text}");
        };
        check("host", Ok(Platform::Host));
        check("self-hosted", Ok(Platform::Host));
        check(
            "docker://node:20",
            Ok(Platform::Docker("node:20".to_owned())),
        );
        check(
            "gantry-test/debian:abc",
            Ok(Platform::Docker("gantry-test/debian:abc".to_owned())),
        );
        check("", Err(()));
        check("docker://", Err(()));
        check("docker://a b", Err(()));
    }

    #[test]
    fn path_map_translates_under_mounts_only() {
        let map = PathMap::new(vec![
            (PathBuf::from("/w/1/job/repo"), "/__w/repo/repo".to_owned()),
            (PathBuf::from("/w/1/job/_temp"), "/__w/_temp".to_owned()),
            (
                PathBuf::from("/w/1/job/_temp/_github_home"),
                "/github/home".to_owned(),
            ),
        ]);
        let check = |host: &str, expected: &str| assert_eq!(map.translate(host), expected);
        check("/w/1/job/repo", "/__w/repo/repo");
        check("/w/1/job/repo/src/a.rs", "/__w/repo/repo/src/a.rs");
        check(
            "/w/1/job/_temp/_step_script.sh",
            "/__w/_temp/_step_script.sh",
        );
        check("/w/1/job/_temp/_github_home/.npmrc", "/github/home/.npmrc");
        check("/w/1/job/repository", "/w/1/job/repository");
        check("relative/path", "relative/path");
        check("/usr/bin/bash", "/usr/bin/bash");
    }

    #[test]
    fn container_values() {
        let eval =
            |raw: &str| -> Result<String, EvalError> { Ok(raw.replace("${{ matrix.pg }}", "16")) };
        let check = |spec: ContainerSpec, expected: Option<ContainerDef>| {
            let mut eval = |raw: &str| -> Result<String, EvalError> {
                Ok(raw.replace("${{ matrix.pg }}", "16"))
            };
            assert_eq!(evaluate_def(&spec, &mut eval), Ok(expected));
        };
        let image = |image: &str| ContainerSpec {
            image: image.into(),
            ..ContainerSpec::default()
        };
        check(image("  "), None);
        check(
            image("postgres:${{ matrix.pg }}"),
            Some(ContainerDef {
                image: "postgres:16".into(),
                ..ContainerDef::default()
            }),
        );
        check(
            ContainerSpec {
                image: "redis".into(),
                env: vec![
                    ("A".into(), "1".into()),
                    ("B".into(), "${{ matrix.pg }}".into()),
                ],
                ports: vec!["6379".into(), "5432".into()],
                volumes: vec!["/data".into()],
                options: Some("--cpus 1".into()),
                credentials: Some(gantry_plan::CredentialsSpec {
                    username: Some("u".into()),
                    password: None,
                }),
                ..ContainerSpec::default()
            },
            Some(ContainerDef {
                image: "redis".into(),
                env: vec![("A".into(), "1".into()), ("B".into(), "16".into())],
                ports: vec!["6379".into(), "5432".into()],
                volumes: vec!["/data".into()],
                options: "--cpus 1".into(),
                credentials: Some(RegistryAuth {
                    username: "u".into(),
                    password: String::new(),
                }),
                ..ContainerDef::default()
            }),
        );
        check(image(""), None);
        // GitHub ignores credentials without a username.
        check(
            ContainerSpec {
                credentials: Some(gantry_plan::CredentialsSpec {
                    username: Some(String::new()),
                    password: Some("p".into()),
                }),
                ..image("x")
            },
            Some(ContainerDef {
                image: "x".into(),
                ..ContainerDef::default()
            }),
        );
        let failing = evaluate_def(
            &ContainerSpec {
                env: vec![("A".into(), "bad".into())],
                ..image("x")
            },
            &mut |raw: &str| {
                if raw == "bad" {
                    Err(EvalError::Expression(gantry_expr::Error::new(
                        gantry_expr::ErrorKind::Evaluation,
                        "boom",
                        gantry_expr::Span::new(0, 0),
                        "",
                    )))
                } else {
                    eval(raw)
                }
            },
        );
        assert_eq!(
            failing.map_err(|e| error_chain(&e)),
            Err("env 'A': boom".to_owned())
        );
    }
}
