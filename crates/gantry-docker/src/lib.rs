//! gantry-docker: a small, typed layer over the Docker Engine API (through bollard, never the docker
//! CLI) for container jobs and service containers.
//!
//! Entry points: [`Engine::connect`]; images ([`Engine::ensure_image`]); per-run networks
//! ([`Engine::create_network`]); containers from a [`ContainerSpec`] ([`Engine::start_container`],
//! [`Engine::wait_healthy`], [`Engine::logs`], [`Engine::remove_container`]); steps run inside a
//! container ([`Engine::exec`]); leftovers ([`Engine::gc`]); a workflow's `options:` string
//! ([`parse_options`]); `ports:` entries ([`PortSpec`]); labels and names ([`labels`]).
//!
//! **Architecture invariant:** everything created here is labelled `gantry.managed=true` and
//! `gantry.run=<run id>`, so `gc` finds it by label alone. This crate knows nothing of workflows or
//! plans (layer 2, beside gantry-plan); the executor maps a job's `container:`/`services:` onto it.
//! Tests: unit tests in each module; tests/engine.rs against a real engine; benches/exec.rs.

mod container;
mod engine;
mod error;
mod exec;
pub mod labels;
mod options;
mod ports;

pub use container::{ContainerSpec, Health, HealthLogEntry, StartedContainer};
pub use engine::{split_reference, Engine, GcReport, ImageSource, DEFAULT_HOST};
pub use error::DockerError;
pub use exec::{
    ExecOutcome, ExecSpec, LineSplitter, OutputLine, OutputStream, DEFAULT_MAX_LINE_BYTES,
    EXEC_ID_VAR,
};
pub use options::{
    parse_bytes, parse_duration, parse_options, split_words, ContainerOptions, EnvOption,
    HealthCheck, OptionsError, Ulimit,
};
pub use ports::{MappedPort, PortError, PortSpec};
