//! `gantry actions pull`: fetches every remote action a repository's workflows use (and the
//! actions those use) into the action cache, so later runs work with `--offline`.
//!
//! The walk is gantry-run's (`actions.rs`) and the fetching gantry-executor's; this module parses
//! the flags and prints one line per action. Tests: `tests/run.rs`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use gantry_run::ActionSource;

#[derive(Args, Debug)]
pub struct PullArgs {
    /// The repository (default: the one around the current directory).
    pub path: Option<PathBuf>,
    /// The action cache (default: the one `gantry run` uses).
    #[arg(long = "action-cache")]
    pub action_cache: Option<PathBuf>,
    /// Where remote actions are fetched from: `<URL>/<owner>/<repo>`.
    #[arg(
        long = "actions-url",
        env = "GANTRY_ACTIONS_URL",
        default_value = "https://github.com"
    )]
    pub actions_url: String,
}

pub fn pull(args: PullArgs) -> Result<ExitCode> {
    let start = match args.path {
        Some(path) => path,
        None => std::env::current_dir().context("reading the current directory")?,
    };
    let root = gantry_run::git::find_root(&start)?;
    let cache = args
        .action_cache
        .unwrap_or_else(gantry_run::default_action_cache);
    let source = ActionSource {
        base_url: args.actions_url,
        ..Default::default()
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let pulled = runtime.block_on(gantry_run::actions::pull(&root, &cache, source))?;
    let mut failed = false;
    for item in &pulled {
        match &item.result {
            Ok(fetched) => println!("{} {}", fetched.sha, item.uses),
            Err(error) => {
                failed = true;
                eprintln!("error: {}: {error}", item.uses);
            }
        }
    }
    println!(
        "{} action(s) in {}",
        pulled.iter().filter(|p| p.result.is_ok()).count(),
        cache.display()
    );
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
