//! `gantry run`: runs the workflows of the current repository that listen to an event, on the
//! host, with GitHub's semantics.
//!
//! A thin caller of `gantry_run`: the flags become a `RunRequest` (reading `--*-file` dotenv
//! files and `-e` payloads), `gantry_run::prepare` plans the runs (workflow errors are rendered
//! like `gantry lint`, exit 2, nothing runs), `-l`/`--dry-run` print the plans, otherwise the run
//! starts and `output` renders its events; Ctrl-C cancels through the run's `Canceller`.
//!
//! Invariant: every usage problem (unknown `-j` job, bad input value, malformed `--secret`,
//! workflow errors) is reported before anything runs. Tests: `tests/run.rs`.

mod output;

use crate::render::{render_text, FileReport};
use anyhow::{bail, Context, Result};
use clap::Args;
use gantry_run::{
    EventRequest, RunOptions, RunRequest, Secret, Secrets, WorkflowErrors, WorkspaceMode,
};
use indexmap::IndexMap;
use serde_json::Value;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The event to run for (push, pull_request, workflow_dispatch, schedule, ...).
    #[arg(default_value = "push")]
    pub event: String,
    /// Workflow file or directory of workflows (default: .github/workflows of the repository).
    #[arg(short = 'W', long = "workflows")]
    pub workflows: Option<PathBuf>,
    /// Run only this job (and the jobs it needs); repeatable.
    #[arg(short = 'j', long = "job")]
    pub jobs: Vec<String>,
    /// List the selected workflows' jobs and their graph, run nothing.
    #[arg(short = 'l', long = "list")]
    pub list: bool,
    /// Show what would run, step by step, without running it.
    #[arg(short = 'n', long = "dry-run")]
    pub dry_run: bool,
    /// Event payload (JSON) instead of the one built from the repository.
    #[arg(short = 'e', long = "eventpath", alias = "event-path")]
    pub event_path: Option<PathBuf>,
    /// workflow_dispatch input, `name=value`; repeatable.
    #[arg(long = "input", value_name = "NAME=VALUE")]
    pub inputs: Vec<String>,
    /// Secret, `NAME=VALUE` (or `NAME` to read it from the environment); repeatable.
    #[arg(short = 's', long = "secret", value_name = "NAME=VALUE")]
    pub secrets: Vec<String>,
    /// Secrets from a dotenv file.
    #[arg(long = "secret-file")]
    pub secret_file: Option<PathBuf>,
    /// Configuration variable (`vars` context), `NAME=VALUE`; repeatable.
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// Variables from a dotenv file.
    #[arg(long = "var-file")]
    pub var_file: Option<PathBuf>,
    /// Environment variables for every job, from a dotenv file.
    #[arg(long = "env-file")]
    pub env_file: Option<PathBuf>,
    /// Environment variable for every job, `NAME=VALUE`; repeatable.
    #[arg(long = "env", value_name = "NAME=VALUE")]
    pub env: Vec<String>,
    /// How many jobs run at once (default: the number of cores).
    #[arg(long = "concurrent-jobs")]
    pub concurrent_jobs: Option<usize>,
    /// Print the run's events as JSON lines instead of logs.
    #[arg(long)]
    pub json: bool,
    /// The action cache: remote actions (`owner/repo@ref`) are fetched into it as
    /// `owner/repo/<sha>/`; a tree put there by hand as `owner/repo/ref/` is used as it is.
    #[arg(long = "action-cache")]
    pub action_cache: Option<PathBuf>,
    /// Where remote actions are fetched from: `<URL>/<owner>/<repo>` (a GitHub Enterprise server
    /// or a mirror; any URL git understands). Also `GANTRY_ACTIONS_URL`.
    #[arg(
        long = "actions-url",
        env = "GANTRY_ACTIONS_URL",
        default_value = "https://github.com"
    )]
    pub actions_url: String,
    /// Never touch the network for actions: only what the action cache holds (see `gantry
    /// actions pull`).
    #[arg(long)]
    pub offline: bool,
    /// Where jobs with a `runs-on` label run: `LABEL=host` or `LABEL=docker://IMAGE` (the job's
    /// steps then run in a container of IMAGE); repeatable, the first matching label wins, jobs
    /// whose labels match nothing run on the host. Also read from the `[platforms]` table of
    /// `.gantry/config.toml` in the repository root (`ubuntu-latest = "docker://IMAGE"`); this
    /// flag wins over the file.
    #[arg(short = 'P', long = "platform", value_name = "LABEL=PLATFORM")]
    pub platforms: Vec<String>,
    /// When container images are pulled: `always` (as GitHub does; once per run, and a local copy
    /// is used when the pull fails, saying why), `missing` (only images not present locally) or
    /// `never`.
    #[arg(long = "pull", value_name = "POLICY", default_value = "always")]
    pub pull: gantry_docker::PullPolicy,
    /// What a job's workspace holds when it starts: `copy`, its own copy of the repository at the
    /// run's commit (act's habit), or `empty`, nothing until `actions/checkout` runs (as on
    /// GitHub; jobs without a checkout then start faster).
    #[arg(long = "workspace", value_name = "KIND", default_value = "copy")]
    pub workspace: WorkspaceKind,
}

/// `--workspace`: how a job's workspace starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WorkspaceKind {
    Copy,
    Empty,
}

pub fn run(args: RunArgs) -> Result<ExitCode> {
    let cwd = std::env::current_dir().context("reading the current directory")?;
    let request = request(&args, cwd)?;
    let event_name = request.event.name.clone();
    let prepared = match gantry_run::prepare(request) {
        Ok(prepared) => prepared,
        Err(gantry_run::Error::Workflows(files)) => {
            render_workflow_errors(files)?;
            eprintln!("error: the workflows have errors; nothing was run");
            return Ok(ExitCode::from(2));
        }
        Err(err) => return Err(err.into()),
    };

    if prepared.runs().is_empty() {
        eprintln!(
            "no workflow runs for '{event_name}' on {}:",
            prepared.git_ref()
        );
        for reason in prepared.not_selected() {
            eprintln!("  {reason}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.list {
        output::print_list(prepared.runs());
        return Ok(ExitCode::SUCCESS);
    }
    if args.dry_run {
        output::print_dry_run(prepared.runs());
        return Ok(ExitCode::SUCCESS);
    }

    let mode = if args.json {
        output::Mode::Json
    } else if std::io::stdout().is_terminal() {
        output::Mode::Live
    } else {
        output::Mode::Plain
    };
    // One thread drives every job: a job mostly waits for its processes, and what the engine does
    // in between is short. Measured against the multi-threaded runtime: as fast on the benchmarks
    // (docs/benchmarks.md) with 4-6 MB less memory. Jobs still run concurrently, and copying
    // workspaces or deleting job directories runs on the blocking pool.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let all_ok = runtime.block_on(async move {
        let observers: Vec<_> = prepared
            .runs()
            .iter()
            .enumerate()
            .map(|(index, run)| {
                (
                    prepared.subscribe_run(index),
                    run.plan.workflow_name.clone(),
                )
            })
            .collect();
        let handle = prepared.start().await?;
        let removed = handle.docker_objects_removed();
        if removed > 0 {
            eprintln!("removed {removed} Docker object(s) left by killed runs");
        }
        let canceller = handle.canceller();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("\ncancelling the run (Ctrl-C again to stop at once)");
                canceller.cancel();
                if tokio::signal::ctrl_c().await.is_ok() {
                    // Stop at once, but take along what the steps started and the job
                    // directories (Docker objects go at the next run's gc).
                    canceller.kill();
                    std::process::exit(130);
                }
            }
        });
        let observers: Vec<_> = observers
            .into_iter()
            .map(|(events, workflow)| tokio::spawn(output::observe(events, mode, workflow)))
            .collect();
        let finished = handle.wait().await;
        for observer in observers {
            observer.await.context("the output task failed")??;
        }
        let mut all_ok = true;
        for run in finished? {
            all_ok &= run.outcome.conclusion == gantry_plan::Conclusion::Success;
            output::print_summary(mode, &run.outcome, &run.recorded);
        }
        anyhow::Ok(all_ok)
    });
    // Dropping the runtime waits for the job directories the executor deletes in the background.
    drop(runtime);
    Ok(if all_ok? {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The run the flags ask for.
fn request(args: &RunArgs, cwd: PathBuf) -> Result<RunRequest> {
    let mut secrets = Secrets::new();
    if let Some(file) = &args.secret_file {
        for (name, value) in read_dotenv(file)? {
            secrets.insert(name, Secret::from(value));
        }
    }
    for item in &args.secrets {
        let (name, value) = match item.split_once('=') {
            Some((name, value)) => (name.to_owned(), value.to_owned()),
            None => {
                let value = std::env::var(item).with_context(|| {
                    format!("--secret {item}: no `=VALUE` and no such environment variable")
                })?;
                (item.clone(), value)
            }
        };
        check_name("--secret", &name)?;
        secrets.insert(name, Secret::from(value));
    }
    let mut vars = IndexMap::new();
    if let Some(file) = &args.var_file {
        vars.extend(read_dotenv(file)?);
    }
    vars.extend(pairs("--var", &args.vars)?);
    let mut env: Vec<(String, String)> = Vec::new();
    if let Some(file) = &args.env_file {
        env.extend(read_dotenv(file)?);
    }
    env.extend(pairs("--env", &args.env)?);
    let payload = match &args.event_path {
        Some(path) => {
            let text =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            Some(
                serde_json::from_slice::<Value>(&text)
                    .with_context(|| format!("{}: not valid JSON", path.display()))?,
            )
        }
        None => None,
    };
    let platforms = args
        .platforms
        .iter()
        .map(|flag| gantry_run::config::parse_platform(flag))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RunRequest {
        directory: cwd,
        event: EventRequest {
            name: args.event.clone(),
            payload,
            before: None,
        },
        workflows: args.workflows.clone(),
        jobs: args.jobs.clone(),
        inputs: pairs("--input", &args.inputs)?,
        secrets,
        vars,
        env,
        options: RunOptions {
            platforms,
            pull: args.pull,
            workspace: match args.workspace {
                WorkspaceKind::Copy => WorkspaceMode::Copy,
                WorkspaceKind::Empty => WorkspaceMode::Empty,
            },
            concurrent_jobs: args.concurrent_jobs,
            action_cache: args.action_cache.clone(),
            action_source: gantry_run::ActionSource {
                base_url: args.actions_url.clone(),
                offline: args.offline,
                ..Default::default()
            },
            ..RunOptions::default()
        },
        rerun: None,
    })
}

/// Renders workflow errors the way `gantry lint` does, on stderr.
fn render_workflow_errors(files: Vec<WorkflowErrors>) -> Result<()> {
    let reports: Vec<FileReport> = files
        .into_iter()
        .map(|file| FileReport {
            path: file.path,
            source: file.source,
            diagnostics: file.diagnostics,
        })
        .collect();
    let mut err = std::io::stderr().lock();
    render_text(
        &mut err,
        &reports,
        std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    )?;
    Ok(())
}

fn pairs(flag: &str, items: &[String]) -> Result<IndexMap<String, String>> {
    let mut out = IndexMap::new();
    for item in items {
        let Some((k, v)) = item.split_once('=') else {
            bail!("{flag} {item}: expected NAME=VALUE");
        };
        check_name(flag, k)?;
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

fn check_name(flag: &str, name: &str) -> Result<()> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        bail!("{flag}: invalid name {name:?}");
    }
    Ok(())
}

fn read_dotenv(path: &Path) -> Result<Vec<(String, String)>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(gantry_run::dotenv::parse(
        &path.display().to_string(),
        &text,
    )?)
}
