//! The store of the server: runs, attempts, jobs, steps, the log index, artifacts, summaries,
//! repositories and workflows, users and tokens, audit events, webhook deliveries and the
//! trigger outbox, concurrency groups and schedule bookkeeping, in SQLite (one file, the
//! default) or PostgreSQL (by URL).
//!
//! **Invariants:** this is the only crate with SQL; every state change is one transaction
//! (`Store::write`); one schema (`migrations/`) and one text per query serve both backends. What
//! differs by backend is kept to the claim queries' `FOR UPDATE SKIP LOCKED`, the primary-key
//! token of the migrations and their lock, the pragmas at connect and `optimize`. A database
//! URL leaves the crate only redacted.
//!
//! Why sqlx's `Any` driver rather than an enum over two pools: one `query` call per operation
//! instead of two, one row decoder per table; it costs a conversion of each row into owned
//! values, measured by `benches/store.rs` against a native SQLite pool on the same query
//! (figures in docs/benchmarks.md). Queries are strings checked by the tests against both
//! backends, so building needs no database and no offline query data.
//!
//! Tests: `tests/store.rs` runs every test against SQLite (a temporary file) and PostgreSQL
//! (`GANTRY_TEST_POSTGRES_URL`, started by `scripts/postgres-setup`).

mod auth;
mod error;
mod jobs;
mod migrate;
mod model;
mod recovery;
mod row;
mod runs;
mod triggers;
mod url;

pub use auth::IssuedToken;
pub use error::{Result, StoreError};
pub use model::*;
pub use runs::{Page, RunFilter, RunList, StatusFilter};
pub use triggers::Acquired;
pub use url::{Backend, Redacted};

use sqlx::any::AnyPoolOptions;
use sqlx::{Any, AnyPool, Connection, Executor, Transaction};
use std::time::Duration;

/// A handle on the database; cheap to clone (the pool is shared).
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    url: Redacted,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (and for SQLite creates) the database at `url` and applies the migrations it lacks.
    /// `url` is a file path or `sqlite://PATH` for SQLite, or `postgres://…`.
    pub async fn open(url: &str) -> Result<Store> {
        let redacted = Redacted::new(url);
        let (backend, connect_url) =
            url::resolve(url).ok_or_else(|| StoreError::UnsupportedUrl {
                url: redacted.clone(),
            })?;
        sqlx::any::install_default_drivers();
        let options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(10));
        let options = match backend {
            // SQLite serialises writers anyway; a few connections serve concurrent readers (WAL).
            Backend::Sqlite => options.max_connections(8).after_connect(|conn, _| {
                Box::pin(async move {
                    // WAL: readers do not block the writer. synchronous=NORMAL is durable
                    // against a killed process (the case the server must survive); a power loss
                    // may lose the last transactions, never corrupt the file. busy_timeout makes
                    // a second process wait for the write lock instead of failing at once.
                    // mmap: pages are read through the kernel's page cache, shared by all
                    // connections, instead of each connection's own 2 MB cache; a count over
                    // thousands of runs spread across the table touches most of its pages.
                    conn.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                         PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; \
                         PRAGMA mmap_size = 268435456;",
                    )
                    .await?;
                    Ok(())
                })
            }),
            Backend::Postgres => options.max_connections(16),
        };
        // One plain connection first: a pool retries a refused connection until its acquire
        // timeout, and a server that cannot reach its database should say so at once.
        let probe = sqlx::AnyConnection::connect(&connect_url)
            .await
            .map_err(|source| StoreError::Open {
                url: redacted.clone(),
                source,
            })?;
        probe.close().await.map_err(|source| StoreError::Open {
            url: redacted.clone(),
            source,
        })?;
        let pool = options
            .connect(&connect_url)
            .await
            .map_err(|source| StoreError::Open {
                url: redacted.clone(),
                source,
            })?;
        let store = Store {
            pool,
            backend,
            url: redacted,
        };
        migrate::apply(&store).await?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL the store was opened with, password hidden.
    pub fn url(&self) -> &Redacted {
        &self.url
    }

    /// Waits for the connections to close.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Refreshes the query planner's statistics, which it needs to choose between the runs
    /// indexes when a list has two filters (without them SQLite may count 50,000 runs of a
    /// branch instead of 5,000 of an actor). For a server to call after start and then hourly,
    /// off the request path: a full `ANALYZE` reads every index (docs/benchmarks.md has its
    /// time at 100,000 runs; a sampled one cannot tell a selective column from a common one).
    /// PostgreSQL's autovacuum analyzes by itself; there it is `ANALYZE` of the runs table.
    pub async fn optimize(&self) -> Result<()> {
        let statement = match self.backend {
            Backend::Sqlite => "ANALYZE",
            Backend::Postgres => "ANALYZE runs",
        };
        self.pool.execute(statement).await?;
        Ok(())
    }

    /// The versions of the migrations applied, in order.
    pub async fn applied_migrations(&self) -> Result<Vec<i64>> {
        migrate::applied(self).await
    }

    /// Begins a transaction that will write. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`): a deferred transaction that reads and then writes fails with
    /// SQLITE_BUSY when another writer committed in between, instead of waiting.
    pub(crate) async fn write(&self) -> Result<Transaction<'static, Any>> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The clause that lets concurrent claimers skip rows another transaction holds. SQLite
    /// needs none: its write transaction excludes every other writer.
    pub(crate) fn skip_locked(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }
}

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}
