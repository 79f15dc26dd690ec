//! Rules over `${{ }}` expressions: contexts and special functions not available at the key
//! (`expression`), properties that cannot exist (`expression`), objects interpolated into text
//! (`expression`), always-true or constant conditions (`if-cond`), and untrusted input in
//! `run:` scripts (`script-injection`).
//!
//! Invariant: every expression of the workflow is visited once, with the context types of the
//! place it appears in (the `steps` context grows step by step). Tests: `tests/actionlint.rs`.

use std::sync::Arc;

use gantry_expr::{Expr, ExprKind};

use super::contexts::{is_known_context, is_special_function, keys_allowing_function, WorkflowKey};
use super::types::{self, Obj, Ty};
use super::untrusted::{is_safe_function, untrusted_input, Segment};
use super::{Checker, Project};
use crate::model::{
    Condition, ConditionKind, Container, EventConfig, ExprOr, Input, InputType, Job, Matrix, Step,
    TStr, Value, ValueKind, Vars, Workflow,
};

/// Types of every context at one place of the workflow.
#[derive(Clone)]
struct Scope {
    github: Ty,
    env: Ty,
    vars: Ty,
    secrets: Ty,
    inputs: Ty,
    matrix: Ty,
    needs: Ty,
    strategy: Ty,
    runner: Ty,
    job: Ty,
    jobs: Ty,
    steps: Ty,
}

impl Scope {
    fn get(&self, name: &str) -> Ty {
        match name.to_ascii_lowercase().as_str() {
            "github" => self.github.clone(),
            "env" => self.env.clone(),
            "vars" => self.vars.clone(),
            "secrets" => self.secrets.clone(),
            "inputs" => self.inputs.clone(),
            "matrix" => self.matrix.clone(),
            "needs" => self.needs.clone(),
            "strategy" => self.strategy.clone(),
            "runner" => self.runner.clone(),
            "job" => self.job.clone(),
            "jobs" => self.jobs.clone(),
            "steps" => self.steps.clone(),
            _ => Ty::Any,
        }
    }
}

/// What kind of value a string is, for the interpolation check.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    /// Always a string (scripts, names, `with:` values): objects must not be interpolated.
    Text,
    /// A single `${{ }}` may produce any value here.
    AnyValue,
}

struct ExprRules<'c, 'a> {
    cx: &'c mut Checker<'a>,
    scope: Scope,
    project: &'c dyn Project,
}

fn input_ty(input: &Input) -> Ty {
    match input.input_type() {
        Some(InputType::Boolean) => Ty::Bool,
        Some(InputType::Number) => Ty::Number,
        Some(_) => Ty::String,
        None => Ty::Any,
    }
}

pub(crate) fn check(cx: &mut Checker<'_>, workflow: &Workflow, project: &dyn Project) {
    let mut inputs = Obj::strict(Vec::new());
    let mut event_inputs: Option<Obj> = None;
    let mut secrets: Option<Obj> = None;
    let mut call_outputs: Vec<&crate::model::CallOutput> = Vec::new();
    let mut call_inputs: Vec<&Input> = Vec::new();
    if let Some(on) = &workflow.on {
        for event in &on.events {
            match &event.config {
                EventConfig::WorkflowDispatch(dispatch) => {
                    let mut strings = Obj::strict(Vec::new());
                    for input in dispatch.inputs.values() {
                        inputs.insert(&input.name.value, input_ty(input));
                        strings.insert(&input.name.value, Ty::String);
                    }
                    event_inputs = Some(strings);
                }
                EventConfig::WorkflowCall(call) => {
                    for input in call.inputs.values() {
                        inputs.insert(&input.name.value, input_ty(input));
                        call_inputs.push(input);
                    }
                    if call.secrets_span.is_some() {
                        let mut declared = Obj::strict(Vec::new());
                        declared.insert("github_token", Ty::String);
                        for secret in call.secrets.values() {
                            declared.insert(&secret.name.value, Ty::String);
                        }
                        secrets = Some(declared);
                    }
                    call_outputs.extend(call.outputs.values());
                }
                _ => {}
            }
        }
    }
    let github = match event_inputs {
        Some(event_inputs) => {
            let mut event = Obj::loose(Ty::Any);
            event.insert("inputs", Ty::object(event_inputs));
            types::github_with_event(Ty::object(event))
        }
        None => types::GITHUB.clone(),
    };
    let mut jobs = Obj::strict(Vec::new());
    for job in workflow.jobs.values() {
        jobs.insert(&job.id.value, job_result_ty(job, project));
    }
    let scope = Scope {
        github,
        env: Ty::loose(Ty::Any),
        vars: Ty::loose(Ty::String),
        secrets: secrets.map_or_else(|| Ty::loose(Ty::String), Ty::object),
        inputs: Ty::object(inputs),
        matrix: Ty::object(Obj::strict(Vec::new())),
        needs: Ty::object(Obj::strict(Vec::new())),
        strategy: types::STRATEGY.clone(),
        runner: types::RUNNER.clone(),
        job: types::JOB.clone(),
        jobs: Ty::object(jobs),
        steps: Ty::object(Obj::strict(Vec::new())),
    };
    let mut rules = ExprRules { cx, scope, project };
    rules.tstr_opt(
        workflow.run_name.as_ref(),
        WorkflowKey::RunName,
        Place::Text,
    );
    if let Some(concurrency) = &workflow.concurrency {
        rules.tstr_opt(
            concurrency.group.as_ref(),
            WorkflowKey::Concurrency,
            Place::Text,
        );
    }
    rules.vars(workflow.env.as_ref(), WorkflowKey::Env);
    if let Some(defaults) = workflow.defaults.as_ref().and_then(|d| d.run.as_ref()) {
        rules.tstr_opt(defaults.shell.as_ref(), WorkflowKey::NoContext, Place::Text);
        rules.tstr_opt(
            defaults.working_directory.as_ref(),
            WorkflowKey::NoContext,
            Place::Text,
        );
    }
    // An input's default sees the inputs declared before it.
    let all_inputs = rules.scope.inputs.clone();
    let mut earlier = Obj::strict(Vec::new());
    for input in call_inputs {
        rules.scope.inputs = Ty::object(earlier.clone());
        if let Some(default) = &input.default {
            if let ValueKind::String(s) = &default.kind {
                let ty = rules.tstr(s, WorkflowKey::WorkflowCallInputDefault, Place::AnyValue);
                let expected = input_ty(input);
                let mismatch = matches!(
                    (&expected, &ty),
                    (Ty::Bool, Ty::String | Ty::Number) | (Ty::Number, Ty::String | Ty::Bool)
                );
                if mismatch && s.as_single_expr().is_some() {
                    rules.cx.error(
                        "expression",
                        default.span.start,
                        format!(
                            "the default of input {:?} must be {} but this expression is {}",
                            input.name.value,
                            expected.name(),
                            ty.name()
                        ),
                    );
                }
            }
        }
        earlier.insert(&input.name.value, input_ty(input));
    }
    rules.scope.inputs = all_inputs;
    for output in call_outputs {
        rules.tstr_opt(
            output.value.as_ref(),
            WorkflowKey::WorkflowCallOutputValue,
            Place::AnyValue,
        );
    }
    let base = rules.scope.clone();
    for job in workflow.jobs.values() {
        rules.scope = job_scope(&base, workflow, job, project);
        rules.job(job);
    }
}

/// `needs.<id>` type of `job`: its declared outputs, or those of the local workflow it calls.
fn job_result_ty(job: &Job, project: &dyn Project) -> Ty {
    if let Some(uses) = &job.uses {
        let names = super::rule_calls::called_workflow_outputs(&uses.value, project);
        return types::job_result(names.as_deref());
    }
    let names: Vec<String> = job
        .outputs
        .as_ref()
        .map(|o| o.entries.values().map(|v| v.name.value.clone()).collect())
        .unwrap_or_default();
    if job.outputs.as_ref().is_some_and(|o| o.expr.is_some()) {
        return types::job_result(None);
    }
    types::job_result(Some(&names))
}

fn matrix_ty(matrix: &Matrix, expr_ty: &dyn Fn(&Expr) -> Ty) -> Ty {
    if matrix.expr.is_some() {
        return Ty::loose(Ty::Any);
    }
    let mut obj = Obj::strict(Vec::new());
    for (name, axis) in &matrix.axes {
        obj.insert(name, axis_ty(&axis.values, expr_ty));
    }
    match matrix.include.as_ref().map(|i| &i.rows) {
        Some(ExprOr::Expr(_)) => return Ty::loose(Ty::Any),
        Some(ExprOr::Value(rows)) => {
            for row in rows {
                match &row.kind {
                    ValueKind::Map(entries) => {
                        for (key, value) in entries {
                            let ty = match obj.get(&key.value) {
                                Some(existing) => existing.merge(&value_ty(value, expr_ty)),
                                None => value_ty(value, expr_ty),
                            };
                            obj.insert(&key.value, ty);
                        }
                    }
                    _ => return Ty::loose(Ty::Any),
                }
            }
        }
        None => {}
    }
    if matches!(
        matrix.exclude.as_ref().map(|e| &e.rows),
        Some(ExprOr::Expr(_))
    ) {
        return Ty::loose(Ty::Any);
    }
    Ty::object(obj)
}

fn axis_ty(values: &ExprOr<Vec<Value>>, expr_ty: &dyn Fn(&Expr) -> Ty) -> Ty {
    let ExprOr::Value(values) = values else {
        return Ty::Any;
    };
    values
        .iter()
        .map(|v| value_ty(v, expr_ty))
        .reduce(|a, b| a.merge(&b))
        .unwrap_or(Ty::Any)
}

/// The type of a matrix value as written.
fn value_ty(value: &Value, expr_ty: &dyn Fn(&Expr) -> Ty) -> Ty {
    match &value.kind {
        ValueKind::Null => Ty::Null,
        ValueKind::Bool(_) => Ty::Bool,
        ValueKind::Number(_) => Ty::Number,
        ValueKind::String(s) if s.is_literal() => Ty::String,
        ValueKind::String(s) => s.as_single_expr().map_or(Ty::String, expr_ty),
        ValueKind::Seq(items) => Ty::Array(Arc::new(
            items
                .iter()
                .map(|v| value_ty(v, expr_ty))
                .reduce(|a, b| a.merge(&b))
                .unwrap_or(Ty::Any),
        )),
        ValueKind::Map(entries) => Ty::object(Obj::strict(
            entries
                .iter()
                .map(|(k, v)| (k.value.clone(), value_ty(v, expr_ty)))
                .collect(),
        )),
    }
}

fn job_scope(base: &Scope, workflow: &Workflow, job: &Job, project: &dyn Project) -> Scope {
    let mut scope = base.clone();
    if let Some(matrix) = job.strategy.as_ref().and_then(|s| s.matrix.as_ref()) {
        let env = TypeEnv(base);
        scope.matrix = matrix_ty(matrix, &|expr| env.infer(expr, &mut Vec::new()));
    }
    let mut needs = Obj::strict(Vec::new());
    for need in job.needs.iter().flat_map(|n| n.items.iter()) {
        if let Some(other) = workflow
            .jobs
            .values()
            .find(|j| j.id.value.eq_ignore_ascii_case(&need.value))
        {
            needs.insert(&other.id.value, job_result_ty(other, project));
        }
    }
    scope.needs = Ty::object(needs);
    scope
}

impl ExprRules<'_, '_> {
    fn job(&mut self, job: &Job) {
        use WorkflowKey::*;
        self.tstr_opt(job.name.as_ref(), JobName, Place::Text);
        if let Some(cond) = &job.if_ {
            self.condition(cond, JobIf);
        }
        if let Some(runs_on) = &job.runs_on {
            for label in &runs_on.labels {
                let ty = self.tstr(label, JobRunsOn, Place::AnyValue);
                if matches!(ty, Ty::Object(_) | Ty::Null) {
                    self.cx.error(
                        "expression",
                        label.span.start,
                        format!("runs-on must be a string or an array of strings but this expression gives {}", ty.name()),
                    );
                }
            }
            self.tstr_opt(runs_on.group.as_ref(), JobRunsOn, Place::Text);
        }
        if let Some(env) = &job.environment {
            self.tstr_opt(env.name.as_ref(), JobEnvironment, Place::Text);
        }
        if let Some(concurrency) = &job.concurrency {
            self.tstr_opt(concurrency.group.as_ref(), JobConcurrency, Place::Text);
            self.expr_or(
                concurrency.cancel_in_progress.as_ref().map(|s| &s.value),
                JobConcurrency,
            );
        }
        self.vars(job.env.as_ref(), JobEnv);
        if let Some(defaults) = job.defaults.as_ref().and_then(|d| d.run.as_ref()) {
            self.tstr_opt(defaults.shell.as_ref(), JobDefaultsRun, Place::Text);
            self.tstr_opt(
                defaults.working_directory.as_ref(),
                JobDefaultsRun,
                Place::Text,
            );
        }
        self.expr_or(
            job.timeout_minutes.as_ref().map(|s| &s.value),
            JobTimeoutMinutes,
        );
        self.expr_or(
            job.continue_on_error.as_ref().map(|s| &s.value),
            JobContinueOnError,
        );
        if let Some(strategy) = &job.strategy {
            self.expr_or(strategy.fail_fast.as_ref().map(|s| &s.value), JobStrategy);
            self.expr_or(
                strategy.max_parallel.as_ref().map(|s| &s.value),
                JobStrategy,
            );
            if let Some(matrix) = &strategy.matrix {
                self.tstr_opt(matrix.expr.as_ref(), JobStrategy, Place::AnyValue);
                for axis in matrix.axes.values() {
                    match &axis.values {
                        ExprOr::Expr(e) => {
                            self.tstr(e, JobStrategy, Place::AnyValue);
                        }
                        ExprOr::Value(values) => {
                            values.iter().for_each(|v| self.value(v, JobStrategy))
                        }
                    }
                }
                for rows in [&matrix.include, &matrix.exclude].into_iter().flatten() {
                    match &rows.rows {
                        ExprOr::Expr(e) => {
                            self.tstr(e, JobStrategy, Place::AnyValue);
                        }
                        ExprOr::Value(values) => {
                            values.iter().for_each(|v| self.value(v, JobStrategy))
                        }
                    }
                }
            }
        }
        if let Some(container) = &job.container {
            self.container(
                container,
                JobContainer,
                JobContainerImage,
                JobContainerCredentials,
                JobContainerEnv,
            );
        }
        if let Some(services) = &job.services {
            if let Some(expr) = &services.expr {
                self.object_expr(expr, JobServices, "services");
            }
            for service in services.entries.values() {
                self.container(
                    &service.container,
                    JobServices,
                    JobServices,
                    JobServiceCredentials,
                    JobServiceEnv,
                );
            }
        }
        if let Some(snapshot) = &job.snapshot {
            self.tstr_opt(snapshot.image_name.as_ref(), Unrestricted, Place::Text);
            self.tstr_opt(snapshot.version.as_ref(), Unrestricted, Place::Text);
            if let Some(cond) = &snapshot.if_ {
                self.condition(cond, JobIf);
            }
        }
        if let Some(with) = &job.with {
            for arg in with.entries.values() {
                self.value(&arg.value, JobWith);
            }
        }
        if let Some(crate::model::JobSecrets::Map(secrets)) = &job.secrets {
            self.vars(Some(secrets), JobSecrets);
        }
        // Steps see the steps before them; job outputs see them all.
        let mut steps = Obj::strict(Vec::new());
        self.steps(job.step_list(), &mut steps);
        self.scope.steps = Ty::object(steps);
        self.vars(job.outputs.as_ref(), JobOutputs);
        if let Some(env) = &job.environment {
            self.tstr_opt(env.url.as_ref(), JobEnvironmentUrl, Place::Text);
        }
    }

    fn container(
        &mut self,
        container: &Container,
        key: WorkflowKey,
        image_key: WorkflowKey,
        credentials_key: WorkflowKey,
        env_key: WorkflowKey,
    ) {
        self.tstr_opt(container.image.as_ref(), image_key, Place::Text);
        if let Some(credentials) = &container.credentials {
            if let Some(expr) = &credentials.expr {
                self.object_expr(expr, credentials_key, "credentials");
            }
            self.tstr_opt(credentials.username.as_ref(), credentials_key, Place::Text);
            self.tstr_opt(credentials.password.as_ref(), credentials_key, Place::Text);
        }
        self.vars(container.env.as_ref(), env_key);
        for list in [&container.ports, &container.volumes].into_iter().flatten() {
            for item in &list.value {
                self.tstr(item, key, Place::Text);
            }
        }
        self.tstr_opt(container.options.as_ref(), key, Place::Text);
        self.tstr_opt(container.entrypoint.as_ref(), key, Place::Text);
        self.tstr_opt(container.command.as_ref(), key, Place::Text);
    }

    fn step(&mut self, step: &Step) {
        use WorkflowKey::*;
        if let Some(id) = &step.id {
            self.key_name(id, NoContext);
        }
        self.tstr_opt(step.name.as_ref(), StepName, Place::Text);
        if let Some(cond) = &step.if_ {
            self.condition(cond, StepIf);
        }
        if let Some(run) = &step.run {
            self.tstr(run, StepRun, Place::Text);
            self.untrusted(run);
        }
        self.tstr_opt(step.shell.as_ref(), NoContext, Place::Text);
        self.vars(step.with.as_ref(), StepWith);
        let is_github_script = step.uses.as_ref().is_some_and(|u| {
            u.raw
                .to_ascii_lowercase()
                .starts_with("actions/github-script@")
        });
        if is_github_script {
            if let Some(script) = step.with.as_ref().and_then(|w| w.entries.get("script")) {
                self.untrusted(&script.value);
            }
        }
        self.vars(step.env.as_ref(), StepEnv);
        self.expr_or(
            step.continue_on_error.as_ref().map(|s| &s.value),
            StepContinueOnError,
        );
        self.expr_or(
            step.timeout_minutes.as_ref().map(|s| &s.value),
            StepTimeoutMinutes,
        );
        self.tstr_opt(
            step.working_directory.as_ref(),
            StepWorkingDirectory,
            Place::Text,
        );
    }

    /// Checks `items` in order, each seeing the steps before it, and adds their ids to `steps`.
    /// The steps of a `parallel:` group see the steps before the group and are seen by those
    /// after it, as GitHub does; inside the group a step also sees its earlier siblings (their
    /// `steps.<id>` is defined, if not yet set).
    fn steps(&mut self, items: &[Step], steps: &mut Obj) {
        for step in items {
            self.scope.steps = Ty::object(steps.clone());
            self.step(step);
            if let Some(parallel) = &step.parallel {
                self.steps(&parallel.items, steps);
            }
            let Some(id) = &step.id else { continue };
            if id.value.contains("${{") {
                continue;
            }
            let outputs = step
                .uses
                .as_ref()
                .filter(|u| u.is_literal())
                .and_then(|u| super::rule_calls::local_action_outputs(&u.raw, self.project));
            let ty = match outputs {
                Some(names) => types::step_with_outputs(&names),
                None => types::STEP.clone(),
            };
            steps.insert(&id.value, ty);
        }
    }

    fn vars(&mut self, vars: Option<&Vars>, key: WorkflowKey) {
        let Some(vars) = vars else { return };
        if let Some(expr) = &vars.expr {
            let ty = self.tstr(expr, key, Place::AnyValue);
            if matches!(
                ty,
                Ty::String | Ty::Number | Ty::Bool | Ty::Null | Ty::Array(_)
            ) {
                self.cx.error(
                    "expression",
                    expr.span.start,
                    format!("this expression must give an object (a mapping of names to values) but gives {}", ty.name()),
                );
            }
        }
        for var in vars.entries.values() {
            self.key_name(&var.name, key);
            self.tstr(&var.value, key, Place::Text);
        }
    }

    /// A whole-value `${{ }}` where a mapping is expected (`services:`, `credentials:`): its
    /// type must be an object; only a type that certainly is not one is reported, never `any`.
    fn object_expr(&mut self, s: &TStr, key: WorkflowKey, what: &str) {
        let ty = self.tstr(s, key, Place::AnyValue);
        // An expression that does not parse has been reported already; its type says nothing.
        if s.as_single_expr().is_some() && !matches!(ty, Ty::Object(_) | Ty::Any) {
            self.cx.error(
                "expression",
                s.span.start,
                format!(
                    "type of expression at {what:?} must be object but found type {}",
                    ty.name()
                ),
            );
        }
    }

    fn value(&mut self, value: &Value, key: WorkflowKey) {
        match &value.kind {
            ValueKind::String(s) => {
                self.tstr(s, key, Place::AnyValue);
            }
            ValueKind::Seq(items) => items.iter().for_each(|v| self.value(v, key)),
            ValueKind::Map(entries) => entries.iter().for_each(|(_, v)| self.value(v, key)),
            _ => {}
        }
    }

    fn expr_or<T>(&mut self, value: Option<&ExprOr<T>>, key: WorkflowKey) {
        if let Some(ExprOr::Expr(s)) = value {
            self.tstr(s, key, Place::AnyValue);
        }
    }

    fn tstr_opt(&mut self, s: Option<&TStr>, key: WorkflowKey, place: Place) {
        if let Some(s) = s {
            self.tstr(s, key, place);
        }
    }

    /// Expressions in mapping keys (`env: { ${{ x }}: value }`).
    fn key_name(&mut self, name: &crate::model::Str, key: WorkflowKey) {
        if !name.value.contains("${{") {
            return;
        }
        let Ok(template) = gantry_expr::parse_template(&name.value) else {
            return;
        };
        let quoted = self.cx.is_quoted(name.span.start);
        let s = TStr {
            raw: name.value.clone(),
            span: name.span,
            style: if quoted {
                crate::yaml::ScalarStyle::SingleQuoted
            } else {
                crate::yaml::ScalarStyle::Plain
            },
            scalar: crate::model::ScalarKind::String,
            template: crate::model::TemplateState::Parsed(template),
        };
        self.tstr(&s, key, Place::Text);
    }

    /// Checks the expressions of `s`; returns the type of the value when it is one expression.
    fn tstr(&mut self, s: &TStr, key: WorkflowKey, place: Place) -> Ty {
        let Some(template) = s.parsed() else {
            return Ty::String;
        };
        let single = template.as_single_expr().is_some();
        let mut result = Ty::String;
        for (expr, part) in s.expressions() {
            let ty = self.expr(s, 0, expr, key);
            if single {
                result = ty.clone();
            }
            if (place == Place::Text || !single)
                && matches!(ty, Ty::Object(_) | Ty::Array(_) | Ty::Null)
            {
                let pos = s.pos_at(self.cx.source, part.start as usize);
                self.cx.error(
                    "expression",
                    pos,
                    format!("this expression is {} ({}): interpolating it into text gives \"Object\", \"Array\" or \"\"; use toJSON()", ty.name(), describe(&ty)),
                );
            }
        }
        result
    }

    fn condition(&mut self, cond: &Condition, key: WorkflowKey) {
        let text = &cond.text;
        let at = self.cx.node_start(text.span.start);
        // `${{ x }}` with anything around it, even a newline, is a string: always true.
        let raw = text.raw.as_str();
        let template = matches!(cond.kind, ConditionKind::Template)
            || (raw.contains("${{") && !(raw.starts_with("${{") && raw.ends_with("}}")));
        match &cond.kind {
            _ if template => {
                self.cx.error(
                    "if-cond",
                    at,
                    format!("condition {:?} mixes text with ${{{{ }}}}, so it is a non-empty string and always true", text.raw),
                );
                self.tstr(text, key, Place::AnyValue);
            }
            ConditionKind::Expression {
                expr: Some(expr), ..
            } => {
                self.expr(text, cond.expr_offset(), expr, key);
                if is_constant(expr) {
                    let source = match &cond.kind {
                        ConditionKind::Expression { source, .. } => {
                            text.raw.get(source.clone()).unwrap_or("")
                        }
                        ConditionKind::Template => "",
                    };
                    self.cx.warning(
                        "if-cond",
                        at,
                        format!(
                            "condition {:?} is a constant; remove the \"if:\"",
                            source.trim()
                        ),
                    );
                }
            }
            _ => {}
        }
    }

    /// Checks one expression whose spans are relative to byte `base` of `s.raw`; returns its type.
    fn expr(&mut self, s: &TStr, base: usize, expr: &Expr, key: WorkflowKey) -> Ty {
        let availability = key.availability();
        let source = self.cx.source;
        let mut errors: Vec<Finding> = Vec::new();
        expr.walk(&mut |node| match &node.kind {
            ExprKind::NamedValue(name) => {
                if !is_known_context(name) {
                    errors.push(Finding::error(
                        node.span.start as usize,
                        format!("undefined context {name:?}"),
                    ));
                } else if !availability.contexts.contains(name) {
                    let allowed: Vec<&str> = availability.contexts.names().collect();
                    errors.push(Finding::error(
                        node.span.start as usize,
                        format!(
                            "context {name:?} is not available here; available: {}",
                            allowed.join(", ")
                        ),
                    ));
                }
            }
            ExprKind::Call { name, .. }
                if is_special_function(name) && !availability.functions.contains(name) =>
            {
                errors.push(Finding::error(
                    node.span.start as usize,
                    format!(
                        "function {name:?} is not available here; only in {}",
                        keys_allowing_function(name).join(", ")
                    ),
                ));
            }
            _ => {}
        });
        let ty = self.infer(expr, &mut errors);
        for finding in errors {
            let pos = s.pos_at(source, base + finding.offset);
            if finding.warning {
                self.cx.warning("expression", pos, finding.message);
            } else {
                self.cx.error("expression", pos, finding.message);
            }
        }
        ty
    }

    fn infer(&self, expr: &Expr, errors: &mut Vec<Finding>) -> Ty {
        TypeEnv(&self.scope).infer(expr, errors)
    }

    /// Script injection: untrusted `github` properties interpolated into a script.
    fn untrusted(&mut self, s: &TStr) {
        let mut found: Vec<(usize, &'static str)> = Vec::new();
        for (expr, _) in s.expressions() {
            find_untrusted(expr, false, &mut found);
        }
        for (offset, input) in found {
            let pos = s.pos_at(self.cx.source, offset);
            self.cx.warning(
                "script-injection",
                pos,
                format!("{input:?} may be controlled by an attacker; pass it to the script through an environment variable instead of ${{{{ }}}}"),
            );
        }
    }
}

/// What is wrong with `format(text, <n_args arguments>)`: a placeholder without argument, or an
/// argument no placeholder uses.
fn format_problem(text: &str, n_args: usize) -> Option<String> {
    let mut used = vec![false; n_args];
    let mut chars = text.chars().peekable();
    let mut highest: Option<usize> = None;
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
            }
            '{' => {
                let mut digits = String::new();
                while let Some(&d) = chars.peek() {
                    if !d.is_ascii_digit() {
                        break;
                    }
                    digits.push(d);
                    chars.next();
                }
                if chars.peek() == Some(&'}') {
                    if let Ok(i) = digits.parse::<usize>() {
                        highest = Some(highest.map_or(i, |h| h.max(i)));
                        if let Some(slot) = used.get_mut(i) {
                            *slot = true;
                        }
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(h) = highest.filter(|&h| h >= n_args) {
        return Some(format!(
            "format string {text:?} uses {{{h}}} but only {n_args} arguments are given"
        ));
    }
    used.iter()
        .position(|u| !u)
        .map(|i| format!("format string {text:?} does not use argument {{{i}}}"))
}

/// Why comparing values of these types makes no sense (objects and arrays only equal
/// themselves or null; ordering needs numbers or strings), if it does not.
fn compare_problem(op: gantry_expr::CompareOp, left: &Ty, right: &Ty) -> Option<String> {
    use gantry_expr::CompareOp::{Equal, NotEqual};
    let structured = |t: &Ty| matches!(t, Ty::Object(_) | Ty::Array(_));
    let bad = if matches!(op, Equal | NotEqual) {
        match (left, right) {
            (Ty::Array(a), Ty::Array(b)) => {
                !matches!(**a, Ty::Any) && !matches!(**b, Ty::Any) && a.name() != b.name()
            }
            (Ty::Object(_), Ty::Object(_)) => false,
            (Ty::Null | Ty::Any, _) | (_, Ty::Null | Ty::Any) => false,
            (l, r) => structured(l) || structured(r),
        }
    } else {
        let orderable = |t: &Ty| matches!(t, Ty::Number | Ty::String | Ty::Any);
        !orderable(left) || !orderable(right)
    };
    bad.then(|| {
        format!(
            "comparing a {} value with a {} value this way is always false or meaningless",
            left.name(),
            right.name()
        )
    })
}

/// Type inference over the contexts of one place.
struct TypeEnv<'s>(&'s Scope);

impl TypeEnv<'_> {
    fn infer(&self, expr: &Expr, errors: &mut Vec<Finding>) -> Ty {
        match &expr.kind {
            ExprKind::Null => Ty::Null,
            ExprKind::Bool(_) => Ty::Bool,
            ExprKind::Number(_) => Ty::Number,
            ExprKind::String(_) => Ty::String,
            ExprKind::NamedValue(name) => self.0.get(name),
            ExprKind::Property(object, name) => {
                let receiver = self.infer(object, errors);
                property(&receiver, name, expr, errors)
            }
            ExprKind::Index(object, index) => {
                let receiver = self.infer(object, errors);
                let index_ty = self.infer(index, errors);
                match (&index.kind, &receiver) {
                    (ExprKind::String(name), _) => property(&receiver, name, expr, errors),
                    (_, Ty::Array(elem)) => {
                        if index_ty == Ty::String {
                            errors.push(Finding::error(
                                index.span.start as usize,
                                "an array index must be a number but this is a string".to_string(),
                            ));
                        }
                        (**elem).clone()
                    }
                    (_, Ty::Object(obj)) => {
                        if matches!(index_ty, Ty::Bool | Ty::Number) {
                            errors.push(Finding::error(
                                index.span.start as usize,
                                format!(
                                    "an object key must be a string but this is a {}",
                                    index_ty.name()
                                ),
                            ));
                        }
                        obj.rest.clone().unwrap_or(Ty::Any)
                    }
                    _ => Ty::Any,
                }
            }
            ExprKind::Star(object) => match self.infer(object, errors) {
                Ty::Array(elem) => Ty::Array(elem),
                Ty::Object(obj) => {
                    let elem = obj
                        .props
                        .iter()
                        .map(|(_, t)| t.clone())
                        .chain(obj.rest.clone())
                        .reduce(|a, b| a.merge(&b))
                        .unwrap_or(Ty::Any);
                    Ty::Array(Arc::new(elem))
                }
                _ => Ty::Array(Arc::new(Ty::Any)),
            },
            ExprKind::Not(inner) => {
                self.infer(inner, errors);
                Ty::Bool
            }
            ExprKind::Compare(op, a, b) => {
                let left = self.infer(a, errors);
                let right = self.infer(b, errors);
                if let Some(problem) = compare_problem(*op, &left, &right) {
                    errors.push(Finding::error(expr.span.start as usize, problem));
                }
                Ty::Bool
            }
            ExprKind::And(items) | ExprKind::Or(items) => items
                .iter()
                .map(|e| self.infer(e, errors))
                .reduce(|a, b| a.merge(&b))
                .unwrap_or(Ty::Any),
            ExprKind::Call { name, args } => {
                for arg in args {
                    self.infer(arg, errors);
                }
                let literal = args.first().and_then(|a| match &a.kind {
                    ExprKind::String(text) => Some((a, text)),
                    _ => None,
                });
                if name.eq_ignore_ascii_case("fromjson") {
                    if let Some((arg, _)) = literal {
                        let contexts = gantry_expr::Map::new();
                        return match gantry_expr::evaluate(expr, &contexts, &gantry_expr::NoHost) {
                            Ok(value) => types::of_value(&value),
                            Err(e) => {
                                errors.push(Finding::error(
                                    arg.span.start as usize,
                                    format!(
                                        "fromJSON() is given a string that is not JSON: {}",
                                        e.message
                                    ),
                                ));
                                Ty::Any
                            }
                        };
                    }
                }
                if name.eq_ignore_ascii_case("contains") {
                    if let Some(first) = args.first() {
                        if let ty @ Ty::Object(_) = self.infer(first, &mut Vec::new()) {
                            errors.push(Finding::error(
                                first.span.start as usize,
                                format!("contains() searches a string or an array but this argument is {}", ty.name()),
                            ));
                        }
                    }
                }
                if name.eq_ignore_ascii_case("startswith") || name.eq_ignore_ascii_case("endswith")
                {
                    for arg in args {
                        let ty = self.infer(arg, &mut Vec::new());
                        if matches!(ty, Ty::Object(_) | Ty::Array(_)) {
                            errors.push(Finding::error(
                                arg.span.start as usize,
                                format!(
                                    "{name}() compares strings but this argument is {}",
                                    ty.name()
                                ),
                            ));
                        }
                    }
                }
                if name.eq_ignore_ascii_case("format") {
                    if let Some((_, text)) = literal {
                        if let Some(problem) = format_problem(text, args.len() - 1) {
                            errors.push(Finding::error(expr.span.start as usize, problem));
                        }
                    }
                }
                types::function_return(name)
            }
        }
    }
}

fn describe(ty: &Ty) -> String {
    match ty {
        Ty::Object(obj) if obj.is_strict() => obj.describe(),
        Ty::Array(elem) => format!("array of {}", elem.name()),
        other => other.name().to_string(),
    }
}

/// A problem found in one expression, at a byte offset of its text.
struct Finding {
    offset: usize,
    message: String,
    warning: bool,
}

impl Finding {
    fn error(offset: usize, message: String) -> Finding {
        Finding {
            offset,
            message,
            warning: false,
        }
    }
}

/// Whether `expr` reads a property of a matrix value (`matrix.<key>.<property>…`): a matrix
/// value may hold the property in some combinations only, and where it does not GitHub gives
/// null, so a missing one is a warning. A missing matrix key (`matrix.<key>`) stays an error.
fn is_matrix_value_property(expr: &Expr) -> bool {
    let mut depth = 0;
    let mut node = expr;
    loop {
        match &node.kind {
            ExprKind::Property(object, _) | ExprKind::Index(object, _) => {
                depth += 1;
                node = object;
            }
            ExprKind::NamedValue(name) => return depth >= 2 && name.eq_ignore_ascii_case("matrix"),
            _ => return false,
        }
    }
}

fn property(receiver: &Ty, name: &str, expr: &Expr, errors: &mut Vec<Finding>) -> Ty {
    let finding = |message: String| Finding {
        offset: expr.span.start as usize,
        warning: is_matrix_value_property(expr),
        message,
    };
    match receiver {
        Ty::Object(obj) => match obj.get(name) {
            Some(ty) => ty.clone(),
            None => match &obj.rest {
                Some(rest) => rest.clone(),
                None => {
                    errors.push(finding(format!(
                        "property {name:?} does not exist in {}",
                        obj.describe()
                    )));
                    Ty::Any
                }
            },
        },
        Ty::Array(elem) => Ty::Array(Arc::new(property(elem, name, expr, errors))),
        Ty::String | Ty::Number | Ty::Bool => {
            errors.push(finding(format!(
                "property {name:?} is read from a {}, which has no properties",
                receiver.name()
            )));
            Ty::Any
        }
        Ty::Any | Ty::Null => Ty::Any,
    }
}

/// Whether a condition does not depend on anything: no context and no status function.
fn is_constant(expr: &Expr) -> bool {
    let mut constant = true;
    expr.walk(&mut |node| match &node.kind {
        ExprKind::NamedValue(_) => constant = false,
        ExprKind::Call { name, .. } if is_special_function(name) => constant = false,
        _ => {}
    });
    constant
}

/// The access path of `expr` when it is a chain of property/index/filter steps on a context.
fn access_path<'e>(expr: &'e Expr, path: &mut Vec<Segment<'e>>) -> bool {
    match &expr.kind {
        ExprKind::NamedValue(name) => {
            path.push(Segment::Name(name));
            true
        }
        ExprKind::Property(object, name) => {
            let ok = access_path(object, path);
            path.push(Segment::Name(name));
            ok
        }
        ExprKind::Index(object, index) => {
            let ok = access_path(object, path);
            path.push(match &index.kind {
                ExprKind::String(name) => Segment::Name(name),
                _ => Segment::Element,
            });
            ok
        }
        ExprKind::Star(object) => {
            let ok = access_path(object, path);
            path.push(Segment::Element);
            ok
        }
        _ => false,
    }
}

fn find_untrusted(expr: &Expr, in_safe_call: bool, found: &mut Vec<(usize, &'static str)>) {
    match &expr.kind {
        ExprKind::Property(..)
        | ExprKind::Index(..)
        | ExprKind::Star(..)
        | ExprKind::NamedValue(_) => {
            let mut path = Vec::new();
            if access_path(expr, &mut path) && !in_safe_call {
                if let Some(input) = untrusted_input(&path) {
                    found.push((expr.span.start as usize, input));
                }
            }
            // Non-literal indexes are expressions of their own.
            let mut node = expr;
            loop {
                match &node.kind {
                    ExprKind::Property(object, _) | ExprKind::Star(object) => node = object,
                    ExprKind::Index(object, index) => {
                        if !matches!(index.kind, ExprKind::String(_)) {
                            find_untrusted(index, in_safe_call, found);
                        }
                        node = object;
                    }
                    ExprKind::NamedValue(_) => break,
                    _ => {
                        find_untrusted(node, in_safe_call, found);
                        break;
                    }
                }
            }
        }
        ExprKind::Call { name, args } => {
            let safe = in_safe_call || is_safe_function(name);
            for arg in args {
                find_untrusted(arg, safe, found);
            }
        }
        ExprKind::Not(inner) => find_untrusted(inner, in_safe_call, found),
        ExprKind::Compare(_, a, b) => {
            find_untrusted(a, in_safe_call, found);
            find_untrusted(b, in_safe_call, found);
        }
        ExprKind::And(items) | ExprKind::Or(items) => {
            for item in items {
                find_untrusted(item, in_safe_call, found);
            }
        }
        ExprKind::Null | ExprKind::Bool(_) | ExprKind::Number(_) | ExprKind::String(_) => {}
    }
}
