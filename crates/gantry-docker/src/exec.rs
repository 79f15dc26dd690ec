//! Running a command inside a running container (a step of a container job): its stdout and stderr
//! streamed line by line, its exit code, and cancellation.
//!
//! Invariant: every process an exec starts carries `GANTRY_EXEC_ID=<id>` in its environment, and
//! cancellation kills every process in the container that still carries it (the runner's
//! RUNNER_TRACKING_ID idea), so children and background processes go too; lines handed to the
//! callback are at most `max_line_bytes` long (a longer line comes in pieces, each marked as
//! continued, see [`crate::lines`]).
//! Tests: unit tests at the bottom, tests/engine.rs on a real engine, benches/exec.rs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::engine::Engine;
use crate::error::DockerError;
use crate::lines::{Fragment, LineSplitter};

/// The environment variable that marks the processes of one exec.
pub const EXEC_ID_VAR: &str = "GANTRY_EXEC_ID";

/// Default longest line handed to the callback.
pub const DEFAULT_MAX_LINE_BYTES: usize = 64 * 1024;

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecSpec {
    pub cmd: Vec<String>,
    pub env: Vec<(String, String)>,
    pub working_dir: Option<String>,
    /// The container's user when `None`.
    pub user: Option<String>,
    pub max_line_bytes: usize,
    /// How long to wait for the output to end after cancellation killed the processes.
    pub kill_grace: Duration,
}

impl ExecSpec {
    pub fn new(cmd: impl IntoIterator<Item = impl Into<String>>) -> ExecSpec {
        ExecSpec {
            cmd: cmd.into_iter().map(Into::into).collect(),
            env: Vec::new(),
            working_dir: None,
            user: None,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            kill_grace: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputStream {
    Stdout,
    Stderr,
}

/// One line of output without its line ending, or, when `end_of_line` is false, a piece of an
/// over-long line that the next piece of the same stream continues ([`crate::lines`]). A consumer
/// that masks must mask the pieces of one line as one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputLine {
    pub stream: OutputStream,
    pub text: String,
    pub end_of_line: bool,
}

impl OutputLine {
    pub fn new(stream: OutputStream, fragment: Fragment) -> OutputLine {
        OutputLine {
            stream,
            text: fragment.text,
            end_of_line: fragment.end_of_line,
        }
    }
}

/// How an exec ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecOutcome {
    /// The command's exit code (137 after a kill); `None` when cancellation could not kill it and
    /// the wait gave up.
    pub exit_code: Option<i64>,
    pub cancelled: bool,
}

impl Engine {
    /// Runs `spec` in `container`, handing each output line to `on_line` as it arrives, and returns
    /// the exit code. When `cancel` fires, the command and everything it started are killed.
    pub async fn exec(
        &self,
        container: &str,
        spec: &ExecSpec,
        on_line: &mut (dyn FnMut(OutputLine) + Send),
        cancel: &CancellationToken,
    ) -> Result<ExecOutcome, DockerError> {
        let exec_id = new_exec_id();
        let mut env: Vec<String> = spec
            .env
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        env.push(format!("{EXEC_ID_VAR}={exec_id}"));
        let options = CreateExecOptions {
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            env: Some(env),
            cmd: Some(spec.cmd.clone()),
            working_dir: spec.working_dir.clone(),
            user: spec.user.clone(),
            ..Default::default()
        };
        let created =
            self.docker
                .create_exec(container, options)
                .await
                .map_err(DockerError::api(format!(
                    "creating an exec in container {container}"
                )))?;
        let started = self
            .docker
            .start_exec(&created.id, Some(StartExecOptions::default()))
            .await
            .map_err(DockerError::api(format!(
                "starting an exec in container {container}"
            )))?;
        let StartExecResults::Attached { mut output, input } = started else {
            // Only a detached start answers Detached, and this one is attached.
            return Err(DockerError::NoExitCode {
                container: container.to_string(),
            });
        };
        drop(input);
        let mut lines = OutputLines::new(spec.max_line_bytes);
        let mut cancelled = false;
        let mut gave_up = false;
        let mut grace_deadline: Option<tokio::time::Instant> = None;
        loop {
            let item = tokio::select! {
                item = output.next() => item,
                () = cancel.cancelled(), if !cancelled => {
                    cancelled = true;
                    // A kill that fails (no shell in the image) still ends the wait after the grace.
                    let _ = self.kill_exec(container, &exec_id).await;
                    grace_deadline = Some(tokio::time::Instant::now() + spec.kill_grace);
                    continue;
                }
                () = sleep_until_or_never(grace_deadline) => {
                    gave_up = true;
                    break;
                }
            };
            let Some(item) = item else { break };
            let chunk = item.map_err(DockerError::api(format!(
                "reading exec output in container {container}"
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
        let exit_code = self.exec_exit_code(container, &created.id).await?;
        Ok(ExecOutcome {
            exit_code: Some(exit_code),
            cancelled,
        })
    }

    /// The exit code of a finished exec; the engine may record it a moment after the output ends.
    async fn exec_exit_code(&self, container: &str, exec: &str) -> Result<i64, DockerError> {
        let mut delay = Duration::from_millis(1);
        for _ in 0..40 {
            let inspected = self
                .docker
                .inspect_exec(exec)
                .await
                .map_err(DockerError::api(format!(
                    "inspecting an exec in container {container}"
                )))?;
            if inspected.running != Some(true) {
                if let Some(code) = inspected.exit_code {
                    return Ok(code);
                }
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(100));
        }
        Err(DockerError::NoExitCode {
            container: container.to_string(),
        })
    }

    /// Kills every process in `container` whose environment carries this exec's id: stopped first
    /// (two scans, so a process forked during the first is caught), then killed.
    pub(crate) async fn kill_exec(
        &self,
        container: &str,
        exec_id: &str,
    ) -> Result<(), DockerError> {
        const SCRIPT: &str = r#"pids=""
for round in 1 2; do
  for dir in /proc/[0-9]*; do
    pid=${dir#/proc/}
    [ "$pid" = "$$" ] && continue
    case " $pids " in *" $pid "*) continue ;; esac
    if grep -q "$1=$2" "$dir/environ" 2>/dev/null; then
      kill -STOP "$pid" 2>/dev/null && pids="$pids $pid"
    fi
  done
done
[ -z "$pids" ] || kill -KILL $pids 2>/dev/null
exit 0"#;
        let options = CreateExecOptions {
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            cmd: Some(vec![
                String::from("/bin/sh"),
                String::from("-c"),
                String::from(SCRIPT),
                String::from("gantry-kill"),
                String::from(EXEC_ID_VAR),
                exec_id.to_string(),
            ]),
            // Root can signal the processes of any user in the container.
            user: Some(String::from("0")),
            ..Default::default()
        };
        let created =
            self.docker
                .create_exec(container, options)
                .await
                .map_err(DockerError::api(format!(
                    "creating the kill exec in container {container}"
                )))?;
        let started = self
            .docker
            .start_exec(&created.id, None)
            .await
            .map_err(DockerError::api(format!(
                "starting the kill exec in container {container}"
            )))?;
        if let StartExecResults::Attached { mut output, .. } = started {
            while output.next().await.is_some() {}
        }
        Ok(())
    }
}

pub(crate) async fn sleep_until_or_never(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// A process-unique exec id (pid, time and a counter; not a secret).
pub(crate) fn new_exec_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos() as u64);
    format!(
        "{:08x}{:012x}{:04x}",
        std::process::id(),
        nanos & 0xffff_ffff_ffff,
        count & 0xffff
    )
}

/// The stdout and stderr of one process, cut into [`OutputLine`]s.
pub(crate) struct OutputLines {
    stdout: LineSplitter,
    stderr: LineSplitter,
}

impl OutputLines {
    pub(crate) fn new(max_line_bytes: usize) -> OutputLines {
        OutputLines {
            stdout: LineSplitter::new(max_line_bytes),
            stderr: LineSplitter::new(max_line_bytes),
        }
    }

    pub(crate) fn push(&mut self, chunk: LogOutput, on_line: &mut (dyn FnMut(OutputLine) + Send)) {
        match chunk {
            LogOutput::StdErr { message } => self.stderr.push(&message, &mut |fragment| {
                on_line(OutputLine::new(OutputStream::Stderr, fragment))
            }),
            LogOutput::StdOut { message } | LogOutput::Console { message } => {
                self.stdout.push(&message, &mut |fragment| {
                    on_line(OutputLine::new(OutputStream::Stdout, fragment))
                })
            }
            LogOutput::StdIn { .. } => {}
        }
    }

    /// Emits what is left of both streams (stdout first).
    pub(crate) fn finish(&mut self, on_line: &mut (dyn FnMut(OutputLine) + Send)) {
        self.stdout
            .finish(&mut |fragment| on_line(OutputLine::new(OutputStream::Stdout, fragment)));
        self.stderr
            .finish(&mut |fragment| on_line(OutputLine::new(OutputStream::Stderr, fragment)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_ids_are_unique() {
        let first = new_exec_id();
        let second = new_exec_id();
        assert_ne!(first, second);
        assert_eq!(first.len(), 24);
    }
}
