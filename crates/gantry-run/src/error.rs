//! The errors of starting a run: everything the caller must tell a user before (or instead of)
//! running, with the cause in `source` rather than repeated in the message.
//!
//! Invariant: messages never hold a secret value (they name flags, files and lines), and every
//! usage problem is one of these before anything runs. Tests: `tests/api.rs`.

use std::path::PathBuf;

use gantry_workflow::Diagnostic;

use crate::record::RecordError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One workflow file with errors: its path (as the caller named it), its text and the errors.
#[derive(Debug, Clone)]
pub struct WorkflowErrors {
    pub path: String,
    pub source: Vec<u8>,
    pub diagnostics: Vec<Diagnostic>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bad value given by the user (a flag, a dotenv or configuration file), with where it
    /// came from in the message (`--secret X`, `file:line`).
    #[error("{0}")]
    Input(String),
    /// Workflows that failed to load or check; nothing ran.
    #[error("the workflows have errors; nothing was run")]
    Workflows(Vec<WorkflowErrors>),
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("running git (is it installed?)")]
    Git(#[source] std::io::Error),
    #[error("{} is not inside a git repository (gantry run needs one to build the event)", .0.display())]
    NotARepository(PathBuf),
    #[error("planning {file}")]
    Plan {
        file: String,
        #[source]
        source: gantry_plan::LowerError,
    },
    #[error("saving the run record")]
    Record(#[from] RecordError),
    #[error("starting the run")]
    Task(#[source] tokio::task::JoinError),
}

/// `return Err(Error::Input(format!(…)))`.
macro_rules! bail_input {
    ($($arg:tt)*) => {
        return Err($crate::error::Error::Input(format!($($arg)*)))
    };
}
pub(crate) use bail_input;

/// Attaches what was being done to an IO error.
pub(crate) trait IoContext<T> {
    fn io_context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn io_context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Io {
            what: what(),
            source,
        })
    }
}
