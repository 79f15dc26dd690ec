//! `gantry run`: runs the workflows of the current repository that listen to an event, on the
//! host, with GitHub's semantics.
//!
//! The flow: find the repository → load and check every workflow (any error stops here, exit 2,
//! nothing runs) → build the event (`event`) → select the workflows whose `on:` matches →
//! resolve inputs, secrets, vars → lower each to a plan (`gantry_plan`) → `-l`/`--dry-run` print
//! it, otherwise the scheduler runs it on the host executor while `output` renders events and
//! `record` saves them under `.gantry/runs/<n>/`.
//!
//! Invariant: every usage problem (unknown `-j` job, bad input value, malformed `--secret`,
//! workflow errors) is reported before anything runs. Tests: `tests/run.rs`.

mod dotenv;
mod event;
mod git;
mod output;
mod platform;
mod record;

use crate::lint::lint_file;
use crate::render::{render_text, FileReport};
use anyhow::{bail, Context, Result};
use clap::Args;
use gantry_executor::{HostExecutor, HostExecutorOptions};
use gantry_plan::{
    lower, resolve_dispatch_inputs, select, Plan, RunContext, RunInfo, WorkspaceSpec,
};
use gantry_scheduler::{run_plan, RunEvent, SchedulerOptions};
use gantry_workflow::{load_workflow, Diagnostic, Workflow};
use indexmap::IndexMap;
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

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
    /// Where remote actions (`owner/repo@ref`) are looked up, as `owner/repo/ref/`.
    #[arg(long = "action-cache")]
    pub action_cache: Option<PathBuf>,
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

/// A workflow file that loaded without errors.
struct Loaded {
    /// Repo-relative path (`.github/workflows/ci.yml`).
    rel: String,
    workflow: Workflow,
}

pub fn run(args: RunArgs) -> Result<ExitCode> {
    let cwd = std::env::current_dir().context("reading the current directory")?;
    let root = git::find_root(&cwd)?;
    let repo = git::inspect(&root)?;
    let platforms = platform::resolve(&root, &args.platforms)?;

    // 1. Load and check every workflow; errors stop everything.
    let dir = match &args.workflows {
        Some(p) => cwd.join(p),
        None => root.join(".github/workflows"),
    };
    let files = crate::lint::collect_files(std::slice::from_ref(&dir))
        .with_context(|| format!("looking for workflows in {}", dir.display()))?;
    if files.is_empty() {
        bail!("no workflow files in {}", dir.display());
    }
    let mut reports: Vec<FileReport> = Vec::new();
    let mut loaded = Vec::new();
    for file in &files {
        let mut report = lint_file(file);
        report.diagnostics.retain(Diagnostic::is_error);
        if !report.diagnostics.is_empty() {
            reports.push(report);
            continue;
        }
        let (workflow, _) = load_workflow(&report.source);
        let rel = file
            .strip_prefix(&root)
            .unwrap_or(file)
            .to_string_lossy()
            .replace('\\', "/");
        loaded.push(Loaded { rel, workflow });
    }
    if !reports.is_empty() {
        let mut err = std::io::stderr().lock();
        render_text(
            &mut err,
            &reports,
            std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        )?;
        eprintln!("error: the workflows have errors; nothing was run");
        return Ok(ExitCode::from(2));
    }

    // 2. Inputs, secrets, vars, env.
    let given_inputs = pairs("--input", &args.inputs)?;
    let mut secrets: IndexMap<String, String> = IndexMap::new();
    if let Some(file) = &args.secret_file {
        secrets.extend(read_dotenv(file)?);
    }
    for item in &args.secrets {
        let (k, v) = match item.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => {
                let v = std::env::var(item).with_context(|| {
                    format!("--secret {item}: no `=VALUE` and no such environment variable")
                })?;
                (item.clone(), v)
            }
        };
        check_name("--secret", &k)?;
        secrets.insert(k, v);
    }
    let mut vars = Map::new();
    if let Some(file) = &args.var_file {
        for (k, v) in read_dotenv(file)? {
            vars.insert(k, Value::String(v));
        }
    }
    for (k, v) in pairs("--var", &args.vars)? {
        vars.insert(k, Value::String(v));
    }
    let mut extra_env: Vec<(String, String)> = Vec::new();
    if let Some(file) = &args.env_file {
        extra_env.extend(read_dotenv(file)?);
    }
    extra_env.extend(pairs("--env", &args.env)?);

    let given_payload = match &args.event_path {
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

    // 3. Select the workflows that listen to the event, resolve their inputs.
    let runs_dir = root.join(".gantry/runs");
    let mut first_number = record::next_run_number(&runs_dir)?;
    let first_run_number = first_number;
    let mut plans: Vec<(Plan, String)> = Vec::new();
    let mut not_selected = Vec::new();
    for loaded in &loaded {
        let inputs = if args.event == "workflow_dispatch" {
            match resolve_dispatch_inputs(&loaded.workflow, &given_inputs) {
                Ok(inputs) => inputs,
                Err(gantry_plan::InputError::NotDispatchable) => {
                    not_selected.push(format!(
                        "{}: the workflow does not listen to 'workflow_dispatch'",
                        loaded.rel
                    ));
                    continue;
                }
                Err(err) => bail!("{}: {err}", loaded.rel),
            }
        } else {
            Map::new()
        };
        let event = event::build(&repo, &args.event, given_payload.clone(), &inputs)?;
        if let Err(why) = select(&loaded.workflow, &event.info) {
            not_selected.push(format!("{}: {why}", loaded.rel));
            continue;
        }
        let run_id = record::run_id(first_number - first_run_number);
        let run_number = first_number;
        first_number += 1;
        let workflow_name = loaded
            .workflow
            .name
            .as_ref()
            .map(|n| n.raw.clone())
            .unwrap_or_else(|| loaded.rel.clone());
        let github = event::github_context(
            &repo,
            &event,
            &workflow_name,
            &loaded.rel,
            &run_id,
            run_number,
        );
        let context = RunContext {
            run: RunInfo {
                run_id: run_id.clone(),
                run_number,
                attempt: 1,
                workspace: WorkspaceSpec {
                    source_path: root.to_string_lossy().into_owned(),
                    sha: repo.sha.clone(),
                    git_ref: Some(event.git_ref.clone()),
                },
            },
            workflow_file: loaded.rel.clone(),
            github,
            inputs,
            vars: vars.clone(),
            secrets: secrets.clone(),
        };
        let source = gantry_executor::RepoDir::new(root.clone());
        let mut plan = lower(&loaded.workflow, context, &source)
            .with_context(|| format!("planning {}", loaded.rel))?;
        if !extra_env.is_empty() {
            let mut env = extra_env.clone();
            env.extend(std::mem::take(&mut plan.graph.env));
            plan.graph.env = env;
        }
        plans.push((plan, loaded.rel.clone()));
    }
    if !given_inputs.is_empty() && args.event != "workflow_dispatch" {
        bail!("--input is only for the workflow_dispatch event");
    }

    // 4. `-j`: keep the named jobs and what they need; an unknown name is an error.
    if !args.jobs.is_empty() {
        let known: HashSet<&str> = plans
            .iter()
            .flat_map(|(p, _)| p.graph.jobs.iter().map(|j| j.job_id.as_str()))
            .collect();
        for job in &args.jobs {
            if !known.contains(job.as_str()) {
                let mut names: Vec<&str> = known.iter().copied().collect();
                names.sort();
                bail!(
                    "no job '{job}' in the workflows that run for '{}' (jobs: {})",
                    args.event,
                    names.join(", ")
                );
            }
        }
        for (plan, _) in &mut plans {
            restrict_to(plan, &args.jobs);
        }
        plans.retain(|(p, _)| !p.graph.jobs.is_empty());
    }

    if plans.is_empty() {
        eprintln!("no workflow runs for '{}' on {}:", args.event, repo.git_ref);
        for reason in &not_selected {
            eprintln!("  {reason}");
        }
        return Ok(ExitCode::SUCCESS);
    }

    if args.list {
        output::print_list(&plans);
        return Ok(ExitCode::SUCCESS);
    }
    if args.dry_run {
        output::print_dry_run(&plans);
        return Ok(ExitCode::SUCCESS);
    }

    // 5. Run.
    let concurrent_jobs = args.concurrent_jobs.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    });
    let sweep = sweep_stale_work_roots();
    let mut options = HostExecutorOptions::new(work_dir());
    options.action_cache = Some(
        args.action_cache
            .clone()
            .unwrap_or_else(default_action_cache),
    );
    options.cache_dir = user_cache_dir().join("gantry/cache");
    options.artifact_dir = root.join(".gantry/artifacts");
    // What a killed run left in the Docker engine goes before this run creates anything there.
    let needs_docker = platforms
        .iter()
        .any(|(_, p)| matches!(p, gantry_executor::Platform::Docker(_)))
        || plans.iter().any(|(p, _)| {
            p.graph.jobs.iter().any(|j| match &j.body {
                gantry_plan::JobBody::Steps(s) => s.uses_containers(),
                gantry_plan::JobBody::Call(_) => false,
            })
        });
    options.platforms = platforms;
    options.pull = args.pull;
    options.prefill_workspace = args.workspace == WorkspaceKind::Copy;
    let executor: Arc<dyn gantry_plan::Executor> = Arc::new(HostExecutor::new(options));
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
        if needs_docker {
            // Only objects whose creating process is gone: a run still going keeps its own.
            if let Ok(engine) = gantry_docker::Engine::connect().await {
                if let Ok(report) = engine.gc_stale().await {
                    let removed =
                        report.containers.len() + report.networks.len() + report.volumes.len();
                    if removed > 0 {
                        eprintln!("removed {removed} Docker object(s) left by killed runs");
                    }
                }
            }
        }
        let cancel = CancellationToken::new();
        let ctrl_c = cancel.clone();
        let run_ids: Vec<String> = plans.iter().map(|(p, _)| p.run.run_id.clone()).collect();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("\ncancelling the run (Ctrl-C again to stop at once)");
                ctrl_c.cancel();
                if tokio::signal::ctrl_c().await.is_ok() {
                    // Stop at once, but take along what the steps started and the job
                    // directories (Docker objects go at the next run's gc).
                    for run_id in &run_ids {
                        gantry_executor::process::kill_run(run_id);
                    }
                    let _ = std::fs::remove_dir_all(work_dir());
                    std::process::exit(130);
                }
            }
        });
        let scheduler_options = SchedulerOptions {
            concurrent_jobs: Some(concurrent_jobs),
            ..SchedulerOptions::default()
        };
        let mut tasks = Vec::new();
        for (plan, rel) in plans {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<RunEvent>();
            let recorder = record::Recorder::create(&runs_dir, &plan, &rel)?;
            let observer = tokio::spawn(output::observe(
                rx,
                mode,
                recorder,
                plan.workflow_name.clone(),
            ));
            let run = tokio::spawn(run_plan(
                plan,
                executor.clone(),
                scheduler_options.clone(),
                tx,
                cancel.clone(),
            ));
            tasks.push((run, observer));
        }
        let mut all_ok = true;
        for (run, observer) in tasks {
            let outcome = run.await.context("the run task failed")?;
            let recorder = observer.await.context("the output task failed")??;
            let recorded = recorder.finish(Some(&outcome))?;
            all_ok &= outcome.conclusion == gantry_plan::Conclusion::Success;
            output::print_summary(mode, &outcome, &recorded);
        }
        anyhow::Ok(all_ok)
    });
    // The executor deletes job directories in the background as jobs end; dropping the runtime
    // waits for those deletions. The rest of the work root (repository snapshots) is ours, also
    // when the run ended in an error.
    drop(runtime);
    let _ = std::fs::remove_dir_all(work_dir());
    if let Some(sweep) = sweep {
        let _ = sweep.join();
    }
    let all_ok = all_ok?;
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Keeps `names` and every job they need, transitively.
fn restrict_to(plan: &mut Plan, names: &[String]) {
    let mut keep: HashSet<String> = HashSet::new();
    let mut todo: Vec<String> = names
        .iter()
        .filter(|n| plan.graph.job(n).is_some())
        .cloned()
        .collect();
    while let Some(name) = todo.pop() {
        if keep.insert(name.clone()) {
            if let Some(job) = plan.graph.job(&name) {
                todo.extend(job.needs.iter().cloned());
            }
        }
    }
    plan.graph.jobs.retain(|j| keep.contains(&j.job_id));
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
    dotenv::parse(&path.display().to_string(), &text)
}

fn user_cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
}

fn default_action_cache() -> PathBuf {
    user_cache_dir().join("gantry/actions")
}

/// Job directories live outside the repository, so a job's copy never contains another's.
fn work_dir() -> PathBuf {
    std::env::temp_dir().join(format!("gantry-{}", std::process::id()))
}

/// Removes, on a thread of its own, the work roots (`$TMPDIR/gantry-<pid>`) that runs killed
/// before their clean-up left: those whose process is gone. A pid that runs again (reused) keeps
/// its directory until it is gone too. Nothing is done where `/proc` does not tell.
fn sweep_stale_work_roots() -> Option<std::thread::JoinHandle<()>> {
    if !Path::new("/proc/self").exists() {
        return None;
    }
    let entries = std::fs::read_dir(std::env::temp_dir()).ok()?;
    let stale: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|entry| {
            let name = entry.file_name();
            let pid = name
                .to_str()
                .and_then(|n| n.strip_prefix("gantry-"))
                .and_then(|n| n.parse::<u32>().ok());
            pid.is_some_and(|pid| {
                pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists()
            }) && entry.file_type().is_ok_and(|t| t.is_dir())
                && holds_only_run_dirs(&entry.path())
        })
        .map(|entry| entry.path())
        .collect();
    if stale.is_empty() {
        return None;
    }
    // Beside the run, joined at its end (a removal cut short by a kill goes on next time).
    Some(std::thread::spawn(move || {
        for dir in stale {
            let _ = std::fs::remove_dir_all(dir);
        }
    }))
}

/// Whether everything in `dir` is named like a run's directory (`<run id>-<attempt>`), so that a
/// `gantry-<n>` directory of some other program is left alone.
fn holds_only_run_dirs(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.filter_map(Result::ok).all(|entry| {
            let name = entry.file_name();
            name.to_str()
                .and_then(|n| n.split_once('-'))
                .is_some_and(|(run, attempt)| {
                    !run.is_empty()
                        && !attempt.is_empty()
                        && run.bytes().all(|b| b.is_ascii_digit())
                        && attempt.bytes().all(|b| b.is_ascii_digit())
                })
        })
    })
}
