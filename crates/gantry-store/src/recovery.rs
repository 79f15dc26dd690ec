//! Crash recovery, run once when the server starts: what the previous process left in progress
//! is settled in one transaction. A job that had started fails with the given reason (its
//! process died with the server); a job that was claimed but had not started is queued again;
//! a run none of whose current jobs can still run is concluded from its jobs; outbox entries
//! claimed by the dead process are offered again (their runs, if created, marked them done in
//! the same transaction, so nothing is duplicated); groups held by completed runs are freed.

use crate::error::Result;
use crate::model::*;
use crate::row::col;
use crate::runs::complete_run_in;
use crate::{now_ms, Store};

impl Store {
    /// Settles what a stopped server left in progress; `reason` is recorded on what failed
    /// ("the server stopped").
    pub async fn recover(&self, reason: &str) -> Result<Recovery> {
        let mut tx = self.write().await?;
        let now = now_ms();
        let jobs_requeued = sqlx::query(
            "UPDATE jobs SET status = 'queued', runner = NULL, claimed_at = NULL \
             WHERE status = 'in_progress' AND started_at IS NULL",
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let mut recovery = Recovery {
            jobs_requeued,
            ..Recovery::default()
        };

        sqlx::query(
            "UPDATE steps SET status = 'completed', conclusion = 'failure', completed_at = $1 \
             WHERE status = 'in_progress' AND job_id IN \
             (SELECT id FROM jobs WHERE status = 'in_progress')",
        )
        .bind(now)
        .execute(&mut *tx)
        .await?;
        recovery.jobs_failed = sqlx::query(
            "UPDATE jobs SET status = 'completed', conclusion = 'failure', \
             conclusion_reason = $1, completed_at = $2 WHERE status = 'in_progress'",
        )
        .bind(reason)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();

        // Runs whose current attempt has jobs, all completed: nothing will conclude them now.
        // A run without jobs yet (not planned when the server stopped) stays queued.
        let settled = sqlx::query(
            "SELECT r.id, a.id AS attempt_id FROM runs r JOIN run_attempts a \
             ON a.run_id = r.id AND a.attempt = r.run_attempt \
             WHERE r.status <> 'completed' \
             AND EXISTS (SELECT 1 FROM jobs j WHERE j.attempt_id = a.id) \
             AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.attempt_id = a.id \
             AND j.status <> 'completed')",
        )
        .fetch_all(&mut *tx)
        .await?;
        for row in &settled {
            let run = RunId(col(row, "id")?);
            let attempt: i64 = col(row, "attempt_id")?;
            let jobs =
                sqlx::query("SELECT conclusion, conclusion_reason FROM jobs WHERE attempt_id = $1")
                    .bind(attempt)
                    .fetch_all(&mut *tx)
                    .await?;
            let mut conclusion = Conclusion::Success;
            let mut stopped = false;
            for job in &jobs {
                let job_conclusion = crate::runs::conclusion(job, "conclusion")?;
                let job_reason: Option<String> = col(job, "conclusion_reason")?;
                stopped |= job_reason.as_deref() == Some(reason);
                conclusion = match (conclusion, job_conclusion) {
                    (Conclusion::Failure, _) => Conclusion::Failure,
                    (
                        _,
                        Some(
                            Conclusion::Failure | Conclusion::TimedOut | Conclusion::StartupFailure,
                        ),
                    ) => Conclusion::Failure,
                    (_, Some(Conclusion::Cancelled)) => Conclusion::Cancelled,
                    (current, _) => current,
                };
            }
            let run_reason = stopped.then_some(reason);
            let (_, released) = complete_run_in(&mut tx, run, conclusion, run_reason, now).await?;
            recovery.runs_concluded += 1;
            recovery.holds_released += released;
        }

        recovery.triggers_released = sqlx::query(
            "UPDATE pending_triggers SET claimed_at = NULL, claimed_by = NULL \
             WHERE done_at IS NULL AND claimed_at IS NOT NULL",
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();

        recovery.holds_released += sqlx::query(
            "DELETE FROM concurrency_holds WHERE run_id IN \
             (SELECT id FROM runs WHERE status = 'completed')",
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();

        tx.commit().await?;
        Ok(recovery)
    }
}
