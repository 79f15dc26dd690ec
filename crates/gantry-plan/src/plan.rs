//! The plan: one workflow run lowered to a job graph, before anything runs.
//!
//! Invariant: plain data (serde round-trip) with every `${{ }}` kept raw; the scheduler evaluates
//! job-level templates (`if`, `strategy`, `runs-on`, `name`, `concurrency`, `timeout-minutes`,
//! `continue-on-error`, reusable-call `with`/`secrets`) when a job becomes ready, and executors
//! evaluate the rest. `needs` refer to job ids of the same [`JobGraph`] and form a DAG (checked
//! by [`JobGraph::validate`]). Built by `lower.rs`; tests in `tests/lower.rs`.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::secret::Secrets;
use crate::spec::{RunDefaults, StepSpec, WorkspaceSpec};

/// A value tree whose strings may hold `${{ }}` (matrix, `runs-on`, `with:` of a call). A string
/// that is exactly one `${{ }}` evaluates to the expression's value (keeping its type); other
/// strings are interpolated.
pub type TemplateValue = serde_json::Value;

/// Identity of one run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    pub run_id: String,
    pub run_number: u64,
    pub attempt: u32,
    pub workspace: WorkspaceSpec,
}

/// One workflow run, ready to schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// `name:` of the workflow, else its file path (as GitHub shows it).
    pub workflow_name: String,
    /// Raw `run-name:` template (over `github` and `inputs`), when the workflow has one.
    #[serde(default)]
    pub run_name: Option<String>,
    pub run: RunInfo,
    /// Contexts of the whole run: `github`, `inputs`, `vars`.
    pub contexts: serde_json::Map<String, serde_json::Value>,
    #[serde(with = "crate::secret::exposed")]
    pub secrets: Secrets,
    /// Workflow-level `concurrency:`.
    pub concurrency: Option<ConcurrencySpec>,
    pub graph: JobGraph,
}

/// The jobs of one workflow file (the top-level workflow or a called reusable workflow).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobGraph {
    /// Repo-relative path of the file.
    pub workflow_file: String,
    /// Workflow-level `env:`, raw templates in order.
    pub env: Vec<(String, String)>,
    /// Workflow-level `defaults.run`.
    pub defaults_run: RunDefaults,
    /// Jobs in file order.
    pub jobs: Vec<PlanJob>,
}

/// One job as written (a matrix job is expanded by the scheduler).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanJob {
    pub job_id: String,
    /// Raw `name:` template.
    pub name: Option<String>,
    /// Ids of jobs in the same graph.
    pub needs: Vec<String>,
    /// Raw condition; `success()` when absent.
    pub if_expr: String,
    pub strategy: Option<StrategySpec>,
    pub concurrency: Option<ConcurrencySpec>,
    /// Number or template; GitHub's default (360) applies when absent.
    pub timeout_minutes: Option<String>,
    /// `"false"`, `"true"` or a template.
    pub continue_on_error: String,
    /// `file:line:col` of the job.
    pub location: String,
    pub body: JobBody,
}

/// What a job does: steps on a runner, or a call to a reusable workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum JobBody {
    Steps(Box<StepsJob>),
    Call(Box<CallJob>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepsJob {
    /// Labels, each possibly a template; a label that evaluates to a sequence is flattened.
    pub runs_on: Vec<TemplateValue>,
    /// Job-level `env:`, raw templates in order (workflow env is in the graph).
    pub env: Vec<(String, String)>,
    /// Job-level `defaults.run` (merged over the workflow's by the scheduler).
    pub defaults_run: RunDefaults,
    pub steps: Vec<StepSpec>,
    pub outputs: Vec<(String, String)>,
    pub container: Option<serde_json::Value>,
    pub services: serde_json::Value,
}

/// A job that calls a local reusable workflow (`uses: ./.github/workflows/x.yml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallJob {
    pub uses: String,
    /// `with:` values (templates evaluated in the caller's contexts).
    pub with: Vec<(String, TemplateValue)>,
    pub secrets: CallSecrets,
    pub called: Box<CalledWorkflow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallSecrets {
    /// `secrets: inherit`: the caller's secrets.
    Inherit,
    /// Name -> template over the caller's contexts (including `secrets`).
    Map(Vec<(String, String)>),
}

/// The called side of a reusable workflow call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalledWorkflow {
    pub inputs: Vec<CallInput>,
    /// Declared secrets: name, required.
    pub secrets: Vec<(String, bool)>,
    /// `on.workflow_call.outputs`: name -> template over `jobs` (and `inputs`, `vars`, `github`).
    pub outputs: Vec<(String, String)>,
    pub graph: JobGraph,
}

/// A declared input of `workflow_call` or `workflow_dispatch`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallInput {
    pub name: String,
    /// `string`, `boolean`, `number`, `choice`, `environment` (string when absent).
    pub input_type: String,
    pub required: bool,
    /// Template value (defaults may use `github`, `inputs`, `vars`).
    pub default: Option<TemplateValue>,
    pub options: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StrategySpec {
    /// The `matrix:` value as a template tree (may be one `${{ }}` string).
    pub matrix: Option<TemplateValue>,
    /// `"true"`, `"false"` or a template.
    pub fail_fast: String,
    /// Number or template.
    pub max_parallel: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConcurrencySpec {
    /// Template.
    pub group: String,
    /// `"true"`, `"false"` or a template.
    pub cancel_in_progress: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    #[error("job '{job}' needs unknown job '{need}'")]
    UnknownNeed { job: String, need: String },
    #[error("jobs form a dependency cycle: {0}")]
    Cycle(String),
    #[error("job id '{0}' is used twice")]
    DuplicateJob(String),
    #[error("there is no job '{0}' in the workflow")]
    UnknownJob(String),
}

impl JobGraph {
    pub fn job(&self, id: &str) -> Option<&PlanJob> {
        self.jobs.iter().find(|j| j.job_id == id)
    }

    /// Keeps only the jobs named in `ids` and the jobs they need, transitively (`gantry run -j`).
    /// Unknown ids are an error; the file order of the kept jobs is unchanged.
    pub fn retain_with_needs(&mut self, ids: &[String]) -> Result<(), GraphError> {
        let mut keep: Vec<String> = Vec::new();
        let mut stack: Vec<String> = Vec::new();
        for id in ids {
            if self.job(id).is_none() {
                return Err(GraphError::UnknownJob(id.clone()));
            }
            stack.push(id.clone());
        }
        while let Some(id) = stack.pop() {
            if keep.contains(&id) {
                continue;
            }
            if let Some(job) = self.job(&id) {
                stack.extend(job.needs.iter().cloned());
            }
            keep.push(id);
        }
        self.jobs.retain(|job| keep.contains(&job.job_id));
        Ok(())
    }

    /// Checks that ids are unique, every need exists, and there is no cycle.
    pub fn validate(&self) -> Result<(), GraphError> {
        let mut index: IndexMap<&str, usize> = IndexMap::new();
        for (i, job) in self.jobs.iter().enumerate() {
            if index.insert(job.job_id.as_str(), i).is_some() {
                return Err(GraphError::DuplicateJob(job.job_id.clone()));
            }
        }
        let mut edges: Vec<Vec<usize>> = Vec::with_capacity(self.jobs.len());
        for job in &self.jobs {
            let mut out = Vec::new();
            for need in &job.needs {
                match index.get(need.as_str()) {
                    Some(&i) => out.push(i),
                    None => {
                        return Err(GraphError::UnknownNeed {
                            job: job.job_id.clone(),
                            need: need.clone(),
                        })
                    }
                }
            }
            edges.push(out);
        }
        // Iterative DFS with colours: 0 unvisited, 1 on stack, 2 done.
        let mut colour = vec![0u8; self.jobs.len()];
        for start in 0..self.jobs.len() {
            if colour[start] != 0 {
                continue;
            }
            let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
            colour[start] = 1;
            while let Some(&mut (node, ref mut next)) = stack.last_mut() {
                if let Some(&child) = edges[node].get(*next) {
                    *next += 1;
                    match colour[child] {
                        0 => {
                            colour[child] = 1;
                            stack.push((child, 0));
                        }
                        1 => {
                            let from = stack.iter().position(|(n, _)| *n == child).unwrap_or(0);
                            let mut names: Vec<&str> = stack[from..]
                                .iter()
                                .map(|(n, _)| self.jobs[*n].job_id.as_str())
                                .collect();
                            names.push(self.jobs[child].job_id.as_str());
                            return Err(GraphError::Cycle(names.join(" -> ")));
                        }
                        _ => {}
                    }
                } else {
                    colour[node] = 2;
                    stack.pop();
                }
            }
        }
        Ok(())
    }
}
