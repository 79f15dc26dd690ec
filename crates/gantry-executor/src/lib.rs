//! Executes jobs on the host: the only crate that spawns processes.
//!
//! [`HostExecutor`] implements [`gantry_plan::Executor`]: it runs one `JobSpec` with GitHub's
//! step semantics. The pipeline of one step, one file per stage: `eval` (conditions, templates,
//! contexts), `shell` (which program runs a `run:` script), `process` (spawn in its own process
//! group, read output in bounded lines, stop on timeout or cancellation), `commands` (workflow
//! commands in stdout), `mask` (secrets out of every line), `output` (commands applied, lines
//! sent), `files` (the `GITHUB_*` file commands read after the step), `env` (the runner's
//! variables). `job` is the step loop, `actions` resolves and runs `uses:` (composite,
//! JavaScript, cached remote actions, `builtin/`), `workspace` prepares the job's directories,
//! `hash_files` implements `hashFiles`, `repo_files` reads repository files for lint and run
//! ([`RepoDir`], behind gantry-workflow's path guard). Docker: `container` (job container, services, the job's
//! network, steps through a shell session in the container), `docker_action` (`runs.using: docker`,
//! `docker://IMAGE`).

mod actions;
pub mod builtin;
pub mod commands;
mod container;
mod docker_action;
pub mod env;
pub mod eval;
pub mod fetch;
pub mod files;
pub mod hash_files;
mod host_ports;
mod job;
pub mod mask;
mod output;
pub mod process;
mod repo_files;
pub mod shell;
pub mod workspace;

pub use container::Platform;
pub use job::{HostExecutor, HostExecutorOptions};
pub use repo_files::RepoDir;
