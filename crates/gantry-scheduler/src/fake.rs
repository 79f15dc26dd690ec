//! A fake executor for scenario tests, benchmarks and dry runs: each job succeeds, fails, hangs
//! or sets outputs as told, after a given (tokio) time, and honours cancellation.
//!
//! Invariant: never spawns processes or touches files. A job is looked up by key (`test-2`), then
//! display name (`test (b)`), then job id; unknown jobs succeed at once. Every call is recorded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gantry_plan::flow;
use gantry_plan::{Conclusion, Executor, JobEvent, JobFuture, JobResult, JobSpec};
use indexmap::IndexMap;
use tokio_util::sync::CancellationToken;

/// How one fake job behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeJob {
    /// The conclusion when the job is not cancelled.
    pub conclusion: Conclusion,
    /// How long the job runs; `None` hangs until cancelled.
    pub duration: Option<Duration>,
    pub outputs: IndexMap<String, String>,
    /// Keeps running after cancellation (a stuck executor).
    pub ignore_cancel: bool,
}

impl Default for FakeJob {
    fn default() -> FakeJob {
        FakeJob {
            ignore_cancel: false,
            conclusion: Conclusion::Success,
            duration: Some(Duration::ZERO),
            outputs: IndexMap::new(),
        }
    }
}

/// What the fake saw of one job.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeCall {
    pub spec: JobSpec,
    pub cancelled: bool,
}

/// Cheap to clone: clones share the behaviours and the record of calls.
#[derive(Clone, Default)]
pub struct FakeExecutor {
    jobs: Arc<HashMap<String, FakeJob>>,
    calls: Arc<Mutex<Vec<FakeCall>>>,
}

impl FakeExecutor {
    pub fn new() -> FakeExecutor {
        FakeExecutor::default()
    }

    /// Sets the behaviour of the job with this key, display name or job id.
    pub fn with_job(mut self, name: impl Into<String>, job: FakeJob) -> FakeExecutor {
        Arc::make_mut(&mut self.jobs).insert(name.into(), job);
        self
    }

    /// The jobs run so far, in the order they finished.
    pub fn calls(&self) -> Vec<FakeCall> {
        self.calls
            .lock()
            .map(|calls| calls.clone())
            .unwrap_or_default()
    }

    fn behaviour(&self, spec: &JobSpec) -> FakeJob {
        [&spec.job_key, &spec.display_name, &spec.job_id]
            .iter()
            .find_map(|name| self.jobs.get(name.as_str()))
            .cloned()
            .unwrap_or_default()
    }
}

impl Executor for FakeExecutor {
    fn run_job(
        &self,
        spec: JobSpec,
        events: flow::Sender<JobEvent>,
        cancel: CancellationToken,
    ) -> JobFuture {
        let behaviour = self.behaviour(&spec);
        let calls = Arc::clone(&self.calls);
        Box::pin(async move {
            let _ = events.send(JobEvent::Log {
                step: None,
                line: format!("fake job {}", spec.job_key),
            });
            let cancel = if behaviour.ignore_cancel {
                CancellationToken::new()
            } else {
                cancel
            };
            let cancelled = match behaviour.duration {
                // A zero sleep would still wait for the next timer tick (1 ms).
                Some(duration) if duration.is_zero() => cancel.is_cancelled(),
                Some(duration) => tokio::select! {
                    _ = tokio::time::sleep(duration) => false,
                    _ = cancel.cancelled() => true,
                },
                None => {
                    cancel.cancelled().await;
                    true
                }
            };
            let result = if cancelled {
                JobResult::new(Conclusion::Cancelled)
            } else {
                JobResult {
                    conclusion: behaviour.conclusion,
                    outputs: behaviour.outputs,
                    error: None,
                }
            };
            if let Ok(mut calls) = calls.lock() {
                calls.push(FakeCall { spec, cancelled });
            }
            result
        })
    }
}
