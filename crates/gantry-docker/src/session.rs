//! A shell session in a running container: one long-lived `sh` started by an attached exec (stdin
//! open), into which the steps of a job are fed one by one. A step then costs a fork inside the
//! container instead of an engine exec (which starts a runtime process per step).
//!
//! Protocol: each step is one line written to the shell's stdin, which runs the command in a
//! subshell (its env exported, its working directory entered, stdin from /dev/null) and then writes
//! a marker line with a per-step unique nonce and the exit code to stdout, and the nonce alone to
//! stderr. The step ends when both markers have arrived, so everything it wrote on either stream
//! came before. The marker is preceded by a newline so it starts a line even after output without
//! a final newline; the one empty line that produces is dropped (empty lines are held back by one
//! line to tell).
//!
//! A step sees the environment an exec would (the container's, then its own), plus what the shell
//! exports itself (`PWD`, and `SHLVL` in some shells).
//!
//! Invariant: a step's processes carry `GANTRY_EXEC_ID=<id>` like an exec's, and cancellation kills
//! them the same way ([`Engine::exec`]'s kill); a session whose shell is gone, whose step did not
//! end within the grace after a kill, or whose step's future was dropped before the step ended is
//! broken, and later steps fall back to plain execs, as do steps it cannot express (another user,
//! an env name that is not a shell identifier). Dropping a session ends its shell (its stdin
//! closes) but not a step still running in it: cancel the step first.
//! Tests: quoting cases at the bottom, tests/engine.rs (`session_*`), benches/exec.rs.

use std::pin::Pin;
use std::time::Duration;

use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use futures_util::{Stream, StreamExt};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use crate::engine::Engine;
use crate::error::DockerError;
use crate::exec::{
    new_exec_id, sleep_until_or_never, ExecOutcome, ExecSpec, OutputLine, OutputStream, EXEC_ID_VAR,
};
use crate::lines::{Fragment, LineSplitter};

/// The shell loop: reads one step line at a time and evaluates it. `NL` lets a quoted argument
/// carry a newline inside a one-line step. The shell's own stderr goes to /dev/null (some shells
/// report a step killed by a signal there, as `Killed`); steps and markers write to fd 3, the
/// session's stderr.
const SUPERVISOR: &str = "exec 3>&2 2>/dev/null\nNL='\n'\nwhile IFS= read -r gantry_step; do eval \"$gantry_step\"; done\n";

/// How long after a kill a step that is still running is killed again.
const KILL_AGAIN: Duration = Duration::from_millis(500);

/// Shortest line cut inside a session, so a marker line is never cut in two.
const MIN_LINE_BYTES: usize = 128;

type Output = Pin<Box<dyn Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>;

/// A shell session in a container (see the module documentation). Steps run one at a time
/// (`run` takes `&mut self`); dropping the session ends the shell.
pub struct Session {
    engine: Engine,
    container: String,
    user: Option<String>,
    output: Output,
    input: Pin<Box<dyn AsyncWrite + Send>>,
    stdout: StreamState,
    stderr: StreamState,
    broken: bool,
}

/// One stream's line splitter and the output that arrived after the current step's marker (output
/// of a background process), handed to the next step.
struct StreamState {
    splitter: LineSplitter,
    held_empty: bool,
    /// False while the pieces of an over-long line are arriving: a marker or an empty line can
    /// only begin a line.
    at_line_start: bool,
    carried: Vec<Fragment>,
}

impl StreamState {
    fn new() -> StreamState {
        StreamState {
            splitter: LineSplitter::new(crate::DEFAULT_MAX_LINE_BYTES),
            held_empty: false,
            at_line_start: true,
            carried: Vec::new(),
        }
    }
}

impl Engine {
    /// Starts a shell session in `container` as `user` (the container's user when `None`). The
    /// image needs `/bin/sh`.
    pub async fn open_session(
        &self,
        container: &str,
        user: Option<&str>,
    ) -> Result<Session, DockerError> {
        let options = CreateExecOptions {
            attach_stdin: Some(true),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            cmd: Some(vec![
                String::from("/bin/sh"),
                String::from("-c"),
                String::from(SUPERVISOR),
            ]),
            user: user.map(str::to_string),
            ..Default::default()
        };
        let created =
            self.docker
                .create_exec(container, options)
                .await
                .map_err(DockerError::api(format!(
                    "creating a shell session in container {container}"
                )))?;
        let started = self
            .docker
            .start_exec(&created.id, Some(StartExecOptions::default()))
            .await
            .map_err(DockerError::api(format!(
                "starting a shell session in container {container}"
            )))?;
        let StartExecResults::Attached { output, input } = started else {
            // Only a detached start answers Detached, and this one is attached.
            return Err(DockerError::SessionEnded {
                container: container.to_string(),
            });
        };
        Ok(Session {
            engine: self.clone(),
            container: container.to_string(),
            user: user.map(str::to_string),
            output,
            input,
            stdout: StreamState::new(),
            stderr: StreamState::new(),
            broken: false,
        })
    }
}

/// What happened to one stream's line.
enum Seen {
    /// Output, and whether it begins a line.
    Output(Fragment, bool),
    Marker(String),
}

impl Session {
    /// The container this session runs in.
    pub fn container(&self) -> &str {
        &self.container
    }

    /// False once the shell is gone or a cancelled step did not end; steps then run as plain
    /// execs.
    pub fn is_usable(&self) -> bool {
        !self.broken
    }

    /// Runs one step, like [`Engine::exec`]: each output line to `on_line` as it arrives, the exit
    /// code at the end, and on `cancel` the step and everything it started are killed.
    /// `spec.max_line_bytes` is at least 128 here.
    pub async fn run(
        &mut self,
        spec: &ExecSpec,
        on_line: &mut (dyn FnMut(OutputLine) + Send),
        cancel: &CancellationToken,
    ) -> Result<ExecOutcome, DockerError> {
        let same_user = spec.user.is_none() || spec.user == self.user;
        let Some(nonce_and_line) = same_user
            .then(|| step_line(spec))
            .flatten()
            .filter(|_| !self.broken)
        else {
            return self
                .engine
                .exec(&self.container, spec, on_line, cancel)
                .await;
        };
        let (exec_id, nonce, line) = nonce_and_line;
        let max = spec.max_line_bytes.max(MIN_LINE_BYTES);
        for (state, stream) in [
            (&mut self.stdout, OutputStream::Stdout),
            (&mut self.stderr, OutputStream::Stderr),
        ] {
            state.splitter.set_limit(max);
            for fragment in state.carried.drain(..) {
                on_line(OutputLine::new(stream, fragment));
            }
        }
        let ended = |container: &str| DockerError::SessionEnded {
            container: container.to_string(),
        };
        // Broken until the step's markers arrive: a run whose future is dropped half way leaves
        // output of its step in the stream, which no later step may take for its own.
        self.broken = true;
        if self.input.write_all(line.as_bytes()).await.is_err() || self.input.flush().await.is_err()
        {
            self.broken = true;
            return Err(ended(&self.container));
        }
        let mut exit_code: Option<i64> = None;
        let mut stderr_done = false;
        let mut cancelled = false;
        let mut grace_deadline: Option<tokio::time::Instant> = None;
        let mut next_kill: Option<tokio::time::Instant> = None;
        while exit_code.is_none() || !stderr_done {
            let item = tokio::select! {
                item = self.output.next() => item,
                () = cancel.cancelled(), if !cancelled => {
                    cancelled = true;
                    // A kill that fails still ends the wait after the grace.
                    let _ = self.engine.kill_exec(&self.container, &exec_id).await;
                    grace_deadline = Some(tokio::time::Instant::now() + spec.kill_grace);
                    next_kill = Some(tokio::time::Instant::now() + KILL_AGAIN);
                    continue;
                }
                // A step caught between the shell's fork and its exec does not carry its id yet;
                // killing again until it ends catches it.
                () = sleep_until_or_never(next_kill) => {
                    let _ = self.engine.kill_exec(&self.container, &exec_id).await;
                    next_kill = Some(tokio::time::Instant::now() + KILL_AGAIN);
                    continue;
                }
                () = sleep_until_or_never(grace_deadline) => {
                    self.broken = true;
                    return Ok(ExecOutcome { exit_code: None, cancelled });
                }
            };
            let chunk = match item {
                Some(Ok(chunk)) => chunk,
                Some(Err(source)) => {
                    self.broken = true;
                    return Err(DockerError::Api {
                        action: format!("reading session output in container {}", self.container),
                        source,
                    });
                }
                None => {
                    self.broken = true;
                    return Err(ended(&self.container));
                }
            };
            let (state, stream, bytes) = match chunk {
                LogOutput::StdErr { message } => (&mut self.stderr, OutputStream::Stderr, message),
                LogOutput::StdOut { message } | LogOutput::Console { message } => {
                    (&mut self.stdout, OutputStream::Stdout, message)
                }
                LogOutput::StdIn { .. } => continue,
            };
            let done_before = match stream {
                OutputStream::Stdout => exit_code.is_some(),
                OutputStream::Stderr => stderr_done,
            };
            let mut seen = Vec::new();
            let mut at_line_start = state.at_line_start;
            state.splitter.push(&bytes, &mut |fragment| {
                let starts_line = std::mem::replace(&mut at_line_start, fragment.end_of_line);
                if starts_line && fragment.end_of_line && fragment.text.starts_with(nonce.as_str())
                {
                    seen.push(Seen::Marker(fragment.text));
                } else {
                    seen.push(Seen::Output(fragment, starts_line));
                }
            });
            state.at_line_start = at_line_start;
            let mut done = done_before;
            for item in seen {
                match item {
                    Seen::Output(fragment, _) if done => state.carried.push(fragment),
                    Seen::Output(fragment, starts_line) => {
                        if std::mem::take(&mut state.held_empty) {
                            on_line(OutputLine::new(
                                stream,
                                Fragment {
                                    text: String::new(),
                                    end_of_line: true,
                                },
                            ));
                        }
                        if starts_line && fragment.end_of_line && fragment.text.is_empty() {
                            state.held_empty = true;
                        } else {
                            on_line(OutputLine::new(stream, fragment));
                        }
                    }
                    Seen::Marker(text) if !done => {
                        // The held empty line is the marker's own leading newline.
                        state.held_empty = false;
                        done = true;
                        if stream == OutputStream::Stdout {
                            let code = text[nonce.len()..].trim().parse::<i64>().map_err(|_| {
                                DockerError::NoExitCode {
                                    container: self.container.clone(),
                                }
                            });
                            match code {
                                Ok(code) => exit_code = Some(code),
                                Err(error) => {
                                    self.broken = true;
                                    return Err(error);
                                }
                            }
                        } else {
                            stderr_done = true;
                        }
                    }
                    Seen::Marker(text) => state.carried.push(Fragment {
                        text,
                        end_of_line: true,
                    }),
                }
            }
        }
        self.broken = false;
        Ok(ExecOutcome {
            exit_code,
            cancelled,
        })
    }
}

/// The step line for `spec`: (exec id, nonce, line). `None` when the step cannot be expressed in
/// the session (an env name that is not a shell identifier, or no command).
fn step_line(spec: &ExecSpec) -> Option<(String, String, String)> {
    if spec.cmd.is_empty() {
        return None;
    }
    let exec_id = new_exec_id();
    let nonce = format!("::gantry-step-end-{}::", new_exec_id());
    let mut line = String::from("( exec 3>&-; ");
    for (name, value) in spec
        .env
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .chain([(EXEC_ID_VAR, exec_id.as_str())])
    {
        if !is_identifier(name) {
            return None;
        }
        line.push_str(&format!("export {name}={}; ", quote(value)));
    }
    if let Some(dir) = &spec.working_dir {
        line.push_str(&format!("cd -- {} || exit 126; ", quote(dir)));
    }
    line.push_str("exec");
    for word in &spec.cmd {
        line.push(' ');
        line.push_str(&quote(word));
    }
    line.push_str(&format!(
        " ) </dev/null 2>&3; printf '\\n%s %s\\n' {nonce} \"$?\"; printf '\\n%s\\n' {nonce} >&3\n",
        nonce = quote(&nonce)
    ));
    Some((exec_id, nonce, line))
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `text` as one shell word on one line: single-quoted, a quote as `'\''`, a newline as `"$NL"`
/// (the session shell sets `NL`).
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('\'');
    for c in text.chars() {
        match c {
            '\'' => out.push_str("'\\''"),
            '\n' => out.push_str("'\"$NL\"'"),
            _ => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `sh -c "NL=...; printf %s <quoted>"` on the host and compares the word it prints.
    fn check_quote(text: &str) {
        let quoted = quote(text);
        assert!(!quoted.contains('\n'), "{quoted}");
        let script = format!("NL='\n'; printf '%s' {quoted}");
        let output = std::process::Command::new("sh")
            .args(["-c", &script])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&output.stdout), text, "{quoted}");
    }

    #[test]
    fn quotes_words_for_one_line() {
        check_quote("");
        check_quote("plain");
        check_quote("two words");
        check_quote("it's");
        check_quote("'");
        check_quote("line one\nline two\n");
        check_quote("$HOME `id` $(id) \\ \" *");
        check_quote("日本 \t tab");
    }

    #[test]
    fn identifiers() {
        for (name, expected) in [
            ("PATH", true),
            ("_x1", true),
            ("1x", false),
            ("A-B", false),
            ("", false),
            ("Ä", false),
        ] {
            assert_eq!(is_identifier(name), expected, "{name:?}");
        }
    }

    #[test]
    fn steps_that_need_a_plain_exec() {
        let mut spec = ExecSpec::new(["true"]);
        assert!(step_line(&spec).is_some());
        spec.env.push((String::from("A-B"), String::from("1")));
        assert!(step_line(&spec).is_none());
        assert!(step_line(&ExecSpec::new(Vec::<String>::new())).is_none());
    }
}
