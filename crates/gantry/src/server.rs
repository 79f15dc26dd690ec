//! The server's commands: `gantry serve`, `gantry token create`, `gantry repo add` and
//! `gantry hook post-receive` (what the installed hook runs). They parse, open the store and
//! call `gantry-server`; nothing here knows HTTP or SQL.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use gantry_store::{NewRepository, Role, StoreError};
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Where the server keeps its state.
#[derive(Args, Debug, Clone)]
pub struct StoreArgs {
    /// The data dir: the SQLite database (by default), job logs, work directories.
    #[arg(long = "data", env = "GANTRY_DATA", default_value = ".gantry-server")]
    pub data: PathBuf,
    /// A database URL (`postgres://…`) or SQLite path instead of the data dir's gantry.db.
    #[arg(long = "database", env = "GANTRY_DATABASE")]
    pub database: Option<String>,
}

impl StoreArgs {
    /// The data dir as an absolute path (hooks run from other directories).
    fn data_dir(&self) -> Result<PathBuf> {
        std::fs::create_dir_all(&self.data)
            .with_context(|| format!("creating the data dir {}", self.data.display()))?;
        self.data
            .canonicalize()
            .with_context(|| format!("resolving {}", self.data.display()))
    }
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Let requests without a token read runs, jobs and logs (never change anything).
    #[arg(long)]
    pub anonymous_read: bool,
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create an API token (printed once; the server keeps only its hash).
    Create {
        /// The user the token belongs to (created with --role when new).
        #[arg(long)]
        user: String,
        /// viewer (reads), developer (triggers, cancels, re-runs), maintainer or admin.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// A name to tell the user's tokens apart.
        #[arg(long, default_value = "cli")]
        name: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum RepoCommand {
    /// Register a local git repository (bare or not) and install its post-receive hook, so a
    /// push to it starts runs.
    Add {
        /// OWNER/NAME, as the API and `github.repository` name it.
        full_name: String,
        /// The repository's directory.
        #[arg(long)]
        path: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum HookCommand {
    /// Read git's `<old> <new> <ref>` lines from stdin and queue a push for each (run by the
    /// hook `gantry repo add` installs).
    PostReceive {
        /// OWNER/NAME of the registered repository.
        #[arg(long)]
        repo: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

fn parse_role(text: &str) -> Result<Role, String> {
    Role::parse(text)
        .ok_or_else(|| format!("unknown role '{text}' (viewer, developer, maintainer or admin)"))
}

fn split_full_name(full_name: &str) -> Result<(&str, &str)> {
    match full_name.split_once('/') {
        Some((owner, name)) if !owner.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok((owner, name))
        }
        _ => bail!("'{full_name}' is not OWNER/NAME"),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

async fn open(store: &StoreArgs) -> Result<gantry_store::Store> {
    let data_dir = store.data_dir()?;
    Ok(gantry_server::open_store(&data_dir, store.database.as_deref()).await?)
}

pub fn serve(args: ServeArgs) -> Result<ExitCode> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("GANTRY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let data_dir = args.store.data_dir()?;
    // Jobs inherit the server's environment, as a runner's do: the database URL (which may
    // hold a password) must not be in it. No other thread runs yet.
    std::env::remove_var("GANTRY_DATABASE");
    runtime()?.block_on(async move {
        let config = gantry_server::ServerConfig {
            listen: args.listen,
            data_dir,
            database: args.store.database.clone(),
            anonymous_read: args.anonymous_read,
        };
        let server = gantry_server::Server::bind(config).await?;
        if let Some(address) = server.local_addr() {
            eprintln!("gantry serve: listening on http://{address} (API at /api/v3)");
        }
        server.serve(shutdown_signal()).await?;
        Ok(ExitCode::SUCCESS)
    })
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

/// Records a change made from the command line: the actor is the local user, marked `cli:`.
async fn audit(
    store: &gantry_store::Store,
    action: &str,
    target: &str,
    details: serde_json::Value,
) -> Result<()> {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".to_owned());
    store
        .audit(&gantry_store::NewAuditEvent {
            actor_user_id: None,
            actor: format!("cli:{user}"),
            action: action.to_owned(),
            target: target.to_owned(),
            remote_addr: None,
            details: details.to_string(),
        })
        .await?;
    Ok(())
}

pub fn token(command: TokenCommand) -> Result<ExitCode> {
    let TokenCommand::Create {
        user,
        role,
        name,
        store,
    } = command;
    runtime()?.block_on(async move {
        let store = open(&store).await?;
        let user = match store.user(&user).await {
            Ok(existing) => existing,
            Err(StoreError::NotFound { .. }) => store.create_user(&user, role).await?,
            Err(error) => return Err(error.into()),
        };
        if !user.role.allows(role) {
            bail!(
                "user '{}' has the role {}; a token cannot grant {role}",
                user.login,
                user.role
            );
        }
        let issued = store.create_token(user.id, &name, role, None).await?;
        audit(
            &store,
            "token.create",
            &user.login,
            serde_json::json!({ "role": role.as_str(), "name": name, "prefix": issued.token.prefix }),
        )
        .await?;
        println!("{}", issued.secret());
        eprintln!(
            "token for {} ({role}); it is shown once: keep it now",
            user.login
        );
        Ok(ExitCode::SUCCESS)
    })
}

pub fn repo(command: RepoCommand) -> Result<ExitCode> {
    let RepoCommand::Add {
        full_name,
        path,
        store: store_args,
    } = command;
    let (owner, name) = split_full_name(&full_name)?;
    let path = path
        .canonicalize()
        .with_context(|| format!("--path {}", path.display()))?;
    let data_dir = store_args.data_dir()?;
    runtime()?.block_on(async {
        let store = open(&store_args).await?;
        let new = NewRepository {
            owner: owner.to_owned(),
            name: name.to_owned(),
            path: Some(path.to_string_lossy().into_owned()),
            clone_url: None,
            default_branch: gantry_server::hook::default_branch(&path),
            webhook_secret_ref: None,
        };
        match store.add_repository(&new).await {
            Ok(_) => {}
            Err(StoreError::AlreadyExists { .. }) => {
                let existing = store.repository(owner, name).await?;
                if existing.path != new.path {
                    bail!(
                        "{full_name} is registered with another path ({})",
                        existing.path.unwrap_or_default()
                    );
                }
            }
            Err(error) => return Err(error.into()),
        }
        let hook = install(&path, &full_name, &data_dir, store_args.database.as_deref())?;
        audit(
            &store,
            "repository.add",
            &full_name,
            serde_json::json!({ "path": path.to_string_lossy() }),
        )
        .await?;
        eprintln!(
            "{full_name} registered; a push to {} now starts runs (hook: {})",
            path.display(),
            hook.display()
        );
        Ok(ExitCode::SUCCESS)
    })
}

fn install(
    path: &Path,
    full_name: &str,
    data_dir: &Path,
    database: Option<&str>,
) -> Result<PathBuf> {
    let exe = std::env::current_exe().context("finding the gantry binary")?;
    let command = vec![
        exe.to_string_lossy().into_owned(),
        "hook".to_owned(),
        "post-receive".to_owned(),
        "--repo".to_owned(),
        full_name.to_owned(),
        "--data".to_owned(),
        data_dir.to_string_lossy().into_owned(),
    ];
    // The hook names the data dir only; a database URL (which may hold a password) stays in the
    // data dir, readable by its owner alone.
    if let Some(database) = database {
        gantry_server::remember_database(data_dir, database)?;
    }
    Ok(gantry_server::hook::install_hook(path, &command)?)
}

pub fn hook(command: HookCommand) -> Result<ExitCode> {
    let HookCommand::PostReceive { repo, store } = command;
    let (owner, name) = split_full_name(&repo)?;
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .context("reading the pushed refs from stdin")?;
    let pusher = std::env::var("GANTRY_PUSHER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "git".to_owned());
    let updates = gantry_server::hook::parse_hook_lines(&input, &pusher)?;
    let data_dir = store.data_dir()?;
    runtime()?.block_on(async {
        let store = open(&store).await?;
        let repository = store
            .repository(owner, name)
            .await
            .with_context(|| format!("{repo} is not registered (gantry repo add)"))?;
        let queued = gantry_server::hook::enqueue_push(&store, &repository, &updates).await?;
        let poked = gantry_server::hook::poke(&data_dir);
        if !queued.is_empty() {
            eprintln!(
                "gantry: {} push(es) queued{}",
                queued.len(),
                if poked {
                    ""
                } else {
                    " (the server is not running; they run when it starts)"
                }
            );
        }
        Ok(ExitCode::SUCCESS)
    })
}
