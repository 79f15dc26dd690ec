//! The errors of starting the server and of its command-line helpers (tokens, repositories,
//! hooks). HTTP errors are `http::Error`.

use gantry_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// A bad value given by the user, with what it was.
    #[error("{0}")]
    Input(String),
    /// A JSON value the server writes or reads back (an outbox entry, a rebuilt outcome).
    #[error("{what}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    /// A blocking task (git, planning) did not finish.
    #[error("{what}")]
    Task {
        what: &'static str,
        #[source]
        source: tokio::task::JoinError,
    },
    /// `gantry-run` refused a run (a re-run whose workflow is gone, a bad input).
    #[error("preparing the run")]
    Run(#[source] gantry_run::Error),
    /// The store handed out another job than the one just added: something else claims jobs.
    #[error(
        "claimed job {claimed:?} instead of {added}: another process claims this store's jobs"
    )]
    ForeignClaim {
        added: gantry_store::JobId,
        claimed: Option<gantry_store::JobId>,
    },
    #[error("git {args} failed in {dir}: {stderr}")]
    Git {
        args: String,
        dir: String,
        stderr: String,
    },
}
