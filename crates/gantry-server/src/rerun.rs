//! Re-runs (GitHub's "re-run all jobs" and "re-run failed jobs"): the next attempt of a
//! completed run, on the same commit, event and payload, through `gantry_run`'s `Rerun` (the jobs
//! not run again keep their results and outputs for `needs`).
//!
//! The earlier attempt's outcome is rebuilt from the store's jobs: each job's key, conclusion
//! and outputs; a matrix leg's key `<id>-<n>` also counts for `<id>` (a failed leg fails it).
//! Invariant: the new attempt exists in the store before the request is answered; an attempt a
//! killed server did not finish is settled at the next start. Tests: `crates/gantry/tests/serve.rs`.

use std::path::PathBuf;

use gantry_run::{EventRequest, RerunScope, RunRequest};
use gantry_store::{Attempt, Conclusion, Repository, RunDetail};
use serde_json::{json, Map, Value};

use crate::context::ApiContext;
use crate::error::ServerError;
use crate::record::error_chain;
use crate::worker::{check_out, start_and_record};

fn plan_conclusion(conclusion: Option<Conclusion>) -> &'static str {
    match conclusion {
        Some(Conclusion::Success) => "success",
        Some(Conclusion::Skipped) => "skipped",
        Some(Conclusion::Cancelled) => "cancelled",
        _ => "failure",
    }
}

/// The earlier attempt's outcome, as `gantry_run::Rerun` wants it.
async fn previous_outcome(
    context: &ApiContext,
    detail: &RunDetail,
) -> Result<gantry_run::RunOutcome, ServerError> {
    let attempt = context.store.attempt(detail.run.id, None).await?;
    let mut jobs = Map::new();
    let mut needs = Map::new();
    for job in context.store.list_jobs(attempt.id).await? {
        let conclusion = plan_conclusion(job.conclusion);
        let outputs: Value = job
            .outputs
            .as_deref()
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or_else(|| json!({}));
        jobs.insert(
            job.job_key.clone(),
            json!({
                "display_name": job.name,
                "result": { "conclusion": conclusion, "outputs": outputs, "error": null },
            }),
        );
        let mut keys = vec![job.job_key.clone()];
        if let Some((base, leg)) = job.job_key.rsplit_once('-') {
            if !leg.is_empty() && leg.bytes().all(|b| b.is_ascii_digit()) {
                keys.push(base.to_owned());
            }
        }
        for key in keys {
            let worse = match needs.get(&key).and_then(Value::as_str) {
                Some("failure") => "failure",
                _ => conclusion,
            };
            needs.insert(key, json!(worse));
        }
    }
    let outcome = json!({
        "conclusion": plan_conclusion(detail.run.conclusion),
        "jobs": jobs,
        "needs_results": needs,
        "error": null,
    });
    serde_json::from_value(outcome).map_err(|source| ServerError::Json {
        what: format!("rebuilding the outcome of run {}", detail.run.id),
        source,
    })
}

/// Starts the next attempt of a completed run; returns it once it is in the store.
pub async fn start(
    context: &ApiContext,
    repository: Repository,
    detail: RunDetail,
    workflow_file: String,
    scope: RerunScope,
    actor: &str,
) -> Result<Attempt, ServerError> {
    let previous = previous_outcome(context, &detail).await?;
    let previous_attempt = detail.run.run_attempt;
    let attempt = context.store.rerun(detail.run.id, actor).await?;
    let context = context.clone();
    tokio::spawn(async move {
        let run_id = detail.run.id;
        if let Err(error) = run_attempt(
            &context,
            repository,
            detail,
            workflow_file,
            scope,
            previous,
            previous_attempt,
        )
        .await
        {
            tracing::error!(run = %run_id, error = %error_chain(&error), "re-run");
            let _ = context
                .store
                .complete_run(run_id, Conclusion::Failure, Some(&error_chain(&error)))
                .await;
        }
    });
    Ok(attempt)
}

/// Checks the run's commit out again, prepares the re-run and records it as the new attempt.
async fn run_attempt(
    context: &ApiContext,
    repository: Repository,
    detail: RunDetail,
    workflow_file: String,
    scope: RerunScope,
    previous: gantry_run::RunOutcome,
    previous_attempt: i64,
) -> Result<(), ServerError> {
    let run = detail.run.clone();
    let work =
        context
            .data_dir
            .join("work")
            .join(format!("rerun-{}-{}", run.id, previous_attempt + 1));
    let git_ref = run.git_ref.clone().unwrap_or_default();
    let payload: Value = serde_json::from_str(&detail.payload).unwrap_or_else(|_| json!({}));
    let prepared = {
        let work = work.clone();
        let sha = run.head_sha.clone();
        // github.actor stays the first run's actor; who re-ran is the attempt's actor.
        let actor = run.actor.clone();
        let event = run.event.clone();
        let run_number = run.run_number;
        let run_id = run.id;
        tokio::task::spawn_blocking(move || -> Result<gantry_run::Prepared, ServerError> {
            check_out(&repository, &work, &git_ref, &sha, &actor)?;
            let mut request = RunRequest::new(&work, event.clone());
            request.workflows = Some(PathBuf::from(&workflow_file));
            if event == "workflow_dispatch" {
                if let Some(inputs) = payload.get("inputs").and_then(Value::as_object) {
                    request.inputs = inputs
                        .iter()
                        .map(|(k, v)| {
                            (
                                k.clone(),
                                v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                            )
                        })
                        .collect();
                }
            } else {
                request.event = EventRequest {
                    name: event,
                    payload: Some(payload),
                    before: None,
                };
            }
            request.options.work_root = Some(work.with_extension("jobs"));
            request.options.runs_dir = Some(work.join(".git/gantry-records"));
            request.rerun = Some(gantry_run::Rerun {
                workflow_file,
                run_id: run_id.to_string(),
                run_number: run_number as u64,
                previous_attempt: previous_attempt as u32,
                previous,
                scope,
            });
            gantry_run::prepare(request).map_err(ServerError::Run)
        })
        .await
        .map_err(|source| ServerError::Task {
            what: "preparing the re-run",
            source,
        })??
    };
    let result = start_and_record(context.clone(), run, prepared).await;
    let _ = tokio::fs::remove_dir_all(&work).await;
    result
}
