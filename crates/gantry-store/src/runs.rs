//! Repositories, workflows, runs and attempts: registering, creating a run with its
//! `run_number` (allocated in the run's transaction by bumping the workflow's counter, so
//! concurrent triggers never share a number), listing with GitHub's filters and `total_count`,
//! re-runs as new attempts, concluding.

use crate::error::{is_unique_violation, Result, StoreError};
use crate::model::*;
use crate::row::{col, Arg, Sql};
use crate::{now_ms, Store};
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

const REPOSITORY_COLUMNS: &str =
    "id, owner, name, path, clone_url, default_branch, webhook_secret_ref, created_at";

const WORKFLOW_COLUMNS: &str = "id, repository_id, path, name, state, created_at, updated_at";

pub(crate) const RUN_COLUMNS: &str = "id, repository_id, workflow_id, run_number, run_attempt, \
    event, git_ref, head_branch, head_sha, actor, status, conclusion, conclusion_reason, \
    display_title, created_at, started_at, updated_at";

const ATTEMPT_COLUMNS: &str = "id, run_id, attempt, actor, status, conclusion, \
    conclusion_reason, created_at, started_at, updated_at";

fn repository(row: &AnyRow) -> Result<Repository> {
    Ok(Repository {
        id: RepositoryId(col(row, "id")?),
        owner: col(row, "owner")?,
        name: col(row, "name")?,
        path: col(row, "path")?,
        clone_url: col(row, "clone_url")?,
        default_branch: col(row, "default_branch")?,
        webhook_secret_ref: col(row, "webhook_secret_ref")?,
        created_at: col(row, "created_at")?,
    })
}

fn workflow(row: &AnyRow) -> Result<Workflow> {
    Ok(Workflow {
        id: WorkflowId(col(row, "id")?),
        repository_id: RepositoryId(col(row, "repository_id")?),
        path: col(row, "path")?,
        name: col(row, "name")?,
        state: WorkflowState::from_column("workflows.state", col(row, "state")?)?,
        created_at: col(row, "created_at")?,
        updated_at: col(row, "updated_at")?,
    })
}

pub(crate) fn conclusion(row: &AnyRow, column: &'static str) -> Result<Option<Conclusion>> {
    col::<Option<String>>(row, column)?
        .map(|text| Conclusion::from_column(column, text))
        .transpose()
}

pub(crate) fn run(row: &AnyRow) -> Result<Run> {
    Ok(Run {
        id: RunId(col(row, "id")?),
        repository_id: RepositoryId(col(row, "repository_id")?),
        workflow_id: WorkflowId(col(row, "workflow_id")?),
        run_number: col(row, "run_number")?,
        run_attempt: col(row, "run_attempt")?,
        event: col(row, "event")?,
        git_ref: col(row, "git_ref")?,
        head_branch: col(row, "head_branch")?,
        head_sha: col(row, "head_sha")?,
        actor: col(row, "actor")?,
        status: Status::from_column("runs.status", col(row, "status")?)?,
        conclusion: conclusion(row, "conclusion")?,
        conclusion_reason: col(row, "conclusion_reason")?,
        display_title: col(row, "display_title")?,
        created_at: col(row, "created_at")?,
        started_at: col(row, "started_at")?,
        updated_at: col(row, "updated_at")?,
    })
}

fn attempt(row: &AnyRow) -> Result<Attempt> {
    Ok(Attempt {
        id: AttemptId(col(row, "id")?),
        run_id: RunId(col(row, "run_id")?),
        attempt: col(row, "attempt")?,
        actor: col(row, "actor")?,
        status: Status::from_column("run_attempts.status", col(row, "status")?)?,
        conclusion: conclusion(row, "conclusion")?,
        conclusion_reason: col(row, "conclusion_reason")?,
        created_at: col(row, "created_at")?,
        started_at: col(row, "started_at")?,
        updated_at: col(row, "updated_at")?,
    })
}

/// Filters of GitHub's "list workflow runs"; `None` means any.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunFilter {
    pub workflow: Option<WorkflowId>,
    pub branch: Option<String>,
    pub event: Option<String>,
    pub status: Option<StatusFilter>,
    pub actor: Option<String>,
    pub head_sha: Option<String>,
    /// Created at or after, Unix ms.
    pub created_from: Option<i64>,
    /// Created at or before, Unix ms.
    pub created_to: Option<i64>,
}

/// GitHub's `status` filter takes a status or a conclusion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusFilter {
    Status(Status),
    Conclusion(Conclusion),
}

impl StatusFilter {
    pub fn parse(text: &str) -> Option<StatusFilter> {
        Status::parse(text)
            .map(StatusFilter::Status)
            .or_else(|| Conclusion::parse(text).map(StatusFilter::Conclusion))
    }
}

/// Which runs of the matching set to return, newest first (by `created_at`, then id).
/// `per_page` is capped at 100.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Page {
    /// GitHub's `page` (1-based) and `per_page`.
    Offset { page: u32, per_page: u32 },
    /// Keyset: the runs listed after the run `before` (from the start when `None`); the cost
    /// does not grow with the depth.
    Before {
        before: Option<RunId>,
        per_page: u32,
    },
}

/// A page of runs and how many match in all (GitHub's `total_count`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunList {
    pub total_count: i64,
    pub runs: Vec<Run>,
}

impl Store {
    pub async fn add_repository(&self, new: &NewRepository) -> Result<Repository> {
        let mut tx = self.write().await?;
        let sql = format!(
            "INSERT INTO repositories (owner, name, path, clone_url, default_branch, \
             webhook_secret_ref, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             RETURNING {REPOSITORY_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(&new.owner)
            .bind(&new.name)
            .bind(&new.path)
            .bind(&new.clone_url)
            .bind(&new.default_branch)
            .bind(&new.webhook_secret_ref)
            .bind(now_ms())
            .fetch_one(&mut *tx)
            .await
            .map_err(|error| match is_unique_violation(&error) {
                true => StoreError::AlreadyExists {
                    what: "repository",
                    key: format!("{}/{}", new.owner, new.name),
                },
                false => error.into(),
            })?;
        let repository = repository(&row)?;
        tx.commit().await?;
        Ok(repository)
    }

    pub async fn repository(&self, owner: &str, name: &str) -> Result<Repository> {
        let sql =
            format!("SELECT {REPOSITORY_COLUMNS} FROM repositories WHERE owner = $1 AND name = $2");
        let row = sqlx::query(&sql)
            .bind(owner)
            .bind(name)
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: "repository",
                key: format!("{owner}/{name}"),
            })?;
        repository(&row)
    }

    pub async fn list_repositories(&self) -> Result<Vec<Repository>> {
        let sql = format!("SELECT {REPOSITORY_COLUMNS} FROM repositories ORDER BY owner, name");
        let rows = sqlx::query(&sql).fetch_all(self.pool()).await?;
        rows.iter().map(repository).collect()
    }

    /// Records a workflow file of a repository, or updates its name and state when known.
    pub async fn upsert_workflow(
        &self,
        repository: RepositoryId,
        path: &str,
        name: &str,
        state: WorkflowState,
    ) -> Result<Workflow> {
        let mut tx = self.write().await?;
        let now = now_ms();
        let sql = format!(
            "INSERT INTO workflows (repository_id, path, name, state, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (repository_id, path) DO UPDATE \
             SET name = excluded.name, state = excluded.state, updated_at = excluded.updated_at \
             RETURNING {WORKFLOW_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(repository.0)
            .bind(path)
            .bind(name)
            .bind(state.as_str())
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
        let workflow = workflow(&row)?;
        tx.commit().await?;
        Ok(workflow)
    }

    pub async fn list_workflows(&self, repository: RepositoryId) -> Result<Vec<Workflow>> {
        let sql = format!(
            "SELECT {WORKFLOW_COLUMNS} FROM workflows WHERE repository_id = $1 ORDER BY id"
        );
        let rows = sqlx::query(&sql)
            .bind(repository.0)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(workflow).collect()
    }

    /// Creates a run and its first attempt, allocating the workflow's next `run_number`. A run
    /// with `diagnostics` is created completed with conclusion failure ("invalid workflow
    /// file"). When the run answers an outbox entry, the entry is marked done in the same
    /// transaction, so a trigger becomes runs exactly once.
    pub async fn create_run(&self, new: &NewRun) -> Result<Run> {
        let mut tx = self.write().await?;
        let run = insert_run(&mut tx, new).await?;
        if let Some(trigger) = new.trigger {
            sqlx::query("UPDATE pending_triggers SET done_at = $2 WHERE id = $1")
                .bind(trigger.0)
                .bind(new.created_at)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(run)
    }

    /// Creates the runs of one trigger (one per matching workflow) and marks it done, in one
    /// transaction.
    pub async fn create_runs(&self, trigger: TriggerId, runs: &[NewRun]) -> Result<Vec<Run>> {
        let mut tx = self.write().await?;
        let mut created = Vec::with_capacity(runs.len());
        for new in runs {
            created.push(insert_run(&mut tx, new).await?);
        }
        let done = sqlx::query(
            "UPDATE pending_triggers SET done_at = $2 WHERE id = $1 AND done_at IS NULL",
        )
        .bind(trigger.0)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::WrongState {
                what: "trigger",
                key: trigger.to_string(),
                state: "done or unknown".to_owned(),
                reason: "its runs were created already",
            });
        }
        tx.commit().await?;
        Ok(created)
    }

    pub async fn run(&self, id: RunId) -> Result<RunDetail> {
        let sql = format!(
            "SELECT {RUN_COLUMNS}, e.payload, e.diagnostics FROM runs \
             JOIN run_events e ON e.run_id = runs.id WHERE runs.id = $1"
        );
        let row = sqlx::query(&sql)
            .bind(id.0)
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: "run",
                key: id.to_string(),
            })?;
        Ok(RunDetail {
            run: run(&row)?,
            payload: col(&row, "payload")?,
            diagnostics: col(&row, "diagnostics")?,
        })
    }

    /// Runs of a repository matching `filter`, newest first, with the count of all matches.
    pub async fn list_runs(
        &self,
        repository: RepositoryId,
        filter: &RunFilter,
        page: Page,
    ) -> Result<RunList> {
        let mut sql = Sql::new("");
        sql.push(" FROM runs WHERE repository_id = ")
            .arg(Arg::Int(repository.0));
        if let Some(workflow) = filter.workflow {
            sql.push(" AND workflow_id = ").arg(Arg::Int(workflow.0));
        }
        if let Some(branch) = &filter.branch {
            sql.push(" AND head_branch = ")
                .arg(Arg::Text(branch.clone()));
        }
        if let Some(event) = &filter.event {
            sql.push(" AND event = ").arg(Arg::Text(event.clone()));
        }
        match filter.status {
            Some(StatusFilter::Status(status)) => {
                sql.push(" AND status = ")
                    .arg(Arg::Text(status.as_str().to_owned()));
            }
            Some(StatusFilter::Conclusion(conclusion)) => {
                sql.push(" AND conclusion = ")
                    .arg(Arg::Text(conclusion.as_str().to_owned()));
            }
            None => {}
        }
        if let Some(actor) = &filter.actor {
            sql.push(" AND actor = ").arg(Arg::Text(actor.clone()));
        }
        if let Some(sha) = &filter.head_sha {
            sql.push(" AND head_sha = ").arg(Arg::Text(sha.clone()));
        }
        if let Some(from) = filter.created_from {
            sql.push(" AND created_at >= ").arg(Arg::Int(from));
        }
        if let Some(to) = filter.created_to {
            sql.push(" AND created_at <= ").arg(Arg::Int(to));
        }
        let count_text = format!("SELECT COUNT(*) AS total{}", sql.text);
        let count_args = sql.args().to_vec();
        let (per_page, offset) = match page {
            Page::Offset { page, per_page } => {
                let per_page = per_page.clamp(1, 100);
                (per_page, i64::from(page.max(1) - 1) * i64::from(per_page))
            }
            Page::Before { per_page, .. } => (per_page.clamp(1, 100), 0),
        };
        // One read transaction, so the count and the page see the same runs.
        let mut tx = self.pool().begin().await?;
        if let Page::Before {
            before: Some(before),
            ..
        } = page
        {
            let row = sqlx::query("SELECT created_at FROM runs WHERE id = $1")
                .bind(before.0)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| StoreError::NotFound {
                    what: "run",
                    key: before.to_string(),
                })?;
            let created_at: i64 = col(&row, "created_at")?;
            // `created_at <= c` is what lets the index seek; the rest breaks ties by id.
            sql.push(" AND created_at <= ")
                .arg(Arg::Int(created_at))
                .push(" AND (created_at < ")
                .arg(Arg::Int(created_at))
                .push(" OR id < ")
                .arg(Arg::Int(before.0))
                .push(")");
        }
        // GitHub lists newest first by creation; the id breaks ties.
        sql.push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .arg(Arg::Int(i64::from(per_page)))
            .push(" OFFSET ")
            .arg(Arg::Int(offset));
        let list_text = format!("SELECT {RUN_COLUMNS}{}", sql.text);
        let total_count: i64 = col(
            &Sql::query(&count_text, &count_args)
                .fetch_one(&mut *tx)
                .await?,
            "total",
        )?;
        let rows = Sql::query(&list_text, sql.args())
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        let runs = rows.iter().map(run).collect::<Result<Vec<_>>>()?;
        Ok(RunList { total_count, runs })
    }

    pub async fn attempts(&self, run: RunId) -> Result<Vec<Attempt>> {
        let sql = format!(
            "SELECT {ATTEMPT_COLUMNS} FROM run_attempts WHERE run_id = $1 ORDER BY attempt"
        );
        let rows = sqlx::query(&sql).bind(run.0).fetch_all(self.pool()).await?;
        rows.iter().map(attempt).collect()
    }

    /// The attempt `number` of a run (`None`: the latest).
    pub async fn attempt(&self, run: RunId, number: Option<i64>) -> Result<Attempt> {
        let sql = format!(
            "SELECT {ATTEMPT_COLUMNS} FROM run_attempts WHERE run_id = $1 AND attempt = \
             COALESCE($2, (SELECT run_attempt FROM runs WHERE id = $1))"
        );
        let row = sqlx::query(&sql)
            .bind(run.0)
            .bind(number)
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: "attempt",
                key: format!(
                    "{run}/{}",
                    number.map_or("latest".to_owned(), |n| n.to_string())
                ),
            })?;
        attempt(&row)
    }

    /// Starts a new attempt of a completed run (GitHub's re-run); the old attempts and their
    /// jobs stay. The caller adds the new attempt's jobs.
    pub async fn rerun(&self, id: RunId, actor: &str) -> Result<Attempt> {
        let mut tx = self.write().await?;
        let now = now_ms();
        let row = sqlx::query(
            "UPDATE runs SET run_attempt = run_attempt + 1, status = 'queued', \
             conclusion = NULL, conclusion_reason = NULL, updated_at = $2 \
             WHERE id = $1 AND status = 'completed' RETURNING run_attempt",
        )
        .bind(id.0)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            let state = run_state(&mut tx, id).await?;
            return Err(StoreError::WrongState {
                what: "run",
                key: id.to_string(),
                state,
                reason: "only a completed run can be re-run",
            });
        };
        let number: i64 = col(&row, "run_attempt")?;
        let attempt = insert_attempt(&mut tx, id, number, actor, Status::Queued, now).await?;
        tx.commit().await?;
        Ok(attempt)
    }

    /// Concludes a run's current attempt and the run, and releases the concurrency groups the
    /// run held.
    pub async fn complete_run(
        &self,
        id: RunId,
        conclusion: Conclusion,
        reason: Option<&str>,
    ) -> Result<Run> {
        let mut tx = self.write().await?;
        let (run, _) = complete_run_in(&mut tx, id, conclusion, reason, now_ms()).await?;
        tx.commit().await?;
        Ok(run)
    }

    /// Sets a run (and its current attempt) waiting, for example for an approval, or back to
    /// queued.
    pub async fn set_run_status(&self, id: RunId, status: Status) -> Result<()> {
        if status == Status::Completed {
            return Err(StoreError::WrongState {
                what: "run",
                key: id.to_string(),
                state: status.as_str().to_owned(),
                reason: "complete_run concludes a run",
            });
        }
        let mut tx = self.write().await?;
        let now = now_ms();
        let done = sqlx::query(
            "UPDATE runs SET status = $2, updated_at = $3 WHERE id = $1 AND status <> 'completed'",
        )
        .bind(id.0)
        .bind(status.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            let state = run_state(&mut tx, id).await?;
            return Err(StoreError::WrongState {
                what: "run",
                key: id.to_string(),
                state,
                reason: "a completed run is re-run, not restarted",
            });
        }
        sqlx::query(
            "UPDATE run_attempts SET status = $2, updated_at = $3 WHERE run_id = $1 \
             AND attempt = (SELECT run_attempt FROM runs WHERE id = $1)",
        )
        .bind(id.0)
        .bind(status.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

async fn run_state(tx: &mut Transaction<'static, Any>, id: RunId) -> Result<String> {
    let row = sqlx::query("SELECT status FROM runs WHERE id = $1")
        .bind(id.0)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: "run",
            key: id.to_string(),
        })?;
    col(&row, "status")
}

async fn insert_run(tx: &mut Transaction<'static, Any>, new: &NewRun) -> Result<Run> {
    // The counter bump is the transaction's first write: it locks the workflow's row
    // (PostgreSQL) or holds the write lock (SQLite) until commit, so numbers are never shared.
    let row = sqlx::query(
        "UPDATE workflows SET last_run_number = last_run_number + 1 WHERE id = $1 \
         RETURNING last_run_number, repository_id",
    )
    .bind(new.workflow_id.0)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| StoreError::NotFound {
        what: "workflow",
        key: new.workflow_id.to_string(),
    })?;
    let run_number: i64 = col(&row, "last_run_number")?;
    let repository_id: i64 = col(&row, "repository_id")?;
    let (status, conclusion, reason) = match new.diagnostics {
        Some(_) => (
            Status::Completed,
            Some(Conclusion::Failure.as_str()),
            Some("invalid workflow file"),
        ),
        None => (Status::Queued, None, None),
    };
    let sql = format!(
        "INSERT INTO runs (repository_id, workflow_id, run_number, run_attempt, event, git_ref, \
         head_branch, head_sha, actor, status, conclusion, conclusion_reason, display_title, \
         created_at, updated_at) \
         VALUES ($1, $2, $3, 1, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13) \
         RETURNING {RUN_COLUMNS}"
    );
    let row = sqlx::query(&sql)
        .bind(repository_id)
        .bind(new.workflow_id.0)
        .bind(run_number)
        .bind(&new.event)
        .bind(&new.git_ref)
        .bind(&new.head_branch)
        .bind(&new.head_sha)
        .bind(&new.actor)
        .bind(status.as_str())
        .bind(conclusion)
        .bind(reason)
        .bind(&new.display_title)
        .bind(new.created_at)
        .fetch_one(&mut **tx)
        .await?;
    let run = run(&row)?;
    sqlx::query("INSERT INTO run_events (run_id, payload, diagnostics) VALUES ($1, $2, $3)")
        .bind(run.id.0)
        .bind(&new.payload)
        .bind(&new.diagnostics)
        .execute(&mut **tx)
        .await?;
    let attempt = insert_attempt(tx, run.id, 1, &new.actor, status, new.created_at).await?;
    if status == Status::Completed {
        sqlx::query(
            "UPDATE run_attempts SET conclusion = $2, conclusion_reason = $3 WHERE id = $1",
        )
        .bind(attempt.id.0)
        .bind(conclusion)
        .bind(reason)
        .execute(&mut **tx)
        .await?;
    }
    Ok(run)
}

async fn insert_attempt(
    tx: &mut Transaction<'static, Any>,
    run: RunId,
    number: i64,
    actor: &str,
    status: Status,
    now: i64,
) -> Result<Attempt> {
    let sql = format!(
        "INSERT INTO run_attempts (run_id, attempt, actor, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $5) RETURNING {ATTEMPT_COLUMNS}"
    );
    let row = sqlx::query(&sql)
        .bind(run.0)
        .bind(number)
        .bind(actor)
        .bind(status.as_str())
        .bind(now)
        .fetch_one(&mut **tx)
        .await?;
    attempt(&row)
}

pub(crate) async fn complete_run_in(
    tx: &mut Transaction<'static, Any>,
    id: RunId,
    conclusion: Conclusion,
    reason: Option<&str>,
    now: i64,
) -> Result<(Run, u64)> {
    let sql = format!(
        "UPDATE runs SET status = 'completed', conclusion = $2, conclusion_reason = $3, \
         updated_at = $4 WHERE id = $1 RETURNING {RUN_COLUMNS}"
    );
    let row = sqlx::query(&sql)
        .bind(id.0)
        .bind(conclusion.as_str())
        .bind(reason)
        .bind(now)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: "run",
            key: id.to_string(),
        })?;
    let run = run(&row)?;
    sqlx::query(
        "UPDATE run_attempts SET status = 'completed', conclusion = $3, conclusion_reason = $4, \
         updated_at = $5 WHERE run_id = $1 AND attempt = $2",
    )
    .bind(id.0)
    .bind(run.run_attempt)
    .bind(conclusion.as_str())
    .bind(reason)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    let released = sqlx::query("DELETE FROM concurrency_holds WHERE run_id = $1")
        .bind(id.0)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    Ok((run, released))
}
