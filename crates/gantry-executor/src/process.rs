//! Spawning one step process and reading its output.
//!
//! Invariant: every step runs in its own process group; a timeout or a cancellation signals the
//! whole group (SIGINT, then SIGTERM after half the grace period, then SIGKILL), so children such as
//! a background `sleep` die with the step. stdout and stderr are read concurrently in the calling
//! task (no extra threads) and split into lines by gantry-docker's [`LineSplitter`] (the one
//! splitter of the project, also cutting container output), whose buffer is bounded: a line longer
//! than [`MAX_LINE`] is handed out in pieces, so output without newlines never grows memory.
//! The pipes are read only while the job's event channel has room (a [`Gate`]), so what a step
//! prints is held in its pipe, not in memory, when the consumers are slower than the step.
//! Tests: the `tests` module below; end to end in `tests/host.rs`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::AsyncReadExt;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use gantry_docker::{Fragment, LineSplitter, OutputStream as Stream};
use gantry_plan::flow::Gate;

/// The longest line handed out whole; longer lines come in pieces of at most this many bytes.
pub const MAX_LINE: usize = gantry_docker::DEFAULT_MAX_LINE_BYTES;

/// How long output is still read after the step's main process exited while something it started
/// keeps the pipes open.
const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(200);

/// What to run.
#[derive(Debug, Clone)]
pub struct ProcessSpec {
    pub program: PathBuf,
    pub args: Vec<String>,
    /// The complete environment (nothing is inherited beyond it).
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
}

/// How a step process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessEnd {
    /// Exit code (128 + signal number when killed by a signal).
    Exited(i32),
    TimedOut,
    Cancelled,
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error(
        "an error occurred trying to start process '{program}' with working directory '{cwd}'"
    )]
    Spawn {
        program: PathBuf,
        cwd: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("waiting for process '{program}' failed")]
    Wait {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Options for one run.
#[derive(Debug, Clone, Copy)]
pub struct RunLimits {
    pub timeout: Option<Duration>,
    /// Time between SIGINT and SIGKILL when stopping the group.
    pub kill_grace: Duration,
}

/// Runs the process to completion, handing each output fragment to `on_output` as it arrives.
/// The pipes are read only while `gate` has room (the channel `on_output` feeds): a slow
/// consumer slows the step's writes, as a pipe to it would. Returns how it ended and the process
/// group id (the caller may kill stragglers at job end).
pub async fn run_process(
    spec: &ProcessSpec,
    limits: RunLimits,
    cancel: &CancellationToken,
    gate: &Gate,
    on_output: &mut (dyn FnMut(Stream, Fragment) + Send),
) -> Result<(ProcessEnd, i32), ProcessError> {
    let mut command = tokio::process::Command::new(&spec.program);
    command
        .args(&spec.args)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&spec.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = command.spawn().map_err(|source| ProcessError::Spawn {
        program: spec.program.clone(),
        cwd: spec.cwd.clone(),
        source,
    })?;
    // A spawned child always has a pid until it is waited for.
    let pgid = child.id().map(|p| p as i32).unwrap_or(0);
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let mut out_lines = LineSplitter::new(MAX_LINE);
    let mut err_lines = LineSplitter::new(MAX_LINE);
    let mut out_buf = vec![0u8; 32 * 1024];
    let mut err_buf = vec![0u8; 32 * 1024];

    let started = Instant::now();
    let timeout_at = limits.timeout.map(|t| started + t);
    let mut stop_reason: Option<ProcessEnd> = None;
    // Next escalation step of the stop sequence and when it is due.
    let mut next_signal: Option<(Signal, Instant)> = None;
    let mut exit_code: Option<i32> = None;
    let mut drain_until: Option<Instant> = None;

    loop {
        if stdout.is_none() && stderr.is_none() && exit_code.is_some() {
            break;
        }
        let deadline = [
            timeout_at.filter(|_| stop_reason.is_none() && exit_code.is_none()),
            next_signal.map(|(_, at)| at),
            drain_until,
        ]
        .into_iter()
        .flatten()
        .min();
        let room = gate.has_room();
        tokio::select! {
            () = gate.ready(), if !room => {
                // Output held back by the consumer is not output of something left running.
                if drain_until.is_some() {
                    drain_until = Some(Instant::now() + DRAIN_AFTER_EXIT);
                }
            }
            read = async { match stdout.as_mut() { Some(s) => s.read(&mut out_buf).await, None => std::future::pending().await } }, if room && stdout.is_some() => {
                match read {
                    Ok(n) if n > 0 => out_lines.push(&out_buf[..n], &mut |f| on_output(Stream::Stdout, f)),
                    _ => {
                        out_lines.finish(&mut |f| on_output(Stream::Stdout, f));
                        stdout = None;
                    }
                }
            }
            read = async { match stderr.as_mut() { Some(s) => s.read(&mut err_buf).await, None => std::future::pending().await } }, if room && stderr.is_some() => {
                match read {
                    Ok(n) if n > 0 => err_lines.push(&err_buf[..n], &mut |f| on_output(Stream::Stderr, f)),
                    _ => {
                        err_lines.finish(&mut |f| on_output(Stream::Stderr, f));
                        stderr = None;
                    }
                }
            }
            status = child.wait(), if exit_code.is_none() => {
                let status = status.map_err(|source| ProcessError::Wait { program: spec.program.clone(), source })?;
                exit_code = Some(exit_code_of(status));
                if stop_reason.is_some() {
                    // The step is being stopped: nothing it started may outlive it.
                    signal_group(pgid, Signal::SIGKILL);
                    next_signal = None;
                }
                drain_until = Some(Instant::now() + DRAIN_AFTER_EXIT);
            }
            _ = cancel.cancelled(), if stop_reason.is_none() && exit_code.is_none() => {
                stop_reason = Some(ProcessEnd::Cancelled);
                next_signal = begin_stop(pgid, limits.kill_grace);
            }
            _ = sleep_until(deadline), if deadline.is_some() => {
                let now = Instant::now();
                if stop_reason.is_none() && exit_code.is_none() && timeout_at.is_some_and(|t| t <= now) {
                    stop_reason = Some(ProcessEnd::TimedOut);
                    next_signal = begin_stop(pgid, limits.kill_grace);
                }
                if let Some((signal, at)) = next_signal {
                    if at <= now {
                        signal_group(pgid, signal);
                        next_signal = (signal == Signal::SIGTERM)
                            .then(|| (Signal::SIGKILL, now + limits.kill_grace / 2));
                    }
                }
                if drain_until.is_some_and(|d| d <= now) && !room {
                    drain_until = Some(now + DRAIN_AFTER_EXIT);
                } else if drain_until.is_some_and(|d| d <= now) {
                    // Something the step started still holds the pipes: stop reading.
                    out_lines.finish(&mut |f| on_output(Stream::Stdout, f));
                    err_lines.finish(&mut |f| on_output(Stream::Stderr, f));
                    stdout = None;
                    stderr = None;
                }
            }
        }
    }
    let end = match (stop_reason, exit_code) {
        (Some(reason), _) => reason,
        (None, Some(code)) => ProcessEnd::Exited(code),
        // The loop only ends once the exit code is known.
        (None, None) => ProcessEnd::Exited(-1),
    };
    Ok((end, pgid))
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

fn begin_stop(pgid: i32, grace: Duration) -> Option<(Signal, Instant)> {
    signal_group(pgid, Signal::SIGINT);
    Some((Signal::SIGTERM, Instant::now() + grace / 2))
}

/// Where the kernel's pid counter stood at one moment. Every process created after it has a pid
/// in the window from this mark to a later one (pids are handed out in increasing order, wrapping
/// at `pid_max`), unless more processes than `pid_max` were created in between, which the fork
/// count of `/proc/stat` tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PidMark {
    last_pid: u32,
    forks: u64,
}

impl PidMark {
    /// The current mark, `None` where `/proc` does not tell.
    pub fn now() -> Option<PidMark> {
        if !proc_counts_own_pids() {
            return None;
        }
        let loadavg = std::fs::read_to_string("/proc/loadavg").ok()?;
        let last_pid = loadavg.split_whitespace().nth(4)?.parse().ok()?;
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let forks = stat
            .lines()
            .find_map(|line| line.strip_prefix("processes "))?
            .trim()
            .parse()
            .ok()?;
        Some(PidMark { last_pid, forks })
    }

    /// The pids a process created between `self` and `end` may have, in creation order; `None`
    /// when the counter may have gone all the way round (any pid is possible).
    fn window(self, end: PidMark, pid_max: u64) -> Option<PidWindow> {
        // After a wrap pids start again above 300 (the kernel's RESERVED_PIDS).
        if end.forks.saturating_sub(self.forks) >= pid_max.saturating_sub(300) {
            return None;
        }
        Some(PidWindow {
            from: self.last_pid,
            to: end.last_pid,
            pid_max: u32::try_from(pid_max).unwrap_or(u32::MAX),
        })
    }
}

/// Whether `/proc/loadavg` and `/proc/<pid>` count pids in this process's own pid namespace:
/// `/proc/loadavg` counts in this process's namespace, `/proc/<pid>` in the one `/proc` was
/// mounted for; they agree when `/proc/self` is this process's own pid. A process never changes
/// its pid namespace, so this is read once.
fn proc_counts_own_pids() -> bool {
    static SAME: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SAME.get_or_init(|| {
        std::fs::read_link("/proc/self")
            .ok()
            .and_then(|link| link.to_str()?.parse::<u32>().ok())
            == Some(std::process::id())
    })
}

/// The pids after `from` up to and including `to`, wrapping at `pid_max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PidWindow {
    from: u32,
    to: u32,
    pid_max: u32,
}

impl PidWindow {
    fn contains(self, pid: u32) -> bool {
        if self.from <= self.to {
            pid > self.from && pid <= self.to
        } else {
            pid > self.from || pid <= self.to
        }
    }

    /// The pids the kernel may have handed out in the window: after `from` up to `to`, or up to
    /// `pid_max - 1` and then from 300 (the kernel's RESERVED_PIDS, where a wrapped counter
    /// starts again) up to `to`. Threads take pids too, so some are thread ids.
    fn ranges(self) -> impl Iterator<Item = std::ops::RangeInclusive<u32>> {
        let (first, wrapped) = if self.from <= self.to {
            (self.from.saturating_add(1)..=self.to, None)
        } else {
            (
                self.from.saturating_add(1)..=self.pid_max.saturating_sub(1),
                Some(RESERVED_PIDS..=self.to),
            )
        };
        std::iter::once(first).chain(wrapped)
    }

    /// How many pids [`PidWindow::pids`] yields.
    fn len(self) -> u64 {
        self.ranges()
            .map(|r| (u64::from(*r.end()) + 1).saturating_sub(u64::from(*r.start())))
            .sum()
    }

    fn pids(self) -> impl Iterator<Item = u32> {
        self.ranges().flatten()
    }
}

/// The lowest pid the kernel hands out once its counter has wrapped.
const RESERVED_PIDS: u32 = 300;

/// Above this many pids in a window, listing `/proc` costs less than looking each pid up.
const MAX_PROBED_PIDS: u64 = 512;

/// Kills every process of this user whose environment carries `RUNNER_TRACKING_ID=<id>` (what
/// the steps of a job started and left running), as the runner's orphan cleanup does. Returns how
/// many were signalled. Processes that cleared their environment and left their step's process
/// group escape (on GitHub, clearing the environment is enough).
///
/// With `since` (a mark taken before the job's first process started) only the processes created
/// since are read: reading the environment of every process on a busy machine costs a
/// millisecond or more per job. When few pids were handed out since the mark (the usual case),
/// each is looked up directly instead of listing `/proc`.
///
/// A process that is still in the process group of one of the job's steps (`groups`: the step
/// processes' pids, each its own group) is killed too, whatever its environment shows: a process
/// in the middle of an exec shows an empty one. Groups are only trusted when the mark proves the
/// pid counter has not gone round since (so a group number cannot belong to someone else).
pub fn kill_tracked(id: &str, since: Option<PidMark>, groups: &[i32]) -> usize {
    let window = since.zip(PidMark::now()).and_then(|(start, end)| {
        let pid_max = std::fs::read_to_string("/proc/sys/kernel/pid_max")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())?;
        start.window(end, pid_max)
    });
    let needle = format!("RUNNER_TRACKING_ID={id}");
    let own = std::process::id();
    let mut killed = 0;
    // Group 0 is the kernel's threads, never a step's.
    let groups: Vec<i32> = match window {
        Some(_) => groups.iter().copied().filter(|g| *g > 0).collect(),
        None => Vec::new(),
    };
    let mut check = |pid: u32, listed: bool| {
        if pid == own {
            return;
        }
        let in_group =
            !groups.is_empty() && process_group(pid).is_some_and(|pgrp| groups.contains(&pgrp));
        if !in_group {
            let Some(environ) = read_environ(pid) else {
                return;
            };
            if !environ
                .split(|b| *b == 0)
                .any(|var| var == needle.as_bytes())
            {
                return;
            }
        }
        // `/proc/<tid>` of a thread is there without being listed; a process is killed once,
        // by its own pid.
        if !listed && !is_process(pid) {
            return;
        }
        let Ok(raw) = i32::try_from(pid) else {
            return;
        };
        let _ = nix::sys::signal::kill(Pid::from_raw(raw), Signal::SIGKILL);
        killed += 1;
    };
    if let Some(window) = window.filter(|w| w.len() <= MAX_PROBED_PIDS) {
        for pid in window.pids() {
            check(pid, false);
        }
        return killed;
    }
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    for entry in entries.filter_map(Result::ok) {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if window.is_none_or(|w| w.contains(pid)) {
            check(pid, true);
        }
    }
    killed
}

/// Kills every process whose `RUNNER_TRACKING_ID` names a job of `run_id`: what the steps of a
/// run left when it is stopped at once and its jobs do not get to clean up. Lists all of
/// `/proc`; returns how many processes were signalled.
pub fn kill_run(run_id: &str) -> usize {
    let prefix = format!(
        "RUNNER_TRACKING_ID={}",
        crate::job::tracking_id_prefix(run_id)
    );
    let own = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut killed = 0;
    for entry in entries.filter_map(Result::ok) {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
            .filter(|pid| *pid != own)
        else {
            continue;
        };
        let Some(environ) = read_environ(pid) else {
            continue;
        };
        if environ
            .split(|b| *b == 0)
            .any(|var| var.starts_with(prefix.as_bytes()))
        {
            if let Ok(raw) = i32::try_from(pid) {
                let _ = nix::sys::signal::kill(Pid::from_raw(raw), Signal::SIGKILL);
                killed += 1;
            }
        }
    }
    killed
}

/// How long [`read_environ`] waits for a process in the middle of an exec.
const EXEC_WAIT: Duration = Duration::from_millis(20);

/// The environment of `pid`. A process in the middle of an exec (a step's last command may have
/// started one in the background just before the step ended) shows an empty environment for a
/// moment: the kernel records where the new one lies after the process has its new memory. Such a
/// process (it has an executable, unlike a kernel thread) is read again until it shows one, for
/// at most [`EXEC_WAIT`].
fn read_environ(pid: u32) -> Option<Vec<u8>> {
    let path = format!("/proc/{pid}/environ");
    let mut environ = std::fs::read(&path).ok()?;
    if environ.is_empty() && std::fs::read_link(format!("/proc/{pid}/exe")).is_ok() {
        let give_up = std::time::Instant::now() + EXEC_WAIT;
        while environ.is_empty() && std::time::Instant::now() < give_up {
            std::thread::sleep(Duration::from_micros(200));
            environ = std::fs::read(&path).ok()?;
        }
    }
    Some(environ)
}

/// The process group of `pid` (field 5 of `/proc/<pid>/stat`, after the parenthesised name).
fn process_group(pid: u32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(2)?.parse().ok()
}

/// Whether `pid` is a process (a thread group leader) rather than another thread of one.
fn is_process(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|status| {
        status
            .lines()
            .find_map(|line| line.strip_prefix("Tgid:"))
            .and_then(|tgid| tgid.trim().parse::<u32>().ok())
            == Some(pid)
    })
}

/// Sends `signal` to the process group (ignoring a group that is already gone).
pub fn signal_group(pgid: i32, signal: Signal) {
    if pgid > 0 {
        let _ = killpg(Pid::from_raw(pgid), signal);
    }
}

fn exit_code_of(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(-1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_windows() {
        let mark = |last_pid, forks| PidMark { last_pid, forks };
        let check = |start: PidMark, end: PidMark, pids: &[u32], outside: &[u32]| {
            let window = start.window(end, 32768).expect("a window");
            assert_eq!(
                window.pids().collect::<Vec<_>>(),
                pids,
                "{start:?}..{end:?}"
            );
            assert_eq!(window.len(), pids.len() as u64, "{start:?}..{end:?}");
            for pid in pids {
                assert!(window.contains(*pid), "{pid} in {start:?}..{end:?}");
            }
            for pid in outside {
                assert!(!window.contains(*pid), "{pid} not in {start:?}..{end:?}");
            }
        };
        check(
            mark(100, 5),
            mark(105, 15),
            &[101, 102, 103, 104, 105],
            &[1, 100, 106, 30000],
        );
        // After a wrap pids start again at 300.
        check(
            mark(32765, 5),
            mark(302, 20),
            &[32766, 32767, 300, 301, 302],
            &[303, 1000, 32765],
        );
        check(mark(100, 5), mark(100, 5), &[], &[99, 100, 101]);
        // The counter may have gone round: no window.
        assert!(mark(100, 0).window(mark(110, 40_000), 32768).is_none());
        assert!(mark(100, 0).window(mark(110, 32_468), 32768).is_none());
        assert!(mark(100, 0).window(mark(110, 32_467), 32768).is_some());
    }

    #[tokio::test]
    async fn orphans_started_after_the_mark_are_killed() {
        let mark = PidMark::now().expect("/proc on Linux");
        let id = format!("pidmark-test-{}", std::process::id());
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .env("RUNNER_TRACKING_ID", &id)
            .spawn()
            .unwrap();
        assert_eq!(kill_tracked("someone-else", Some(mark), &[]), 0);
        assert_eq!(kill_tracked(&id, Some(mark), &[]), 1);
        let status = child.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9)
        );
        // Without a mark every process is looked at.
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .env("RUNNER_TRACKING_ID", &id)
            .spawn()
            .unwrap();
        assert_eq!(kill_tracked(&id, None, &[]), 1);
        child.wait().unwrap();
    }

    #[tokio::test]
    async fn processes_left_in_a_step_group_are_killed_whatever_their_environment() {
        use std::os::unix::process::CommandExt;
        let mark = PidMark::now().expect("/proc on Linux");
        // A "step" that leaves a child behind in its group, the child without the tracking id
        // (as a process caught in the middle of an exec shows no environment).
        let mut step = std::process::Command::new("sh")
            .args(["-c", "env -i sleep 30 >/dev/null 2>&1 & echo $!"])
            .process_group(0)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let group = step.id() as i32;
        let mut out = String::new();
        std::io::Read::read_to_string(step.stdout.as_mut().unwrap(), &mut out).unwrap();
        step.wait().unwrap();
        let orphan: i32 = out.trim().parse().unwrap();
        assert_eq!(process_group(orphan as u32), Some(group));
        assert_eq!(kill_tracked("no-such-id", Some(mark), &[]), 0);
        assert_eq!(kill_tracked("no-such-id", Some(mark), &[group]), 1);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::fs::read_to_string(format!("/proc/{orphan}/stat"))
            .is_ok_and(|s| !s.contains(") Z"))
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(std::fs::read_to_string(format!("/proc/{orphan}/stat"))
            .map_or(true, |s| s.contains(") Z")));
    }
}
