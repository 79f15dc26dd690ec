//! The worker: takes outbox entries and turns each into runs. It checks the commit out into
//! `work/<entry>/` of the data dir (a local clone whose `origin` names the registered
//! repository, so `gantry-run` builds the event and the `github` context as for any clone),
//! plans each workflow file through `gantry_run::prepare` (one file at a time: a file with
//! errors fails its own run, "invalid workflow file", and not the others), creates the runs in
//! the transaction that marks the entry done, starts them and records them (`record.rs`).
//!
//! Invariant: an entry is done exactly when its runs exist; an entry a killed server had claimed
//! is offered again by `Store::recover`. Runs run in this process, so a run found unfinished at
//! start cannot resume: `settle_orphans` concludes it with [`crate::STOPPED_REASON`].
//! Tests: `tests/server.rs`, the binary's `tests/serve.rs` (`kill -9` and restart).

use std::path::{Path, PathBuf};
use std::time::Duration;

use gantry_run::{EventRequest, Prepared, RunRequest};
use gantry_store::{
    Conclusion, NewRun, Page, Repository, Run, RunFilter, RunId, Status, StatusFilter, Store,
    StoreError, Trigger, WorkflowState,
};
use serde_json::{json, Value};

use crate::context::ApiContext;
use crate::error::ServerError;
use crate::hook::{run_git, DispatchRequest, PushUpdate, ZERO_SHA};
use crate::record::{conclusion, error_chain, RunRecorder};
use crate::STOPPED_REASON;

/// How often the outbox is looked at without a poke.
const POLL: Duration = Duration::from_secs(2);

/// Takes outbox entries until the task is aborted.
pub async fn run(context: ApiContext) {
    let worker = format!("gantry-server-{}", std::process::id());
    loop {
        loop {
            match context.store.claim_trigger(&worker).await {
                Ok(Some(trigger)) => {
                    let context = context.clone();
                    tokio::spawn(async move {
                        let id = trigger.id;
                        if let Err(error) = execute(&context, trigger).await {
                            tracing::error!(trigger = %id, error = %error_chain(&error), "starting runs");
                        }
                    });
                }
                Ok(None) => break,
                Err(error) => {
                    tracing::error!(error = %error_chain(&error), "reading the outbox");
                    break;
                }
            }
        }
        tokio::select! {
            () = context.wake.notified() => {}
            () = tokio::time::sleep(POLL) => {}
        }
    }
}

/// Settles what a killed server left: `Store::recover`, then every run still unfinished (its
/// jobs ran in the dead process) is concluded as failed with [`STOPPED_REASON`]. Returns how
/// many runs were concluded.
pub async fn settle_orphans(store: &Store) -> Result<u64, StoreError> {
    let recovery = store.recover(STOPPED_REASON).await?;
    let mut settled = recovery.runs_concluded;
    for repository in store.list_repositories().await? {
        for status in [Status::InProgress, Status::Queued, Status::Waiting] {
            let filter = RunFilter {
                status: Some(StatusFilter::Status(status)),
                ..RunFilter::default()
            };
            loop {
                let page = Page::Offset {
                    page: 1,
                    per_page: 100,
                };
                let list = store.list_runs(repository.id, &filter, page).await?;
                if list.runs.is_empty() {
                    break;
                }
                for run in list.runs {
                    let attempt = store.attempt(run.id, None).await?;
                    for job in store.list_jobs(attempt.id).await? {
                        if job.status != Status::Completed {
                            store
                                .complete_job(job.id, Conclusion::Failure, None)
                                .await?;
                        }
                    }
                    store
                        .complete_run(run.id, Conclusion::Failure, Some(STOPPED_REASON))
                        .await?;
                    settled += 1;
                }
            }
        }
    }
    Ok(settled)
}

fn running_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("running")
}

/// Notes that the store's run `run` runs as `gantry-run`'s `engine_run_id` (the id its steps'
/// processes carry in `RUNNER_TRACKING_ID`), so a server killed meanwhile can have them killed
/// by the next one (`kill_leftover_processes`).
pub(crate) fn mark_running(
    data_dir: &Path,
    run: RunId,
    engine_run_id: &str,
) -> Result<(), ServerError> {
    let dir = running_dir(data_dir);
    let io_error = |source| ServerError::Io {
        what: format!("noting run {run} in {}", dir.display()),
        source,
    };
    std::fs::create_dir_all(&dir).map_err(io_error)?;
    std::fs::write(dir.join(run.to_string()), engine_run_id).map_err(io_error)
}

fn unmark_running(data_dir: &Path, run: RunId) {
    let _ = std::fs::remove_file(running_dir(data_dir).join(run.to_string()));
}

/// Kills what the steps of runs a killed server was running left behind (found by their
/// `RUNNER_TRACKING_ID`, as `Canceller::kill` finds them). Returns how many processes were
/// signalled.
pub fn kill_leftover_processes(data_dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(running_dir(data_dir)) else {
        return 0;
    };
    let mut killed = 0;
    for entry in entries.filter_map(Result::ok) {
        if let Ok(engine_run_id) = std::fs::read_to_string(entry.path()) {
            let engine_run_id = engine_run_id.trim();
            if !engine_run_id.is_empty() {
                killed += gantry_executor::process::kill_run(engine_run_id);
            }
        }
        let _ = std::fs::remove_file(entry.path());
    }
    killed
}

/// What an outbox entry asks to run.
enum Wanted {
    Push(PushUpdate),
    Dispatch(DispatchRequest),
}

async fn execute(context: &ApiContext, trigger: Trigger) -> Result<(), ServerError> {
    let store = &context.store;
    let repository = store
        .list_repositories()
        .await?
        .into_iter()
        .find(|r| r.id == trigger.repository_id)
        .ok_or_else(|| StoreError::NotFound {
            what: "repository",
            key: trigger.repository_id.to_string(),
        })?;
    let wanted = match trigger.event.as_str() {
        "push" => serde_json::from_str(&trigger.payload).map(Wanted::Push),
        "workflow_dispatch" => serde_json::from_str(&trigger.payload).map(Wanted::Dispatch),
        other => {
            tracing::warn!(event = other, "no runs for this event yet");
            store.finish_trigger(trigger.id).await?;
            return Ok(());
        }
    };
    let wanted = match wanted {
        Ok(wanted) => wanted,
        Err(error) => {
            tracing::error!(trigger = %trigger.id, %error, "unreadable outbox entry");
            store.finish_trigger(trigger.id).await?;
            return Ok(());
        }
    };
    if let Wanted::Push(push) = &wanted {
        // A deleted branch or tag runs nothing (GitHub starts no workflow run for it).
        if push.after == ZERO_SHA {
            store.finish_trigger(trigger.id).await?;
            return Ok(());
        }
    }
    let work = context.data_dir.join("work").join(trigger.id.to_string());
    let checkout = {
        let repository = repository.clone();
        let work = work.clone();
        let target = match &wanted {
            Wanted::Push(push) => (
                push.git_ref.clone(),
                push.after.clone(),
                push.pusher.clone(),
            ),
            Wanted::Dispatch(dispatch) => (
                dispatch.git_ref.clone(),
                String::new(),
                dispatch.actor.clone(),
            ),
        };
        tokio::task::spawn_blocking(move || {
            check_out(&repository, &work, &target.0, &target.1, &target.2)
        })
        .await
        .map_err(|source| ServerError::Task {
            what: "checking out",
            source,
        })?
    };
    let checked_out = match checkout {
        Ok(checked_out) => checked_out,
        Err(error) => {
            tracing::error!(trigger = %trigger.id, error = %error_chain(&error), "checking out the pushed commit");
            store.finish_trigger(trigger.id).await?;
            let _ = std::fs::remove_dir_all(&work);
            return Ok(());
        }
    };

    let planned = {
        let work = work.clone();
        let data_dir = context.data_dir.clone();
        let (wanted, push_before) = match &wanted {
            Wanted::Push(push) => (None, Some(push.before.clone())),
            Wanted::Dispatch(dispatch) => (Some(dispatch.clone()), None),
        };
        let trigger_id = trigger.id;
        tokio::task::spawn_blocking(move || {
            plan_all(
                &work,
                &data_dir,
                trigger_id,
                wanted.as_ref(),
                push_before.as_deref(),
            )
        })
        .await
        .map_err(|source| ServerError::Task {
            what: "planning",
            source,
        })??
    };

    let event_name = trigger.event.clone();
    let mut new_runs = Vec::new();
    for plan in &planned {
        let workflow = store
            .upsert_workflow(repository.id, &plan.file, &plan.name, WorkflowState::Active)
            .await?;
        new_runs.push(NewRun {
            workflow_id: workflow.id,
            event: event_name.clone(),
            git_ref: Some(checked_out.git_ref.clone()),
            head_branch: Some(checked_out.short_ref().to_owned()),
            head_sha: checked_out.sha.clone(),
            actor: checked_out.actor.clone(),
            display_title: plan
                .title
                .clone()
                .unwrap_or_else(|| checked_out.title.clone()),
            payload: plan.payload.clone(),
            diagnostics: plan.diagnostics.clone(),
            created_at: gantry_store::now_ms(),
            trigger: Some(trigger.id),
        });
    }
    // The runs and the entry's end in one transaction: exactly once, also across a kill.
    let runs = if new_runs.is_empty() {
        store.finish_trigger(trigger.id).await?;
        Vec::new()
    } else {
        store.create_runs(trigger.id, &new_runs).await?
    };
    tracing::info!(trigger = %trigger.id, runs = runs.len(), "trigger answered");

    let mut tasks = Vec::new();
    for (plan, run) in planned.into_iter().zip(runs) {
        if let Some(prepared) = plan.prepared {
            let context = context.clone();
            tasks.push(tokio::spawn(async move {
                start_and_record(context, run, prepared).await
            }));
        }
    }
    for task in tasks {
        if let Ok(Err(error)) = task.await {
            tracing::error!(error = %error_chain(&error), "recording a run");
        }
    }
    let _ = tokio::fs::remove_dir_all(&work).await;
    Ok(())
}

pub(crate) async fn start_and_record(
    context: ApiContext,
    run: Run,
    prepared: Prepared,
) -> Result<(), ServerError> {
    let store = context.store.clone();
    let attempt = store.attempt(run.id, None).await?;
    let mut events = prepared.subscribe();
    let started = std::time::Instant::now();
    let handle = match prepared.start().await {
        Ok(handle) => handle,
        Err(error) => {
            store
                .complete_run(run.id, Conclusion::Failure, Some(&error_chain(&error)))
                .await?;
            return Ok(());
        }
    };
    context.set_running(run.id, Some(handle.canceller()));
    let mut recorder = RunRecorder::new(context.clone(), run.id, attempt.id);
    while let Some(update) = events.recv().await {
        recorder.on_event(update.event).await;
    }
    let finished = handle.wait().await;
    context.set_running(run.id, None);
    unmark_running(&context.data_dir, run.id);
    context
        .metrics
        .run_finished(started.elapsed().as_millis() as u64);
    match finished {
        Ok(finished) => {
            let (result, reason) = match finished.first() {
                Some(done) => (
                    conclusion(done.outcome.conclusion),
                    done.outcome.error.clone(),
                ),
                None => (
                    Conclusion::Failure,
                    Some("the run ended without an outcome".to_owned()),
                ),
            };
            store
                .complete_run(run.id, result, reason.as_deref())
                .await?;
        }
        Err(error) => {
            store
                .complete_run(run.id, Conclusion::Failure, Some(&error_chain(&error)))
                .await?;
        }
    }
    Ok(())
}

/// The commit a trigger runs on, checked out.
pub(crate) struct CheckedOut {
    git_ref: String,
    sha: String,
    actor: String,
    /// The head commit's subject, a push run's title.
    title: String,
}

impl CheckedOut {
    fn short_ref(&self) -> &str {
        self.git_ref
            .strip_prefix("refs/heads/")
            .or_else(|| self.git_ref.strip_prefix("refs/tags/"))
            .unwrap_or(&self.git_ref)
    }
}

/// Clones the registered repository into `work` and checks out `sha` (or `git_ref` when `sha`
/// is empty): on a branch of the same name for a branch, detached for a tag. `origin` is set to
/// the repository's registered name so `gantry-run` sees `OWNER/NAME`, and `user.name` to the
/// actor, who becomes `github.actor`.
pub(crate) fn check_out(
    repository: &Repository,
    work: &Path,
    git_ref: &str,
    sha: &str,
    actor: &str,
) -> Result<CheckedOut, ServerError> {
    let source = repository.path.as_deref().ok_or_else(|| {
        ServerError::Input(format!(
            "{}/{} has no local path",
            repository.owner, repository.name
        ))
    })?;
    let _ = std::fs::remove_dir_all(work);
    if let Some(parent) = work.parent() {
        std::fs::create_dir_all(parent).map_err(|source| ServerError::Io {
            what: format!("creating {}", parent.display()),
            source,
        })?;
    }
    let work_text = work.to_string_lossy().into_owned();
    run_git(
        Path::new("."),
        &["clone", "--quiet", "--no-checkout", source, &work_text],
    )?;
    // A dispatch names a branch, a tag or a SHA.
    let (git_ref, sha) = if sha.is_empty() {
        resolve_ref(work, git_ref)?
    } else {
        (git_ref.to_owned(), sha.to_owned())
    };
    let commit = run_git(
        work,
        &["rev-parse", "--verify", &format!("{sha}^{{commit}}")],
    )?;
    match git_ref.strip_prefix("refs/heads/") {
        Some(branch) => run_git(work, &["checkout", "--quiet", "-B", branch, &commit])?,
        None => run_git(
            work,
            &[
                "-c",
                "advice.detachedHead=false",
                "checkout",
                "--quiet",
                "--detach",
                &commit,
            ],
        )?,
    };
    let origin = format!(
        "https://gantry.invalid/{}/{}.git",
        repository.owner, repository.name
    );
    run_git(work, &["config", "remote.origin.url", &origin])?;
    run_git(work, &["config", "user.name", actor])?;
    run_git(
        work,
        &["config", "init.defaultBranch", &repository.default_branch],
    )?;
    let title = run_git(work, &["log", "-1", "--format=%s", &commit]).unwrap_or_default();
    Ok(CheckedOut {
        git_ref,
        sha: commit,
        actor: actor.to_owned(),
        title,
    })
}

/// `main`, `v1`, `refs/heads/main` or a SHA → (full ref, SHA), as GitHub resolves a dispatch's
/// `ref`.
fn resolve_ref(work: &Path, wanted: &str) -> Result<(String, String), ServerError> {
    let candidates = if wanted.starts_with("refs/") {
        vec![wanted.to_owned()]
    } else {
        vec![
            format!("refs/remotes/origin/{wanted}"),
            format!("refs/tags/{wanted}"),
        ]
    };
    for candidate in candidates {
        if let Ok(sha) = run_git(work, &["rev-parse", "--verify", "--quiet", &candidate]) {
            let full = match candidate.strip_prefix("refs/remotes/origin/") {
                Some(branch) => format!("refs/heads/{branch}"),
                None => candidate,
            };
            return Ok((full, sha));
        }
    }
    Err(ServerError::Input(format!("no branch or tag '{wanted}'")))
}

/// One workflow file's run-to-be: planned, or an "invalid workflow file" run.
struct PlannedFile {
    file: String,
    name: String,
    title: Option<String>,
    payload: String,
    diagnostics: Option<String>,
    prepared: Option<Prepared>,
}

fn plan_all(
    work: &Path,
    data_dir: &Path,
    trigger: gantry_store::TriggerId,
    dispatch: Option<&DispatchRequest>,
    push_before: Option<&str>,
) -> Result<Vec<PlannedFile>, ServerError> {
    let files: Vec<String> = match dispatch {
        Some(dispatch) => vec![dispatch.workflow.clone()],
        None => match gantry_run::workflows::collect_files(&work.join(".github/workflows")) {
            Ok(files) => files
                .iter()
                .filter_map(|file| file.strip_prefix(work).ok())
                .map(|file| file.to_string_lossy().into_owned())
                .collect(),
            Err(_) => Vec::new(),
        },
    };
    let mut planned = Vec::new();
    for file in files {
        let mut request = RunRequest::new(
            work,
            if dispatch.is_some() {
                "workflow_dispatch"
            } else {
                "push"
            },
        );
        request.workflows = Some(PathBuf::from(&file));
        if let Some(dispatch) = dispatch {
            request.inputs = dispatch.inputs.clone();
            request.event = EventRequest {
                name: "workflow_dispatch".to_owned(),
                payload: None,
                before: None,
            };
        } else {
            request.event.before = push_before.map(str::to_owned);
        }
        request.options.work_root = Some(
            data_dir
                .join("work")
                .join(format!("{trigger}-jobs-{}", planned.len())),
        );
        // gantry-run's own record is redundant with the store; it goes with the work dir.
        request.options.runs_dir = Some(work.join(".git/gantry-records"));
        match gantry_run::prepare(request) {
            Ok(prepared) => {
                let Some(run) = prepared.runs().first() else {
                    continue;
                };
                let github = run.plan.contexts.get("github");
                let payload = github
                    .and_then(|github| github.get("event"))
                    .cloned()
                    .unwrap_or_else(|| json!({}));
                // A push run is titled by its commit; a dispatched one by its workflow.
                let title = dispatch.map(|_| run.plan.workflow_name.clone());
                planned.push(PlannedFile {
                    file: run.workflow_file.clone(),
                    name: run.plan.workflow_name.clone(),
                    title,
                    payload: payload.to_string(),
                    diagnostics: None,
                    prepared: Some(prepared),
                });
            }
            Err(gantry_run::Error::Workflows(errors)) => {
                let diagnostics: Vec<Value> = errors
                    .iter()
                    .flat_map(|errors| {
                        errors.diagnostics.iter().filter(|d| d.is_error()).map(|d| {
                            json!({
                                "path": file,
                                "line": d.span.start.line,
                                "column": d.span.start.col,
                                "end_line": d.span.end.line,
                                "end_column": d.span.end.col,
                                "rule": d.code,
                                "message": d.message,
                            })
                        })
                    })
                    .collect();
                planned.push(PlannedFile {
                    file: file.clone(),
                    name: file.clone(),
                    title: None,
                    payload: "{}".to_owned(),
                    diagnostics: Some(Value::Array(diagnostics).to_string()),
                    prepared: None,
                });
            }
            Err(error) => {
                // Not a problem of the file (no git, a bad input): nothing to show as a run.
                tracing::warn!(file, error = %error_chain(&error), "workflow not run");
            }
        }
    }
    Ok(planned)
}
