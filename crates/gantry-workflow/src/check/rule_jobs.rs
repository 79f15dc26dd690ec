//! Job-level rules: `job-needs` (unknown, duplicate, cyclic), `matrix` (duplicate values,
//! `exclude` rows that match nothing), `runner-label`, `permissions`, `credentials`, `env-var`,
//! `shell-name`, `deprecated-commands`, `id` (`wait:` / `cancel:` targets).
//!
//! Invariant: job ids, `needs:`, matrix keys and runner labels compare case-insensitively, as
//! GitHub does. Tests:
//! `tests/actionlint.rs`.

use std::collections::HashMap;

use super::permissions::{scope_names, scope_values, ALL_SCOPES_VALUES};
use super::runner_labels;
use super::{quoted_list, str_pos, tstr_pos, Checker};
use crate::model::ExprOr;
use crate::model::{
    Container, Job, Matrix, Permissions, PermissionsKind, Step, TStr, Value, ValueKind, Vars,
    Workflow,
};

pub(crate) fn check(cx: &mut Checker<'_>, workflow: &Workflow) {
    check_needs(cx, workflow);
    if let Some(permissions) = &workflow.permissions {
        check_permissions(cx, permissions);
    }
    if let Some(env) = &workflow.env {
        check_env_names(cx, env);
    }
    if let Some(shell) = workflow
        .defaults
        .as_ref()
        .and_then(|d| d.run.as_ref())
        .and_then(|r| r.shell.as_ref())
    {
        check_shell(cx, shell, Platform::Unknown);
    }
    for job in workflow.jobs.values() {
        check_job(cx, job);
    }
}

fn check_job(cx: &mut Checker<'_>, job: &Job) {
    if let Some(permissions) = &job.permissions {
        check_permissions(cx, permissions);
    }
    if let Some(env) = &job.env {
        check_env_names(cx, env);
    }
    let matrix = job.strategy.as_ref().and_then(|s| s.matrix.as_ref());
    if let Some(matrix) = matrix {
        check_matrix(cx, matrix);
    }
    let platform = check_runs_on(cx, job, matrix);
    if let Some(container) = &job.container {
        check_container(cx, container, "the job container");
    }
    if let Some(services) = &job.services {
        for (name, service) in &services.entries {
            check_container(cx, &service.container, &format!("service {name:?}"));
        }
    }
    if let Some(shell) = job
        .defaults
        .as_ref()
        .and_then(|d| d.run.as_ref())
        .and_then(|r| r.shell.as_ref())
    {
        check_shell(cx, shell, platform);
    }
    for step in job.step_list() {
        check_step(cx, step, platform);
    }
    check_step_targets(cx, job.step_list(), &mut Vec::new());
}

/// `wait:` and `cancel:` name steps by id: each must be a step before it in the job (a
/// background step, or one of a `parallel:` group). Step ids compare case-insensitively.
/// `earlier` collects the ids seen so far, lowercased.
fn check_step_targets(cx: &mut Checker<'_>, steps: &[Step], earlier: &mut Vec<String>) {
    for step in steps {
        let targets = step
            .wait
            .iter()
            .flat_map(|w| w.items.iter().map(|id| ("wait", id)))
            .chain(step.cancel.iter().map(|id| ("cancel", id)));
        for (key, target) in targets {
            let name = target.value.as_str();
            if name.contains("${{") || earlier.contains(&name.to_ascii_lowercase()) {
                continue;
            }
            cx.error(
                "id",
                str_pos(target),
                format!("\"{key}: {name}\" names no step before it; \"{key}\" takes the id of an earlier step of the job"),
            );
        }
        if let Some(parallel) = &step.parallel {
            check_step_targets(cx, &parallel.items, earlier);
        }
        if let Some(id) = &step.id {
            earlier.push(id.value.to_ascii_lowercase());
        }
    }
}

fn check_step(cx: &mut Checker<'_>, step: &Step, platform: Platform) {
    if let Some(env) = &step.env {
        check_env_names(cx, env);
    }
    if let Some(shell) = &step.shell {
        check_shell(cx, shell, platform);
    }
    if let Some(run) = &step.run {
        check_deprecated_commands(cx, run);
    }
    if let Some(parallel) = &step.parallel {
        for inner in &parallel.items {
            check_step(cx, inner, platform);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// needs

fn check_needs(cx: &mut Checker<'_>, workflow: &Workflow) {
    let index: HashMap<String, usize> = workflow
        .jobs
        .keys()
        .enumerate()
        .map(|(i, id)| (id.to_ascii_lowercase(), i))
        .collect();
    let mut edges: Vec<Vec<usize>> = vec![Vec::new(); workflow.jobs.len()];
    for (i, job) in workflow.jobs.values().enumerate() {
        let Some(needs) = &job.needs else { continue };
        for (k, need) in needs.items.iter().enumerate() {
            let lower = need.value.to_ascii_lowercase();
            if needs.items[..k]
                .iter()
                .any(|n| n.value.eq_ignore_ascii_case(&need.value))
            {
                cx.error(
                    "job-needs",
                    str_pos(need),
                    format!(
                        "job {:?} is listed twice in \"needs\" (job ids are case-insensitive)",
                        need.value
                    ),
                );
                continue;
            }
            match index.get(&lower) {
                // i enumerates the jobs and `edges` has one entry per job.
                Some(&j) => edges[i].push(j),
                None if !need.value.is_empty() => cx.error(
                    "job-needs",
                    str_pos(&job.id),
                    format!(
                        "job {:?} needs job {:?}, which does not exist in this workflow",
                        job.id.value, need.value
                    ),
                ),
                None => {}
            }
        }
    }
    if let Some(cycle) = find_cycle(&edges) {
        let ids: Vec<&String> = workflow.jobs.keys().collect();
        let Some(first) = cycle.first().and_then(|&i| workflow.jobs.get_index(i)) else {
            return;
        };
        let path: Vec<String> = cycle
            .iter()
            .chain(cycle.first())
            .filter_map(|&i| ids.get(i))
            .map(|id| format!("{id:?}"))
            .collect();
        cx.error(
            "job-needs",
            str_pos(&first.1.id),
            format!("\"needs\" has a cycle: {}", path.join(" -> ")),
        );
    }
}

/// The first cycle found by a depth-first search from the jobs in file order, as the list of
/// jobs starting at the first job of the cycle in search order.
fn find_cycle(edges: &[Vec<usize>]) -> Option<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        New,
        Active,
        Done,
    }
    // Node ids are indexes into `edges` (one per job), so indexing `state` and `edges` holds.
    let mut state = vec![State::New; edges.len()];
    for root in 0..edges.len() {
        if state[root] != State::New {
            continue;
        }
        // Iterative DFS: stack of (node, next edge index); `path` mirrors the active nodes.
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        state[root] = State::Active;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            if let Some(&child) = edges[node].get(*next) {
                *next += 1;
                match state[child] {
                    State::New => {
                        state[child] = State::Active;
                        stack.push((child, 0));
                    }
                    State::Active => {
                        let start = stack.iter().position(|&(n, _)| n == child).unwrap_or(0);
                        return Some(stack[start..].iter().map(|&(n, _)| n).collect());
                    }
                    State::Done => {}
                }
            } else {
                state[node] = State::Done;
                stack.pop();
            }
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// matrix

/// Compares matrix values the way GitHub's matrix expansion does: scalars by their text, maps as
/// "every key of `pattern` matches" when `subset` is set.
fn values_match(pattern: &Value, value: &Value, subset: bool) -> bool {
    match (&pattern.kind, &value.kind) {
        (ValueKind::Seq(a), ValueKind::Seq(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| values_match(x, y, subset))
        }
        (ValueKind::Map(a), ValueKind::Map(b)) => {
            (subset || a.len() == b.len())
                && a.iter().all(|(k, v)| {
                    b.iter().any(|(k2, v2)| {
                        k2.value.eq_ignore_ascii_case(&k.value) && values_match(v, v2, subset)
                    })
                })
        }
        (ValueKind::Seq(_) | ValueKind::Map(_), _) | (_, ValueKind::Seq(_) | ValueKind::Map(_)) => {
            false
        }
        _ => scalar_text(pattern) == scalar_text(value),
    }
}

fn scalar_text(value: &Value) -> String {
    match &value.kind {
        ValueKind::Null => "null".into(),
        ValueKind::Bool(b) => b.to_string(),
        ValueKind::Number(n) => n.to_string(),
        ValueKind::String(s) => s.raw.clone(),
        ValueKind::Seq(_) | ValueKind::Map(_) => String::new(),
    }
}

fn has_expression(value: &Value) -> bool {
    match &value.kind {
        ValueKind::String(s) => s.raw.contains("${{"),
        ValueKind::Seq(items) => items.iter().any(has_expression),
        ValueKind::Map(entries) => entries.iter().any(|(_, v)| has_expression(v)),
        _ => false,
    }
}

fn check_matrix(cx: &mut Checker<'_>, matrix: &Matrix) {
    if matrix.expr.is_some() {
        return;
    }
    // Possible values of every key: the axis values plus what `include` rows assign.
    let mut possible: Vec<(&str, Vec<&Value>)> = Vec::new();
    let mut dynamic = false;
    for (name, axis) in &matrix.axes {
        match &axis.values {
            ExprOr::Value(values) if values.is_empty() => {
                cx.error(
                    "matrix",
                    axis.span.start,
                    format!("matrix axis {name:?} has no values, so the job would never run"),
                );
            }
            ExprOr::Value(values) => {
                for (i, value) in values.iter().enumerate() {
                    if let Some(first) = values[..i].iter().find(|v| values_match(v, value, false))
                    {
                        cx.error(
                            "matrix",
                            value.span.start,
                            format!(
                                "value {} appears twice in matrix axis {name:?} (first at line {}, column {})",
                                scalar_text(value),
                                first.span.start.line,
                                first.span.start.col
                            ),
                        );
                    }
                }
                possible.push((name.as_str(), values.iter().collect()));
            }
            ExprOr::Expr(_) => {
                dynamic = true;
                possible.push((name.as_str(), Vec::new()));
            }
        }
    }
    match matrix.include.as_ref().map(|i| &i.rows) {
        Some(ExprOr::Value(rows)) => {
            for row in rows {
                match &row.kind {
                    ValueKind::Map(entries) => {
                        for (key, value) in entries {
                            match possible
                                .iter_mut()
                                .find(|(k, _)| k.eq_ignore_ascii_case(&key.value))
                            {
                                Some((_, values)) => values.push(value),
                                None => possible.push((key.value.as_str(), vec![value])),
                            }
                        }
                    }
                    _ => dynamic = true,
                }
            }
        }
        Some(ExprOr::Expr(_)) => dynamic = true,
        None => {}
    }
    let Some(ExprOr::Value(rows)) = matrix.exclude.as_ref().map(|e| &e.rows) else {
        return;
    };
    if dynamic {
        return;
    }
    for row in rows {
        let ValueKind::Map(entries) = &row.kind else {
            continue;
        };
        for (key, value) in entries {
            let Some((_, values)) = possible
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(&key.value))
            else {
                cx.error(
                    "matrix",
                    str_pos(key),
                    format!(
                        "{:?} in \"exclude\" is not a key of the matrix; keys are {}",
                        key.value,
                        quoted_list(possible.iter().map(|(k, _)| *k))
                    ),
                );
                continue;
            };
            if has_expression(value) || values.iter().any(|v| has_expression(v)) {
                continue;
            }
            if !values.iter().any(|v| values_match(value, v, true)) {
                cx.error(
                    "matrix",
                    value.span.start,
                    format!(
                        "this \"exclude\" value of {:?} matches none of the matrix values",
                        key.value
                    ),
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// runs-on

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Platform {
    Linux,
    MacOs,
    Windows,
    Unknown,
}

fn platform_of(label: &str) -> Platform {
    let lower = label.to_ascii_lowercase();
    if lower.starts_with("ubuntu") || lower == "linux" {
        Platform::Linux
    } else if lower.starts_with("macos") {
        Platform::MacOs
    } else if lower.starts_with("windows") {
        Platform::Windows
    } else {
        Platform::Unknown
    }
}

/// Literal labels (with their positions) a runs-on label stands for: itself, or the literal values
/// of the matrix axis it names (`${{ matrix.os }}`).
fn label_values<'m>(label: &'m TStr, matrix: Option<&'m Matrix>) -> Vec<(&'m str, crate::Pos)> {
    if label.is_literal() {
        return vec![(label.raw.as_str(), tstr_pos(label))];
    }
    let Some(expr) = label.as_single_expr() else {
        return Vec::new();
    };
    let gantry_expr::ExprKind::Property(object, axis) = &expr.kind else {
        return Vec::new();
    };
    let gantry_expr::ExprKind::NamedValue(context) = &object.kind else {
        return Vec::new();
    };
    if !context.eq_ignore_ascii_case("matrix") {
        return Vec::new();
    }
    let Some(matrix) = matrix else {
        return Vec::new();
    };
    // The axis values, and what `include:` rows assign to the key (matrix keys compare
    // case-insensitively, as on GitHub).
    let mut values: Vec<&Value> = Vec::new();
    if let Some((_, axis)) = matrix
        .axes
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(axis))
    {
        if let ExprOr::Value(axis_values) = &axis.values {
            values.extend(axis_values);
        }
    }
    if let Some(ExprOr::Value(rows)) = matrix.include.as_ref().map(|i| &i.rows) {
        for row in rows {
            if let ValueKind::Map(entries) = &row.kind {
                values.extend(
                    entries
                        .iter()
                        .filter(|(key, _)| key.value.eq_ignore_ascii_case(axis))
                        .map(|(_, value)| value),
                );
            }
        }
    }
    values
        .into_iter()
        .filter_map(|v| match &v.kind {
            ValueKind::String(s) if s.is_literal() => Some((s.raw.as_str(), v.span.start)),
            _ => None,
        })
        .collect()
}

fn check_runs_on(cx: &mut Checker<'_>, job: &Job, matrix: Option<&Matrix>) -> Platform {
    let Some(runs_on) = &job.runs_on else {
        return Platform::Unknown;
    };
    let mut platform = Platform::Unknown;
    let mut first_hosted: Option<(&str, crate::Pos)> = None;
    for label in &runs_on.labels {
        let values = label_values(label, matrix);
        let from_matrix = !label.is_literal();
        for (value, pos) in values {
            if let Some(date) = runner_labels::retired_on(value) {
                cx.error(
                    "runner-label",
                    pos,
                    format!("runner image {value:?} was retired by GitHub on {date}: jobs asking for it no longer run; use a current image"),
                );
            } else if !runner_labels::is_known(value) && !value.contains("${{") {
                cx.warning(
                    "runner-label",
                    pos,
                    format!("unknown runner label {value:?}; if it is a self-hosted runner label, ignore this"),
                );
            }
            if platform == Platform::Unknown && !from_matrix {
                platform = platform_of(value);
            }
            match first_hosted {
                Some((first, first_pos)) if runner_labels::conflicts(first, value) => cx.error(
                    "runner-label",
                    pos,
                    format!(
                        "label {value:?} conflicts with label {first:?} at line {}, column {}; no runner has both (use a matrix to run on each)",
                        first_pos.line, first_pos.col
                    ),
                ),
                None if runner_labels::is_github_hosted(value) && !from_matrix => first_hosted = Some((value, pos)),
                _ => {}
            }
        }
    }
    platform
}

// ---------------------------------------------------------------------------------------------
// permissions, env, credentials, shell, run scripts

fn check_permissions(cx: &mut Checker<'_>, permissions: &Permissions) {
    match &permissions.kind {
        PermissionsKind::Shorthand(value) => {
            if !ALL_SCOPES_VALUES.contains(&value.value.as_str()) && !value.value.contains("${{") {
                cx.error(
                    "permissions",
                    str_pos(value),
                    format!("{:?} is not a valid \"permissions\" value; use \"read-all\", \"write-all\" or a mapping of scopes", value.value),
                );
            }
        }
        PermissionsKind::Map(entries) => {
            for entry in entries {
                match scope_values(&entry.scope.value) {
                    None => cx.error(
                        "permissions",
                        str_pos(&entry.scope),
                        format!(
                            "unknown permission scope {:?}; scopes are {}",
                            entry.scope.value,
                            quoted_list(scope_names())
                        ),
                    ),
                    Some(values) => {
                        if !values.contains(&entry.level.value.as_str()) {
                            cx.error(
                                "permissions",
                                str_pos(&entry.level),
                                format!(
                                    "{:?} is not a valid permission for scope {:?}; use {}",
                                    entry.level.value,
                                    entry.scope.value,
                                    values
                                        .iter()
                                        .map(|v| format!("{v:?}"))
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                ),
                            );
                        }
                    }
                }
            }
        }
    }
}

pub(crate) fn check_env_names(cx: &mut Checker<'_>, vars: &Vars) {
    for var in vars.entries.values() {
        let name = &var.name.value;
        if name.contains("${{") {
            continue;
        }
        if name.contains(['&', '=', ' ', '\t']) {
            cx.error(
                "env-var",
                str_pos(&var.name),
                format!("environment variable name {name:?} is invalid: it cannot contain '&', '=' or spaces"),
            );
        }
    }
}

fn check_container(cx: &mut Checker<'_>, container: &Container, what: &str) {
    if let Some(env) = &container.env {
        check_env_names(cx, env);
    }
    if let Some(password) = container
        .credentials
        .as_ref()
        .and_then(|c| c.password.as_ref())
    {
        if password.is_literal() && !password.raw.is_empty() {
            cx.error(
                "credentials",
                tstr_pos(password),
                format!(
                    "the password of {what} is written in the workflow; pass it through a secret"
                ),
            );
        }
    }
}

fn check_shell(cx: &mut Checker<'_>, shell: &TStr, platform: Platform) {
    if !shell.is_literal() || shell.raw.contains("{0}") {
        return;
    }
    let name = shell
        .raw
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let name = name.as_str();
    const UNIX: &[&str] = &["bash", "pwsh", "python", "sh"];
    const WINDOWS: &[&str] = &["bash", "cmd", "powershell", "pwsh", "python"];
    let ok = match platform {
        Platform::Linux | Platform::MacOs => UNIX.contains(&name),
        Platform::Windows => WINDOWS.contains(&name),
        Platform::Unknown => UNIX.contains(&name) || WINDOWS.contains(&name),
    };
    if !ok {
        let on = match platform {
            Platform::Linux | Platform::MacOs if WINDOWS.contains(&name) => " on Linux and macOS",
            Platform::Windows if UNIX.contains(&name) => " on Windows",
            _ => "",
        };
        cx.error(
            "shell-name",
            tstr_pos(shell),
            format!(
                "shell {name:?} is not available{on}; use a known shell or a command with {{0}}"
            ),
        );
    }
}

fn check_deprecated_commands(cx: &mut Checker<'_>, run: &TStr) {
    const COMMANDS: [(&str, &str); 4] = [
        ("set-output", "$GITHUB_OUTPUT"),
        ("save-state", "$GITHUB_STATE"),
        ("set-env", "$GITHUB_ENV"),
        ("add-path", "$GITHUB_PATH"),
    ];
    let text = &run.raw;
    let mut rest = text.as_str();
    while let Some(i) = rest.find("::") {
        let after = &rest[i + 2..];
        for (command, file) in COMMANDS {
            if let Some(tail) = after.strip_prefix(command) {
                if tail.starts_with(' ') || tail.starts_with("::") {
                    let at = cx.node_start(tstr_pos(run));
                    cx.warning(
                        "deprecated-commands",
                        at,
                        format!("workflow command \"::{command}\" is deprecated and disabled; append to {file} instead"),
                    );
                }
            }
        }
        rest = after;
    }
}
