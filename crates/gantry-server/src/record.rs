//! Records one workflow run in the store as its events arrive: a job row when the job starts
//! (added and claimed at once: this process runs it), steps as they start and finish, log
//! lines through `logs::JobLog`, summaries, and the job's conclusion and outputs.
//!
//! Invariant: observers never reach back into the run; a store error is logged and the run goes
//! on (its status is settled when the run ends or at the next start). Tests: `tests/server.rs`.

use std::collections::HashMap;

use gantry_run::RunEvent;
use gantry_store::{AttemptId, Conclusion, JobId, NewJob, RunId, Status};

use crate::context::ApiContext;
use crate::error::ServerError;
use crate::logs::JobLog;

/// The store's name for a conclusion of the engine.
pub fn conclusion(value: gantry_plan::Conclusion) -> Conclusion {
    match value {
        gantry_plan::Conclusion::Success => Conclusion::Success,
        gantry_plan::Conclusion::Failure => Conclusion::Failure,
        gantry_plan::Conclusion::Cancelled => Conclusion::Cancelled,
        gantry_plan::Conclusion::Skipped => Conclusion::Skipped,
    }
}

struct JobState {
    id: JobId,
    log: JobLog,
    step: Option<i64>,
}

pub struct RunRecorder {
    context: ApiContext,
    run: RunId,
    attempt: AttemptId,
    jobs: HashMap<String, JobState>,
}

impl RunRecorder {
    pub fn new(context: ApiContext, run: RunId, attempt: AttemptId) -> RunRecorder {
        RunRecorder {
            context,
            run,
            attempt,
            jobs: HashMap::new(),
        }
    }

    /// Adds a job and claims it; the claim lock makes the claimed job the one just added.
    async fn add_job(&mut self, key: &str, name: &str) -> Result<JobId, ServerError> {
        let store = &self.context.store;
        let _claiming = self.context.job_claim.lock().await;
        let added = store
            .add_jobs(
                self.attempt,
                &[NewJob {
                    job_key: key.to_owned(),
                    name: name.to_owned(),
                    matrix: None,
                    status: Status::Queued,
                    environment: None,
                }],
            )
            .await?;
        // Cannot panic: add_jobs returns one row per job given, in one transaction.
        let job = added[0].id;
        match store.claim_job("gantry-server").await? {
            Some(claimed) if claimed.id == job => {}
            other => {
                return Err(ServerError::ForeignClaim {
                    added: job,
                    claimed: other.map(|j| j.id),
                })
            }
        }
        store.start_job(job).await?;
        self.context.metrics.job_started();
        let log = JobLog::create(&self.context.data_dir, self.run, job)?;
        self.jobs.insert(
            key.to_owned(),
            JobState {
                id: job,
                log,
                step: None,
            },
        );
        Ok(job)
    }

    pub async fn on_event(&mut self, event: RunEvent) {
        if let Err(error) = self.apply(event).await {
            tracing::error!(run = %self.run, error = %error_chain(&error), "recording the run");
        }
    }

    async fn apply(&mut self, event: RunEvent) -> Result<(), ServerError> {
        let store = self.context.store.clone();
        match event {
            RunEvent::RunStarted { run_id, .. } => {
                crate::worker::mark_running(&self.context.data_dir, self.run, &run_id)?;
            }
            RunEvent::JobQueued { .. } | RunEvent::RunFinished { .. } => {}
            RunEvent::JobStarted { key, display_name } => {
                self.add_job(&key, &display_name).await?;
            }
            RunEvent::JobEvent { key, event } => {
                let Some(job) = self.jobs.get_mut(&key) else {
                    return Ok(());
                };
                match event {
                    gantry_plan::JobEvent::StepStarted { index, name } => {
                        job.log.flush(&store).await?;
                        let number = index as i64 + 1;
                        job.step = Some(number);
                        job.log.step_started(number, &name)?;
                        store.start_step(job.id, number, &name).await?;
                    }
                    gantry_plan::JobEvent::Log { step, line } => {
                        let step = step.map(|index| index as i64 + 1);
                        job.log
                            .append(&store, step, &line, gantry_store::now_ms())
                            .await?;
                    }
                    gantry_plan::JobEvent::StepFinished {
                        index,
                        conclusion: c,
                        ..
                    } => {
                        job.log.step_finished(index as i64 + 1, c.as_str())?;
                        job.log.flush(&store).await?;
                        store
                            .complete_step(job.id, index as i64 + 1, conclusion(c))
                            .await?;
                    }
                    gantry_plan::JobEvent::Summary { markdown } => {
                        store
                            .put_step_summary(job.id, job.step.unwrap_or(0), &markdown)
                            .await?;
                    }
                    gantry_plan::JobEvent::Annotation { .. } => {}
                }
            }
            RunEvent::JobFinished {
                key,
                display_name,
                result,
            } => {
                if !self.jobs.contains_key(&key) {
                    // Skipped before it started: it still shows, as on GitHub.
                    self.add_job(&key, &display_name).await?;
                }
                self.context.metrics.job_finished();
                let Some(job) = self.jobs.get_mut(&key) else {
                    return Ok(());
                };
                if let Some(error) = &result.error {
                    job.log
                        .append(
                            &store,
                            None,
                            &format!("##[error]{error}"),
                            gantry_store::now_ms(),
                        )
                        .await?;
                }
                job.log.flush(&store).await?;
                let outputs = serde_json::to_string(&result.outputs).ok();
                store
                    .complete_job(job.id, conclusion(result.conclusion), outputs.as_deref())
                    .await?;
            }
        }
        Ok(())
    }
}

/// An error with its causes, `: `-separated, for logs.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        text.push_str(": ");
        text.push_str(&next.to_string());
        cause = next.source();
    }
    text
}
