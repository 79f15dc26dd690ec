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
    #[error("git {args} failed in {dir}: {stderr}")]
    Git {
        args: String,
        dir: String,
        stderr: String,
    },
}
