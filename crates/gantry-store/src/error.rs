//! The store's error type. Messages are lowercase and name what failed; the database's own error
//! is the `#[source]`. A database URL only ever appears redacted (`url::Redacted`).

use crate::url::Redacted;

/// Everything an operation of the store can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL is neither a SQLite path nor a PostgreSQL URL.
    #[error("unsupported database url {url}: expected a file path, sqlite://PATH or postgres://…")]
    UnsupportedUrl { url: Redacted },
    /// The database could not be reached or opened.
    #[error("cannot open the database at {url}")]
    Open {
        url: Redacted,
        #[source]
        source: sqlx::Error,
    },
    /// A migration failed to apply; the transaction holding it was rolled back.
    #[error("migration {version} ({name}) failed")]
    Migration {
        version: i64,
        name: &'static str,
        #[source]
        source: sqlx::Error,
    },
    /// The database holds a migration this build does not know: a newer Gantry wrote it.
    #[error("the database has migration {version}, which this version of gantry does not know")]
    UnknownMigration { version: i64 },
    /// An applied migration's text differs from the embedded one.
    #[error("migration {version} ({name}) was changed after it was applied")]
    MigrationChanged { version: i64, name: &'static str },
    /// A query failed.
    #[error("database query failed")]
    Query(#[from] sqlx::Error),
    /// The row an operation works on does not exist.
    #[error("{what} {key} not found")]
    NotFound { what: &'static str, key: String },
    /// A row with the same unique key exists.
    #[error("{what} {key} already exists")]
    AlreadyExists { what: &'static str, key: String },
    /// A column holds a value the store never writes.
    #[error("column {column} holds {value:?}, which is not a known value")]
    BadValue { column: &'static str, value: String },
    /// The operation does not apply to the row's current state.
    #[error("{what} {key} is {state}: {reason}")]
    WrongState {
        what: &'static str,
        key: String,
        state: String,
        reason: &'static str,
    },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// True when the database refused a row because of a unique constraint.
pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => db.is_unique_violation(),
        _ => false,
    }
}
