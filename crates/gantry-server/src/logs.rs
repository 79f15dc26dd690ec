//! Job logs: each job's lines go to `logs/<run id>/<job id>.log` in the data dir, one line per
//! log line prefixed with its time as GitHub's job logs are, and the store's log index says
//! which byte range holds which step's lines.
//!
//! Invariant: the lines that arrive here were masked by `gantry-run`; a line is in its file
//! before its index row exists, so a killed server loses index rows at worst, never lines
//! (readers serve the whole file). Tests: `tests/server.rs`.

use std::io::Write;
use std::path::{Path, PathBuf};

use gantry_store::{JobId, LogChunk, RunId, Store, StoreError};

use crate::error::ServerError;
use crate::time::iso8601;

/// Index rows are written at least every this many lines (and at each step's end).
const LINES_PER_CHUNK: i64 = 200;

/// The file of a job's log, relative to the data dir.
pub fn job_log_file(run: RunId, job: JobId) -> String {
    format!("logs/{run}/{job}.log")
}

/// Appends one job's lines to its file and indexes them.
pub struct JobLog {
    job: JobId,
    relative: String,
    file: std::fs::File,
    written: i64,
    next_line: i64,
    pending: Option<LogChunk>,
}

impl JobLog {
    pub fn create(data_dir: &Path, run: RunId, job: JobId) -> Result<JobLog, ServerError> {
        let relative = job_log_file(run, job);
        let path = data_dir.join(&relative);
        let io_error = |source| ServerError::Io {
            what: format!("opening the log {}", path.display()),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io_error)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_error)?;
        let written = file.metadata().map(|m| m.len() as i64).unwrap_or(0);
        Ok(JobLog {
            job,
            relative,
            file,
            written,
            next_line: 1,
            pending: None,
        })
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
        let stamp = iso8601(at_ms);
        // GitHub's job logs carry seven fractional digits; milliseconds are what we know.
        let text = format!(
            "{}.{:03}0000Z {line}\n",
            stamp.trim_end_matches('Z'),
            at_ms.rem_euclid(1000)
        );
        self.file
            .write_all(text.as_bytes())
            .map_err(|source| ServerError::Io {
                what: format!("writing the log {}", self.relative),
                source,
            })?;
        let chunk = self.pending.get_or_insert_with(|| LogChunk {
            job_id: self.job,
            step_number: step,
            file: self.relative.clone(),
            byte_offset: self.written,
            byte_len: 0,
            first_line: self.next_line,
            line_count: 0,
        });
        chunk.byte_len += text.len() as i64;
        chunk.line_count += 1;
        self.written += text.len() as i64;
        self.next_line += 1;
        if chunk.line_count >= LINES_PER_CHUNK {
            self.flush(store).await?;
        }
        Ok(())
    }

    /// Indexes the lines written since the last flush.
    pub async fn flush(&mut self, store: &Store) -> Result<(), StoreError> {
        if let Some(chunk) = self.pending.take() {
            store.append_log_chunks(&[chunk]).await?;
        }
        Ok(())
    }
}

/// The text of a job's log: its whole file (the index may lack the last rows of a job a
/// killed server was writing; the file does not).
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
    match tokio::fs::read(&path).await {
        Ok(bytes) => Ok(Some(bytes)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ServerError::Io {
            what: format!("reading the log {}", path.display()),
            source,
        }),
    }
}
