//! The run record: everything a run printed or produced, saved under `.gantry/runs/<n>/`:
//! `run.json` (workflow, jobs, conclusions, outputs, timings), `events.jsonl` (every event but
//! log lines; a job's events name the line of its log they came at, `log_line`), each job's log
//! in the one log format of [`crate::joblog`] (`logs/<job>.log`, each line once, and its index
//! `logs/<job>.idx`: steps, groups, times) and `summaries/<job>.md`.
//!
//! Invariant: nothing is written that was not masked: log lines arrive masked from the executor,
//! and job outputs and errors are masked here against the run's secrets before they are saved.
//! Run numbers are claimed by creating the run's folder, so two runs never share one.

use gantry_executor::mask::Masker;
use gantry_plan::{JobEvent, Plan};
use gantry_scheduler::RunEvent;
use indexmap::IndexMap;
use serde_json::{json, Value};
use std::fs::File;
use std::io::{BufWriter, Write};

use crate::joblog::JobLogWriter;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Why the record could not be written.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("creating {}", .path.display())]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("writing the run record")]
    Write(#[from] std::io::Error),
    #[error("encoding a run event")]
    Encode(#[from] serde_json::Error),
}

type Result<T, E = RecordError> = std::result::Result<T, E>;

/// The next free run number in `runs_dir` (1 for the first run).
pub fn next_run_number(runs_dir: &Path) -> Result<u64> {
    let mut max = 0;
    let Ok(entries) = std::fs::read_dir(runs_dir) else {
        return Ok(1);
    };
    for entry in entries {
        if let Some(n) = entry?
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u64>().ok())
        {
            max = max.max(n);
        }
    }
    Ok(max + 1)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A run id unique on this machine, shaped like GitHub's (a large number that fits an int64):
/// the second it started, this process's id and the run's place among the runs this process
/// started (modulo 100, so up to 100 runs a second). Docker objects and the processes of a
/// run's steps are named after it, so two runs, of one process or two, must not share one.
pub fn run_id() -> String {
    static STARTED: AtomicU64 = AtomicU64::new(0);
    let index = STARTED.fetch_add(1, Ordering::Relaxed);
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!(
        "{seconds}{:07}{:02}",
        std::process::id() % 10_000_000,
        index % 100
    )
}

/// Per-job facts gathered while the run goes on.
#[derive(Debug, Default, Clone)]
pub struct JobRecord {
    pub display_name: String,
    pub started: Option<Instant>,
    pub seconds: f64,
    pub log_path: PathBuf,
    /// The last lines of the log, for the end-of-run report of failed jobs.
    pub tail: std::collections::VecDeque<String>,
}

pub struct Recorder {
    pub dir: PathBuf,
    run_number: u64,
    workflow_file: String,
    workflow_name: String,
    masker: Masker,
    events: BufWriter<File>,
    logs: IndexMap<String, JobLogWriter>,
    annotations: Vec<String>,
    pub jobs: IndexMap<String, JobRecord>,
}

/// What the recorder leaves for the final summary (masked).
#[derive(Debug, Clone)]
pub struct Recorded {
    pub dir: PathBuf,
    /// `[job] level: file:line: message`, in the order they came.
    pub annotations: Vec<String>,
    pub jobs: IndexMap<String, JobRecord>,
}

const TAIL_LINES: usize = 20;

impl Recorder {
    pub fn create(runs_dir: &Path, plan: &Plan, workflow_file: &str) -> Result<Recorder> {
        std::fs::create_dir_all(runs_dir).map_err(|source| RecordError::Create {
            path: runs_dir.to_path_buf(),
            source,
        })?;
        let mut number = plan.run.run_number;
        // Claim the folder; another run may have taken this number meanwhile.
        let dir = loop {
            let dir = runs_dir.join(number.to_string());
            match std::fs::create_dir(&dir) {
                Ok(()) => break dir,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => number += 1,
                Err(source) => return Err(RecordError::Create { path: dir, source }),
            }
        };
        std::fs::create_dir_all(dir.join("logs"))?;
        let mut masker = Masker::new();
        masker.extend(plan.secrets.values().map(gantry_plan::Secret::expose));
        let events = BufWriter::new(File::create(dir.join("events.jsonl"))?);
        Ok(Recorder {
            dir,
            run_number: number,
            workflow_file: workflow_file.to_string(),
            workflow_name: plan.workflow_name.clone(),
            masker,
            events,
            logs: IndexMap::new(),
            annotations: Vec::new(),
            jobs: IndexMap::new(),
        })
    }

    fn file_name(key: &str) -> String {
        key.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    }

    pub fn record(&mut self, event: &RunEvent) -> Result<()> {
        match event {
            // The line is in the job's log; the volume of a run is here, so nothing else is done.
            RunEvent::JobEvent {
                key,
                event: JobEvent::Log { step, line },
            } => {
                if let Some(log) = self.logs.get_mut(key) {
                    let step = step.and_then(|index| u32::try_from(index + 1).ok());
                    log.append(step, line, now_ms())?;
                }
                if let Some(record) = self.jobs.get_mut(key) {
                    if record.tail.len() == TAIL_LINES {
                        record.tail.pop_front();
                    }
                    record.tail.push_back(line.clone());
                }
                return Ok(());
            }
            RunEvent::JobEvent { key, .. } => {
                // Other job events name the place in the log they came at.
                let mut value = serde_json::to_value(event)?;
                if let (Some(log), Value::Object(fields)) = (self.logs.get(key), &mut value) {
                    fields.insert("log_line".into(), json!(log.lines() + 1));
                }
                let masked = self.masker.mask(&value.to_string());
                writeln!(self.events, "{masked}")?;
            }
            _ => {
                let masked = self.masker.mask(&serde_json::to_string(event)?);
                writeln!(self.events, "{masked}")?;
            }
        }
        match event {
            RunEvent::JobQueued { key, display_name } => {
                let log_path =
                    crate::joblog::paths(&self.dir.join("logs"), &Self::file_name(key)).0;
                self.jobs.insert(
                    key.clone(),
                    JobRecord {
                        display_name: display_name.clone(),
                        log_path,
                        ..JobRecord::default()
                    },
                );
            }
            RunEvent::JobStarted { key, display_name } => {
                let record = self.jobs.entry(key.clone()).or_default();
                record.display_name = display_name.clone();
                record.started = Some(Instant::now());
                let log = JobLogWriter::open(&self.dir.join("logs"), &Self::file_name(key))?;
                record.log_path = log.text_path().to_path_buf();
                self.logs.insert(key.clone(), log);
            }
            RunEvent::JobEvent { key, event } => {
                let step_number = |index: &usize| u32::try_from(index + 1).unwrap_or(u32::MAX);
                match event {
                    JobEvent::StepStarted { index, name } => {
                        if let Some(log) = self.logs.get_mut(key) {
                            log.step_started(step_number(index), &self.masker.mask(name))?;
                        }
                    }
                    JobEvent::Log { .. } => {}
                    JobEvent::Annotation {
                        level,
                        message,
                        file,
                        line,
                        ..
                    } => {
                        let job = self
                            .jobs
                            .get(key)
                            .map(|r| r.display_name.clone())
                            .unwrap_or_else(|| key.clone());
                        let place = match (file, line) {
                            (Some(f), Some(l)) => format!("{f}:{l}: "),
                            (Some(f), None) => format!("{f}: "),
                            _ => String::new(),
                        };
                        self.annotations.push(
                            self.masker
                                .mask(&format!("[{job}] {level}: {place}{message}")),
                        );
                        // The executor logs the annotation's line itself.
                    }
                    JobEvent::StepFinished {
                        index, conclusion, ..
                    } => {
                        if let Some(log) = self.logs.get_mut(key) {
                            log.step_finished(step_number(index), conclusion.as_str())?;
                        }
                    }
                    JobEvent::Summary { markdown } => {
                        let dir = self.dir.join("summaries");
                        std::fs::create_dir_all(&dir)?;
                        std::fs::write(
                            dir.join(format!("{}.md", Self::file_name(key))),
                            self.masker.mask(markdown),
                        )?;
                    }
                }
            }
            RunEvent::JobFinished {
                key, display_name, ..
            } => {
                let record = self.jobs.entry(key.clone()).or_default();
                record.display_name = display_name.clone();
                if let Some(started) = record.started {
                    record.seconds = started.elapsed().as_secs_f64();
                }
                if let Some(mut log) = self.logs.shift_remove(key) {
                    log.flush()?;
                }
            }
            RunEvent::RunStarted { .. } | RunEvent::RunFinished { .. } => {}
        }
        Ok(())
    }

    /// Writes `run.json` and closes the files.
    pub fn finish(mut self, outcome: Option<&gantry_scheduler::RunOutcome>) -> Result<Recorded> {
        self.events.flush()?;
        for (_, mut log) in self.logs.drain(..) {
            log.flush()?;
        }
        let jobs: Vec<Value> = self
            .jobs
            .iter()
            .map(|(key, record)| {
                let result = outcome.and_then(|o| o.jobs.get(key)).map(|j| &j.result);
                json!({
                    "key": key,
                    "name": record.display_name,
                    "conclusion": result.map(|r| r.conclusion.as_str()),
                    "outputs": result.map(|r| r.outputs.iter().map(|(k, v)| (k.clone(), Value::String(self.masker.mask(v)))).collect::<serde_json::Map<_, _>>()),
                    "error": result.and_then(|r| r.error.as_deref()).map(|e| self.masker.mask(e)),
                    "seconds": record.seconds,
                    "log": record.log_path.strip_prefix(&self.dir).unwrap_or(&record.log_path),
                })
            })
            .collect();
        let run = json!({
            "run_number": self.run_number,
            "workflow": self.workflow_name,
            "workflow_file": self.workflow_file,
            "conclusion": outcome.map(|o| o.conclusion.as_str()),
            "jobs": jobs,
            "annotations": self.annotations,
        });
        std::fs::write(self.dir.join("run.json"), serde_json::to_vec_pretty(&run)?)?;
        Ok(Recorded {
            dir: self.dir,
            annotations: self.annotations,
            jobs: self.jobs,
        })
    }

    pub fn mask(&self, text: &str) -> String {
        self.masker.mask(text)
    }
}

#[cfg(test)]
mod tests {
    use super::run_id;

    #[test]
    fn run_ids_fit_an_int64_and_name_the_process_and_the_run() {
        let (a, b) = (run_id(), run_id());
        assert_ne!(a, b);
        for id in [&a, &b] {
            assert!(id.parse::<i64>().is_ok(), "{id}");
        }
        let pid = format!("{:07}", std::process::id() % 10_000_000);
        assert_eq!(&a[a.len() - 9..a.len() - 2], pid);
        let place = |id: &str| id[id.len() - 2..].parse::<u64>().unwrap();
        assert_eq!((place(&a) + 1) % 100, place(&b));
    }
}
