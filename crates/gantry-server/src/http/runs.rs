//! Workflow runs, GitHub's paths and fields: list (filters `branch`, `event`, `status`,
//! `actor`, `head_sha`; `page`/`per_page` with a `Link` header), one run, its jobs, its logs as
//! a zip of per-job text files, and cancel.
//!
//! Wire types are GitHub's; two fields of our own ride along (clients ignore unknown fields):
//! `conclusion_reason` (why a run ended the way it did, "the server stopped") and, on one run,
//! `diagnostics` (the file:line:column errors of an "invalid workflow file" run).

use std::collections::HashMap;
use std::io::Write;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use gantry_store::{
    Page, Repository, Role, Run, RunFilter, RunId, Status, StatusFilter, Workflow, WorkflowId,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::jobs::JobJson;
use super::{repository, ApiBase, Caller, Error};
use crate::context::ApiContext;
use crate::logs::read_job_log;
use crate::time::iso8601;

pub fn router() -> Router<ApiContext> {
    Router::new()
        .route("/repos/{owner}/{repo}/actions/runs", get(list))
        .route("/repos/{owner}/{repo}/actions/runs/{run_id}", get(one))
        .route(
            "/repos/{owner}/{repo}/actions/runs/{run_id}/jobs",
            get(jobs),
        )
        .route(
            "/repos/{owner}/{repo}/actions/runs/{run_id}/logs",
            get(logs),
        )
        .route(
            "/repos/{owner}/{repo}/actions/runs/{run_id}/cancel",
            post(cancel),
        )
        .route(
            "/repos/{owner}/{repo}/actions/runs/{run_id}/rerun",
            post(rerun_all),
        )
        .route(
            "/repos/{owner}/{repo}/actions/runs/{run_id}/rerun-failed-jobs",
            post(rerun_failed),
        )
}

/// GitHub's workflow run object.
#[derive(Serialize)]
pub struct RunJson {
    pub id: i64,
    pub name: String,
    pub node_id: String,
    pub head_branch: Option<String>,
    pub head_sha: String,
    pub path: String,
    pub display_title: String,
    pub run_number: i64,
    pub event: String,
    pub status: &'static str,
    pub conclusion: Option<&'static str>,
    pub workflow_id: i64,
    pub url: String,
    pub html_url: String,
    pub pull_requests: Vec<Value>,
    pub created_at: String,
    pub updated_at: String,
    pub actor: Value,
    pub triggering_actor: Value,
    pub run_attempt: i64,
    pub run_started_at: String,
    pub jobs_url: String,
    pub logs_url: String,
    pub cancel_url: String,
    pub rerun_url: String,
    pub workflow_url: String,
    pub head_commit: Value,
    pub repository: Value,
    pub head_repository: Value,
    pub conclusion_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diagnostics: Option<Value>,
}

/// GitHub's minimal repository object.
pub fn repository_json(base: &str, repository: &Repository) -> Value {
    let full_name = format!("{}/{}", repository.owner, repository.name);
    json!({
        "id": repository.id.0,
        "node_id": format!("R_{}", repository.id.0),
        "name": repository.name,
        "full_name": full_name,
        "owner": { "login": repository.owner, "type": "User" },
        "private": true,
        "url": format!("{base}/repos/{full_name}"),
        "html_url": format!("{base}/repos/{full_name}"),
        "default_branch": repository.default_branch,
    })
}

fn user_json(login: &str) -> Value {
    json!({ "login": login, "id": 0, "type": "User" })
}

impl RunJson {
    pub fn from_store(
        base: &str,
        repository: &Repository,
        workflow: Option<&Workflow>,
        run: &Run,
        payload: Option<&Value>,
    ) -> RunJson {
        let repo = format!("{}/{}", repository.owner, repository.name);
        let run_url = format!("{base}/repos/{repo}/actions/runs/{}", run.id.0);
        let head_commit = payload
            .and_then(|payload| payload.get("head_commit"))
            .filter(|commit| !commit.is_null())
            .map(|commit| {
                json!({
                    "id": commit.get("id"),
                    "tree_id": commit.get("tree_id"),
                    "message": commit.get("message"),
                    "timestamp": commit.get("timestamp"),
                    "author": commit.get("author"),
                    "committer": commit.get("committer"),
                })
            })
            .unwrap_or(Value::Null);
        RunJson {
            id: run.id.0,
            name: workflow.map_or_else(|| run.display_title.clone(), |w| w.name.clone()),
            node_id: format!("WFR_{}", run.id.0),
            head_branch: run.head_branch.clone(),
            head_sha: run.head_sha.clone(),
            path: workflow.map(|w| w.path.clone()).unwrap_or_default(),
            display_title: run.display_title.clone(),
            run_number: run.run_number,
            event: run.event.clone(),
            status: run.status.as_str(),
            conclusion: run.conclusion.map(|c| c.as_str()),
            workflow_id: run.workflow_id.0,
            url: run_url.clone(),
            html_url: run_url.clone(),
            pull_requests: Vec::new(),
            created_at: iso8601(run.created_at),
            updated_at: iso8601(run.updated_at),
            actor: user_json(&run.actor),
            triggering_actor: user_json(&run.actor),
            run_attempt: run.run_attempt,
            run_started_at: iso8601(run.started_at.unwrap_or(run.created_at)),
            jobs_url: format!("{run_url}/jobs"),
            logs_url: format!("{run_url}/logs"),
            cancel_url: format!("{run_url}/cancel"),
            rerun_url: format!("{run_url}/rerun"),
            workflow_url: format!(
                "{base}/repos/{repo}/actions/workflows/{}",
                run.workflow_id.0
            ),
            head_commit,
            repository: repository_json(base, repository),
            head_repository: repository_json(base, repository),
            conclusion_reason: run.conclusion_reason.clone(),
            diagnostics: None,
        }
    }
}

#[derive(Deserialize)]
struct ListQuery {
    branch: Option<String>,
    event: Option<String>,
    status: Option<String>,
    actor: Option<String>,
    head_sha: Option<String>,
    page: Option<u32>,
    per_page: Option<u32>,
}

#[derive(Serialize)]
struct RunList {
    total_count: i64,
    workflow_runs: Vec<RunJson>,
}

async fn workflows_by_id(
    context: &ApiContext,
    repository: &Repository,
) -> Result<HashMap<WorkflowId, Workflow>, Error> {
    Ok(context
        .store
        .list_workflows(repository.id)
        .await?
        .into_iter()
        .map(|workflow| (workflow.id, workflow))
        .collect())
}

async fn list(
    State(context): State<ApiContext>,
    _caller: Caller,
    ApiBase(base): ApiBase,
    Path((owner, repo)): Path<(String, String)>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<impl IntoResponse, Error> {
    let Query(query) = query.map_err(|rejection| Error::BadRequest(rejection.body_text()))?;
    let repository = repository(&context, &owner, &repo).await?;
    let status = match &query.status {
        Some(text) => Some(
            StatusFilter::parse(text)
                .ok_or_else(|| Error::Unprocessable(format!("unknown status '{text}'")))?,
        ),
        None => None,
    };
    let filter = RunFilter {
        branch: query.branch.clone(),
        event: query.event.clone(),
        status,
        actor: query.actor.clone(),
        head_sha: query.head_sha.clone(),
        ..RunFilter::default()
    };
    let page = query.page.unwrap_or(1).max(1);
    let per_page = query.per_page.unwrap_or(30).clamp(1, 100);
    let list = context
        .store
        .list_runs(repository.id, &filter, Page::Offset { page, per_page })
        .await?;
    let workflows = workflows_by_id(&context, &repository).await?;
    let workflow_runs = list
        .runs
        .iter()
        .map(|run| {
            RunJson::from_store(
                &base,
                &repository,
                workflows.get(&run.workflow_id),
                run,
                None,
            )
        })
        .collect();
    let mut headers = HeaderMap::new();
    let last = ((list.total_count.max(0) as u64).div_ceil(u64::from(per_page))).max(1) as u32;
    if let Some(link) = link_header(&base, &owner, &repo, &query, page, per_page, last) {
        if let Ok(value) = HeaderValue::from_str(&link) {
            headers.insert(header::LINK, value);
        }
    }
    Ok((
        headers,
        Json(RunList {
            total_count: list.total_count,
            workflow_runs,
        }),
    ))
}

/// GitHub's `Link` header: `next`/`last` while there are more pages, `prev`/`first` after the
/// first; the filters are kept in each URL.
fn link_header(
    base: &str,
    owner: &str,
    repo: &str,
    query: &ListQuery,
    page: u32,
    per_page: u32,
    last: u32,
) -> Option<String> {
    let mut filters = String::new();
    for (name, value) in [
        ("branch", &query.branch),
        ("event", &query.event),
        ("status", &query.status),
        ("actor", &query.actor),
        ("head_sha", &query.head_sha),
    ] {
        if let Some(value) = value {
            filters.push_str(&format!("{name}={}&", percent_encode(value)));
        }
    }
    let url = |n: u32| {
        format!("<{base}/repos/{owner}/{repo}/actions/runs?{filters}per_page={per_page}&page={n}>")
    };
    let mut links = Vec::new();
    if page < last {
        links.push(format!("{}; rel=\"next\"", url(page + 1)));
        links.push(format!("{}; rel=\"last\"", url(last)));
    }
    if page > 1 {
        links.push(format!("{}; rel=\"prev\"", url(page - 1)));
        links.push(format!("{}; rel=\"first\"", url(1)));
    }
    (!links.is_empty()).then(|| links.join(", "))
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// The run `run_id` of the repository, or 404 (also for a run of another repository).
async fn find_run(
    context: &ApiContext,
    owner: &str,
    repo: &str,
    run_id: i64,
) -> Result<(Repository, gantry_store::RunDetail), Error> {
    let repository = repository(context, owner, repo).await?;
    let detail = context.store.run(RunId(run_id)).await?;
    if detail.run.repository_id != repository.id {
        return Err(Error::NotFound);
    }
    Ok((repository, detail))
}

async fn one(
    State(context): State<ApiContext>,
    _caller: Caller,
    ApiBase(base): ApiBase,
    Path((owner, repo, run_id)): Path<(String, String, i64)>,
) -> Result<Json<RunJson>, Error> {
    let (repository, detail) = find_run(&context, &owner, &repo, run_id).await?;
    let workflows = workflows_by_id(&context, &repository).await?;
    let payload: Option<Value> = serde_json::from_str(&detail.payload).ok();
    let mut json = RunJson::from_store(
        &base,
        &repository,
        workflows.get(&detail.run.workflow_id),
        &detail.run,
        payload.as_ref(),
    );
    json.diagnostics = detail
        .diagnostics
        .as_deref()
        .and_then(|text| serde_json::from_str(text).ok());
    Ok(Json(json))
}

#[derive(Serialize)]
struct JobList {
    total_count: usize,
    jobs: Vec<JobJson>,
}

async fn jobs(
    State(context): State<ApiContext>,
    _caller: Caller,
    ApiBase(base): ApiBase,
    Path((owner, repo, run_id)): Path<(String, String, i64)>,
) -> Result<Json<JobList>, Error> {
    let (repository, detail) = find_run(&context, &owner, &repo, run_id).await?;
    let workflows = workflows_by_id(&context, &repository).await?;
    let attempt = context.store.attempt(detail.run.id, None).await?;
    let mut jobs = Vec::new();
    for job in context.store.list_jobs(attempt.id).await? {
        let steps = context.store.steps(job.id).await?;
        jobs.push(JobJson::from_store(
            &base,
            &repository,
            workflows.get(&detail.run.workflow_id),
            &detail.run,
            attempt.attempt,
            &job,
            &steps,
        ));
    }
    Ok(Json(JobList {
        total_count: jobs.len(),
        jobs,
    }))
}

/// The zip GitHub serves: one text file per job of the latest attempt.
async fn logs(
    State(context): State<ApiContext>,
    _caller: Caller,
    Path((owner, repo, run_id)): Path<(String, String, i64)>,
) -> Result<impl IntoResponse, Error> {
    let (_, detail) = find_run(&context, &owner, &repo, run_id).await?;
    let attempt = context.store.attempt(detail.run.id, None).await?;
    let mut files = Vec::new();
    for (index, job) in context
        .store
        .list_jobs(attempt.id)
        .await?
        .iter()
        .enumerate()
    {
        let text = read_job_log(&context.store, &context.data_dir, detail.run.id, job.id)
            .await?
            .unwrap_or_default();
        let name = job.name.replace(['/', '\\'], "_");
        files.push((format!("{index}_{name}.txt"), text));
    }
    let zip = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
        let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, text) in files {
            writer
                .start_file(name, options)
                .map_err(std::io::Error::other)?;
            writer.write_all(&text)?;
        }
        Ok(writer.finish().map_err(std::io::Error::other)?.into_inner())
    })
    .await
    .map_err(|error| Error::BadRequest(format!("building the zip: {error}")))?
    .map_err(|source| crate::ServerError::Io {
        what: "building the logs zip".to_owned(),
        source,
    })?;
    let disposition = format!("attachment; filename=logs_{run_id}.zip");
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        zip,
    ))
}

async fn cancel(
    State(context): State<ApiContext>,
    caller: Caller,
    Path((owner, repo, run_id)): Path<(String, String, i64)>,
) -> Result<(StatusCode, Json<Value>), Error> {
    let target = format!("{owner}/{repo}/actions/runs/{run_id}");
    // The role first: a viewer learns nothing about the run.
    repository(&context, &owner, &repo).await?;
    caller
        .require(&context, Role::Developer, "run.cancel", &target)
        .await?;
    let (_, detail) = find_run(&context, &owner, &repo, run_id).await?;
    if detail.run.status == Status::Completed {
        return Err(Error::Conflict(
            "Cannot cancel a workflow run that is completed.".to_owned(),
        ));
    }
    let canceller = context
        .canceller(detail.run.id)
        .ok_or_else(|| Error::Conflict("the run is not running yet; try again".to_owned()))?;
    canceller.cancel();
    caller
        .audit(&context, "run.cancel", &target, json!({}))
        .await?;
    Ok((StatusCode::ACCEPTED, Json(json!({}))))
}

async fn rerun_all(
    State(context): State<ApiContext>,
    caller: Caller,
    Path((owner, repo, run_id)): Path<(String, String, i64)>,
) -> Result<(StatusCode, Json<Value>), Error> {
    rerun(
        context,
        caller,
        owner,
        repo,
        run_id,
        gantry_run::RerunScope::All,
    )
    .await
}

async fn rerun_failed(
    State(context): State<ApiContext>,
    caller: Caller,
    Path((owner, repo, run_id)): Path<(String, String, i64)>,
) -> Result<(StatusCode, Json<Value>), Error> {
    rerun(
        context,
        caller,
        owner,
        repo,
        run_id,
        gantry_run::RerunScope::FailedJobs,
    )
    .await
}

/// GitHub answers a re-run with 201 and an empty object; the new attempt exists by then.
async fn rerun(
    context: ApiContext,
    caller: Caller,
    owner: String,
    repo: String,
    run_id: i64,
    scope: gantry_run::RerunScope,
) -> Result<(StatusCode, Json<Value>), Error> {
    let action = match scope {
        gantry_run::RerunScope::FailedJobs => "run.rerun_failed_jobs",
        _ => "run.rerun",
    };
    let target = format!("{owner}/{repo}/actions/runs/{run_id}");
    repository(&context, &owner, &repo).await?;
    caller
        .require(&context, Role::Developer, action, &target)
        .await?;
    let (repository, detail) = find_run(&context, &owner, &repo, run_id).await?;
    if detail.run.status != Status::Completed {
        return Err(Error::Conflict(
            "This workflow run is not completed and cannot be re-run.".to_owned(),
        ));
    }
    if detail.diagnostics.is_some() {
        return Err(Error::Conflict(
            "This workflow file has errors; push a fix to run it.".to_owned(),
        ));
    }
    let workflow = workflows_by_id(&context, &repository)
        .await?
        .remove(&detail.run.workflow_id)
        .ok_or(Error::NotFound)?;
    let attempt = crate::rerun::start(
        &context,
        repository,
        detail,
        workflow.path,
        scope,
        &caller.login,
    )
    .await?;
    caller
        .audit(
            &context,
            action,
            &target,
            json!({ "run_attempt": attempt.attempt }),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(json!({}))))
}
