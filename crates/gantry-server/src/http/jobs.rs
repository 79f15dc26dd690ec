//! Jobs, GitHub's paths and fields: one job (`/actions/jobs/{job_id}`, with its steps) and its
//! log as plain text (`/actions/jobs/{job_id}/logs`).

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use gantry_store::{Job, JobId, Repository, Run, Step, Workflow};
use serde::Serialize;

use super::{repository, ApiBase, Caller, Error};
use crate::context::ApiContext;
use crate::logs::read_job_log;
use crate::time::iso8601;

pub fn router() -> Router<ApiContext> {
    Router::new()
        .route("/repos/{owner}/{repo}/actions/jobs/{job_id}", get(one))
        .route(
            "/repos/{owner}/{repo}/actions/jobs/{job_id}/logs",
            get(logs),
        )
}

/// GitHub's step object.
#[derive(Serialize)]
pub struct StepJson {
    pub name: String,
    pub status: &'static str,
    pub conclusion: Option<&'static str>,
    pub number: i64,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
}

/// GitHub's job object.
#[derive(Serialize)]
pub struct JobJson {
    pub id: i64,
    pub run_id: i64,
    pub workflow_name: Option<String>,
    pub head_branch: Option<String>,
    pub run_url: String,
    pub run_attempt: i64,
    pub node_id: String,
    pub head_sha: String,
    pub url: String,
    pub html_url: String,
    pub status: &'static str,
    pub conclusion: Option<&'static str>,
    pub created_at: String,
    pub started_at: String,
    pub completed_at: Option<String>,
    pub name: String,
    pub steps: Vec<StepJson>,
    pub check_run_url: String,
    pub labels: Vec<String>,
    pub runner_id: Option<i64>,
    pub runner_name: Option<String>,
    pub runner_group_id: Option<i64>,
    pub runner_group_name: Option<String>,
}

impl JobJson {
    pub fn from_store(
        base: &str,
        repository: &Repository,
        workflow: Option<&Workflow>,
        run: &Run,
        attempt: i64,
        job: &Job,
        steps: &[Step],
    ) -> JobJson {
        let repo = format!("{}/{}", repository.owner, repository.name);
        let url = format!("{base}/repos/{repo}/actions/jobs/{}", job.id.0);
        JobJson {
            id: job.id.0,
            run_id: run.id.0,
            workflow_name: workflow.map(|w| w.name.clone()),
            head_branch: run.head_branch.clone(),
            run_url: format!("{base}/repos/{repo}/actions/runs/{}", run.id.0),
            run_attempt: attempt,
            node_id: format!("CR_{}", job.id.0),
            head_sha: run.head_sha.clone(),
            html_url: url.clone(),
            check_run_url: url.clone(),
            url,
            status: job.status.as_str(),
            conclusion: job.conclusion.map(|c| c.as_str()),
            created_at: iso8601(job.created_at),
            started_at: iso8601(job.started_at.unwrap_or(job.created_at)),
            completed_at: job.completed_at.map(iso8601),
            name: job.name.clone(),
            steps: steps
                .iter()
                .map(|step| StepJson {
                    name: step.name.clone(),
                    status: step.status.as_str(),
                    conclusion: step.conclusion.map(|c| c.as_str()),
                    number: step.number,
                    started_at: step.started_at.map(iso8601),
                    completed_at: step.completed_at.map(iso8601),
                })
                .collect(),
            labels: Vec::new(),
            runner_id: None,
            runner_name: job.runner.clone(),
            runner_group_id: None,
            runner_group_name: None,
        }
    }
}

/// The job `job_id` with its run, when both belong to the repository.
async fn find_job(
    context: &ApiContext,
    owner: &str,
    repo: &str,
    job_id: i64,
) -> Result<(Repository, Run, Job), Error> {
    let repository = repository(context, owner, repo).await?;
    let job = context.store.job(JobId(job_id)).await?;
    let run = context.store.run(job.run_id).await?.run;
    if run.repository_id != repository.id {
        return Err(Error::NotFound);
    }
    Ok((repository, run, job))
}

async fn one(
    State(context): State<ApiContext>,
    _caller: Caller,
    ApiBase(base): ApiBase,
    Path((owner, repo, job_id)): Path<(String, String, i64)>,
) -> Result<Json<JobJson>, Error> {
    let (repository, run, job) = find_job(&context, &owner, &repo, job_id).await?;
    let workflow = context
        .store
        .list_workflows(repository.id)
        .await?
        .into_iter()
        .find(|w| w.id == run.workflow_id);
    let attempt = context
        .store
        .attempts(run.id)
        .await?
        .into_iter()
        .find(|a| a.id == job.attempt_id)
        .map_or(run.run_attempt, |a| a.attempt);
    let steps = context.store.steps(job.id).await?;
    Ok(Json(JobJson::from_store(
        &base,
        &repository,
        workflow.as_ref(),
        &run,
        attempt,
        &job,
        &steps,
    )))
}

async fn logs(
    State(context): State<ApiContext>,
    _caller: Caller,
    Path((owner, repo, job_id)): Path<(String, String, i64)>,
) -> Result<impl IntoResponse, Error> {
    let (_, run, job) = find_job(&context, &owner, &repo, job_id).await?;
    let text = read_job_log(&context.store, &context.data_dir, run.id, job.id)
        .await?
        .ok_or(Error::NotFound)?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text))
}
