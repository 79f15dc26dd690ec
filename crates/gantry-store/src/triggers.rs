//! What starts runs and what holds them back: webhook deliveries (deduplicated by
//! `X-GitHub-Delivery`), the trigger outbox (a push noticed while no worker runs waits here),
//! concurrency groups held across runs, and the last time each schedule fired.

use crate::error::{Result, StoreError};
use crate::model::*;
use crate::row::col;
use crate::{now_ms, Store};
use sqlx::any::AnyRow;

const TRIGGER_COLUMNS: &str =
    "id, repository_id, event, source, payload, delivery_id, created_at, claimed_at, claimed_by";

/// What `Store::acquire_concurrency` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Acquired {
    /// The caller holds the group now (or held it already).
    Yes,
    /// Another run (or job) holds it.
    HeldBy(ConcurrencyHold),
}

fn trigger(row: &AnyRow) -> Result<Trigger> {
    Ok(Trigger {
        id: TriggerId(col(row, "id")?),
        repository_id: RepositoryId(col(row, "repository_id")?),
        event: col(row, "event")?,
        source: col(row, "source")?,
        payload: col(row, "payload")?,
        delivery_id: col(row, "delivery_id")?,
        created_at: col(row, "created_at")?,
        claimed_at: col(row, "claimed_at")?,
        claimed_by: col(row, "claimed_by")?,
    })
}

fn hold(row: &AnyRow) -> Result<ConcurrencyHold> {
    Ok(ConcurrencyHold {
        repository_id: RepositoryId(col(row, "repository_id")?),
        group_name: col(row, "group_name")?,
        run_id: RunId(col(row, "run_id")?),
        job_id: col::<Option<i64>>(row, "job_id")?.map(JobId),
        acquired_at: col(row, "acquired_at")?,
    })
}

impl Store {
    /// Records a trigger in the outbox; with a delivery id, records the delivery in the same
    /// transaction and queues nothing when the id was seen before.
    pub async fn enqueue_trigger(&self, new: &NewTrigger) -> Result<Enqueued> {
        let mut tx = self.write().await?;
        let now = now_ms();
        if let Some(delivery) = &new.delivery_id {
            let inserted = sqlx::query(
                "INSERT INTO webhook_deliveries (delivery_id, repository_id, event, received_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (delivery_id) DO NOTHING",
            )
            .bind(delivery)
            .bind(new.repository_id.0)
            .bind(&new.event)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if inserted.rows_affected() == 0 {
                return Ok(Enqueued::DuplicateDelivery);
            }
        }
        let row = sqlx::query(
            "INSERT INTO pending_triggers (repository_id, event, source, payload, delivery_id, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(new.repository_id.0)
        .bind(&new.event)
        .bind(&new.source)
        .bind(&new.payload)
        .bind(&new.delivery_id)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let id = TriggerId(col(&row, "id")?);
        tx.commit().await?;
        Ok(Enqueued::Queued(id))
    }

    /// Takes the oldest unclaimed trigger for `worker`; `None` when the outbox is empty. Its
    /// runs are created with `create_runs`, which marks it done.
    pub async fn claim_trigger(&self, worker: &str) -> Result<Option<Trigger>> {
        let mut tx = self.write().await?;
        let sql = format!(
            "UPDATE pending_triggers SET claimed_at = $2, claimed_by = $1 \
             WHERE claimed_at IS NULL AND id = (SELECT id FROM pending_triggers \
             WHERE done_at IS NULL AND claimed_at IS NULL ORDER BY id LIMIT 1{}) \
             RETURNING {TRIGGER_COLUMNS}",
            self.skip_locked()
        );
        let row = sqlx::query(&sql)
            .bind(worker)
            .bind(now_ms())
            .fetch_optional(&mut *tx)
            .await?;
        let claimed = row.as_ref().map(trigger).transpose()?;
        tx.commit().await?;
        Ok(claimed)
    }

    /// Marks a trigger done without runs (no workflow matched it).
    pub async fn finish_trigger(&self, id: TriggerId) -> Result<()> {
        let mut tx = self.write().await?;
        let done = sqlx::query(
            "UPDATE pending_triggers SET done_at = $2 WHERE id = $1 AND done_at IS NULL",
        )
        .bind(id.0)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                what: "pending trigger",
                key: id.to_string(),
            });
        }
        tx.commit().await?;
        Ok(())
    }

    /// How many triggers in the outbox are not done yet (claimed or not).
    pub async fn pending_trigger_count(&self) -> Result<i64> {
        let row =
            sqlx::query("SELECT COUNT(*) AS pending FROM pending_triggers WHERE done_at IS NULL")
                .fetch_one(self.pool())
                .await?;
        col(&row, "pending")
    }

    /// Takes the concurrency group `group` of a repository for a run (and job, for a job-level
    /// group) unless someone else holds it.
    pub async fn acquire_concurrency(
        &self,
        repository: RepositoryId,
        group: &str,
        run: RunId,
        job: Option<JobId>,
    ) -> Result<Acquired> {
        let mut tx = self.write().await?;
        let inserted = sqlx::query(
            "INSERT INTO concurrency_holds (repository_id, group_name, run_id, job_id, \
             acquired_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (repository_id, group_name) DO NOTHING",
        )
        .bind(repository.0)
        .bind(group)
        .bind(run.0)
        .bind(job.map(|id| id.0))
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        let acquired = if inserted.rows_affected() == 1 {
            Acquired::Yes
        } else {
            let row = sqlx::query(
                "SELECT repository_id, group_name, run_id, job_id, acquired_at \
                 FROM concurrency_holds WHERE repository_id = $1 AND group_name = $2",
            )
            .bind(repository.0)
            .bind(group)
            .fetch_one(&mut *tx)
            .await?;
            let holder = hold(&row)?;
            if holder.run_id == run && holder.job_id == job {
                Acquired::Yes
            } else {
                Acquired::HeldBy(holder)
            }
        };
        tx.commit().await?;
        Ok(acquired)
    }

    /// Gives a group back; false when `run` did not hold it.
    pub async fn release_concurrency(
        &self,
        repository: RepositoryId,
        group: &str,
        run: RunId,
    ) -> Result<bool> {
        let mut tx = self.write().await?;
        let done = sqlx::query(
            "DELETE FROM concurrency_holds WHERE repository_id = $1 AND group_name = $2 \
             AND run_id = $3",
        )
        .bind(repository.0)
        .bind(group)
        .bind(run.0)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn concurrency_holds(
        &self,
        repository: RepositoryId,
    ) -> Result<Vec<ConcurrencyHold>> {
        let rows = sqlx::query(
            "SELECT repository_id, group_name, run_id, job_id, acquired_at \
             FROM concurrency_holds WHERE repository_id = $1 ORDER BY group_name",
        )
        .bind(repository.0)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(hold).collect()
    }

    /// Records that the schedule `cron` of a workflow fired at `at`.
    pub async fn record_schedule_fire(
        &self,
        workflow: WorkflowId,
        cron: &str,
        at: i64,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO schedule_fires (workflow_id, cron, last_fired_at) VALUES ($1, $2, $3) \
             ON CONFLICT (workflow_id, cron) DO UPDATE SET last_fired_at = excluded.last_fired_at",
        )
        .bind(workflow.0)
        .bind(cron)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// When the schedule `cron` of a workflow last fired.
    pub async fn last_schedule_fire(
        &self,
        workflow: WorkflowId,
        cron: &str,
    ) -> Result<Option<i64>> {
        let row = sqlx::query(
            "SELECT last_fired_at FROM schedule_fires WHERE workflow_id = $1 AND cron = $2",
        )
        .bind(workflow.0)
        .bind(cron)
        .fetch_optional(self.pool())
        .await?;
        row.map(|row| col(&row, "last_fired_at")).transpose()
    }
}
