//! Containers: what to create ([`ContainerSpec`]), creating and starting them, the host ports they
//! were published on, waiting for their health check, their logs, and removing them.
//!
//! Invariant: every container created here carries the labels of [`crate::labels::labels`]; a
//! health wait always ends (healthy, unhealthy with the health log, exited with the container's log,
//! timed out, or cancelled). Tests: unit tests for building the engine request at the bottom,
//! tests/engine.rs for the real thing.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::models::{
    ContainerCreateBody, EndpointSettings, HealthConfig, HealthStatusEnum, HostConfig,
    NetworkingConfig, PortBinding, ResourcesUlimits,
};
use bollard::query_parameters::{
    CreateContainerOptions, LogsOptions, RemoveContainerOptions, StopContainerOptions,
};
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::engine::Engine;
use crate::error::DockerError;
use crate::labels;
use crate::options::{ContainerOptions, HealthCheck};
use crate::ports::{MappedPort, PortSpec};

/// Everything needed to create one container. Build it from the workflow's `container:` or
/// `services.<key>:` and apply the parsed `options:` with [`ContainerSpec::apply_options`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    pub run_id: String,
    pub job_key: Option<String>,
    /// `services.<key>` for a service container.
    pub service: Option<String>,
    pub env: Vec<(String, String)>,
    /// `source:destination[:mode]` bind mounts or named volumes.
    pub binds: Vec<String>,
    pub ports: Vec<PortSpec>,
    /// Network to attach to (by name), with the aliases the other containers reach this one by.
    pub network: Option<String>,
    pub aliases: Vec<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub working_dir: Option<String>,
    pub health: HealthCheck,
    /// The rest of a workflow's `options:` (resources, privileges, extra hosts, ...).
    pub options: ContainerOptions,
}

/// One health check attempt, as the engine recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthLogEntry {
    pub exit_code: i64,
    pub output: String,
}

/// How a health wait ended well.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    Healthy,
    /// The container has no health check; it is running, which is all there is to wait for.
    NoHealthCheck,
}

/// A created and started container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartedContainer {
    pub id: String,
    pub name: String,
    pub ports: Vec<MappedPort>,
}

impl ContainerSpec {
    /// Merges a workflow's parsed `options:` into this spec: env, volumes, aliases and published
    /// ports add to what is there; user, hostname, working directory, entrypoint and each health
    /// setting given replace it. Env entries without a value take this process's environment
    /// (docker's `-e NAME`) and are dropped when it has none.
    pub fn apply_options(&mut self, options: ContainerOptions) -> Result<(), DockerError> {
        let mut options = options;
        for env in options.env.drain(..) {
            match env.value {
                Some(value) => self.env.push((env.name, value)),
                None => {
                    if let Ok(value) = std::env::var(&env.name) {
                        self.env.push((env.name, value));
                    }
                }
            }
        }
        self.binds.append(&mut options.volumes);
        self.aliases.append(&mut options.network_aliases);
        for publish in options.publish.drain(..) {
            let port = PortSpec::parse(&publish).map_err(|error| DockerError::InvalidSpec {
                reason: error.to_string(),
            })?;
            self.ports.push(port);
        }
        if let Some(user) = options.user.take() {
            self.user = Some(user);
        }
        if let Some(hostname) = options.hostname.take() {
            self.hostname = Some(hostname);
        }
        if let Some(workdir) = options.workdir.take() {
            self.working_dir = Some(workdir);
        }
        if let Some(entrypoint) = options.entrypoint.take() {
            self.entrypoint = Some(vec![entrypoint]);
        }
        let health = std::mem::take(&mut options.health);
        if health.cmd.is_some() {
            self.health.cmd = health.cmd;
        }
        if health.interval.is_some() {
            self.health.interval = health.interval;
        }
        if health.timeout.is_some() {
            self.health.timeout = health.timeout;
        }
        if health.retries.is_some() {
            self.health.retries = health.retries;
        }
        if health.start_period.is_some() {
            self.health.start_period = health.start_period;
        }
        self.health.disabled |= health.disabled;
        self.options = options;
        Ok(())
    }

    /// The engine's create request for this spec.
    pub fn to_create_body(&self) -> ContainerCreateBody {
        let options = &self.options;
        let mut labels = labels::labels(
            &self.run_id,
            self.job_key.as_deref(),
            self.service.as_deref(),
        );
        for (key, value) in &options.labels {
            // A workflow may add labels but not forge Gantry's own.
            if !key.starts_with("gantry.") {
                labels.insert(key.clone(), value.clone());
            }
        }
        let env: Vec<String> = self
            .env
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        let mut port_bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
        for port in &self.ports {
            port_bindings
                .entry(port.key())
                .or_insert_with(|| Some(Vec::new()))
                .get_or_insert_with(Vec::new)
                .push(PortBinding {
                    host_ip: port.host_ip.clone(),
                    host_port: Some(
                        port.host_port
                            .map_or(String::new(), |port| port.to_string()),
                    ),
                });
        }
        let exposed: Vec<String> = port_bindings.keys().cloned().collect();
        let healthcheck = health_config(&self.health);
        let host_config = HostConfig {
            binds: (!self.binds.is_empty()).then(|| self.binds.clone()),
            port_bindings: (!port_bindings.is_empty()).then_some(port_bindings),
            network_mode: self.network.clone(),
            privileged: options.privileged.then_some(true),
            init: options.init.then_some(true),
            readonly_rootfs: options.read_only.then_some(true),
            nano_cpus: options.cpus.map(|cpus| (cpus * 1e9) as i64),
            cpu_shares: options.cpu_shares,
            cpuset_cpus: options.cpuset_cpus.clone(),
            memory: options.memory,
            memory_reservation: options.memory_reservation,
            memory_swap: options.memory_swap,
            pids_limit: options.pids_limit,
            shm_size: options.shm_size,
            extra_hosts: non_empty(&options.add_hosts),
            ulimits: (!options.ulimits.is_empty()).then(|| {
                options
                    .ulimits
                    .iter()
                    .map(|limit| ResourcesUlimits {
                        name: Some(limit.name.clone()),
                        soft: Some(limit.soft),
                        hard: Some(limit.hard),
                    })
                    .collect()
            }),
            cap_add: non_empty(&options.cap_add),
            cap_drop: non_empty(&options.cap_drop),
            security_opt: non_empty(&options.security_opt),
            dns: non_empty(&options.dns),
            dns_search: non_empty(&options.dns_search),
            group_add: non_empty(&options.group_add),
            tmpfs: (!options.tmpfs.is_empty()).then(|| {
                options
                    .tmpfs
                    .iter()
                    .map(|entry| match entry.split_once(':') {
                        Some((path, mount_options)) => {
                            (path.to_string(), mount_options.to_string())
                        }
                        None => (entry.clone(), String::new()),
                    })
                    .collect()
            }),
            sysctls: (!options.sysctls.is_empty())
                .then(|| options.sysctls.iter().cloned().collect()),
            devices: (!options.devices.is_empty()).then(|| {
                options
                    .devices
                    .iter()
                    .map(|device| {
                        let mut parts = device.splitn(3, ':');
                        let on_host = parts.next().unwrap_or_default().to_string();
                        let in_container = parts.next().map_or(on_host.clone(), str::to_string);
                        let permissions = parts.next().unwrap_or("rwm").to_string();
                        bollard::models::DeviceMapping {
                            path_on_host: Some(on_host),
                            path_in_container: Some(in_container),
                            cgroup_permissions: Some(permissions),
                        }
                    })
                    .collect()
            }),
            ..Default::default()
        };
        let networking_config = self.network.as_ref().map(|network| NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                network.clone(),
                EndpointSettings {
                    aliases: non_empty(&self.aliases),
                    ..Default::default()
                },
            )])),
        });
        ContainerCreateBody {
            image: Some(self.image.clone()),
            env: (!env.is_empty()).then_some(env),
            labels: Some(labels),
            user: self.user.clone(),
            hostname: self.hostname.clone(),
            entrypoint: self.entrypoint.clone(),
            cmd: self.cmd.clone(),
            working_dir: self.working_dir.clone(),
            exposed_ports: (!exposed.is_empty()).then_some(exposed),
            healthcheck,
            stop_signal: options.stop_signal.clone(),
            stop_timeout: options.stop_timeout,
            host_config: Some(host_config),
            networking_config,
            ..Default::default()
        }
    }
}

/// The error of a container that did not start: [`DockerError::PortInUse`] when a host port it
/// publishes is taken.
pub(crate) fn start_error(spec: &ContainerSpec, source: bollard::errors::Error) -> DockerError {
    let host_ports: Vec<u16> = spec
        .ports
        .iter()
        .filter_map(|port| port.host_port)
        .collect();
    match crate::error::port_in_use(&source.to_string(), &host_ports) {
        Some(port) => DockerError::PortInUse {
            port,
            container: spec.name.clone(),
            source,
        },
        None => DockerError::Api {
            action: format!("starting container {}", spec.name),
            source,
        },
    }
}

fn non_empty(values: &[String]) -> Option<Vec<String>> {
    (!values.is_empty()).then(|| values.to_vec())
}

fn nanos(duration: Duration) -> i64 {
    i64::try_from(duration.as_nanos()).unwrap_or(i64::MAX)
}

/// Docker's health check config: `--no-healthcheck` is `["NONE"]`, a command is `["CMD-SHELL", cmd]`;
/// settings without a command tune the image's own HEALTHCHECK.
fn health_config(health: &HealthCheck) -> Option<HealthConfig> {
    if health.disabled {
        return Some(HealthConfig {
            test: Some(vec![String::from("NONE")]),
            ..Default::default()
        });
    }
    if health.is_empty() {
        return None;
    }
    Some(HealthConfig {
        test: health
            .cmd
            .as_ref()
            .map(|cmd| vec![String::from("CMD-SHELL"), cmd.clone()]),
        interval: health.interval.map(nanos),
        timeout: health.timeout.map(nanos),
        retries: health.retries.map(i64::from),
        start_period: health.start_period.map(nanos),
        ..Default::default()
    })
}

impl Engine {
    /// Creates and starts the container of `spec`; returns its id and the host ports its `ports`
    /// were published on. A container that fails to start is removed again; when it failed because
    /// a host port is taken the error is [`DockerError::PortInUse`].
    pub async fn start_container(
        &self,
        spec: &ContainerSpec,
    ) -> Result<StartedContainer, DockerError> {
        let options = CreateContainerOptions {
            name: Some(spec.name.clone()),
            ..Default::default()
        };
        let created = self
            .docker
            .create_container(Some(options), spec.to_create_body())
            .await
            .map_err(DockerError::api(format!(
                "creating container {} from image {:?}",
                spec.name, spec.image
            )))?;
        if let Err(source) = self.docker.start_container(&created.id, None).await {
            let _ = self.remove_container(&created.id).await;
            return Err(start_error(spec, source));
        }
        let ports = if spec.ports.is_empty() {
            Vec::new()
        } else {
            self.mapped_ports(&created.id).await?
        };
        Ok(StartedContainer {
            id: created.id,
            name: spec.name.clone(),
            ports,
        })
    }

    /// The host ports a container's ports are published on (IPv4 bindings first).
    pub async fn mapped_ports(&self, container: &str) -> Result<Vec<MappedPort>, DockerError> {
        let inspected = self
            .docker
            .inspect_container(container, None)
            .await
            .map_err(DockerError::api(format!(
                "inspecting container {container}"
            )))?;
        let mut mapped = Vec::new();
        let ports = inspected
            .network_settings
            .and_then(|settings| settings.ports)
            .unwrap_or_default();
        for (key, bindings) in ports {
            let (port, protocol) = key.split_once('/').unwrap_or((key.as_str(), "tcp"));
            let Ok(container_port) = port.parse::<u16>() else {
                continue;
            };
            for binding in bindings.unwrap_or_default() {
                let Some(host_port) = binding.host_port.and_then(|port| port.parse::<u16>().ok())
                else {
                    continue;
                };
                mapped.push(MappedPort {
                    container_port,
                    protocol: protocol.to_string(),
                    host_ip: binding.host_ip.unwrap_or_default(),
                    host_port,
                });
            }
        }
        mapped.sort_by_key(|port| {
            (
                port.container_port,
                port.host_ip.contains(':'),
                port.host_port,
            )
        });
        Ok(mapped)
    }

    /// Waits until the container's health check passes. Ends with the health log when it turns
    /// unhealthy, with the container's log when it exits first, after `timeout`, or on `cancel`.
    pub async fn wait_healthy(
        &self,
        container: &str,
        timeout: Duration,
        cancel: &CancellationToken,
    ) -> Result<Health, DockerError> {
        let started = Instant::now();
        let mut delay = Duration::from_millis(50);
        loop {
            let inspected = self
                .docker
                .inspect_container(container, None)
                .await
                .map_err(DockerError::api(format!(
                    "inspecting container {container}"
                )))?;
            let state = inspected.state.unwrap_or_default();
            let health = state.health.clone();
            let log = health
                .as_ref()
                .and_then(|health| health.log.clone())
                .unwrap_or_default()
                .into_iter()
                .map(|entry| HealthLogEntry {
                    exit_code: entry.exit_code.unwrap_or(-1),
                    output: entry.output.unwrap_or_default(),
                })
                .collect::<Vec<_>>();
            if state.running != Some(true) {
                let logs = self.logs(container, 50).await.unwrap_or_default();
                return Err(DockerError::ExitedBeforeHealthy {
                    container: container.to_string(),
                    exit_code: state.exit_code.unwrap_or(-1),
                    logs,
                });
            }
            match health.and_then(|health| health.status) {
                None | Some(HealthStatusEnum::NONE) | Some(HealthStatusEnum::EMPTY) => {
                    return Ok(Health::NoHealthCheck)
                }
                Some(HealthStatusEnum::HEALTHY) => return Ok(Health::Healthy),
                Some(HealthStatusEnum::UNHEALTHY) => {
                    return Err(DockerError::Unhealthy {
                        container: container.to_string(),
                        log,
                    })
                }
                Some(HealthStatusEnum::STARTING) => {}
            }
            let waited = started.elapsed();
            if waited >= timeout {
                return Err(DockerError::HealthTimeout {
                    container: container.to_string(),
                    waited,
                    log,
                });
            }
            tokio::select! {
                () = cancel.cancelled() => {
                    return Err(DockerError::Cancelled { container: container.to_string() })
                }
                () = tokio::time::sleep(delay.min(timeout - waited)) => {}
            }
            // At most 100 ms late: the first step waits on this (an inspect costs ~1 ms).
            delay = (delay * 2).min(Duration::from_millis(100));
        }
    }

    /// The last `tail` lines of a container's stdout and stderr, interleaved as written.
    pub async fn logs(&self, container: &str, tail: usize) -> Result<String, DockerError> {
        let options = LogsOptions {
            stdout: true,
            stderr: true,
            tail: tail.to_string(),
            ..Default::default()
        };
        let mut stream = self.docker.logs(container, Some(options));
        let mut out = Vec::new();
        while let Some(item) = stream.next().await {
            let chunk = item.map_err(DockerError::api(format!(
                "reading the log of container {container}"
            )))?;
            out.extend_from_slice(&chunk.into_bytes());
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// Stops a container, giving it `grace` (rounded up to whole seconds, the engine's unit) before
    /// it is killed.
    pub async fn stop_container(
        &self,
        container: &str,
        grace: Duration,
    ) -> Result<(), DockerError> {
        let seconds = grace.as_secs() + u64::from(grace.subsec_nanos() > 0);
        let options = StopContainerOptions {
            t: Some(i32::try_from(seconds).unwrap_or(i32::MAX)),
            ..Default::default()
        };
        match self.docker.stop_container(container, Some(options)).await {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304 | 404,
                ..
            }) => Ok(()),
            Err(source) => Err(DockerError::Api {
                action: format!("stopping container {container}"),
                source,
            }),
        }
    }

    /// Removes a container, running or not, with its anonymous volumes; one already gone is fine.
    pub async fn remove_container(&self, container: &str) -> Result<(), DockerError> {
        let options = RemoveContainerOptions {
            force: true,
            v: true,
            ..Default::default()
        };
        match self.docker.remove_container(container, Some(options)).await {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(source) => Err(DockerError::Api {
                action: format!("removing container {container}"),
                source,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::parse_options;

    fn spec(options: &str) -> ContainerSpec {
        let mut spec = ContainerSpec {
            name: String::from("gantry-1-build-db"),
            image: String::from("gantry-test/postgres"),
            run_id: String::from("1"),
            job_key: Some(String::from("build")),
            service: Some(String::from("db")),
            env: vec![(String::from("POSTGRES_PASSWORD"), String::from("pw"))],
            ports: vec![PortSpec::parse("5432").unwrap()],
            network: Some(String::from("gantry-1")),
            aliases: vec![String::from("db")],
            ..Default::default()
        };
        spec.apply_options(parse_options(options).unwrap()).unwrap();
        spec
    }

    #[test]
    fn builds_the_create_request() {
        let body = spec(
            "--health-cmd pg_isready --health-interval 1s --health-retries 10 --cpus 0.5 -m 256m \
             -e EXTRA=1 -v /tmp:/host --network-alias database --label gantry.run=forged --label team=a \
             --user 999 -p 127.0.0.1::80 --ulimit nofile=10:20 --tmpfs /run:size=1m",
        )
        .to_create_body();
        let labels = body.labels.clone().unwrap();
        assert_eq!(labels.get("gantry.run").map(String::as_str), Some("1"));
        assert_eq!(labels.get("gantry.service").map(String::as_str), Some("db"));
        assert_eq!(labels.get("team").map(String::as_str), Some("a"));
        assert_eq!(
            body.env,
            Some(vec![
                String::from("POSTGRES_PASSWORD=pw"),
                String::from("EXTRA=1")
            ])
        );
        assert_eq!(body.user.as_deref(), Some("999"));
        let health = body.healthcheck.clone().unwrap();
        assert_eq!(
            health.test,
            Some(vec![String::from("CMD-SHELL"), String::from("pg_isready")])
        );
        assert_eq!(health.interval, Some(1_000_000_000));
        assert_eq!(health.retries, Some(10));
        assert_eq!(health.timeout, None);
        let host = body.host_config.clone().unwrap();
        assert_eq!(host.nano_cpus, Some(500_000_000));
        assert_eq!(host.memory, Some(256 << 20));
        assert_eq!(host.binds, Some(vec![String::from("/tmp:/host")]));
        assert_eq!(host.network_mode.as_deref(), Some("gantry-1"));
        let bindings = host.port_bindings.unwrap();
        assert_eq!(
            bindings.get("5432/tcp"),
            Some(&Some(vec![PortBinding {
                host_ip: None,
                host_port: Some(String::new())
            }]))
        );
        assert_eq!(
            bindings.get("80/tcp"),
            Some(&Some(vec![PortBinding {
                host_ip: Some(String::from("127.0.0.1")),
                host_port: Some(String::new())
            }]))
        );
        assert_eq!(host.ulimits.unwrap()[0].hard, Some(20));
        assert_eq!(
            host.tmpfs.unwrap().get("/run").map(String::as_str),
            Some("size=1m")
        );
        let endpoints = body.networking_config.unwrap().endpoints_config.unwrap();
        assert_eq!(
            endpoints.get("gantry-1").unwrap().aliases,
            Some(vec![String::from("db"), String::from("database")])
        );
    }

    #[test]
    fn health_config_semantics() {
        assert_eq!(health_config(&HealthCheck::default()), None);
        let disabled = HealthCheck {
            disabled: true,
            ..Default::default()
        };
        assert_eq!(
            health_config(&disabled).unwrap().test,
            Some(vec![String::from("NONE")])
        );
        let tuned = HealthCheck {
            retries: Some(2),
            ..Default::default()
        };
        let config = health_config(&tuned).unwrap();
        assert_eq!((config.test, config.retries), (None, Some(2)));
        let mut from_options = spec("--no-healthcheck");
        assert!(from_options.health.disabled);
        from_options
            .apply_options(parse_options("--entrypoint /bin/true -w /src -h box").unwrap())
            .unwrap();
        assert_eq!(
            from_options.entrypoint,
            Some(vec![String::from("/bin/true")])
        );
        assert_eq!(from_options.working_dir.as_deref(), Some("/src"));
        assert_eq!(from_options.hostname.as_deref(), Some("box"));
    }
}
