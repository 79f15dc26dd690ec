//! Rules on what jobs and steps call: `action` (the form of `uses:`, local actions' metadata and
//! inputs) and `workflow-call` (local reusable workflows: their inputs, secrets and input types).
//!
//! `uses:` values are read through [`UsesRef::parse`]; `./` and `$/` references are checked
//! alike against the repository.
//!
//! Invariant: files are only read through [`Project`]; a `./` action that does not exist is not
//! an error (it may be checked out by an earlier step), a `$/` action (read from the commit) or
//! a local reusable workflow that does not exist is, or a warning when the repository root is
//! only a guess ([`Project::root_guess`]). Tests: `tests/actionlint.rs`, `check/mod.rs`.

use super::action_majors::MajorStatus;
use super::{quoted_list, str_pos, tstr_pos, Checker, Project};
use crate::load::{load_action, load_workflow};
use crate::model::{
    Action, EventConfig, InputType, Job, JobSecrets, RunsKind, Step, TStr, Value, ValueKind,
    Workflow, WorkflowCall,
};
use crate::uses::{normalize, UsesError, UsesRef};

pub(crate) fn check(cx: &mut Checker<'_>, workflow: &Workflow, project: &dyn Project) {
    for job in workflow.jobs.values() {
        if let Some(uses) = &job.uses {
            check_workflow_call(cx, job, uses, project);
        }
        for step in job.step_list() {
            check_step(cx, step, project);
        }
    }
}

fn check_step(cx: &mut Checker<'_>, step: &Step, project: &dyn Project) {
    if let Some(parallel) = &step.parallel {
        for inner in &parallel.items {
            check_step(cx, inner, project);
        }
    }
    let Some(uses) = &step.uses else { return };
    if !uses.is_literal() || uses.raw.is_empty() {
        return;
    }
    let spec = uses.raw.as_str();
    match UsesRef::parse(spec) {
        Ok(reference @ (UsesRef::Local { .. } | UsesRef::SelfRepo { .. })) => {
            check_local_action(cx, step, uses, reference, project);
        }
        Ok(UsesRef::Remote {
            owner,
            repo,
            path,
            git_ref,
        }) => {
            let action = match path {
                Some(path) => format!("{owner}/{repo}/{path}"),
                None => format!("{owner}/{repo}"),
            };
            check_major(cx, uses, &action, git_ref);
        }
        Ok(UsesRef::Docker { .. }) => {}
        Err(UsesError::EmptyDockerTag) => cx.error(
            "action",
            tstr_pos(uses),
            format!("the Docker image tag in {spec:?} is empty"),
        ),
        Err(problem) => cx.error(
            "action",
            tstr_pos(uses),
            format!("action {spec:?} is not in the form \"owner/repo@ref\", \"owner/repo/path@ref\", \"./path\" or \"$/path\": {problem}"),
        ),
    }
}

fn read_action(project: &dyn Project, dir: &str) -> Option<(Action, Vec<crate::Diagnostic>)> {
    let dir = normalize(dir);
    let prefix = if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    };
    ["action.yml", "action.yaml"]
        .iter()
        .find_map(|file| project.read_file(&format!("{prefix}{file}")))
        .map(|bytes| load_action(&bytes))
}

const RUNNERS: &[&str] = &["composite", "docker", "node20", "node24"];

/// A major of a popular action that GitHub retired (an error) or runs on a deprecated runtime
/// (a warning).
fn check_major(cx: &mut Checker<'_>, uses: &TStr, action: &str, git_ref: &str) {
    let Some(info) = super::action_majors::lookup(action, git_ref) else {
        return;
    };
    let spec = &uses.raw;
    match info.status {
        MajorStatus::Retired => cx.error(
            "action",
            tstr_pos(uses),
            format!(
                "{spec:?} no longer runs as written on GitHub (since {}): {}; update the action's version",
                info.date, info.why
            ),
        ),
        MajorStatus::Deprecated => cx.warning(
            "action",
            tstr_pos(uses),
            format!(
                "{spec:?} is deprecated: {} (removed from GitHub's runners {}); update the action's version",
                info.why, info.date
            ),
        ),
    }
}

/// A `./` or `$/` action. A `./` action that is not there may come from a checkout in an
/// earlier step, so only a `$/` one (read from the commit, GitHub needs no checkout) must exist.
fn check_local_action(
    cx: &mut Checker<'_>,
    step: &Step,
    uses: &TStr,
    reference: UsesRef<'_>,
    project: &dyn Project,
) {
    let path = reference.repo_path().unwrap_or_default();
    let path = path.as_str();
    let shown = uses.raw.as_str();
    let at = tstr_pos(uses);
    let Some((action, diagnostics)) = read_action(project, path) else {
        if matches!(reference, UsesRef::SelfRepo { .. }) {
            not_found(
                cx,
                "action",
                at,
                format!("action {shown:?} does not exist: no action.yml or action.yaml in \"{path}\" of the repository"),
                project,
            );
        }
        return;
    };
    check_metadata(cx, &action, shown, at);
    let display = action
        .name
        .as_ref()
        .map_or_else(|| shown.to_string(), |n| n.raw.clone());
    for diagnostic in &diagnostics {
        let line = diagnostic.span.start.line;
        if diagnostic.is_error() {
            cx.error(
                "action",
                at,
                format!(
                    "the metadata of local action {shown:?} is invalid: line {line}: {}",
                    diagnostic.message
                ),
            );
        } else {
            cx.warning(
                "action",
                at,
                format!(
                    "the metadata of local action {shown:?}: line {line}: {}",
                    diagnostic.message
                ),
            );
        }
    }
    match &action.runs {
        None => cx.error(
            "action",
            at,
            format!("local action {display:?} has no \"runs\""),
        ),
        Some(runs) => match &runs.using {
            None => cx.error(
                "action",
                at,
                format!("local action {display:?} has no \"runs.using\""),
            ),
            Some(using) if !RUNNERS.contains(&using.value.as_str()) => cx.error(
                "action",
                at,
                format!(
                    "local action {display:?} uses runner {:?}; available runners are {}",
                    using.value,
                    quoted_list(RUNNERS.iter().copied())
                ),
            ),
            Some(_) => {}
        },
    }
    check_runs_files(cx, &action, path, &display, at, project);
    let is_docker = matches!(
        action.runs.as_ref().map(|r| &r.kind),
        Some(RunsKind::Docker(_))
    );
    let with = step.with.as_ref();
    if let Some(with) = with {
        for var in with.entries.values() {
            let name = &var.name.value;
            let input = action
                .inputs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v);
            match input {
                None if is_docker && (name == "args" || name == "entrypoint") => {}
                None => cx.error(
                    "action",
                    str_pos(&var.name),
                    format!(
                        "input {name:?} is not defined by action {display:?}; its inputs are {}",
                        quoted_list(action.inputs.keys().map(String::as_str))
                    ),
                ),
                Some(input) => {
                    if input.deprecation_message.is_some() {
                        cx.warning(
                            "action",
                            str_pos(&var.name),
                            format!("input {name:?} of action {display:?} is deprecated"),
                        );
                    }
                }
            }
        }
    }
    for (name, input) in &action.inputs {
        let required = match input.required.as_ref().map(|r| &r.kind) {
            Some(ValueKind::Bool(b)) => *b,
            Some(ValueKind::String(s)) => s.raw == "true",
            _ => false,
        };
        let given = with.is_some_and(|w| w.entries.keys().any(|k| k.eq_ignore_ascii_case(name)));
        if required && input.default.is_none() && !given {
            cx.error(
                "action",
                at,
                format!("input {name:?} is required by action {display:?} but not given"),
            );
        }
    }
}

/// Colors `branding.color` accepts.
const BRANDING_COLORS: &[&str] = &[
    "white",
    "black",
    "yellow",
    "blue",
    "green",
    "orange",
    "red",
    "purple",
    "gray-dark",
];

/// Metadata GitHub requires of an action: name, description, deprecation messages, branding.
fn check_metadata(cx: &mut Checker<'_>, action: &Action, shown: &str, at: crate::Pos) {
    if action.name.is_none() {
        cx.error(
            "action",
            at,
            format!("action {shown:?} has no \"name\" in its metadata"),
        );
    }
    if action.description.is_none() {
        cx.error(
            "action",
            at,
            format!("action {shown:?} has no \"description\" in its metadata"),
        );
    }
    for (name, input) in &action.inputs {
        if input
            .deprecation_message
            .as_ref()
            .is_some_and(|m| m.raw.trim().is_empty())
        {
            cx.error(
                "action",
                at,
                format!("input {name:?} of action {shown:?} has an empty \"deprecationMessage\""),
            );
        }
    }
    if let Some(color) = action.branding.as_ref().and_then(|b| b.color.as_ref()) {
        if !BRANDING_COLORS.contains(&color.value.as_str()) {
            cx.error(
                "action",
                at,
                format!(
                    "branding color {:?} of action {shown:?} is not one of {}",
                    color.value,
                    BRANDING_COLORS.join(", ")
                ),
            );
        }
    }
}

/// `runs:` of a local action: required keys, and files it names that must exist.
fn check_runs_files(
    cx: &mut Checker<'_>,
    action: &Action,
    dir: &str,
    display: &str,
    at: crate::Pos,
    project: &dyn Project,
) {
    let Some(runs) = &action.runs else { return };
    let missing = |cx: &mut Checker<'_>, key: &str, file: Option<&TStr>| {
        let Some(file) = file else { return };
        if !file.is_literal() || file.raw.is_empty() {
            return;
        }
        let path = normalize(&format!("{dir}/{}", file.raw));
        if project.read_file(&path).is_none() {
            cx.error(
                "action",
                at,
                format!(
                    "file {:?} named by \"runs.{key}\" of action {display:?} does not exist",
                    file.raw
                ),
            );
        }
    };
    match &runs.kind {
        RunsKind::Node(node) => {
            if node.main.is_none() {
                cx.error(
                    "action",
                    at,
                    format!("JavaScript action {display:?} has no \"runs.main\""),
                );
            }
            if node.pre_if.is_some() && node.pre.is_none() {
                cx.error(
                    "action",
                    at,
                    format!("action {display:?} has \"pre-if\" without \"pre\""),
                );
            }
            if node.post_if.is_some() && node.post.is_none() {
                cx.error(
                    "action",
                    at,
                    format!("action {display:?} has \"post-if\" without \"post\""),
                );
            }
            missing(cx, "main", node.main.as_ref());
            missing(cx, "pre", node.pre.as_ref());
            missing(cx, "post", node.post.as_ref());
        }
        RunsKind::Docker(docker) => {
            match &docker.image {
                None => cx.error(
                    "action",
                    at,
                    format!("Docker action {display:?} has no \"runs.image\""),
                ),
                Some(image)
                    if image.is_literal()
                        && !image.raw.starts_with("docker://")
                        && !image.raw.contains(':')
                        && !image.raw.split('/').next().unwrap_or("").contains('.') =>
                {
                    let name = image.raw.rsplit('/').next().unwrap_or("");
                    if name != "Dockerfile" {
                        cx.error(
                            "action",
                            at,
                            format!("the local image file {:?} of action {display:?} must be named \"Dockerfile\"", image.raw),
                        );
                    } else {
                        missing(cx, "image", Some(image));
                    }
                }
                Some(_) => {}
            }
            missing(cx, "entrypoint", docker.entrypoint.as_ref());
            missing(cx, "pre-entrypoint", docker.pre_entrypoint.as_ref());
            missing(cx, "post-entrypoint", docker.post_entrypoint.as_ref());
        }
        RunsKind::Composite(_) | RunsKind::Unknown => {}
    }
}

/// Reports a local action or reusable workflow that is not in the repository: an error, or a
/// warning saying why when the repository root is only a guess.
fn not_found(
    cx: &mut Checker<'_>,
    code: &'static str,
    at: crate::Pos,
    message: String,
    project: &dyn Project,
) {
    match project.root_guess() {
        None => cx.error(code, at, message),
        Some(why) => cx.warning(
            code,
            at,
            format!("{message}; the repository root is only a guess ({why})"),
        ),
    }
}

/// The repository path of a literal `./` or `$/` reference.
fn in_repo_path(spec: &str) -> Option<String> {
    if spec.contains("${{") {
        return None;
    }
    UsesRef::parse(spec).ok()?.repo_path()
}

/// Output names of the local action `spec` (`./path` or `$/path`), when it can be read.
pub(crate) fn local_action_outputs(spec: &str, project: &dyn Project) -> Option<Vec<String>> {
    let path = in_repo_path(spec)?;
    let (action, _) = read_action(project, &path)?;
    Some(action.outputs.keys().cloned().collect())
}

/// Loads the local reusable workflow `uses` points to (`./path/to/workflow.yml`).
fn read_called(spec: &str, project: &dyn Project) -> Option<Option<Workflow>> {
    read_called_with_diagnostics(spec, project).map(|loaded| loaded.map(|(w, _)| w))
}

type Loaded = (Workflow, Vec<crate::Diagnostic>);

fn read_called_with_diagnostics(spec: &str, project: &dyn Project) -> Option<Option<Loaded>> {
    let path = in_repo_path(spec)?;
    Some(project.read_file(&path).map(|bytes| load_workflow(&bytes)))
}

fn workflow_call_of(workflow: &Workflow) -> Option<&WorkflowCall> {
    workflow
        .on
        .as_ref()?
        .events
        .iter()
        .find_map(|e| match &e.config {
            EventConfig::WorkflowCall(call) => Some(call),
            _ => None,
        })
}

/// Output names of the local reusable workflow `spec`, when it can be read.
pub(crate) fn called_workflow_outputs(spec: &str, project: &dyn Project) -> Option<Vec<String>> {
    let workflow = read_called(spec, project)??;
    let on = workflow.on.as_ref()?;
    on.event("workflow_call")?;
    Some(
        workflow_call_of(&workflow)
            .map(|c| c.outputs.keys().cloned().collect())
            .unwrap_or_default(),
    )
}

fn check_workflow_call(
    cx: &mut Checker<'_>,
    job: &Job,
    uses: &crate::model::Str,
    project: &dyn Project,
) {
    let spec = uses.value.as_str();
    let at = str_pos(uses);
    if spec.contains("${{") {
        return;
    }
    let valid = match UsesRef::parse(spec) {
        Ok(UsesRef::Remote { path, .. }) => {
            path.is_some_and(|p| p.split('/').any(|c| !c.is_empty()))
        }
        Ok(reference) => reference.is_in_repo(),
        Err(_) => false,
    };
    if !valid {
        cx.error(
            "workflow-call",
            at,
            format!("reusable workflow {spec:?} is not in the form \"owner/repo/path/to/workflow.yml@ref\", \"./path/to/workflow.yml\" or \"$/path/to/workflow.yml\""),
        );
        return;
    }
    let Some(loaded) = read_called_with_diagnostics(spec, project) else {
        return;
    };
    let Some((called, called_diagnostics)) = loaded else {
        not_found(
            cx,
            "workflow-call",
            at,
            format!("reusable workflow file {spec:?} does not exist"),
            project,
        );
        return;
    };
    let Some(on) = &called.on else {
        cx.error(
            "workflow-call",
            at,
            format!("reusable workflow {spec:?} has no \"on:\""),
        );
        return;
    };
    if on.event("workflow_call").is_none() {
        cx.error(
            "workflow-call",
            at,
            format!("{spec:?} is not a reusable workflow: \"on:\" has no \"workflow_call\""),
        );
        return;
    }
    let empty = WorkflowCall::default();
    let call = workflow_call_of(&called).unwrap_or(&empty);
    // A section of `workflow_call` that is not a mapping makes the interface unknown.
    let broken = [
        (call.inputs_span, call.inputs.is_empty()),
        (call.outputs_span, call.outputs.is_empty()),
        (call.secrets_span, call.secrets.is_empty()),
    ]
    .into_iter()
    .filter_map(|(span, empty)| span.filter(|_| empty))
    .any(|span| {
        called_diagnostics
            .iter()
            .any(|d| d.is_error() && d.span.start == span.start)
    });
    if broken {
        cx.error(
            "workflow-call",
            at,
            format!("the \"workflow_call\" trigger of reusable workflow {spec:?} is malformed"),
        );
        return;
    }
    let with = job.with.as_ref();
    if let Some(with) = with {
        for arg in with.entries.values() {
            let name = &arg.name.value;
            let declared = call
                .inputs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v);
            match declared {
                None => cx.error(
                    "workflow-call",
                    str_pos(&arg.name),
                    format!("input {name:?} is not defined by reusable workflow {spec:?}; its inputs are {}", quoted_list(call.inputs.keys().map(String::as_str))),
                ),
                Some(input) => {
                    if let Some(ty) = input.input_type() {
                        check_arg_type(cx, name, spec, ty, &arg.value);
                    }
                }
            }
        }
    }
    for (name, input) in &call.inputs {
        let required = input.required.as_ref().is_some_and(|r| r.value);
        let given = with.is_some_and(|w| w.entries.keys().any(|k| k.eq_ignore_ascii_case(name)));
        if required && !given {
            cx.error(
                "workflow-call",
                at,
                format!("input {name:?} is required by reusable workflow {spec:?}"),
            );
        }
    }
    let secrets = match &job.secrets {
        Some(JobSecrets::Inherit(_)) => return,
        Some(JobSecrets::Map(vars)) => Some(vars),
        None => None,
    };
    if let Some(secrets) = secrets {
        for var in secrets.entries.values() {
            let name = &var.name.value;
            if !call.secrets.keys().any(|k| k.eq_ignore_ascii_case(name)) {
                cx.error(
                    "workflow-call",
                    str_pos(&var.name),
                    format!("secret {name:?} is not defined by reusable workflow {spec:?}; its secrets are {}", quoted_list(call.secrets.keys().map(String::as_str))),
                );
            }
        }
    }
    for (name, secret) in &call.secrets {
        let required = secret.required.as_ref().is_some_and(|r| r.value);
        let given = secrets.is_some_and(|s| s.entries.keys().any(|k| k.eq_ignore_ascii_case(name)));
        if required && !given {
            cx.error(
                "workflow-call",
                at,
                format!("secret {name:?} is required by reusable workflow {spec:?}"),
            );
        }
    }
}

/// The type a `with:` value has, when it is known without evaluating anything.
fn arg_type(cx: &Checker<'_>, value: &Value) -> Option<&'static str> {
    match &value.kind {
        ValueKind::Null => {
            let text = cx
                .source
                .get(value.span.start.offset as usize..value.span.end.offset as usize)
                .unwrap_or("");
            if matches!(text.trim(), "null" | "Null" | "NULL" | "~") {
                Some("null")
            } else {
                Some("string")
            }
        }
        ValueKind::Bool(_) => Some("bool"),
        ValueKind::Number(_) => Some("number"),
        ValueKind::String(s) => match s.as_single_expr().map(|e| &e.kind) {
            Some(gantry_expr::ExprKind::Bool(_)) => Some("bool"),
            Some(gantry_expr::ExprKind::Number(_)) => Some("number"),
            Some(gantry_expr::ExprKind::String(text)) if text.trim().parse::<f64>().is_err() => {
                Some("string")
            }
            Some(gantry_expr::ExprKind::Null) => Some("null"),
            Some(_) => None,
            None if s.raw.contains("${{") => None,
            None if s.raw.trim().parse::<f64>().is_ok() => Some("numeric string"),
            None => Some("string"),
        },
        ValueKind::Seq(_) | ValueKind::Map(_) => Some("object"),
    }
}

fn check_arg_type(cx: &mut Checker<'_>, name: &str, spec: &str, ty: InputType, value: &Value) {
    let Some(actual) = arg_type(cx, value) else {
        return;
    };
    let ok = match ty {
        InputType::Boolean => actual != "object",
        InputType::Number => matches!(actual, "number" | "numeric string"),
        InputType::String | InputType::Choice | InputType::Environment => {
            matches!(actual, "string" | "number" | "numeric string")
        }
    };
    if !ok {
        cx.error(
            "expression",
            value.span.start,
            format!("input {name:?} of reusable workflow {spec:?} has type {ty:?} but a {actual} value is given"),
        );
    }
}
