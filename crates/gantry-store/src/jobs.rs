//! Jobs, steps, the log index, step summaries and artifacts: adding an attempt's jobs, claiming
//! the next queued job atomically (`FOR UPDATE SKIP LOCKED` on PostgreSQL, the write lock on
//! SQLite), starting and concluding jobs and steps, appending log chunks in batches.

use crate::error::{is_unique_violation, Result, StoreError};
use crate::model::*;
use crate::row::col;
use crate::runs::conclusion;
use crate::{now_ms, Store};
use sqlx::any::AnyRow;

const JOB_COLUMNS: &str = "id, run_id, attempt_id, job_key, name, matrix, status, conclusion, \
    conclusion_reason, runner, environment, outputs, created_at, claimed_at, started_at, \
    completed_at";

const STEP_COLUMNS: &str = "job_id, number, name, status, conclusion, started_at, completed_at";

const ARTIFACT_COLUMNS: &str = "id, run_id, name, size_bytes, path, created_at, expires_at";

/// Rows per INSERT of log chunks: 8 parameters each, far below either backend's limit.
const LOG_ROWS_PER_STATEMENT: usize = 100;

pub(crate) fn job(row: &AnyRow) -> Result<Job> {
    Ok(Job {
        id: JobId(col(row, "id")?),
        run_id: RunId(col(row, "run_id")?),
        attempt_id: AttemptId(col(row, "attempt_id")?),
        job_key: col(row, "job_key")?,
        name: col(row, "name")?,
        matrix: col(row, "matrix")?,
        status: Status::from_column("jobs.status", col(row, "status")?)?,
        conclusion: conclusion(row, "conclusion")?,
        conclusion_reason: col(row, "conclusion_reason")?,
        runner: col(row, "runner")?,
        environment: col(row, "environment")?,
        outputs: col(row, "outputs")?,
        created_at: col(row, "created_at")?,
        claimed_at: col(row, "claimed_at")?,
        started_at: col(row, "started_at")?,
        completed_at: col(row, "completed_at")?,
    })
}

fn step(row: &AnyRow) -> Result<Step> {
    Ok(Step {
        job_id: JobId(col(row, "job_id")?),
        number: col(row, "number")?,
        name: col(row, "name")?,
        status: Status::from_column("steps.status", col(row, "status")?)?,
        conclusion: conclusion(row, "conclusion")?,
        started_at: col(row, "started_at")?,
        completed_at: col(row, "completed_at")?,
    })
}

fn artifact(row: &AnyRow) -> Result<Artifact> {
    Ok(Artifact {
        id: ArtifactId(col(row, "id")?),
        run_id: RunId(col(row, "run_id")?),
        name: col(row, "name")?,
        size_bytes: col(row, "size_bytes")?,
        path: col(row, "path")?,
        created_at: col(row, "created_at")?,
        expires_at: col(row, "expires_at")?,
    })
}

fn job_not_found(id: JobId) -> StoreError {
    StoreError::NotFound {
        what: "job",
        key: id.to_string(),
    }
}

impl Store {
    /// Adds the jobs of an attempt (one per matrix leg), in one transaction.
    pub async fn add_jobs(&self, attempt: AttemptId, jobs: &[NewJob]) -> Result<Vec<Job>> {
        let mut tx = self.write().await?;
        let row = sqlx::query("SELECT run_id FROM run_attempts WHERE id = $1")
            .bind(attempt.0)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: "attempt",
                key: attempt.to_string(),
            })?;
        let run_id: i64 = col(&row, "run_id")?;
        let now = now_ms();
        let sql = format!(
            "INSERT INTO jobs (run_id, attempt_id, job_key, name, matrix, status, environment, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {JOB_COLUMNS}"
        );
        let mut added = Vec::with_capacity(jobs.len());
        for new in jobs {
            let row = sqlx::query(&sql)
                .bind(run_id)
                .bind(attempt.0)
                .bind(&new.job_key)
                .bind(&new.name)
                .bind(&new.matrix)
                .bind(new.status.as_str())
                .bind(&new.environment)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
            added.push(job(&row)?);
        }
        tx.commit().await?;
        Ok(added)
    }

    pub async fn job(&self, id: JobId) -> Result<Job> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id.0)
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| job_not_found(id))?;
        job(&row)
    }

    /// The jobs of one attempt, in the order they were added.
    pub async fn list_jobs(&self, attempt: AttemptId) -> Result<Vec<Job>> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE attempt_id = $1 ORDER BY id");
        let rows = sqlx::query(&sql)
            .bind(attempt.0)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(job).collect()
    }

    /// Takes the oldest queued job for `runner`: it becomes in progress (claimed, not yet
    /// started), and so do its attempt and run if they were queued. Two claimers never get the
    /// same job. `None` when nothing is queued.
    pub async fn claim_job(&self, runner: &str) -> Result<Option<Job>> {
        let mut tx = self.write().await?;
        let now = now_ms();
        let sql = format!(
            "UPDATE jobs SET status = 'in_progress', runner = $1, claimed_at = $2 \
             WHERE status = 'queued' AND id = (SELECT id FROM jobs WHERE status = 'queued' \
             ORDER BY id LIMIT 1{}) RETURNING {JOB_COLUMNS}",
            self.skip_locked()
        );
        let Some(row) = sqlx::query(&sql)
            .bind(runner)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(None);
        };
        let claimed = job(&row)?;
        sqlx::query(
            "UPDATE run_attempts SET status = 'in_progress', \
             started_at = COALESCE(started_at, $2), updated_at = $2 \
             WHERE id = $1 AND status IN ('queued', 'waiting')",
        )
        .bind(claimed.attempt_id.0)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE runs SET status = 'in_progress', started_at = COALESCE(started_at, $2), \
             updated_at = $2 WHERE id = $1 AND status IN ('queued', 'waiting')",
        )
        .bind(claimed.run_id.0)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(claimed))
    }

    /// Moves a job between waiting and queued (its needs are done, an approval came).
    pub async fn set_job_status(&self, id: JobId, status: Status) -> Result<()> {
        let allowed = [Status::Queued, Status::Waiting];
        if !allowed.contains(&status) {
            return Err(StoreError::WrongState {
                what: "job",
                key: id.to_string(),
                state: status.as_str().to_owned(),
                reason: "jobs are claimed, started and completed by their own operations",
            });
        }
        let mut tx = self.write().await?;
        let done = sqlx::query(
            "UPDATE jobs SET status = $2 WHERE id = $1 AND status IN ('queued', 'waiting')",
        )
        .bind(id.0)
        .bind(status.as_str())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(self
                .job_state_error(id, "only a queued or waiting job")
                .await);
        }
        tx.commit().await?;
        Ok(())
    }

    async fn job_state_error(&self, id: JobId, reason: &'static str) -> StoreError {
        match self.job(id).await {
            Ok(job) => StoreError::WrongState {
                what: "job",
                key: id.to_string(),
                state: job.status.as_str().to_owned(),
                reason,
            },
            Err(error) => error,
        }
    }

    /// Records that a claimed job started running (its set-up began).
    pub async fn start_job(&self, id: JobId) -> Result<()> {
        let mut tx = self.write().await?;
        let done = sqlx::query(
            "UPDATE jobs SET started_at = COALESCE(started_at, $2) \
             WHERE id = $1 AND status = 'in_progress'",
        )
        .bind(id.0)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(self.job_state_error(id, "only a claimed job starts").await);
        }
        tx.commit().await?;
        Ok(())
    }

    /// Concludes a job with its outputs (JSON object). A queued or waiting job can be concluded
    /// too (skipped, cancelled).
    pub async fn complete_job(
        &self,
        id: JobId,
        conclusion: Conclusion,
        outputs: Option<&str>,
    ) -> Result<Job> {
        let mut tx = self.write().await?;
        let sql = format!(
            "UPDATE jobs SET status = 'completed', conclusion = $2, outputs = $3, \
             completed_at = $4 WHERE id = $1 AND status <> 'completed' RETURNING {JOB_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(id.0)
            .bind(conclusion.as_str())
            .bind(outputs)
            .bind(now_ms())
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            return Err(self
                .job_state_error(id, "the job is completed already")
                .await);
        };
        let completed = job(&row)?;
        tx.commit().await?;
        Ok(completed)
    }

    /// Adds a job's steps as queued, so they show before they run.
    pub async fn add_steps(&self, job: JobId, steps: &[(i64, &str)]) -> Result<()> {
        let mut tx = self.write().await?;
        for (number, name) in steps {
            sqlx::query(
                "INSERT INTO steps (job_id, number, name, status) VALUES ($1, $2, $3, 'queued') \
                 ON CONFLICT (job_id, number) DO UPDATE SET name = excluded.name",
            )
            .bind(job.0)
            .bind(*number)
            .bind(*name)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn start_step(&self, job: JobId, number: i64, name: &str) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO steps (job_id, number, name, status, started_at) \
             VALUES ($1, $2, $3, 'in_progress', $4) ON CONFLICT (job_id, number) DO UPDATE \
             SET name = excluded.name, status = 'in_progress', started_at = excluded.started_at",
        )
        .bind(job.0)
        .bind(number)
        .bind(name)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn complete_step(
        &self,
        job: JobId,
        number: i64,
        conclusion: Conclusion,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        let done = sqlx::query(
            "UPDATE steps SET status = 'completed', conclusion = $3, completed_at = $4 \
             WHERE job_id = $1 AND number = $2",
        )
        .bind(job.0)
        .bind(number)
        .bind(conclusion.as_str())
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                what: "step",
                key: format!("{job}/{number}"),
            });
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn steps(&self, job: JobId) -> Result<Vec<Step>> {
        let sql = format!("SELECT {STEP_COLUMNS} FROM steps WHERE job_id = $1 ORDER BY number");
        let rows = sqlx::query(&sql).bind(job.0).fetch_all(self.pool()).await?;
        rows.iter().map(step).collect()
    }

    /// Appends index rows for log lines already written to their files: one transaction for the
    /// batch, a hundred rows per statement.
    pub async fn append_log_chunks(&self, chunks: &[LogChunk]) -> Result<()> {
        if chunks.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let mut tx = self.write().await?;
        for batch in chunks.chunks(LOG_ROWS_PER_STATEMENT) {
            let mut sql = String::from(
                "INSERT INTO log_chunks (job_id, step_number, file, byte_offset, byte_len, \
                 first_line, line_count, created_at) VALUES ",
            );
            for index in 0..batch.len() {
                let base = index * 8;
                if index > 0 {
                    sql.push_str(", ");
                }
                let placeholders: Vec<String> = (1..=8)
                    .map(|offset| format!("${}", base + offset))
                    .collect();
                sql.push('(');
                sql.push_str(&placeholders.join(", "));
                sql.push(')');
            }
            let mut query = sqlx::query(&sql);
            for chunk in batch {
                query = query
                    .bind(chunk.job_id.0)
                    .bind(chunk.step_number)
                    .bind(chunk.file.clone())
                    .bind(chunk.byte_offset)
                    .bind(chunk.byte_len)
                    .bind(chunk.first_line)
                    .bind(chunk.line_count)
                    .bind(now);
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A job's log chunks in line order; `from_line` skips the chunks that end before it (a
    /// reader resuming a stream).
    pub async fn log_chunks(&self, job: JobId, from_line: i64) -> Result<Vec<LogChunk>> {
        let rows = sqlx::query(
            "SELECT job_id, step_number, file, byte_offset, byte_len, first_line, line_count \
             FROM log_chunks WHERE job_id = $1 AND first_line + line_count > $2 \
             ORDER BY first_line",
        )
        .bind(job.0)
        .bind(from_line)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(LogChunk {
                    job_id: JobId(col(row, "job_id")?),
                    step_number: col(row, "step_number")?,
                    file: col(row, "file")?,
                    byte_offset: col(row, "byte_offset")?,
                    byte_len: col(row, "byte_len")?,
                    first_line: col(row, "first_line")?,
                    line_count: col(row, "line_count")?,
                })
            })
            .collect()
    }

    /// Per step (and the lines outside steps), how many chunks, bytes and lines a job logged.
    pub async fn log_spans(&self, job: JobId) -> Result<Vec<LogSpan>> {
        // SUM of a BIGINT is NUMERIC on PostgreSQL: the casts keep one integer type.
        let rows = sqlx::query(
            "SELECT step_number, COUNT(*) AS chunks, CAST(SUM(byte_len) AS BIGINT) AS bytes, \
             CAST(SUM(line_count) AS BIGINT) AS lines FROM log_chunks WHERE job_id = $1 \
             GROUP BY step_number ORDER BY MIN(first_line)",
        )
        .bind(job.0)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(LogSpan {
                    step_number: col(row, "step_number")?,
                    chunks: col(row, "chunks")?,
                    bytes: col(row, "bytes")?,
                    lines: col(row, "lines")?,
                })
            })
            .collect()
    }

    /// Sets the Markdown summary a step wrote (`$GITHUB_STEP_SUMMARY`), replacing an earlier one.
    pub async fn put_step_summary(&self, job: JobId, step: i64, markdown: &str) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO step_summaries (job_id, step_number, markdown) VALUES ($1, $2, $3) \
             ON CONFLICT (job_id, step_number) DO UPDATE SET markdown = excluded.markdown",
        )
        .bind(job.0)
        .bind(step)
        .bind(markdown)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A job's step summaries, by step number.
    pub async fn step_summaries(&self, job: JobId) -> Result<Vec<(i64, String)>> {
        let rows = sqlx::query(
            "SELECT step_number, markdown FROM step_summaries WHERE job_id = $1 \
             ORDER BY step_number",
        )
        .bind(job.0)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| Ok((col(row, "step_number")?, col(row, "markdown")?)))
            .collect()
    }

    pub async fn add_artifact(
        &self,
        run: RunId,
        name: &str,
        size_bytes: i64,
        path: &str,
        expires_at: i64,
    ) -> Result<Artifact> {
        let mut tx = self.write().await?;
        let sql = format!(
            "INSERT INTO artifacts (run_id, name, size_bytes, path, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING {ARTIFACT_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(run.0)
            .bind(name)
            .bind(size_bytes)
            .bind(path)
            .bind(now_ms())
            .bind(expires_at)
            .fetch_one(&mut *tx)
            .await
            .map_err(|error| match is_unique_violation(&error) {
                true => StoreError::AlreadyExists {
                    what: "artifact",
                    key: format!("{run}/{name}"),
                },
                false => error.into(),
            })?;
        let added = artifact(&row)?;
        tx.commit().await?;
        Ok(added)
    }

    pub async fn artifacts(&self, run: RunId) -> Result<Vec<Artifact>> {
        let sql = format!("SELECT {ARTIFACT_COLUMNS} FROM artifacts WHERE run_id = $1 ORDER BY id");
        let rows = sqlx::query(&sql).bind(run.0).fetch_all(self.pool()).await?;
        rows.iter().map(artifact).collect()
    }

    /// Removes the index rows of artifacts expired at `now` and returns them, so the caller
    /// deletes their files.
    pub async fn take_expired_artifacts(&self, now: i64) -> Result<Vec<Artifact>> {
        let mut tx = self.write().await?;
        let sql =
            format!("DELETE FROM artifacts WHERE expires_at <= $1 RETURNING {ARTIFACT_COLUMNS}");
        let rows = sqlx::query(&sql).bind(now).fetch_all(&mut *tx).await?;
        let expired = rows.iter().map(artifact).collect::<Result<Vec<_>>>()?;
        tx.commit().await?;
        Ok(expired)
    }
}
