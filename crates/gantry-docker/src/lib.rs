//! gantry-docker: a small, typed layer over the Docker Engine API (through bollard, never the docker
//! CLI) for container jobs and service containers.
//!
//! Entry points: [`Engine::connect`]; images ([`Engine::ensure_image`] with a [`PullPolicy`] and
//! optional [`RegistryAuth`], [`Engine::image_exists`],
//! [`Engine::build_image`] with a [`context_hash`] tag); per-run networks
//! ([`Engine::create_network`]); containers from a [`ContainerSpec`] ([`Engine::start_container`],
//! [`Engine::wait_healthy`], [`Engine::logs`], [`Engine::remove_container`]); steps run inside a
//! container ([`Engine::exec`], or fed to a shell [`Session`] from [`Engine::open_session`]); a
//! container run to its end ([`Engine::run_to_end`]); leftovers ([`Engine::gc`],
//! [`Engine::gc_stale`]); a workflow's `options:` string ([`parse_options`]); `ports:` entries
//! ([`PortSpec`]); labels and names ([`labels`]).
//!
//! **Architecture invariant:** everything created here is labelled `gantry.managed=true`,
//! `gantry.run=<run id>` and with its creating process (`gantry.host`, `gantry.pid`,
//! `gantry.pid_start`), so `gc` finds it by label alone and `gc_stale` tells a dead creator's. This
//! crate knows nothing of workflows or plans (layer 2, beside gantry-plan); the executor maps a
//! job's `container:`/`services:` onto it.
//! Tests: unit tests in each module; tests/engine.rs against a real engine; benches/exec.rs.

mod build;
mod container;
mod engine;
mod error;
mod exec;
mod image;
pub mod labels;
pub mod lines;
mod options;
mod ports;
mod run;
mod session;

pub use build::{context_hash, DEFAULT_DOCKERFILE};
pub use container::{ContainerSpec, Health, HealthLogEntry, StartedContainer};
pub use engine::{Engine, GcReport, DEFAULT_HOST};
pub use error::DockerError;
pub use exec::{
    ExecOutcome, ExecSpec, OutputLine, OutputStream, DEFAULT_MAX_LINE_BYTES, EXEC_ID_VAR,
};
pub use image::{split_reference, ImageSource, PullPolicy, RegistryAuth};
pub use lines::{Fragment, LineSplitter};
pub use options::{
    parse_bytes, parse_duration, parse_options, split_words, ContainerOptions, EnvOption,
    HealthCheck, OptionsError, Ulimit,
};
pub use ports::{MappedPort, PortError, PortSpec};
pub use session::Session;
