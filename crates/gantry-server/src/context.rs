//! `ApiContext`: the one state every handler and the worker share (the store, the data dir,
//! the runs this process is running), cheap to clone.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use gantry_run::Canceller;

use crate::metrics::Metrics;
use gantry_store::{RunId, Store};
use tokio::sync::Notify;

#[derive(Clone)]
pub struct ApiContext {
    pub store: Store,
    pub data_dir: PathBuf,
    pub anonymous_read: bool,
    /// Woken when the outbox has something (a hook's poke, a dispatch).
    pub wake: Arc<Notify>,
    /// The runs this process is running, to cancel them.
    pub running: Arc<Mutex<HashMap<RunId, Canceller>>>,
    /// Held while a job is added and claimed, so the claim takes the job just added: this
    /// process is the store's only claimer and runs its jobs in-process.
    pub job_claim: Arc<tokio::sync::Mutex<()>>,
    pub metrics: Arc<Metrics>,
}

impl ApiContext {
    pub fn new(store: Store, data_dir: PathBuf, anonymous_read: bool) -> ApiContext {
        ApiContext {
            store,
            data_dir,
            anonymous_read,
            wake: Arc::new(Notify::new()),
            running: Arc::new(Mutex::new(HashMap::new())),
            job_claim: Arc::new(tokio::sync::Mutex::new(())),
            metrics: Arc::new(Metrics::default()),
        }
    }

    /// The canceller of a run this process runs.
    pub fn canceller(&self, run: RunId) -> Option<Canceller> {
        self.running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&run)
            .cloned()
    }

    pub(crate) fn set_running(&self, run: RunId, canceller: Option<Canceller>) {
        let mut running = self
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match canceller {
            Some(canceller) => running.insert(run, canceller),
            None => running.remove(&run),
        };
    }
}
