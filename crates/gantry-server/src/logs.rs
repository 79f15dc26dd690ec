//! Job logs: each job's lines go to `logs/<run id>/<job id>.log` in the data dir in the one log
//! format of the run record (`gantry_run::joblog`: each line once, as printed, and a sidecar
//! index `<job id>.idx` of steps, groups and times); the store's log index says which byte range
//! holds which step's lines. The jobs logs endpoints render the lines with their times, as
//! GitHub's job logs are.
//!
//! Invariant: the lines that arrive here were masked by `gantry-run`; a line is in its file
//! before its index row exists, so a killed server loses index rows at worst, never lines
//! (readers serve the whole file). Tests: `tests/server.rs`, `crates/gantry/tests/serve.rs`.

use std::path::{Path, PathBuf};

use gantry_run::joblog::{self, JobLogWriter, Timeline};
use gantry_store::{JobId, LogChunk, RunId, Store};

use crate::error::ServerError;
use crate::time::iso8601;

/// Index rows are written at least every this many lines (and at each step's end).
const LINES_PER_CHUNK: i64 = 200;

/// The file of a job's log, relative to the data dir.
pub fn job_log_file(run: RunId, job: JobId) -> String {
    format!("logs/{run}/{job}.log")
}

/// GitHub's time of a log line: seven fractional digits, of which milliseconds are known.
pub fn line_stamp(at_ms: i64) -> String {
    let stamp = iso8601(at_ms);
    format!(
        "{}.{:03}0000Z",
        stamp.trim_end_matches('Z'),
        at_ms.rem_euclid(1000)
    )
}

/// Appends one job's lines to its file and indexes them.
pub struct JobLog {
    job: JobId,
    relative: String,
    writer: JobLogWriter,
    pending: Option<LogChunk>,
}

impl JobLog {
    pub fn create(data_dir: &Path, run: RunId, job: JobId) -> Result<JobLog, ServerError> {
        let relative = job_log_file(run, job);
        let dir = data_dir.join(format!("logs/{run}"));
        let writer =
            JobLogWriter::open(&dir, &job.to_string()).map_err(|source| ServerError::Io {
                what: format!("opening the log {}", data_dir.join(&relative).display()),
                source,
            })?;
        Ok(JobLog {
            job,
            relative,
            writer,
            pending: None,
        })
    }

    fn io_error(&self, source: std::io::Error) -> ServerError {
        ServerError::Io {
            what: format!("writing the log {}", self.relative),
            source,
        }
    }

    /// Writes one (masked) line of `step` (1-based; `None` outside steps).
    pub async fn append(
        &mut self,
        store: &Store,
        step: Option<i64>,
        line: &str,
        at_ms: i64,
    ) -> Result<(), ServerError> {
        if self
            .pending
            .as_ref()
            .is_some_and(|chunk| chunk.step_number != step)
        {
            self.flush(store).await?;
        }
        let (bytes_before, lines_before) = (self.writer.bytes(), self.writer.lines());
        let number = step.and_then(|n| u32::try_from(n).ok());
        self.writer
            .append(number, line, at_ms)
            .map_err(|source| self.io_error(source))?;
        let chunk = self.pending.get_or_insert_with(|| LogChunk {
            job_id: self.job,
            step_number: step,
            file: self.relative.clone(),
            byte_offset: bytes_before as i64,
            byte_len: 0,
            first_line: lines_before as i64 + 1,
            line_count: 0,
        });
        chunk.byte_len += (self.writer.bytes() - bytes_before) as i64;
        chunk.line_count += (self.writer.lines() - lines_before) as i64;
        if chunk.line_count >= LINES_PER_CHUNK {
            self.flush(store).await?;
        }
        Ok(())
    }

    /// Notes in the log's index that step `number` (1-based) starts.
    pub fn step_started(&mut self, number: i64, name: &str) -> Result<(), ServerError> {
        let number = u32::try_from(number).unwrap_or(u32::MAX);
        self.writer
            .step_started(number, name)
            .map_err(|source| self.io_error(source))
    }

    /// Notes in the log's index that step `number` (1-based) ended.
    pub fn step_finished(&mut self, number: i64, conclusion: &str) -> Result<(), ServerError> {
        let number = u32::try_from(number).unwrap_or(u32::MAX);
        self.writer
            .step_finished(number, conclusion)
            .map_err(|source| self.io_error(source))
    }

    /// Makes the lines written so far readable and indexes them.
    pub async fn flush(&mut self, store: &Store) -> Result<(), ServerError> {
        self.writer
            .flush()
            .map_err(|source| self.io_error(source))?;
        if let Some(chunk) = self.pending.take() {
            store.append_log_chunks(&[chunk]).await?;
        }
        Ok(())
    }
}

/// The text of a job's log, each line with its time as GitHub's job logs have it. The whole
/// file is served (the index may lack the last rows of a job a killed server was writing; the
/// file does not); a log written before the sidecar index existed holds its times in its lines
/// and is served as it is.
pub async fn read_job_log(
    store: &Store,
    data_dir: &Path,
    run: RunId,
    job: JobId,
) -> Result<Option<Vec<u8>>, ServerError> {
    let chunks = store.log_chunks(job, 1).await?;
    let relative = chunks
        .first()
        .map(|chunk| chunk.file.clone())
        .unwrap_or_else(|| job_log_file(run, job));
    let path: PathBuf = data_dir.join(relative);
    let what = format!("reading the log {}", path.display());
    let read = tokio::task::spawn_blocking(move || -> std::io::Result<Option<Vec<u8>>> {
        let text = match std::fs::File::open(&path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(error),
        };
        let index_path = path.with_extension("idx");
        if !index_path.exists() {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut &text, &mut bytes)?;
            return Ok(Some(bytes));
        }
        let timeline = Timeline::new(&joblog::read_index(&index_path)?);
        let mut out = Vec::new();
        joblog::render_with_times(text, &timeline, line_stamp, &mut out)?;
        Ok(Some(out))
    })
    .await
    .map_err(|error| ServerError::Io {
        what: what.clone(),
        source: std::io::Error::other(error),
    })?;
    read.map_err(|source| ServerError::Io { what, source })
}
