//! The errors of this crate: one enum, lowercase messages, the engine's error as `#[source]`.
//!
//! Invariant: every failure names the object and the action (which image, which container), so a
//! job's log line alone tells the user what went wrong. Tests: tests/engine.rs checks the messages
//! the user sees (no engine, missing image, unhealthy service).

use std::time::Duration;

use crate::container::HealthLogEntry;

#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("no docker engine answers at {endpoint} (start the Docker engine, or set DOCKER_HOST to where one listens)")]
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
    #[error("the shell session in container {container} ended")]
    SessionEnded { container: String },
    #[error("container {container} cannot publish host port {port}: it is already in use")]
    PortInUse {
        port: u16,
        container: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("cannot read the build context {context}")]
    BuildContext {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("building image {tag} failed: {message}{}", render_logs(&.last_lines.join("\n")))]
    BuildFailed {
        tag: String,
        message: String,
        /// The last lines of the build output, oldest first.
        last_lines: Vec<String>,
    },
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

/// The host port an engine error says is taken, if it says so: `Bind for 0.0.0.0:8080 failed: port is
/// already allocated` (another container has it) or `listen tcp4 0.0.0.0:8080: bind: address already
/// in use` (a host process has it). `candidates` are the host ports asked for, tried first.
pub(crate) fn port_in_use(message: &str, candidates: &[u16]) -> Option<u16> {
    let lower = message.to_ascii_lowercase();
    if !lower.contains("port is already allocated") && !lower.contains("address already in use") {
        return None;
    }
    let ports_in_text: Vec<u16> = message
        .split(|c: char| !c.is_ascii_digit() && c != ':')
        .filter_map(|word| word.trim_end_matches(':').rsplit_once(':'))
        .filter_map(|(_, port)| port.parse::<u16>().ok())
        .collect();
    candidates
        .iter()
        .copied()
        .find(|port| ports_in_text.contains(port))
        .or_else(|| ports_in_text.last().copied())
        .or_else(|| candidates.first().copied())
}

#[cfg(test)]
mod tests {
    use super::port_in_use;

    fn check(message: &str, candidates: &[u16], expected: Option<u16>) {
        assert_eq!(port_in_use(message, candidates), expected, "{message}");
    }

    #[test]
    fn finds_the_port_in_use() {
        check("driver failed programming external connectivity on endpoint x (abc): Bind for 0.0.0.0:18080 failed: port is already allocated", &[18080], Some(18080));
        check(
            "Bind for 127.0.0.1:5432 failed: port is already allocated",
            &[6379, 5432],
            Some(5432),
        );
        check(
            "Bind for [::]:80 failed: port is already allocated",
            &[],
            Some(80),
        );
        check(
            "Error starting userland proxy: listen tcp4 0.0.0.0:9000: bind: address already in use",
            &[],
            Some(9000),
        );
        check("port is already allocated", &[7000], Some(7000));
        check("port is already allocated", &[], None);
        check("no such image", &[80], None);
    }
}
