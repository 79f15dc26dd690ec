//! `/repos/{owner}/{repo}/actions/workflows` (GitHub's "list repository workflows") and
//! `…/workflows/{workflow_id}/dispatches` (a `workflow_dispatch` run; the workflow by id or by
//! file name). Wire types are GitHub's, converted from the store's rows here.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use gantry_store::{NewTrigger, Repository, Role, Workflow};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::JsonBody;
use super::{repository, ApiBase, Caller, Error, RepoPath};
use crate::context::ApiContext;
use crate::hook::DispatchRequest;
use crate::time::iso8601;

pub fn router() -> Router<ApiContext> {
    Router::new()
        .route("/repos/{owner}/{repo}/actions/workflows", get(list))
        .route(
            "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches",
            post(dispatch),
        )
}

/// GitHub's workflow object.
#[derive(Serialize)]
pub struct WorkflowJson {
    pub id: i64,
    pub node_id: String,
    pub name: String,
    pub path: String,
    pub state: &'static str,
    pub created_at: String,
    pub updated_at: String,
    pub url: String,
    pub html_url: String,
    pub badge_url: String,
}

impl WorkflowJson {
    pub fn from_store(base: &str, repository: &Repository, workflow: &Workflow) -> WorkflowJson {
        let repo = format!("{}/{}", repository.owner, repository.name);
        WorkflowJson {
            id: workflow.id.0,
            node_id: format!("W_{}", workflow.id.0),
            name: workflow.name.clone(),
            path: workflow.path.clone(),
            state: workflow.state.as_str(),
            created_at: iso8601(workflow.created_at),
            updated_at: iso8601(workflow.updated_at),
            url: format!("{base}/repos/{repo}/actions/workflows/{}", workflow.id.0),
            html_url: format!("{base}/repos/{repo}/blob/HEAD/{}", workflow.path),
            badge_url: format!("{base}/repos/{repo}/workflows/{}/badge.svg", workflow.path),
        }
    }
}

#[derive(Serialize)]
struct WorkflowList {
    total_count: usize,
    workflows: Vec<WorkflowJson>,
}

async fn list(
    State(context): State<ApiContext>,
    _caller: Caller,
    ApiBase(base): ApiBase,
    Path((owner, repo)): RepoPath,
) -> Result<Json<WorkflowList>, Error> {
    let repository = repository(&context, &owner, &repo).await?;
    let workflows = context.store.list_workflows(repository.id).await?;
    let workflows: Vec<WorkflowJson> = workflows
        .iter()
        .map(|workflow| WorkflowJson::from_store(&base, &repository, workflow))
        .collect();
    Ok(Json(WorkflowList {
        total_count: workflows.len(),
        workflows,
    }))
}

#[derive(Deserialize)]
struct DispatchBody {
    #[serde(rename = "ref")]
    git_ref: String,
    #[serde(default)]
    inputs: IndexMap<String, Value>,
}

async fn dispatch(
    State(context): State<ApiContext>,
    caller: Caller,
    Path((owner, repo, workflow_id)): Path<(String, String, String)>,
    JsonBody(body): JsonBody<DispatchBody>,
) -> Result<StatusCode, Error> {
    let repository = repository(&context, &owner, &repo).await?;
    let target = format!("{owner}/{repo}/actions/workflows/{workflow_id}");
    caller
        .require(&context, Role::Developer, "workflow.dispatch", &target)
        .await?;
    let workflows = context.store.list_workflows(repository.id).await?;
    // By id, by path, or by file name, as GitHub takes it.
    let workflow = match workflow_id.parse::<i64>() {
        Ok(id) => workflows
            .iter()
            .find(|w| w.id.0 == id)
            .map(|w| w.path.clone()),
        Err(_) => workflows
            .iter()
            .find(|w| {
                w.path == workflow_id || w.path.rsplit('/').next() == Some(workflow_id.as_str())
            })
            .map(|w| w.path.clone())
            .or_else(|| {
                let is_file = !workflow_id.contains('/')
                    && (workflow_id.ends_with(".yml") || workflow_id.ends_with(".yaml"));
                is_file.then(|| format!(".github/workflows/{workflow_id}"))
            }),
    };
    let workflow = workflow.ok_or(Error::NotFound)?;
    let inputs = body
        .inputs
        .into_iter()
        .map(|(name, value)| {
            let text = match value {
                Value::String(text) => text,
                other => other.to_string(),
            };
            (name, text)
        })
        .collect();
    let request = DispatchRequest {
        git_ref: body.git_ref,
        workflow,
        inputs,
        actor: caller.login.clone(),
    };
    let payload =
        serde_json::to_string(&request).map_err(|error| Error::BadRequest(error.to_string()))?;
    context
        .store
        .enqueue_trigger(&NewTrigger {
            repository_id: repository.id,
            event: "workflow_dispatch".to_owned(),
            source: "api".to_owned(),
            payload: payload.clone(),
            delivery_id: None,
        })
        .await?;
    caller
        .audit(
            &context,
            "workflow.dispatch",
            &target,
            serde_json::json!({ "ref": request.git_ref, "workflow": request.workflow }),
        )
        .await?;
    context.wake.notify_one();
    Ok(StatusCode::NO_CONTENT)
}
