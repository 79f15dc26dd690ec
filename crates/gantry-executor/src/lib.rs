//! Executes jobs on the host: the only crate that spawns processes.
//!
//! The pipeline of one step, one file per stage: `shell` (which program runs a `run:` script),
//! `process` (spawn in its own process group, read output in bounded lines, stop on timeout or
//! cancellation), `commands` (workflow commands in stdout), `mask` (secrets out of every line),
//! `files` (the `GITHUB_*` file commands read after the step).

pub mod commands;
pub mod files;
pub mod mask;
pub mod process;
pub mod shell;
