//! Running a command inside a running container (a step of a container job): its stdout and stderr
//! streamed line by line, its exit code, and cancellation.
//!
//! Invariant: every process an exec starts carries `GANTRY_EXEC_ID=<id>` in its environment, and
//! cancellation kills every process in the container that still carries it (the runner's
//! RUNNER_TRACKING_ID idea), so children and background processes go too; lines handed to the
//! callback are at most `max_line_bytes` long (a longer line is cut into pieces).
//! Tests: `LineSplitter` cases at the bottom, tests/engine.rs on a real engine, benches/exec.rs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::engine::Engine;
use crate::error::DockerError;

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

/// One line of output, without its line ending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputLine {
    pub stream: OutputStream,
    pub text: String,
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
            LogOutput::StdErr { message } => self.stderr.push(&message, &mut |text| {
                on_line(OutputLine {
                    stream: OutputStream::Stderr,
                    text,
                })
            }),
            LogOutput::StdOut { message } | LogOutput::Console { message } => {
                self.stdout.push(&message, &mut |text| {
                    on_line(OutputLine {
                        stream: OutputStream::Stdout,
                        text,
                    })
                })
            }
            LogOutput::StdIn { .. } => {}
        }
    }

    /// Emits what is left of both streams (stdout first).
    pub(crate) fn finish(&mut self, on_line: &mut (dyn FnMut(OutputLine) + Send)) {
        self.stdout.finish(&mut |text| {
            on_line(OutputLine {
                stream: OutputStream::Stdout,
                text,
            })
        });
        self.stderr.finish(&mut |text| {
            on_line(OutputLine {
                stream: OutputStream::Stderr,
                text,
            })
        });
    }
}

/// Cuts a byte stream into lines of at most `max` bytes (never inside a UTF-8 character), without
/// their `\n` or `\r\n`.
pub struct LineSplitter {
    buffer: Vec<u8>,
    max: usize,
}

impl LineSplitter {
    pub fn new(max: usize) -> LineSplitter {
        LineSplitter {
            buffer: Vec::new(),
            max: max.max(4),
        }
    }

    /// Changes the longest line from now on.
    pub fn set_max(&mut self, max: usize) {
        self.max = max.max(4);
    }

    pub fn push(&mut self, bytes: &[u8], emit: &mut dyn FnMut(String)) {
        for &byte in bytes {
            if byte == b'\n' {
                if self.buffer.last() == Some(&b'\r') {
                    self.buffer.pop();
                }
                emit(String::from_utf8_lossy(&self.buffer).into_owned());
                self.buffer.clear();
                continue;
            }
            // Cut only when a byte beyond the limit arrives, so a line of exactly `max` bytes
            // stays one line.
            if self.buffer.len() >= self.max {
                self.cut(emit);
            }
            self.buffer.push(byte);
        }
    }

    /// Emits the full buffer (`max` bytes) as a piece, except an incomplete UTF-8 character at its
    /// end, which starts the next piece.
    fn cut(&mut self, emit: &mut dyn FnMut(String)) {
        let len = self.buffer.len();
        let mut end = len;
        let mut start = len;
        while start > 0 && len - start < 3 && (self.buffer[start - 1] & 0b1100_0000) == 0b1000_0000
        {
            start -= 1;
        }
        // `start - 1` is in bounds: `start > 0` is checked first.
        if start > 0 {
            let lead = self.buffer[start - 1];
            let width = match lead {
                0xF0..=0xFF => 4,
                0xE0..=0xEF => 3,
                0xC0..=0xDF => 2,
                _ => 1,
            };
            if len - (start - 1) < width {
                end = start - 1;
            }
        }
        if end == 0 {
            end = len;
        }
        let rest = self.buffer.split_off(end);
        emit(String::from_utf8_lossy(&self.buffer).into_owned());
        self.buffer = rest;
    }

    /// Emits what is left after the last newline (output that did not end with one).
    pub fn finish(&mut self, emit: &mut dyn FnMut(String)) {
        if !self.buffer.is_empty() {
            if self.buffer.last() == Some(&b'\r') {
                self.buffer.pop();
            }
            emit(String::from_utf8_lossy(&self.buffer).into_owned());
            self.buffer.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `chunks` through a splitter of `max` bytes and compares the lines.
    fn check(max: usize, chunks: &[&str], expected: &[&str]) {
        let mut splitter = LineSplitter::new(max);
        let mut lines = Vec::new();
        for chunk in chunks {
            splitter.push(chunk.as_bytes(), &mut |line| lines.push(line));
        }
        splitter.finish(&mut |line| lines.push(line));
        assert_eq!(lines, expected, "chunks: {chunks:?}");
    }

    #[test]
    fn splits_lines() {
        check(100, &[], &[]);
        check(100, &["a\nb\n"], &["a", "b"]);
        check(100, &["a", "b\nc"], &["ab", "c"]);
        check(100, &["a\r\n", "\n"], &["a", ""]);
        check(100, &["no newline"], &["no newline"]);
        check(4, &["abcdefghij\n"], &["abcd", "efgh", "ij"]);
        check(4, &["abcd\n"], &["abcd"]);
        check(4, &["abcde"], &["abcd", "e"]);
        check(5, &["abcé€x\n"], &["abcé", "€x"]);
        check(4, &["€€\n"], &["€", "€"]);
        check(100, &["x\r"], &["x"]);
    }

    #[test]
    fn exec_ids_are_unique() {
        let first = new_exec_id();
        let second = new_exec_id();
        assert_ne!(first, second);
        assert_eq!(first.len(), 24);
    }
}
