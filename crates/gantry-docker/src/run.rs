//! Running a container to completion (a Docker action or a `docker://image` step): created from a
//! [`ContainerSpec`], its output streamed line by line while it runs, its exit code, and removal.
//!
//! Invariant: the container is removed however the run ends (exit, engine error, cancellation, or
//! the future being dropped, when removal is handed to a background task); cancellation stops it
//! with the grace (SIGTERM, then SIGKILL) and the wait for its end is bounded. Output lines are cut
//! as an exec's are ([`crate::LineSplitter`], [`crate::DEFAULT_MAX_LINE_BYTES`]).
//! Tests: tests/engine.rs (`run_to_end_*`).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bollard::query_parameters::{AttachContainerOptions, CreateContainerOptions};
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::container::{start_error, ContainerSpec};
use crate::engine::Engine;
use crate::error::DockerError;
use crate::exec::{sleep_until_or_never, ExecOutcome, OutputLine, OutputLines};
use crate::DEFAULT_MAX_LINE_BYTES;

/// How long past the stop grace the output may take to end before the wait gives up (the engine
/// kills at the end of the grace; this only bounds an engine that does not answer).
const STOP_SLACK: Duration = Duration::from_secs(10);

impl Engine {
    /// Creates and starts the container of `spec`, hands each line of its output to `on_line` while
    /// it runs, waits for it to exit and removes it; returns its exit code. When `cancel` fires the
    /// container is stopped (SIGTERM, SIGKILL after `kill_grace`) and the outcome says `cancelled`.
    /// The container is removed on every path; a failure to remove it after it ran is not reported
    /// (the outcome matters more, and [`Engine::gc_stale`] collects the leftover).
    pub async fn run_to_end(
        &self,
        spec: &ContainerSpec,
        on_line: &mut (dyn FnMut(OutputLine) + Send),
        cancel: &CancellationToken,
        kill_grace: Duration,
    ) -> Result<ExecOutcome, DockerError> {
        let options = CreateContainerOptions {
            name: (!spec.name.is_empty()).then(|| spec.name.clone()),
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
        let mut guard = RemoveOnDrop {
            engine: Some(self.clone()),
            container: created.id.clone(),
        };
        let outcome = self
            .run_created(&created.id, spec, on_line, cancel, kill_grace)
            .await;
        guard.engine = None;
        let _ = self.remove_container(&created.id).await;
        outcome
    }

    async fn run_created(
        &self,
        id: &str,
        spec: &ContainerSpec,
        on_line: &mut (dyn FnMut(OutputLine) + Send),
        cancel: &CancellationToken,
        kill_grace: Duration,
    ) -> Result<ExecOutcome, DockerError> {
        let name = if spec.name.is_empty() { id } else { &spec.name };
        // Attached before the start, so no output is missed.
        let attached = self
            .docker
            .attach_container(
                id,
                Some(AttachContainerOptions {
                    stream: true,
                    stdout: true,
                    stderr: true,
                    ..Default::default()
                }),
            )
            .await
            .map_err(DockerError::api(format!("attaching to container {name}")))?;
        let mut output = attached.output;
        drop(attached.input);
        if let Err(source) = self.docker.start_container(id, None).await {
            return Err(start_error(spec, source));
        }
        let mut lines = OutputLines::new(DEFAULT_MAX_LINE_BYTES);
        let mut cancelled = cancel.is_cancelled();
        let mut stopping: Option<Pin<Box<dyn Future<Output = ()> + Send + '_>>> = None;
        let mut give_up_at: Option<tokio::time::Instant> = None;
        let mut gave_up = false;
        if cancelled {
            stopping = Some(Box::pin(self.stop_quietly(id, kill_grace)));
            give_up_at = Some(tokio::time::Instant::now() + kill_grace + STOP_SLACK);
        }
        loop {
            let item = tokio::select! {
                item = output.next() => item,
                () = cancel.cancelled(), if !cancelled => {
                    cancelled = true;
                    stopping = Some(Box::pin(self.stop_quietly(id, kill_grace)));
                    give_up_at = Some(tokio::time::Instant::now() + kill_grace + STOP_SLACK);
                    continue;
                }
                () = async { if let Some(stop) = stopping.as_mut() { stop.await } }, if stopping.is_some() => {
                    stopping = None;
                    continue;
                }
                () = sleep_until_or_never(give_up_at) => {
                    gave_up = true;
                    break;
                }
            };
            let Some(item) = item else { break };
            let chunk = item.map_err(DockerError::api(format!(
                "reading the output of container {name}"
            )))?;
            lines.push(chunk, on_line);
        }
        lines.finish(on_line);
        if gave_up {
            return Ok(ExecOutcome {
                exit_code: None,
                cancelled,
            });
        }
        // The output ends when the process closes it, which may be a moment before it exits.
        let exit_code = self.wait_exit(id, name).await?;
        Ok(ExecOutcome {
            exit_code: Some(exit_code),
            cancelled,
        })
    }

    /// Stops a container; a failure is left to the removal that follows (which kills).
    async fn stop_quietly(&self, id: &str, grace: Duration) {
        let _ = self.stop_container(id, grace).await;
    }

    /// Waits for a container to stop and returns its exit code.
    async fn wait_exit(&self, id: &str, name: &str) -> Result<i64, DockerError> {
        let mut waits = self.docker.wait_container(id, None);
        match waits.next().await {
            Some(Ok(response)) => Ok(response.status_code),
            // The client reports a non-zero exit as an error that carries the code.
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
            Some(Err(source)) => Err(DockerError::Api {
                action: format!("waiting for container {name} to exit"),
                source,
            }),
            None => Err(DockerError::NoExitCode {
                container: name.to_string(),
            }),
        }
    }
}

/// Removes the container in a background task when a run's future is dropped before it finished
/// (the caller gave up on it); disarmed by clearing `engine`.
struct RemoveOnDrop {
    engine: Option<Engine>,
    container: String,
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let Some(engine) = self.engine.take() else {
            return;
        };
        let container = std::mem::take(&mut self.container);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = engine.remove_container(&container).await;
            });
        }
    }
}
