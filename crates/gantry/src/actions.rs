//! `gantry actions pull`: fetches every remote action a repository's workflows use (and the
//! actions those use) into the action cache, so later runs work with `--offline`.
//!
//! The walk and the fetching are gantry-executor's (`fetch.rs`); this module finds the workflow
//! files, collects their steps' `uses:` and prints one line per action. Tests: `tests/run.rs`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use gantry_executor::fetch::{step_uses, ActionFetcher, ActionSource};

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
    let root = crate::run::find_root(&start)?;
    let files = crate::lint::collect_files(&[root.join(".github/workflows")])?;
    let mut uses = Vec::new();
    for file in &files {
        let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        let (workflow, _) = gantry_workflow::load_workflow(&bytes);
        for job in workflow.jobs.values() {
            if let Some(steps) = &job.steps {
                uses.extend(step_uses(steps));
            }
        }
    }
    let cache = args
        .action_cache
        .unwrap_or_else(crate::run::default_action_cache);
    let fetcher = ActionFetcher::new(
        &cache,
        ActionSource {
            base_url: args.actions_url,
            ..Default::default()
        },
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let pulled = runtime.block_on(fetcher.pull(uses));
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
