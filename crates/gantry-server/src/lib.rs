//! The Gantry server (`gantry serve`): a GitHub-shaped REST API under `/api/v3`, push triggers
//! from git hooks through the store's outbox, and runs started through `gantry-run` and
//! persisted in `gantry-store` as they change.
//!
//! The flow: `gantry hook post-receive` (`hook.rs`) writes each pushed ref to the outbox and
//! pokes the server → the worker (`worker.rs`) claims the entry, checks the commit out into the
//! data dir, plans each workflow through `gantry_run::prepare`, creates the runs in the
//! transaction that marks the entry done, starts them and records their jobs, steps and log
//! lines (`record.rs`, `logs.rs`) → `http/` serves them.
//!
//! **Invariants:** a run is persisted before its trigger is answered (the outbox entry is marked
//! done in the run's own transaction, so a trigger becomes runs exactly once, also across a
//! `kill -9`); every log line stored was masked by `gantry-run` before it reached the server.
//! Tests: `tests/server.rs` (API, auth, push end to end) and the binary's `tests/serve.rs`.

mod context;
mod error;
pub mod hook;
pub mod http;
mod logs;
mod metrics;
mod record;
mod rerun;
mod time;
mod worker;

pub use context::ApiContext;
pub use error::ServerError;

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use gantry_store::Store;

/// Why runs found unfinished at start were concluded.
pub const STOPPED_REASON: &str = "the server stopped";

/// How `gantry serve` was asked to run.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// A SQLite path or `postgres://…`; the data dir's `gantry.db` when `None`.
    pub database: Option<String>,
    /// Lets requests without a token read (never write).
    pub anonymous_read: bool,
}

/// The SQLite file of a data dir, the default database.
pub fn default_database(data_dir: &Path) -> String {
    data_dir.join("gantry.db").to_string_lossy().into_owned()
}

/// Where a data dir remembers a database URL given by flag (`gantry repo add --database …`), so
/// the hooks it installs name only the data dir: a URL may hold a password, and a hook file is
/// read by whoever can read the repository. The file is readable by its owner only.
const DATABASE_URL_FILE: &str = "database-url";

/// Records `url` as the data dir's database (owner-only permissions).
pub fn remember_database(data_dir: &Path, url: &str) -> Result<(), ServerError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = data_dir.join(DATABASE_URL_FILE);
    let io = |source| ServerError::Io {
        what: format!("writing {}", path.display()),
        source,
    };
    std::fs::create_dir_all(data_dir).map_err(io)?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .map_err(io)?;
    file.write_all(url.as_bytes()).map_err(io)
}

/// Opens the store of a data dir (creating the dir), or the database at `database`; without one,
/// the database the data dir remembers ([`remember_database`]), else its `gantry.db`.
pub async fn open_store(data_dir: &Path, database: Option<&str>) -> Result<Store, ServerError> {
    std::fs::create_dir_all(data_dir).map_err(|source| ServerError::Io {
        what: format!("creating the data dir {}", data_dir.display()),
        source,
    })?;
    let remembered = || {
        std::fs::read_to_string(data_dir.join(DATABASE_URL_FILE))
            .ok()
            .map(|url| url.trim().to_owned())
            .filter(|url| !url.is_empty())
    };
    let url = match database {
        Some(url) => url.to_owned(),
        None => remembered().unwrap_or_else(|| default_database(data_dir)),
    };
    Ok(Store::open(&url).await?)
}

/// A server bound to its address, ready to serve.
pub struct Server {
    listener: tokio::net::TcpListener,
    context: ApiContext,
}

impl Server {
    /// Opens the store, settles what a killed server left (the processes its steps left, then
    /// `Store::recover` and the runs no process runs any more), and binds the listener.
    pub async fn bind(config: ServerConfig) -> Result<Server, ServerError> {
        let store = open_store(&config.data_dir, config.database.as_deref()).await?;
        let killed = worker::kill_leftover_processes(&config.data_dir);
        if killed > 0 {
            tracing::warn!(
                processes = killed,
                "killed what the steps of a stopped server's runs left running"
            );
        }
        let settled = worker::settle_orphans(&store).await?;
        if settled > 0 {
            tracing::warn!(
                runs = settled,
                "concluded runs a stopped server left unfinished"
            );
        }
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| ServerError::Io {
                what: format!("listening on {}", config.listen),
                source,
            })?;
        let local = listener.local_addr().map_err(|source| ServerError::Io {
            what: "reading the listening address".to_owned(),
            source,
        })?;
        hook::write_server_address(&config.data_dir, local)?;
        let context = ApiContext::new(store, config.data_dir, config.anonymous_read);
        Ok(Server { listener, context })
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serves until `shutdown` completes; the worker takes outbox entries meanwhile.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let worker = tokio::spawn(worker::run(self.context.clone()));
        let app = http::router(self.context.clone());
        tracing::info!(address = ?self.listener.local_addr().ok(), "serving");
        let result = axum::serve(
            self.listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|source| ServerError::Io {
            what: "serving HTTP".to_owned(),
            source,
        });
        worker.abort();
        hook::remove_server_address(&self.context.data_dir);
        result
    }
}
