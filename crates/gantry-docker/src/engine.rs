//! The connection to a Docker engine, images, networks and garbage collection.
//!
//! Invariant: an [`Engine`] has answered a version request when it exists (its API version is
//! negotiated down to the engine's, so older engines work); nothing here shells out to the docker
//! CLI. Tests: tests/engine.rs (real engine; skipped with a reason when none answers, failing under CI).

use std::collections::HashMap;
use std::time::Duration;

use bollard::query_parameters::{
    ListContainersOptions, ListNetworksOptions, ListVolumesOptions, RemoveContainerOptions,
    RemoveVolumeOptions,
};
use bollard::Docker;

use crate::error::DockerError;
use crate::labels;

/// The engine address used when `DOCKER_HOST` is not set.
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// A connected Docker engine. Cheap to clone (shares one connection pool).
#[derive(Clone)]
pub struct Engine {
    pub(crate) docker: Docker,
    endpoint: String,
    /// Images this engine value has already made sure of, and how (see `image.rs`).
    pub(crate) images: crate::image::Checked,
}

/// What [`Engine::gc`] or [`Engine::gc_stale`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    pub containers: Vec<String>,
    pub networks: Vec<String>,
    pub volumes: Vec<String>,
    /// Images Gantry built (only [`Engine::gc_images`] removes them).
    pub images: Vec<String>,
}

impl Engine {
    /// Connects to `DOCKER_HOST` (unix://, tcp:// or http://) or the default socket
    /// `/var/run/docker.sock`, and checks the engine answers.
    pub async fn connect() -> Result<Engine, DockerError> {
        let host = std::env::var("DOCKER_HOST")
            .ok()
            .filter(|host| !host.is_empty())
            .unwrap_or_else(|| String::from(DEFAULT_HOST));
        Engine::connect_to(&host).await
    }

    /// Connects to the engine at `host` (`unix:///path`, `tcp://host:port`, `http://host:port`) and
    /// checks it answers within 10 seconds.
    pub async fn connect_to(host: &str) -> Result<Engine, DockerError> {
        let not_reachable = |source| DockerError::NotReachable {
            endpoint: host.to_string(),
            source,
        };
        // A long request timeout: an exec stream or a pull may legitimately take long; waits that
        // must be bounded are bounded by their callers.
        let docker = Docker::connect_with_host(host)
            .map_err(not_reachable)?
            .with_timeout(Duration::from_secs(3600));
        let probe = docker.clone().with_timeout(Duration::from_secs(10));
        probe.ping().await.map_err(not_reachable)?;
        // Talk the engine's API version when it is older than the client's.
        let docker = docker.negotiate_version().await.map_err(not_reachable)?;
        Ok(Engine {
            docker,
            endpoint: host.to_string(),
            images: crate::image::Checked::default(),
        })
    }

    /// Where this engine was reached (`unix:///var/run/docker.sock`, `tcp://...`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The underlying client, for what this crate does not wrap yet.
    pub fn client(&self) -> &Docker {
        &self.docker
    }

    /// The engine's version string (`20.10.24+dfsg1`).
    pub async fn server_version(&self) -> Result<String, DockerError> {
        let version = self
            .docker
            .version()
            .await
            .map_err(DockerError::api("querying the engine version"))?;
        Ok(version.version.unwrap_or_default())
    }

    /// Creates a user-defined bridge network labelled for `run_id`; returns its id. Containers on it
    /// reach each other by name and network alias.
    pub async fn create_network(&self, name: &str, run_id: &str) -> Result<String, DockerError> {
        let request = bollard::models::NetworkCreateRequest {
            name: name.to_string(),
            driver: Some(String::from("bridge")),
            labels: Some(labels::labels(run_id, None, None)),
            ..Default::default()
        };
        let created = self
            .docker
            .create_network(request)
            .await
            .map_err(DockerError::api(format!("creating network {name}")))?;
        Ok(created.id)
    }

    /// Removes a network; one that is already gone is not an error.
    pub async fn remove_network(&self, name: &str) -> Result<(), DockerError> {
        match self.docker.remove_network(name).await {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(source) => Err(DockerError::Api {
                action: format!("removing network {name}"),
                source,
            }),
        }
    }

    /// Removes every container, network and volume labelled `gantry.managed=true` (only those of
    /// `run_id` when given): containers first (forcibly, with their anonymous volumes), then networks,
    /// then volumes. Keeps going past a failure and reports the first one at the end.
    pub async fn gc(&self, run_id: Option<&str>) -> Result<GcReport, DockerError> {
        self.collect(run_id, &|_| true).await
    }

    /// Removes the Gantry objects whose creating process is gone (see [`labels::is_stale`]): those of
    /// this host whose `gantry.pid` no longer runs or now names another process, and those without
    /// owner labels. Objects of live processes and of other hosts stay. Same order and error
    /// handling as [`Engine::gc`].
    pub async fn gc_stale(&self) -> Result<GcReport, DockerError> {
        self.gc_stale_of(None).await
    }

    /// [`Engine::gc_stale`] limited to the objects of `run_id` when given.
    pub async fn gc_stale_of(&self, run_id: Option<&str>) -> Result<GcReport, DockerError> {
        let host = labels::Owner::current().host.clone();
        self.collect(run_id, &|object_labels| {
            labels::is_stale(object_labels, &host, &labels::ProcTable)
        })
        .await
    }

    /// Removes the managed objects (of `run_id` when given) whose labels `remove` accepts.
    async fn collect(
        &self,
        run_id: Option<&str>,
        remove: &(dyn Fn(&HashMap<String, String>) -> bool + Sync),
    ) -> Result<GcReport, DockerError> {
        let filters = labels::label_filter(run_id);
        let mut report = GcReport::default();
        let mut first_error = None;
        let containers = self
            .docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(filters.clone()),
                ..Default::default()
            }))
            .await
            .map_err(DockerError::api("listing gantry containers"))?;
        for container in containers {
            if !remove(&container.labels.unwrap_or_default()) {
                continue;
            }
            let Some(id) = container.id else { continue };
            let name = container
                .names
                .and_then(|names| names.into_iter().next())
                .map(|name| name.trim_start_matches('/').to_string())
                .unwrap_or_else(|| id.clone());
            let options = RemoveContainerOptions {
                force: true,
                v: true,
                ..Default::default()
            };
            match self.docker.remove_container(&id, Some(options)).await {
                Ok(()) => report.containers.push(name),
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => {}
                Err(source) => {
                    first_error.get_or_insert(DockerError::Api {
                        action: format!("removing container {name}"),
                        source,
                    });
                }
            }
        }
        let networks = self
            .docker
            .list_networks(Some(ListNetworksOptions {
                filters: Some(filters.clone()),
            }))
            .await
            .map_err(DockerError::api("listing gantry networks"))?;
        for network in networks {
            if !remove(&network.labels.unwrap_or_default()) {
                continue;
            }
            let Some(name) = network.name else { continue };
            match self.remove_network(&name).await {
                Ok(()) => report.networks.push(name),
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        let volumes = self
            .docker
            .list_volumes(Some(ListVolumesOptions {
                filters: Some(filters),
            }))
            .await
            .map_err(DockerError::api("listing gantry volumes"))?;
        for volume in volumes.volumes.unwrap_or_default() {
            if !remove(&volume.labels) {
                continue;
            }
            match self
                .docker
                .remove_volume(&volume.name, Some(RemoveVolumeOptions { force: true }))
                .await
            {
                Ok(()) => report.volumes.push(volume.name),
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => {}
                Err(source) => {
                    first_error.get_or_insert(DockerError::Api {
                        action: format!("removing volume {}", volume.name),
                        source,
                    });
                }
            }
        }
        match first_error {
            Some(error) => Err(error),
            None => Ok(report),
        }
    }

    /// True when `image` (a reference or id) is present locally.
    pub async fn image_exists(&self, image: &str) -> Result<bool, DockerError> {
        match self.docker.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(false),
            Err(source) => Err(DockerError::Api {
                action: format!("inspecting image {image:?}"),
                source,
            }),
        }
    }
}
