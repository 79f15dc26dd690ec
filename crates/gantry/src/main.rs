//! The `gantry` binary: CLI parsing, wiring of the library crates, terminal output.
//!
//! Only this crate uses `anyhow`; the libraries return typed errors and diagnostics. Exit codes:
//! 0 success, 1 the work found errors (lint errors, a failed job), 2 usage or input problems.

mod actions;
mod gc;
mod lint;
mod render;
mod run;
mod runs;
mod script_tools;
mod server;

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

/// Loading thousands of small YAML trees is allocation-bound; mimalloc cuts that cost by a fifth
/// (figures in docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "gantry",
    version,
    about = "Self-hosted CI/CD that runs GitHub Actions workflows unchanged"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Parsed once and consumed at once; the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Check workflow files (and action.yml files) for errors, like a compiler.
    Lint {
        /// Files or directories to lint (directories are searched for *.yml / *.yaml).
        #[arg(default_value = ".github/workflows")]
        paths: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Colour the text output: auto (when stdout is a terminal), always or never.
        #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
        color: ColorChoice,
        /// Also say what is not checked and why (shellcheck or pyflakes not installed).
        #[arg(long, short)]
        verbose: bool,
    },
    /// Run the workflows that listen to an event, on this machine.
    Run(run::RunArgs),
    /// Remote actions: `pull` fetches every action the workflows use into the action cache.
    #[command(subcommand)]
    Actions(ActionsCommand),
    /// Start the server: the API, push triggers and runs (a newcomer needs no flags).
    Serve(server::ServeArgs),
    /// API tokens of the server.
    #[command(subcommand)]
    Token(server::TokenCommand),
    /// Repositories the server runs workflows of.
    #[command(subcommand)]
    Repo(server::RepoCommand),
    /// Runs on a Gantry server: list, view (with logs), cancel, re-run.
    Runs(runs::RunsArgs),
    /// What git hooks installed by `gantry repo add` run.
    #[command(subcommand)]
    Hook(server::HookCommand),
    /// Remove the containers, networks and volumes that killed runs left in the Docker engine.
    Gc {
        /// Remove everything Gantry manages, also what running runs use.
        #[arg(long)]
        all: bool,
        /// Also remove the images Gantry built for Docker actions (rebuilt when next needed).
        #[arg(long)]
        images: bool,
    },
}

#[derive(Subcommand)]
enum ActionsCommand {
    /// Fetch every remote action a repository's workflows use (and those the actions use), for
    /// runs with `--offline`.
    Pull(actions::PullArgs),
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Lint {
            paths,
            format,
            color,
            verbose,
        } => lint::run(&paths, format, color, verbose),
        Command::Run(args) => run::run(args),
        Command::Actions(ActionsCommand::Pull(args)) => actions::pull(args),
        Command::Gc { all, images } => gc::run(all, images),
        Command::Serve(args) => server::serve(args),
        Command::Token(command) => server::token(command),
        Command::Repo(command) => server::repo(command),
        Command::Hook(command) => server::hook(command),
        Command::Runs(args) => runs::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// `gantry lint | head` closes the pipe early; that is the reader's choice, not an error.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
