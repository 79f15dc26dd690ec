//! Lowering: a loaded [`Workflow`] plus the run's contexts -> a [`Plan`].
//!
//! Defaults GitHub applies are filled in here (`if: success()`, `fail-fast: true`, generated step
//! ids `__run`, `__run_2`, `__actions_checkout`, `__self`, ...), templates stay raw. Local
//! reusable workflow calls (`uses: ./.github/workflows/x.yml`) are read through
//! [`WorkflowSource`] (the caller does the IO) and lowered recursively into
//! [`CalledWorkflow`]s, up to GitHub's nesting limit ([`MAX_CALL_DEPTH`] levels below the
//! caller), refusing cycles.
//!
//! Invariant: no IO and no evaluation here; every error is a [`LowerError`] naming the job or
//! file. Tests: `tests/lower.rs`.

use std::collections::HashSet;

use gantry_workflow::model::{
    Concurrency, Container, EventConfig, ExprOr, Job, JobSecrets, Matrix, Spanned, Step, TStr,
    Value as ModelValue, ValueKind, Vars, Workflow,
};
use gantry_workflow::{load_workflow, Severity, Span};
use serde_json::{Map, Value};

use crate::plan::{
    CallInput, CallJob, CallSecrets, CalledWorkflow, ConcurrencySpec, GraphError, JobBody,
    JobGraph, Plan, PlanJob, RunInfo, StepsJob, StrategySpec, TemplateValue,
};
use crate::spec::{RunDefaults, StepAction, StepSpec};

/// GitHub allows a caller plus four levels of called workflows.
pub const MAX_CALL_DEPTH: usize = 4;

/// Reads reusable workflow files for the lowering (the caller owns the IO).
pub trait WorkflowSource {
    /// `path` is repo-relative, without the leading `./` (`.github/workflows/x.yml`).
    fn read_workflow(&self, path: &str) -> Result<Vec<u8>, String>;
}

/// What the run knows besides the workflow file.
#[derive(Debug, Clone, Default)]
pub struct RunContext {
    pub run: RunInfo,
    /// Repo-relative path of the workflow file.
    pub workflow_file: String,
    /// The `github` context (event payload, refs, repository...), built by the caller.
    pub github: Value,
    /// The `inputs` context (e.g. from [`crate::select::resolve_dispatch_inputs`]).
    pub inputs: Map<String, Value>,
    pub vars: Map<String, Value>,
    pub secrets: crate::secret::Secrets,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LowerError {
    #[error(transparent)]
    Graph(#[from] GraphError),
    #[error("{file}: job '{job}': {message}")]
    Job {
        file: String,
        job: String,
        message: String,
    },
    #[error("{file}: job '{job}': cannot read called workflow '{path}': {message}")]
    ReadCalled {
        file: String,
        job: String,
        path: String,
        message: String,
    },
    #[error("{path}: {message}")]
    CalledInvalid { path: String, message: String },
    #[error("{path}: reusable workflows are nested deeper than {MAX_CALL_DEPTH} levels")]
    TooDeep { path: String },
    #[error("{path}: reusable workflow calls form a cycle")]
    CallCycle { path: String },
    #[error("{file}: {message}")]
    Unsupported { file: String, message: String },
}

/// Converts a loosely typed model value to JSON; strings keep their raw `${{ }}` text.
pub fn model_value_to_json(value: &ModelValue) -> Value {
    match &value.kind {
        ValueKind::Null => Value::Null,
        ValueKind::Bool(b) => Value::Bool(*b),
        ValueKind::Number(n) => number_to_json(*n),
        ValueKind::String(s) => Value::String(s.raw.clone()),
        ValueKind::Seq(items) => Value::Array(items.iter().map(model_value_to_json).collect()),
        ValueKind::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.value.clone(), model_value_to_json(v)))
                .collect(),
        ),
    }
}

fn number_to_json(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

fn number_text(n: f64) -> String {
    match number_to_json(n) {
        Value::Number(n) => n.to_string(),
        _ => n.to_string(),
    }
}

fn bool_setting(setting: &Option<Spanned<ExprOr<bool>>>, default: bool) -> String {
    match setting.as_ref().map(|s| &s.value) {
        None => default.to_string(),
        Some(ExprOr::Value(b)) => b.to_string(),
        Some(ExprOr::Expr(t)) => t.raw.clone(),
    }
}

fn number_setting(setting: &Option<Spanned<ExprOr<f64>>>) -> Option<String> {
    setting.as_ref().map(|s| match &s.value {
        ExprOr::Value(n) => number_text(*n),
        ExprOr::Expr(t) => t.raw.clone(),
    })
}

fn raw(t: &Option<TStr>) -> Option<String> {
    t.as_ref().map(|t| t.raw.clone())
}

fn location(file: &str, span: Span) -> String {
    format!("{file}:{}:{}", span.start.line, span.start.col)
}

fn vars(file: &str, what: &str, vars: &Option<Vars>) -> Result<Vec<(String, String)>, LowerError> {
    let Some(vars) = vars else {
        return Ok(Vec::new());
    };
    if vars.expr.is_some() {
        return Err(LowerError::Unsupported {
            file: file.to_owned(),
            message: format!("'{what}' written as a single expression is not supported"),
        });
    }
    Ok(vars
        .entries
        .iter()
        .map(|(name, var)| (name.clone(), var.value.raw.clone()))
        .collect())
}

fn concurrency(c: &Option<Concurrency>) -> Option<ConcurrencySpec> {
    let c = c.as_ref()?;
    Some(ConcurrencySpec {
        group: c.group.as_ref()?.raw.clone(),
        cancel_in_progress: bool_setting(&c.cancel_in_progress, false),
    })
}

fn defaults_run(defaults: &Option<gantry_workflow::model::Defaults>) -> RunDefaults {
    let run = defaults.as_ref().and_then(|d| d.run.as_ref());
    RunDefaults {
        shell: run.and_then(|r| raw(&r.shell)),
        working_directory: run.and_then(|r| raw(&r.working_directory)),
    }
}

fn matrix_template(matrix: &Matrix) -> TemplateValue {
    if let Some(expr) = &matrix.expr {
        return Value::String(expr.raw.clone());
    }
    let rows = |v: &ExprOr<Vec<ModelValue>>| match v {
        ExprOr::Value(items) => Value::Array(items.iter().map(model_value_to_json).collect()),
        ExprOr::Expr(t) => Value::String(t.raw.clone()),
    };
    let mut out = Map::new();
    for (name, axis) in &matrix.axes {
        out.insert(name.clone(), rows(&axis.values));
    }
    if let Some(include) = &matrix.include {
        out.insert("include".into(), rows(&include.rows));
    }
    if let Some(exclude) = &matrix.exclude {
        out.insert("exclude".into(), rows(&exclude.rows));
    }
    Value::Object(out)
}

fn container_json(container: &Container) -> Value {
    let mut out = Map::new();
    if let Some(image) = &container.image {
        out.insert("image".into(), Value::String(image.raw.clone()));
    }
    if let Some(credentials) = &container.credentials {
        let mut c = Map::new();
        if let Some(u) = &credentials.username {
            c.insert("username".into(), Value::String(u.raw.clone()));
        }
        if let Some(p) = &credentials.password {
            c.insert("password".into(), Value::String(p.raw.clone()));
        }
        out.insert("credentials".into(), Value::Object(c));
    }
    if let Some(env) = &container.env {
        out.insert(
            "env".into(),
            Value::Object(
                env.entries
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.value.raw.clone())))
                    .collect(),
            ),
        );
    }
    for (name, list) in [("ports", &container.ports), ("volumes", &container.volumes)] {
        if let Some(list) = list {
            out.insert(
                name.into(),
                Value::Array(
                    list.value
                        .iter()
                        .map(|t| Value::String(t.raw.clone()))
                        .collect(),
                ),
            );
        }
    }
    for (name, value) in [
        ("options", &container.options),
        ("entrypoint", &container.entrypoint),
        ("command", &container.command),
    ] {
        if let Some(value) = value {
            out.insert(name.into(), Value::String(value.raw.clone()));
        }
    }
    Value::Object(out)
}

/// GitHub's generated step ids: characters other than letters, digits, `_` and `-` become `_`,
/// names are unique within the job (`__run`, `__run_2`), at most 100 characters.
struct IdBuilder {
    used: HashSet<String>,
}

impl IdBuilder {
    const MAX_LENGTH: usize = 100;

    fn build(&mut self, base: &str) -> String {
        let name: String = base
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        for attempt in 1..1000 {
            let suffix = if attempt == 1 {
                String::new()
            } else {
                format!("_{attempt}")
            };
            let keep = name
                .chars()
                .count()
                .min(Self::MAX_LENGTH.saturating_sub(suffix.len()));
            let candidate: String = name.chars().take(keep).chain(suffix.chars()).collect();
            if self.used.insert(candidate.clone()) {
                return candidate;
            }
        }
        // 1000 steps with the same generated name: fall back to something unique.
        format!("{name}_{}", self.used.len())
    }
}

fn action_step_base(uses: &str) -> String {
    if let Some(image) = uses.strip_prefix("docker://") {
        return image.to_owned();
    }
    if uses.starts_with("./") || uses.starts_with(".\\") {
        return "self".to_owned();
    }
    let mut parts = uses.split('@');
    let (Some(path), Some(git_ref), None) = (parts.next(), parts.next(), parts.next()) else {
        return String::new();
    };
    let segments: Vec<&str> = path.split(['/', '\\']).filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        [owner, repo, ..] if !git_ref.is_empty() => format!("{owner}/{repo}"),
        _ => String::new(),
    }
}

/// Lowers the steps of one job, generating GitHub's ids for steps without one.
pub fn lower_steps(file: &str, job_id: &str, steps: &[Step]) -> Result<Vec<StepSpec>, LowerError> {
    let mut ids = IdBuilder {
        used: steps
            .iter()
            .filter_map(|s| s.id.as_ref().map(|id| id.value.clone()))
            .collect(),
    };
    let mut out = Vec::with_capacity(steps.len());
    for step in steps {
        let action = match (&step.run, &step.uses) {
            (Some(run), _) => StepAction::Run {
                script: run.raw.clone(),
                shell: raw(&step.shell),
                working_directory: raw(&step.working_directory),
            },
            (None, Some(uses)) => StepAction::Uses {
                uses: uses.raw.clone(),
                with: vars(file, "with", &step.with)?,
            },
            (None, None) => {
                return Err(LowerError::Job {
                    file: file.to_owned(),
                    job: job_id.to_owned(),
                    message: format!(
                        "step at {} has neither 'run' nor 'uses'",
                        location(file, step.span)
                    ),
                })
            }
        };
        let generated_id = match &step.id {
            Some(id) => id.value.clone(),
            None => {
                let base = match &action {
                    StepAction::Uses { uses, .. } => action_step_base(uses),
                    StepAction::Run { .. } => String::new(),
                };
                let base = if base.is_empty() {
                    "run".to_owned()
                } else {
                    base
                };
                ids.build(&format!("__{base}"))
            }
        };
        out.push(StepSpec {
            id: step.id.as_ref().map(|id| id.value.clone()),
            generated_id,
            name: raw(&step.name),
            if_expr: step
                .if_
                .as_ref()
                .map(|c| c.text.raw.clone())
                .unwrap_or_else(|| "success()".to_owned()),
            action,
            env: vars(file, "env", &step.env)?,
            continue_on_error: bool_setting(&step.continue_on_error, false),
            timeout_minutes: number_setting(&step.timeout_minutes),
            location: location(file, step.span),
        });
    }
    Ok(out)
}

struct Lowerer<'a> {
    source: &'a dyn WorkflowSource,
    /// Files being lowered, outermost first (for cycle detection).
    chain: Vec<String>,
}

impl Lowerer<'_> {
    fn graph(&mut self, workflow: &Workflow, file: &str) -> Result<JobGraph, LowerError> {
        let mut graph = JobGraph {
            workflow_file: file.to_owned(),
            env: vars(file, "env", &workflow.env)?,
            defaults_run: defaults_run(&workflow.defaults),
            jobs: Vec::with_capacity(workflow.jobs.len()),
        };
        for (job_id, job) in &workflow.jobs {
            graph.jobs.push(self.job(file, job_id, job)?);
        }
        graph.validate()?;
        Ok(graph)
    }

    fn job(&mut self, file: &str, job_id: &str, job: &Job) -> Result<PlanJob, LowerError> {
        let body = match &job.uses {
            Some(uses) => JobBody::Call(Box::new(self.call(file, job_id, &uses.value, job)?)),
            None => JobBody::Steps(Box::new(StepsJob {
                runs_on: job
                    .runs_on
                    .as_ref()
                    .map(|r| {
                        r.labels
                            .iter()
                            .map(|l| Value::String(l.raw.clone()))
                            .collect()
                    })
                    .unwrap_or_default(),
                env: vars(file, "env", &job.env)?,
                defaults_run: defaults_run(&job.defaults),
                steps: lower_steps(file, job_id, job.step_list())?,
                outputs: vars(file, "outputs", &job.outputs)?,
                container: job.container.as_ref().map(container_json),
                services: match &job.services {
                    Some(services) => Value::Object(
                        services
                            .entries
                            .iter()
                            .map(|(id, s)| (id.clone(), container_json(&s.container)))
                            .collect(),
                    ),
                    None => Value::Null,
                },
            })),
        };
        Ok(PlanJob {
            job_id: job_id.to_owned(),
            name: raw(&job.name),
            needs: job
                .needs
                .as_ref()
                .map(|n| n.items.iter().map(|i| i.value.clone()).collect())
                .unwrap_or_default(),
            if_expr: job
                .if_
                .as_ref()
                .map(|c| c.text.raw.clone())
                .unwrap_or_else(|| "success()".to_owned()),
            strategy: job.strategy.as_ref().map(|s| StrategySpec {
                matrix: s.matrix.as_ref().map(matrix_template),
                fail_fast: bool_setting(&s.fail_fast, true),
                max_parallel: number_setting(&s.max_parallel),
            }),
            concurrency: concurrency(&job.concurrency),
            timeout_minutes: number_setting(&job.timeout_minutes),
            continue_on_error: bool_setting(&job.continue_on_error, false),
            location: location(file, job.id.span),
            body,
        })
    }

    fn call(
        &mut self,
        file: &str,
        job_id: &str,
        uses: &str,
        job: &Job,
    ) -> Result<CallJob, LowerError> {
        let job_error = |message: String| LowerError::Job {
            file: file.to_owned(),
            job: job_id.to_owned(),
            message,
        };
        let Some(path) = uses.strip_prefix("./") else {
            return Err(job_error(format!(
                "only local reusable workflows (./.github/workflows/...) can be run, not '{uses}'"
            )));
        };
        if path.contains('@') {
            return Err(job_error(format!(
                "a local reusable workflow is used without '@ref': '{uses}'"
            )));
        }
        if self.chain.iter().any(|p| p == path) {
            return Err(LowerError::CallCycle {
                path: path.to_owned(),
            });
        }
        if self.chain.len() > MAX_CALL_DEPTH {
            return Err(LowerError::TooDeep {
                path: path.to_owned(),
            });
        }
        let bytes = self
            .source
            .read_workflow(path)
            .map_err(|message| LowerError::ReadCalled {
                file: file.to_owned(),
                job: job_id.to_owned(),
                path: path.to_owned(),
                message,
            })?;
        let (called, diagnostics) = load_workflow(&bytes);
        if let Some(error) = diagnostics.iter().find(|d| d.severity == Severity::Error) {
            return Err(LowerError::CalledInvalid {
                path: path.to_owned(),
                message: format!(
                    "{}:{}: {}",
                    error.span.start.line, error.span.start.col, error.message
                ),
            });
        }
        let trigger = called
            .on
            .as_ref()
            .and_then(|on| on.event("workflow_call"))
            .map(|e| &e.config);
        let declaration = match trigger {
            Some(EventConfig::WorkflowCall(call)) => call.clone(),
            Some(_) => Default::default(),
            None => {
                return Err(LowerError::CalledInvalid {
                    path: path.to_owned(),
                    message: "the workflow is not reusable: it has no 'on: workflow_call' trigger"
                        .to_owned(),
                })
            }
        };
        self.chain.push(path.to_owned());
        let graph = self.graph(&called, path);
        self.chain.pop();
        let graph = graph?;
        Ok(CallJob {
            uses: uses.to_owned(),
            with: job
                .with
                .as_ref()
                .map(|w| {
                    w.entries
                        .iter()
                        .map(|(k, arg)| (k.clone(), model_value_to_json(&arg.value)))
                        .collect()
                })
                .unwrap_or_default(),
            secrets: match &job.secrets {
                Some(JobSecrets::Inherit(_)) => CallSecrets::Inherit,
                Some(JobSecrets::Map(map)) => {
                    CallSecrets::Map(vars(file, "secrets", &Some(map.clone()))?)
                }
                None => CallSecrets::Map(Vec::new()),
            },
            called: Box::new(CalledWorkflow {
                inputs: declaration
                    .inputs
                    .iter()
                    .map(|(name, input)| CallInput {
                        name: name.clone(),
                        input_type: input
                            .type_
                            .as_ref()
                            .map(|t| t.value.clone())
                            .unwrap_or_else(|| "string".into()),
                        required: input.required.as_ref().is_some_and(|r| r.value),
                        default: input.default.as_ref().map(model_value_to_json),
                        options: input
                            .options
                            .as_ref()
                            .map(|o| o.value.iter().map(|s| s.value.clone()).collect())
                            .unwrap_or_default(),
                    })
                    .collect(),
                secrets: declaration
                    .secrets
                    .iter()
                    .map(|(name, secret)| {
                        (
                            name.clone(),
                            secret.required.as_ref().is_some_and(|r| r.value),
                        )
                    })
                    .collect(),
                outputs: declaration
                    .outputs
                    .iter()
                    .map(|(name, output)| {
                        (
                            name.clone(),
                            output
                                .value
                                .as_ref()
                                .map(|v| v.raw.clone())
                                .unwrap_or_default(),
                        )
                    })
                    .collect(),
                graph,
            }),
        })
    }
}

/// Lowers a loaded workflow into a plan. The caller has already refused workflows with error
/// diagnostics and checked the trigger ([`crate::select::select`]).
pub fn lower(
    workflow: &Workflow,
    context: RunContext,
    source: &dyn WorkflowSource,
) -> Result<Plan, LowerError> {
    let file = context.workflow_file.clone();
    let mut lowerer = Lowerer {
        source,
        chain: vec![file.clone()],
    };
    let graph = lowerer.graph(workflow, &file)?;
    let mut contexts = Map::new();
    contexts.insert("github".into(), context.github);
    contexts.insert("inputs".into(), Value::Object(context.inputs));
    contexts.insert("vars".into(), Value::Object(context.vars));
    Ok(Plan {
        workflow_name: workflow
            .name
            .as_ref()
            .map(|n| n.raw.clone())
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| file.clone()),
        run_name: workflow.run_name.as_ref().map(|n| n.raw.clone()),
        run: context.run,
        contexts,
        secrets: context.secrets,
        concurrency: concurrency(&workflow.concurrency),
        graph,
    })
}
