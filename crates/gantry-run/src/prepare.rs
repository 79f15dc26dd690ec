//! From a [`RunRequest`] to the plans that will run: find the repository, read its
//! configuration, load and check the workflows, build the event, select the workflows that
//! listen to it, resolve inputs, lower each to a plan, keep the `-j` jobs.
//!
//! Invariant: every usage problem (workflow errors, an unknown job, a bad input value, a bad
//! configuration) is an [`Error`] returned here, before anything runs or is written. Tests:
//! `tests/api.rs`, `crates/gantry/tests/run.rs`.

use std::collections::HashSet;
use std::path::PathBuf;

use gantry_executor::Platform;
use gantry_plan::{
    github_context, lower, resolve_dispatch_inputs, select, GithubInfo, GithubServer, InputError,
    JobBody, JobResult, Plan, RunContext, RunInfo, WorkspaceSpec,
};
use indexmap::IndexMap;
use serde_json::{Map, Value};

use crate::error::{bail_input, Error, Result};
use crate::handle::Subscribers;
use crate::request::{RunOptions, RunRequest};
use crate::workflows::{self, Repository};
use crate::{config, event, git, record};

/// One workflow run, planned.
#[derive(Debug, Clone)]
pub struct PlannedRun {
    pub plan: Plan,
    /// Repo-relative path of the workflow file.
    pub workflow_file: String,
}

/// The runs a request asks for, ready to start (or to list: `gantry run -l`, `--dry-run`).
pub struct Prepared {
    pub(crate) root: PathBuf,
    pub(crate) runs: Vec<PlannedRun>,
    pub(crate) not_selected: Vec<String>,
    pub(crate) git_ref: String,
    pub(crate) platforms: Vec<(String, Platform)>,
    pub(crate) options: RunOptions,
    pub(crate) runs_dir: PathBuf,
    /// Jobs a re-run keeps from the earlier attempt (there is one run then).
    pub(crate) reuse: IndexMap<String, JobResult>,
    pub(crate) subscribers: Subscribers,
}

impl Prepared {
    /// The workflow runs that will start, in file order.
    pub fn runs(&self) -> &[PlannedRun] {
        &self.runs
    }

    /// Why each workflow that does not run was left out (`file: reason`).
    pub fn not_selected(&self) -> &[String] {
        &self.not_selected
    }

    /// The repository's root.
    pub fn root(&self) -> &std::path::Path {
        &self.root
    }

    /// The ref the event is for (`refs/heads/main`).
    pub fn git_ref(&self) -> &str {
        &self.git_ref
    }

    /// Whether a run needs the Docker engine: a job container, services, or a label mapped to
    /// an image.
    pub fn needs_docker(&self) -> bool {
        self.platforms
            .iter()
            .any(|(_, platform)| matches!(platform, Platform::Docker(_)))
            || self.runs.iter().any(|run| {
                run.plan.graph.jobs.iter().any(|job| match &job.body {
                    JobBody::Steps(steps) => steps.uses_containers(),
                    JobBody::Call(_) => false,
                })
            })
    }
}

/// Plans the runs of `request`. Reads the repository and its workflows; runs nothing.
pub fn prepare(request: RunRequest) -> Result<Prepared> {
    let RunRequest {
        directory,
        event: event_request,
        workflows: workflows_path,
        jobs,
        inputs: given_inputs,
        secrets,
        vars: given_vars,
        env: extra_env,
        options,
        rerun,
    } = request;
    let root = git::find_root(&directory)?;
    let repo = git::inspect(&root)?;
    let config = config::read(&root)?;
    let platforms = config::merge_platforms(&options.platforms, &config.platforms);
    let server: GithubServer = options.github_server.clone().unwrap_or(config.github);

    // Load and check every workflow; errors stop everything.
    let dir = match &workflows_path {
        Some(path) => directory.join(path),
        None => root.join(".github/workflows"),
    };
    let files = workflows::collect_files(&dir)?;
    if files.is_empty() {
        bail_input!("no workflow files in {}", dir.display());
    }
    let repository = Repository::new(root.clone());
    let mut loaded = workflows::load_all(&repository, &files)?;
    if let Some(rerun) = &rerun {
        loaded.retain(|w| w.rel == rerun.workflow_file);
        if loaded.is_empty() {
            bail_input!(
                "the workflow {} of the run to re-run is gone",
                rerun.workflow_file
            );
        }
    }

    let vars: Map<String, Value> = given_vars
        .into_iter()
        .map(|(name, value)| (name, Value::String(value)))
        .collect();
    let runs_dir = options
        .runs_dir
        .clone()
        .unwrap_or_else(|| root.join(".gantry/runs"));
    let first_run_number = record::next_run_number(&runs_dir).map_err(Error::Record)?;
    let mut runs = Vec::new();
    let mut not_selected = Vec::new();
    for workflow in &loaded {
        let inputs = if event_request.name == "workflow_dispatch" {
            match resolve_dispatch_inputs(&workflow.workflow, &given_inputs) {
                Ok(inputs) => inputs,
                Err(InputError::NotDispatchable) => {
                    not_selected.push(format!(
                        "{}: the workflow does not listen to 'workflow_dispatch'",
                        workflow.rel
                    ));
                    continue;
                }
                Err(err) => bail_input!("{}: {err}", workflow.rel),
            }
        } else {
            Map::new()
        };
        let event = event::build(
            &repo,
            &event_request.name,
            event_request.payload.clone(),
            event_request.before.as_deref(),
            &inputs,
        )?;
        if let Err(why) = select(&workflow.workflow, &event.info) {
            not_selected.push(format!("{}: {why}", workflow.rel));
            continue;
        }
        let index = runs.len() as u64;
        let (run_id, run_number, attempt) = match &rerun {
            Some(rerun) => (
                rerun.run_id.clone(),
                rerun.run_number,
                rerun.previous_attempt.max(1) + 1,
            ),
            None => (record::run_id(), first_run_number + index, 1),
        };
        let workflow_name = workflow
            .workflow
            .name
            .as_ref()
            .map(|n| n.raw.clone())
            .unwrap_or_else(|| workflow.rel.clone());
        let github = github_context(&GithubInfo {
            event_name: event.name.clone(),
            event: event.payload.clone(),
            git_ref: event.git_ref.clone(),
            sha: event.sha.clone(),
            repository: repo.repository.clone(),
            actor: repo.actor.clone(),
            workflow: workflow_name,
            workflow_file: workflow.rel.clone(),
            run_id: run_id.clone(),
            run_number,
            run_attempt: attempt,
            head_ref: event.head_ref.clone(),
            base_ref: event.base_ref.clone(),
            server: server.clone(),
        });
        let context = RunContext {
            run: RunInfo {
                run_id,
                run_number,
                attempt,
                workspace: WorkspaceSpec {
                    source_path: root.to_string_lossy().into_owned(),
                    sha: repo.sha.clone(),
                    git_ref: Some(event.git_ref.clone()),
                },
            },
            workflow_file: workflow.rel.clone(),
            github,
            inputs,
            vars: vars.clone(),
            secrets: secrets.clone(),
        };
        let mut plan =
            lower(&workflow.workflow, context, &repository).map_err(|source| Error::Plan {
                file: workflow.rel.clone(),
                source,
            })?;
        if !extra_env.is_empty() {
            let mut env = extra_env.clone();
            env.extend(std::mem::take(&mut plan.graph.env));
            plan.graph.env = env;
        }
        runs.push(PlannedRun {
            plan,
            workflow_file: workflow.rel.clone(),
        });
    }
    if !given_inputs.is_empty() && event_request.name != "workflow_dispatch" {
        bail_input!("--input is only for the workflow_dispatch event");
    }

    // `-j`: keep the named jobs and what they need; a name no run knows is an error.
    if !jobs.is_empty() {
        let known: HashSet<&str> = runs
            .iter()
            .flat_map(|run| run.plan.graph.jobs.iter().map(|j| j.job_id.as_str()))
            .collect();
        for job in &jobs {
            if !known.contains(job.as_str()) {
                let mut names: Vec<&str> = known.iter().copied().collect();
                names.sort();
                bail_input!(
                    "no job '{job}' in the workflows that run for '{}' (jobs: {})",
                    event_request.name,
                    names.join(", ")
                );
            }
        }
        for run in &mut runs {
            let graph = &mut run.plan.graph;
            let here: Vec<String> = jobs
                .iter()
                .filter(|id| graph.job(id).is_some())
                .cloned()
                .collect();
            if here.is_empty() {
                graph.jobs.clear();
            } else {
                // Every id is known to this graph: the call cannot fail.
                graph
                    .retain_with_needs(&here)
                    .map_err(|err| Error::Input(err.to_string()))?;
            }
        }
        runs.retain(|run| !run.plan.graph.jobs.is_empty());
    }

    let reuse = match (&rerun, runs.first()) {
        (Some(rerun), Some(run)) => {
            let needs: IndexMap<String, Vec<String>> = run
                .plan
                .graph
                .jobs
                .iter()
                .map(|job| (job.job_id.clone(), job.needs.clone()))
                .collect();
            if let crate::request::RerunScope::Job(id) = &rerun.scope {
                if !needs.contains_key(id) {
                    bail_input!("no job '{id}' in {}", rerun.workflow_file);
                }
            }
            rerun.reused(&needs)
        }
        _ => IndexMap::new(),
    };

    Ok(Prepared {
        root,
        runs,
        not_selected,
        git_ref: repo.git_ref,
        platforms,
        options,
        runs_dir,
        reuse,
        subscribers: Subscribers::default(),
    })
}
