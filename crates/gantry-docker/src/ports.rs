//! Port publishing: parses the `ports:` entries of a workflow's container or service
//! (`[host_ip:][host_port:]container_port[/protocol]`, as `docker create -p` takes them) and names the
//! host ports the engine mapped them to.
//!
//! Invariant: a parsed [`PortSpec`] always has a container port in 1..=65535, a protocol of tcp,
//! udp or sctp, and a host IP that is an IP address when there is one; it reads back unchanged
//! from its `Display` form. A host port of `None` means "any free port". Tests: `check` cases at
//! the bottom; `fuzz/fuzz_targets/container_options.rs`.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    pub host_ip: Option<String>,
    pub host_port: Option<u16>,
    pub container_port: u16,
    pub protocol: String,
}

/// Where the engine published a container port on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedPort {
    pub container_port: u16,
    pub protocol: String,
    pub host_ip: String,
    pub host_port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    #[error("invalid port {part:?} in {spec:?}")]
    InvalidPort { spec: String, part: String },
    #[error("invalid protocol {protocol:?} in {spec:?} (expected tcp, udp or sctp)")]
    InvalidProtocol { spec: String, protocol: String },
    #[error(
        "invalid port mapping {spec:?} (expected [host_ip:][host_port:]container_port[/protocol])"
    )]
    InvalidMapping { spec: String },
    #[error("invalid host IP address {ip:?} in {spec:?}")]
    InvalidHostIp { spec: String, ip: String },
}

impl PortSpec {
    pub fn parse(spec: &str) -> Result<PortSpec, PortError> {
        let trimmed = spec.trim();
        let (address, protocol) = match trimmed.rsplit_once('/') {
            Some((address, protocol)) => (address, protocol.to_ascii_lowercase()),
            None => (trimmed, String::from("tcp")),
        };
        if !matches!(protocol.as_str(), "tcp" | "udp" | "sctp") {
            return Err(PortError::InvalidProtocol {
                spec: spec.to_string(),
                protocol,
            });
        }
        // An IPv6 host address is bracketed: [::1]:8080:80.
        let (host_ip, rest) = if let Some(after) = address.strip_prefix('[') {
            let (ip, rest) = after
                .split_once("]:")
                .ok_or_else(|| PortError::InvalidMapping {
                    spec: spec.to_string(),
                })?;
            (Some(ip.to_string()), rest)
        } else {
            (None, address)
        };
        let parts: Vec<&str> = rest.split(':').collect();
        let port = |part: &str| -> Result<u16, PortError> {
            part.parse::<u16>()
                .ok()
                .filter(|port| *port != 0)
                .ok_or_else(|| PortError::InvalidPort {
                    spec: spec.to_string(),
                    part: part.to_string(),
                })
        };
        let host_port = |part: &str| -> Result<Option<u16>, PortError> {
            if part.is_empty() {
                Ok(None)
            } else {
                port(part).map(Some)
            }
        };
        let (host_ip, host_port, container_port) = match (host_ip, parts.as_slice()) {
            (None, [container]) => (None, None, port(container)?),
            (None, [host, container]) => (None, host_port(host)?, port(container)?),
            (None, [ip, host, container]) => {
                let ip = (!ip.is_empty()).then(|| ip.to_string());
                (ip, host_port(host)?, port(container)?)
            }
            (Some(ip), [host, container]) => (Some(ip), host_port(host)?, port(container)?),
            _ => {
                return Err(PortError::InvalidMapping {
                    spec: spec.to_string(),
                })
            }
        };
        // As docker: an empty address (`[]:80:80`) is any address; any other must be an IP.
        let host_ip = host_ip.filter(|ip| !ip.is_empty());
        if let Some(ip) = &host_ip {
            if ip.parse::<std::net::IpAddr>().is_err() {
                return Err(PortError::InvalidHostIp {
                    spec: spec.to_string(),
                    ip: ip.clone(),
                });
            }
        }
        Ok(PortSpec {
            host_ip,
            host_port,
            container_port,
            protocol,
        })
    }

    /// The engine's key for this port: `5432/tcp`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.container_port, self.protocol)
    }
}

impl fmt::Display for PortSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(ip) = &self.host_ip {
            if ip.contains(':') {
                write!(f, "[{ip}]:")?;
            } else {
                write!(f, "{ip}:")?;
            }
        }
        match self.host_port {
            Some(port) => write!(f, "{port}:")?,
            None if self.host_ip.is_some() => write!(f, ":")?,
            None => {}
        }
        write!(f, "{}/{}", self.container_port, self.protocol)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: &str) {
        let actual = match PortSpec::parse(input) {
            Ok(spec) => format!(
                "ip={} host={} container={} proto={} display={spec}",
                spec.host_ip.as_deref().unwrap_or("-"),
                spec.host_port
                    .map_or("-".to_string(), |port| port.to_string()),
                spec.container_port,
                spec.protocol
            ),
            Err(error) => format!("error: {error}"),
        };
        assert_eq!(actual, expected, "input: {input:?}");
    }

    #[test]
    fn parses_port_specs() {
        check(
            "5432",
            "ip=- host=- container=5432 proto=tcp display=5432/tcp",
        );
        check(
            "5432:5432",
            "ip=- host=5432 container=5432 proto=tcp display=5432:5432/tcp",
        );
        check(
            "8080:80/udp",
            "ip=- host=8080 container=80 proto=udp display=8080:80/udp",
        );
        check(
            "127.0.0.1:8000:80",
            "ip=127.0.0.1 host=8000 container=80 proto=tcp display=127.0.0.1:8000:80/tcp",
        );
        check(
            "127.0.0.1::80",
            "ip=127.0.0.1 host=- container=80 proto=tcp display=127.0.0.1::80/tcp",
        );
        check(":80", "ip=- host=- container=80 proto=tcp display=80/tcp");
        check(
            "[::1]:8000:80/TCP",
            "ip=::1 host=8000 container=80 proto=tcp display=[::1]:8000:80/tcp",
        );
        // Found by fuzzing: `[]:3:3` kept an empty host IP, shown as `:3:3/tcp`, which reads back
        // without one; and a bracketed address could be anything, `[` included.
        check(
            "[]:3:3",
            "ip=- host=3 container=3 proto=tcp display=3:3/tcp",
        );
        check(
            "[[]:3:3",
            "error: invalid host IP address \"[\" in \"[[]:3:3\"",
        );
        check(
            "localhost:8000:80",
            "error: invalid host IP address \"localhost\" in \"localhost:8000:80\"",
        );
        check(
            "80/sctp",
            "ip=- host=- container=80 proto=sctp display=80/sctp",
        );
        check("", "error: invalid port \"\" in \"\"");
        check("http", "error: invalid port \"http\" in \"http\"");
        check("0", "error: invalid port \"0\" in \"0\"");
        check("70000", "error: invalid port \"70000\" in \"70000\"");
        check(
            "80/icmp",
            "error: invalid protocol \"icmp\" in \"80/icmp\" (expected tcp, udp or sctp)",
        );
        check("1:2:3:4", "error: invalid port mapping \"1:2:3:4\" (expected [host_ip:][host_port:]container_port[/protocol])");
        check(
            "8000-8010:80",
            "error: invalid port \"8000-8010\" in \"8000-8010:80\"",
        );
    }
}
