//! The errors of this crate: one enum, lowercase messages, the engine's error as `#[source]`.
//!
//! Invariant: every failure names the object and the action (which image, which container), so a
//! job's log line alone tells the user what went wrong. Tests: tests/engine.rs checks the messages
//! the user sees (no engine, missing image, unhealthy service).

use std::time::Duration;

use crate::container::HealthLogEntry;

#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("no docker engine answers at {endpoint} (start one with scripts/docker-setup or set DOCKER_HOST)")]
    NotReachable {
        endpoint: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("image {image:?} is not present locally and could not be pulled: {reason}")]
    ImageUnavailable { image: String, reason: String },
    #[error("{action} failed")]
    Api {
        action: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("container {container} is unhealthy{}", render_health_log(.log))]
    Unhealthy {
        container: String,
        log: Vec<HealthLogEntry>,
    },
    #[error("container {container} exited with code {exit_code} before it became healthy{}", render_logs(.logs))]
    ExitedBeforeHealthy {
        container: String,
        exit_code: i64,
        logs: String,
    },
    #[error("container {container} did not become healthy within {waited:?}{}", render_health_log(.log))]
    HealthTimeout {
        container: String,
        waited: Duration,
        log: Vec<HealthLogEntry>,
    },
    #[error("invalid container spec: {reason}")]
    InvalidSpec { reason: String },
    #[error("exec in container {container} ended without an exit code")]
    NoExitCode { container: String },
    #[error("waiting for container {container} was cancelled")]
    Cancelled { container: String },
}

impl DockerError {
    pub(crate) fn api(
        action: impl Into<String>,
    ) -> impl FnOnce(bollard::errors::Error) -> DockerError {
        let action = action.into();
        move |source| DockerError::Api { action, source }
    }

    /// True when the engine said the object does not exist (HTTP 404).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            DockerError::Api {
                source: bollard::errors::Error::DockerResponseServerError {
                    status_code: 404,
                    ..
                },
                ..
            }
        )
    }
}

fn render_health_log(log: &[HealthLogEntry]) -> String {
    if log.is_empty() {
        return String::new();
    }
    let mut out = String::from("; health check log:");
    for entry in log {
        out.push_str(&format!(
            "\n  exit code {}: {}",
            entry.exit_code,
            entry.output.trim_end()
        ));
    }
    out
}

fn render_logs(logs: &str) -> String {
    if logs.trim().is_empty() {
        String::new()
    } else {
        format!("; container log:\n{}", logs.trim_end())
    }
}
