//! A started run: its events to any number of subscribers, graceful cancellation and kill, and
//! the end with each workflow run's outcome and record.
//!
//! Invariant: subscribers receive every event of the runs in order, masked against the run's
//! secrets (job outputs, errors, annotations and summaries here; log lines come masked from the
//! executor). Every channel from the step's pipes to a subscriber is bounded
//! ([`gantry_plan::flow`]): a slow subscriber slows the reading of the steps' output as a pipe
//! would, and memory does not grow with what the steps print; one that went away is dropped, and
//! one that takes nothing for [`SUBSCRIBER_STALL`] is cut off ([`EventStream::cut_off`]) so the
//! run goes on without it.
//! Nothing the run creates outlives [`RunHandle::wait`] or [`Canceller::kill`]: the work root is
//! removed on every path. Tests: `tests/api.rs`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gantry_executor::mask::Masker;
use gantry_executor::{HostExecutor, HostExecutorOptions};
use gantry_plan::flow;
use gantry_plan::{Executor, JobEvent, Secret};
use gantry_scheduler::{run_plan, RunEvent, RunOutcome, SchedulerOptions};
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::prepare::Prepared;
use crate::record::{Recorded, Recorder};
use crate::request::{Rerun, RerunScope, WorkspaceMode};
use crate::workroot;

/// One event of one of the started workflow runs.
#[derive(Debug, Clone, PartialEq)]
pub struct RunUpdate {
    /// Index into [`Prepared::runs`].
    pub run: usize,
    pub event: RunEvent,
}

/// How long a subscriber may take nothing from a full queue before it is cut off.
pub const SUBSCRIBER_STALL: Duration = Duration::from_secs(60);

/// A subscription: the updates of every run, or of one.
pub struct EventStream {
    receiver: flow::Receiver<RunUpdate>,
    cut_off: Arc<AtomicBool>,
}

impl EventStream {
    /// The next update; `None` once every run it follows has finished, or once the stream was
    /// cut off.
    pub async fn recv(&mut self) -> Option<RunUpdate> {
        self.receiver.recv().await
    }

    /// Up to `limit` updates into `buffer`; 0 once the stream ended.
    pub async fn recv_many(&mut self, buffer: &mut Vec<RunUpdate>, limit: usize) -> usize {
        self.receiver.recv_many(buffer, limit).await
    }

    /// Whether the stream ended because its reader took nothing for [`SUBSCRIBER_STALL`] while
    /// its queue was full (the runs went on; the updates after the cut are not in it).
    pub fn cut_off(&self) -> bool {
        self.cut_off.load(Ordering::Acquire)
    }
}

#[derive(Clone)]
struct Subscriber {
    run: Option<usize>,
    sender: flow::Sender<RunUpdate>,
    cut_off: Arc<AtomicBool>,
}

/// The subscribers of a run, shared by its event forwarders.
#[derive(Clone, Default)]
pub(crate) struct Subscribers(Arc<Mutex<SubscriberList>>);

#[derive(Default)]
struct SubscriberList {
    subscribers: Vec<Subscriber>,
    /// Runs whose events still flow; `None` until the runs start. At 0 every stream ends.
    open_runs: Option<usize>,
}

impl Subscribers {
    fn add(&self, run: Option<usize>) -> EventStream {
        let (sender, receiver) = flow::channel(flow::DEFAULT_CAPACITY);
        let cut_off = Arc::new(AtomicBool::new(false));
        let mut list = self.lock();
        // After the last run ended the stream is empty and ends at once.
        if list.open_runs != Some(0) {
            list.subscribers.push(Subscriber {
                run,
                sender,
                cut_off: Arc::clone(&cut_off),
            });
        }
        EventStream { receiver, cut_off }
    }

    fn started(&self, runs: usize) {
        let mut list = self.lock();
        list.open_runs = Some(runs);
        if runs == 0 {
            list.subscribers.clear();
        }
    }

    /// Hands `updates` (of one run) to each subscriber that follows it, waiting while a
    /// subscriber's queue is full: the consumers' pace is the run's. Subscribers that went away
    /// or stalled are dropped.
    async fn send(&self, run: usize, updates: &[RunUpdate]) {
        let subscribers: Vec<Subscriber> = self
            .lock()
            .subscribers
            .iter()
            .filter(|subscriber| subscriber.run.is_none_or(|only| only == run))
            .cloned()
            .collect();
        let mut gone = Vec::new();
        for subscriber in &subscribers {
            for update in updates {
                if !subscriber.sender.has_room() {
                    let gate = subscriber.sender.gate();
                    if tokio::time::timeout(SUBSCRIBER_STALL, gate.ready())
                        .await
                        .is_err()
                    {
                        subscriber.cut_off.store(true, Ordering::Release);
                        gone.push(Arc::clone(&subscriber.cut_off));
                        break;
                    }
                }
                if subscriber.sender.send(update.clone()).is_err() {
                    gone.push(Arc::clone(&subscriber.cut_off));
                    break;
                }
            }
        }
        let mut list = self.lock();
        list.subscribers.retain(|subscriber| {
            !subscriber.sender.is_closed()
                && !gone
                    .iter()
                    .any(|flag| Arc::ptr_eq(flag, &subscriber.cut_off))
        });
    }

    /// Ends the subscriptions that follow `run` alone, and all of them after the last run.
    fn close_run(&self, run: usize) {
        let mut list = self.lock();
        list.subscribers
            .retain(|subscriber| subscriber.run != Some(run));
        if let Some(open) = &mut list.open_runs {
            *open = open.saturating_sub(1);
            if *open == 0 {
                list.subscribers.clear();
            }
        }
    }

    fn close_all(&self) {
        let mut list = self.lock();
        list.open_runs = Some(0);
        list.subscribers.clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SubscriberList> {
        // A panic while holding the lock leaves a list that is still valid.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Prepared {
    /// Subscribes to the updates of every run, from the first. Call before [`Prepared::start`]
    /// to miss nothing.
    pub fn subscribe(&self) -> EventStream {
        self.subscribers.add(None)
    }

    /// Subscribes to the events of the `run`-th run only.
    pub fn subscribe_run(&self, run: usize) -> EventStream {
        self.subscribers.add(Some(run))
    }

    /// Starts the runs on the host executor, inside the current tokio runtime. What killed runs
    /// left goes first: work roots of dead processes (beside the run) and, when a job needs
    /// Docker, the engine's objects of dead processes.
    pub async fn start(self) -> Result<RunHandle> {
        let sweep = workroot::sweep_stale_work_roots();
        let work_root = self
            .options
            .work_root
            .clone()
            .unwrap_or_else(workroot::default_work_root);
        let mut docker_objects_removed = 0;
        if self.needs_docker() {
            // Only objects whose creating process is gone: a run still going keeps its own.
            if let Ok(engine) = gantry_docker::Engine::connect().await {
                if let Ok(report) = engine.gc_stale().await {
                    docker_objects_removed =
                        report.containers.len() + report.networks.len() + report.volumes.len();
                }
            }
        }
        let canceller = Canceller {
            cancel: CancellationToken::new(),
            run_ids: self
                .runs
                .iter()
                .map(|r| r.plan.run.run_id.clone())
                .collect(),
            work_root: work_root.clone(),
        };
        let mut handle = RunHandle {
            canceller: canceller.clone(),
            subscribers: self.subscribers.clone(),
            tasks: Vec::new(),
            sweep,
            docker_objects_removed,
        };
        let tasks = self.spawn_runs(&canceller);
        match tasks {
            Ok(tasks) => {
                handle.tasks = tasks;
                Ok(handle)
            }
            Err(err) => {
                // Nothing started; the work root may hold a snapshot already.
                handle.finish_cleanup().await;
                Err(err)
            }
        }
    }

    fn spawn_runs(self, canceller: &Canceller) -> Result<Vec<RunTask>> {
        let mut options = HostExecutorOptions::new(canceller.work_root.clone());
        options.action_cache = Some(
            self.options
                .action_cache
                .clone()
                .unwrap_or_else(default_action_cache),
        );
        options.action_source = self.options.action_source.clone();
        options.cache_dir = self
            .options
            .cache_dir
            .clone()
            .unwrap_or_else(|| user_cache_dir().join("gantry/cache"));
        options.artifact_dir = self.root.join(".gantry/artifacts");
        options.platforms = self.platforms.clone();
        options.pull = self.options.pull;
        options.prefill_workspace = self.options.workspace == WorkspaceMode::Copy;
        let executor: Arc<dyn Executor> = Arc::new(HostExecutor::new(options));
        let concurrent_jobs = self.options.concurrent_jobs.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        });
        let scheduler_options = SchedulerOptions {
            concurrent_jobs: Some(concurrent_jobs),
            reuse: self.reuse.clone(),
            ..SchedulerOptions::default()
        };
        // Every record folder before any run starts, so a failure leaves nothing running.
        let mut recorders = Vec::new();
        for run in &self.runs {
            recorders.push(Recorder::create(
                &self.runs_dir,
                &run.plan,
                &run.workflow_file,
            )?);
        }
        self.subscribers.started(self.runs.len());
        let mut tasks = Vec::new();
        for ((index, run), recorder) in self.runs.into_iter().enumerate().zip(recorders) {
            let mut masker = Masker::new();
            masker.extend(run.plan.secrets.values().map(Secret::expose));
            let (tx, rx) = flow::channel::<RunEvent>(flow::DEFAULT_CAPACITY);
            let forward = tokio::spawn(forward(
                index,
                rx,
                recorder,
                masker.clone(),
                self.subscribers.clone(),
            ));
            let rerun_base = RerunBase {
                workflow_file: run.workflow_file.clone(),
                run_id: run.plan.run.run_id.clone(),
                run_number: run.plan.run.run_number,
                attempt: run.plan.run.attempt,
            };
            let scheduler = tokio::spawn(run_plan(
                run.plan,
                executor.clone(),
                scheduler_options.clone(),
                tx,
                canceller.cancel.clone(),
            ));
            tasks.push(RunTask {
                scheduler,
                forward,
                masker,
                rerun_base,
            });
        }
        Ok(tasks)
    }
}

/// How many events are taken from the run's channel at once.
const FORWARD_BATCH: usize = 256;

/// Records each event, masks it and hands it to the subscribers; returns the recorder when the
/// run's event channel closes.
async fn forward(
    run: usize,
    mut events: flow::Receiver<RunEvent>,
    mut recorder: Recorder,
    masker: Masker,
    subscribers: Subscribers,
) -> Result<Recorder> {
    let mut failed = None;
    let mut batch = Vec::with_capacity(FORWARD_BATCH);
    let mut updates = Vec::with_capacity(FORWARD_BATCH);
    while events.recv_many(&mut batch, FORWARD_BATCH).await > 0 {
        for event in batch.drain(..) {
            if failed.is_none() {
                if let Err(err) = recorder.record(&event) {
                    failed = Some(err);
                }
            }
            let event = mask_event(&masker, event);
            updates.push(RunUpdate { run, event });
        }
        subscribers.send(run, &updates).await;
        updates.clear();
    }
    subscribers.close_run(run);
    match failed {
        Some(err) => Err(Error::Record(err)),
        None => Ok(recorder),
    }
}

/// Masks what in an event can hold a secret value: outputs, errors, annotations, summaries and
/// step names (log lines come masked from the executor).
fn mask_event(masker: &Masker, event: RunEvent) -> RunEvent {
    if masker.is_empty() {
        return event;
    }
    match event {
        RunEvent::JobFinished {
            key,
            display_name,
            mut result,
        } => {
            for value in result.outputs.values_mut() {
                *value = masker.mask(value);
            }
            result.error = result.error.map(|e| masker.mask(&e));
            RunEvent::JobFinished {
                key,
                display_name,
                result,
            }
        }
        RunEvent::JobEvent { key, event } => {
            let event = match event {
                JobEvent::Annotation {
                    level,
                    message,
                    file,
                    line,
                    col,
                } => JobEvent::Annotation {
                    level,
                    message: masker.mask(&message),
                    file,
                    line,
                    col,
                },
                JobEvent::Summary { markdown } => JobEvent::Summary {
                    markdown: masker.mask(&markdown),
                },
                JobEvent::StepStarted { index, name } => JobEvent::StepStarted {
                    index,
                    name: masker.mask(&name),
                },
                other => other,
            };
            RunEvent::JobEvent { key, event }
        }
        other => other,
    }
}

fn mask_outcome(masker: &Masker, mut outcome: RunOutcome) -> RunOutcome {
    for job in outcome.jobs.values_mut() {
        for value in job.result.outputs.values_mut() {
            *value = masker.mask(value);
        }
        job.result.error = job.result.error.take().map(|e| masker.mask(&e));
    }
    outcome.error = outcome.error.take().map(|e| masker.mask(&e));
    outcome
}

struct RunTask {
    scheduler: tokio::task::JoinHandle<RunOutcome>,
    forward: tokio::task::JoinHandle<Result<Recorder>>,
    masker: Masker,
    rerun_base: RerunBase,
}

#[derive(Debug, Clone)]
struct RerunBase {
    workflow_file: String,
    run_id: String,
    run_number: u64,
    attempt: u32,
}

/// Cancels or kills a started run; cheap to clone, usable from a signal handler's task.
#[derive(Debug, Clone)]
pub struct Canceller {
    cancel: CancellationToken,
    run_ids: Vec<String>,
    work_root: PathBuf,
}

impl Canceller {
    /// Graceful: running jobs run their `always()` steps and clean up, nothing new starts.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// At once: kills every process the run's steps started (found by their
    /// `RUNNER_TRACKING_ID`) and removes the work root. Docker objects are left to the next
    /// run's garbage collection. For a caller about to exit; returns how many processes were
    /// signalled.
    pub fn kill(&self) -> usize {
        self.cancel.cancel();
        let killed = self
            .run_ids
            .iter()
            .map(|run_id| gantry_executor::process::kill_run(run_id))
            .sum();
        let _ = std::fs::remove_dir_all(&self.work_root);
        killed
    }
}

/// The end of one workflow run.
#[derive(Debug)]
pub struct Finished {
    /// Repo-relative path of the workflow file.
    pub workflow_file: String,
    /// Masked against the run's secrets.
    pub outcome: RunOutcome,
    /// What the record saved (`.gantry/runs/<n>/`).
    pub recorded: Recorded,
    rerun_base: RerunBase,
}

impl Finished {
    /// A re-run of this run: same run id and number, next attempt.
    pub fn rerun(&self, scope: RerunScope) -> Rerun {
        Rerun {
            workflow_file: self.rerun_base.workflow_file.clone(),
            run_id: self.rerun_base.run_id.clone(),
            run_number: self.rerun_base.run_number,
            previous_attempt: self.rerun_base.attempt,
            previous: self.outcome.clone(),
            scope,
        }
    }

    /// The attempt that ran (1 for a first run).
    pub fn attempt(&self) -> u32 {
        self.rerun_base.attempt
    }
}

/// A started run.
pub struct RunHandle {
    canceller: Canceller,
    subscribers: Subscribers,
    tasks: Vec<RunTask>,
    sweep: Option<std::thread::JoinHandle<()>>,
    docker_objects_removed: usize,
}

impl RunHandle {
    /// Subscribes to the updates of every run from now on.
    pub fn subscribe(&self) -> EventStream {
        self.subscribers.add(None)
    }

    pub fn canceller(&self) -> Canceller {
        self.canceller.clone()
    }

    /// Graceful cancellation (see [`Canceller::cancel`]).
    pub fn cancel(&self) {
        self.canceller.cancel();
    }

    /// How many Docker objects of killed runs the start removed.
    pub fn docker_objects_removed(&self) -> usize {
        self.docker_objects_removed
    }

    /// Waits for every run to end; removes the work root whatever happened.
    pub async fn wait(mut self) -> Result<Vec<Finished>> {
        let tasks = std::mem::take(&mut self.tasks);
        let mut finished = Vec::new();
        let mut failure = None;
        for task in tasks {
            let outcome = task.scheduler.await;
            let recorder = task.forward.await;
            let result = (|| {
                let outcome = outcome.map_err(Error::Task)?;
                let recorder = recorder.map_err(Error::Task)??;
                let recorded = recorder.finish(Some(&outcome))?;
                Ok(Finished {
                    workflow_file: task.rerun_base.workflow_file.clone(),
                    outcome: mask_outcome(&task.masker, outcome),
                    recorded,
                    rerun_base: task.rerun_base,
                })
            })();
            match result {
                Ok(done) => finished.push(done),
                Err(err) => failure = failure.or(Some(err)),
            }
        }
        self.finish_cleanup().await;
        match failure {
            Some(err) => Err(err),
            None => Ok(finished),
        }
    }

    async fn finish_cleanup(&mut self) {
        self.subscribers.close_all();
        let work_root = self.canceller.work_root.clone();
        // The executor deletes job directories on the blocking pool as jobs end; what is left
        // (repository snapshots) is the run's.
        let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(work_root)).await;
        if let Some(sweep) = self.sweep.take() {
            let _ = tokio::task::spawn_blocking(move || sweep.join()).await;
        }
    }
}

/// Where remote actions are kept when the request names no action cache.
pub fn default_action_cache() -> PathBuf {
    user_cache_dir().join("gantry/actions")
}

fn user_cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
}
