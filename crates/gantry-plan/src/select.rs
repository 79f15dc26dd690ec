//! Does a workflow's `on:` fire for an event, and with which `workflow_dispatch` inputs.
//!
//! GitHub's rules implemented here:
//! - the event name must be listed; `types:` must list the activity (for `pull_request` and
//!   `pull_request_target` the default is `opened`, `synchronize`, `reopened`);
//! - push: with only branch filters a tag push does not run, with only tag filters a branch push
//!   does not run; `branches`/`tags` are filter lists (later `!` patterns exclude), the
//!   `-ignore` forms exclude on any match; path filters are not evaluated for tag pushes;
//! - pull_request: `branches` are matched against the base branch;
//! - `paths`: some changed file passes the filter list; `paths-ignore`: some changed file is not
//!   ignored; unknown changed files (no diff) pass both;
//! - schedule: the cron that fired must be one of the workflow's.
//!
//! Invariant: pure functions of the model and the event; patterns come from the workflow file, so
//! a bad pattern matches leniently instead of failing. Tests: `tests/select.rs`.

use gantry_workflow::check::glob::{filter_matches, Glob};
use gantry_workflow::model::{
    EventConfig, EventFilters, Input, InputType, StrList, Workflow, WorkflowDispatch,
};
use indexmap::IndexMap;
use serde_json::{Map, Value};

use crate::lower::model_value_to_json;

/// The event a run is for, as far as trigger filters need it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventInfo {
    /// `push`, `pull_request`, `workflow_dispatch`, `schedule`, ...
    pub name: String,
    /// Activity type (`opened`, `published`, ...), for events that have them.
    pub action: Option<String>,
    /// Full ref pushed (`refs/heads/main`, `refs/tags/v1`), for push.
    pub git_ref: Option<String>,
    /// Base branch name (`main`) for pull_request events.
    pub base_ref: Option<String>,
    /// Repo-relative paths changed; `None` when unknown (path filters then pass).
    pub changed_files: Option<Vec<String>>,
    /// The cron expression that fired, for schedule.
    pub schedule: Option<String>,
}

/// Why a workflow does not run for an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotTriggered {
    #[error("the workflow has no 'on:' section")]
    NoTriggers,
    #[error("the workflow does not listen to '{0}'")]
    EventNotListed(String),
    #[error("activity type '{action}' is not in the types of '{event}'")]
    ActivityType { event: String, action: String },
    #[error("{kind} '{name}' does not match the {filter} filter")]
    RefFilter {
        kind: &'static str,
        name: String,
        filter: &'static str,
    },
    #[error("no changed file matches the {0} filter")]
    PathFilter(&'static str),
    #[error("cron '{0}' is not one of the workflow's schedules")]
    Schedule(String),
}

fn globs(list: &Option<StrList>) -> Option<Vec<Glob>> {
    list.as_ref()
        .map(|l| l.items.iter().map(|item| Glob::new(&item.value)).collect())
}

fn passes(list: &Option<StrList>, ignore: &Option<StrList>, text: &str) -> Option<&'static str> {
    if let Some(patterns) = globs(list) {
        if !filter_matches(&patterns, text) {
            return Some("include");
        }
    }
    if let Some(patterns) = globs(ignore) {
        if patterns
            .iter()
            .any(|glob| filter_matches(std::slice::from_ref(glob), text))
        {
            return Some("ignore");
        }
    }
    None
}

fn check_paths(filters: &EventFilters, changed: &Option<Vec<String>>) -> Result<(), NotTriggered> {
    let Some(changed) = changed else {
        return Ok(());
    };
    if let Some(patterns) = globs(&filters.paths) {
        if !changed.iter().any(|file| filter_matches(&patterns, file)) {
            return Err(NotTriggered::PathFilter("paths"));
        }
    }
    if let Some(patterns) = globs(&filters.paths_ignore) {
        let ignored = |file: &String| {
            patterns
                .iter()
                .any(|glob| filter_matches(std::slice::from_ref(glob), file))
        };
        if !changed.is_empty() && changed.iter().all(ignored) {
            return Err(NotTriggered::PathFilter("paths-ignore"));
        }
    }
    Ok(())
}

fn default_types(event: &str) -> &'static [&'static str] {
    match event {
        "pull_request" | "pull_request_target" => &["opened", "synchronize", "reopened"],
        _ => &[],
    }
}

/// Whether `workflow` runs for `event`.
pub fn select(workflow: &Workflow, event: &EventInfo) -> Result<(), NotTriggered> {
    let on = workflow.on.as_ref().ok_or(NotTriggered::NoTriggers)?;
    let listed = on
        .event(&event.name)
        .ok_or_else(|| NotTriggered::EventNotListed(event.name.clone()))?;
    match &listed.config {
        EventConfig::None | EventConfig::WorkflowDispatch(_) | EventConfig::WorkflowCall(_) => {
            check_types(&event.name, None, &event.action)
        }
        EventConfig::Schedule(crons) => match &event.schedule {
            Some(fired)
                if !crons.iter().any(|c| {
                    c.cron
                        .as_ref()
                        .is_some_and(|s| s.value.trim() == fired.trim())
                }) =>
            {
                Err(NotTriggered::Schedule(fired.clone()))
            }
            _ => Ok(()),
        },
        EventConfig::Filters(filters) => {
            check_types(&event.name, filters.types.as_ref(), &event.action)?;
            match event.name.as_str() {
                "push" => check_push(filters, event),
                "pull_request" | "pull_request_target" => {
                    if let Some(base) = &event.base_ref {
                        let base = base.strip_prefix("refs/heads/").unwrap_or(base);
                        if let Some(filter) =
                            passes(&filters.branches, &filters.branches_ignore, base)
                        {
                            return Err(NotTriggered::RefFilter {
                                kind: "base branch",
                                name: base.to_owned(),
                                filter: if filter == "include" {
                                    "branches"
                                } else {
                                    "branches-ignore"
                                },
                            });
                        }
                    }
                    check_paths(filters, &event.changed_files)
                }
                _ => {
                    // workflow_run and others: `branches` filter the triggering ref when given.
                    if let (Some(git_ref), true) = (
                        &event.git_ref,
                        filters.branches.is_some() || filters.branches_ignore.is_some(),
                    ) {
                        let branch = git_ref.strip_prefix("refs/heads/").unwrap_or(git_ref);
                        if let Some(filter) =
                            passes(&filters.branches, &filters.branches_ignore, branch)
                        {
                            return Err(NotTriggered::RefFilter {
                                kind: "branch",
                                name: branch.to_owned(),
                                filter: if filter == "include" {
                                    "branches"
                                } else {
                                    "branches-ignore"
                                },
                            });
                        }
                    }
                    Ok(())
                }
            }
        }
    }
}

fn check_types(
    event: &str,
    types: Option<&StrList>,
    action: &Option<String>,
) -> Result<(), NotTriggered> {
    let Some(action) = action else { return Ok(()) };
    let allowed: Vec<&str> = match types {
        Some(list) => list.items.iter().map(|item| item.value.as_str()).collect(),
        None => default_types(event).to_vec(),
    };
    if allowed.is_empty() || allowed.contains(&action.as_str()) {
        Ok(())
    } else {
        Err(NotTriggered::ActivityType {
            event: event.to_owned(),
            action: action.clone(),
        })
    }
}

fn check_push(filters: &EventFilters, event: &EventInfo) -> Result<(), NotTriggered> {
    let has_branch_filter = filters.branches.is_some() || filters.branches_ignore.is_some();
    let has_tag_filter = filters.tags.is_some() || filters.tags_ignore.is_some();
    let git_ref = event.git_ref.as_deref().unwrap_or("");
    if let Some(tag) = git_ref.strip_prefix("refs/tags/") {
        if has_branch_filter && !has_tag_filter {
            return Err(NotTriggered::RefFilter {
                kind: "tag",
                name: tag.to_owned(),
                filter: "branches",
            });
        }
        if let Some(filter) = passes(&filters.tags, &filters.tags_ignore, tag) {
            return Err(NotTriggered::RefFilter {
                kind: "tag",
                name: tag.to_owned(),
                filter: if filter == "include" {
                    "tags"
                } else {
                    "tags-ignore"
                },
            });
        }
        // Path filters are not evaluated for tag pushes.
        return Ok(());
    }
    let branch = git_ref.strip_prefix("refs/heads/").unwrap_or(git_ref);
    if has_tag_filter && !has_branch_filter {
        return Err(NotTriggered::RefFilter {
            kind: "branch",
            name: branch.to_owned(),
            filter: "tags",
        });
    }
    if let Some(filter) = passes(&filters.branches, &filters.branches_ignore, branch) {
        return Err(NotTriggered::RefFilter {
            kind: "branch",
            name: branch.to_owned(),
            filter: if filter == "include" {
                "branches"
            } else {
                "branches-ignore"
            },
        });
    }
    check_paths(filters, &event.changed_files)
}

/// A problem with the inputs given to `workflow_dispatch`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("the workflow has no workflow_dispatch trigger")]
    NotDispatchable,
    #[error("unexpected input '{0}': the workflow does not declare it")]
    Unknown(String),
    #[error("input '{0}' is required")]
    Missing(String),
    #[error("input '{name}' must be {expected}, got '{value}'")]
    Type {
        name: String,
        expected: &'static str,
        value: String,
    },
    #[error("input '{name}' must be one of {options}, got '{value}'")]
    Choice {
        name: String,
        options: String,
        value: String,
    },
}

/// The `workflow_dispatch` declaration of a workflow, if it has one.
pub fn dispatch_trigger(workflow: &Workflow) -> Option<&WorkflowDispatch> {
    let event = workflow.on.as_ref()?.event("workflow_dispatch")?;
    static EMPTY: std::sync::OnceLock<WorkflowDispatch> = std::sync::OnceLock::new();
    match &event.config {
        EventConfig::WorkflowDispatch(dispatch) => Some(dispatch),
        _ => Some(EMPTY.get_or_init(WorkflowDispatch::default)),
    }
}

/// Resolves `workflow_dispatch` inputs given as strings (command line, API) against the
/// declaration: unknown names, required inputs, types and choice options are checked, defaults
/// filled in. Returns the `inputs` context (booleans and numbers typed, as GitHub does).
pub fn resolve_dispatch_inputs(
    workflow: &Workflow,
    given: &IndexMap<String, String>,
) -> Result<Map<String, Value>, InputError> {
    let dispatch = dispatch_trigger(workflow).ok_or(InputError::NotDispatchable)?;
    for name in given.keys() {
        if !dispatch
            .inputs
            .keys()
            .any(|declared| declared.eq_ignore_ascii_case(name))
        {
            return Err(InputError::Unknown(name.clone()));
        }
    }
    let mut inputs = Map::new();
    for (name, input) in &dispatch.inputs {
        let value = given
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone());
        let value = match value {
            Some(value) => value,
            None => match default_text(input) {
                Some(default) => default,
                None if input.required.as_ref().is_some_and(|r| r.value) => {
                    return Err(InputError::Missing(name.clone()))
                }
                // GitHub preselects the first option of a choice.
                None if input.input_type() == Some(InputType::Choice) => input
                    .options
                    .as_ref()
                    .and_then(|o| o.value.first())
                    .map(|o| o.value.clone())
                    .unwrap_or_default(),
                None => String::new(),
            },
        };
        inputs.insert(name.clone(), typed_input(name, input, value)?);
    }
    Ok(inputs)
}

fn default_text(input: &Input) -> Option<String> {
    let default = input.default.as_ref()?;
    Some(match model_value_to_json(default) {
        Value::String(s) => s,
        Value::Null => String::new(),
        other => other.to_string(),
    })
}

fn typed_input(name: &str, input: &Input, value: String) -> Result<Value, InputError> {
    match input.input_type() {
        Some(InputType::Boolean) => match value.as_str() {
            "true" => Ok(Value::Bool(true)),
            "false" | "" => Ok(Value::Bool(false)),
            _ => Err(InputError::Type {
                name: name.to_owned(),
                expected: "a boolean",
                value,
            }),
        },
        Some(InputType::Number) => {
            if value.is_empty() {
                return Ok(Value::String(value));
            }
            value
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite())
                .map(gantry_expr::number::json_number)
                .ok_or(InputError::Type {
                    name: name.to_owned(),
                    expected: "a number",
                    value,
                })
        }
        Some(InputType::Choice) => {
            let options: Vec<&str> = input
                .options
                .as_ref()
                .map(|o| o.value.iter().map(|s| s.value.as_str()).collect())
                .unwrap_or_default();
            if options.contains(&value.as_str()) || (value.is_empty() && options.is_empty()) {
                Ok(Value::String(value))
            } else {
                Err(InputError::Choice {
                    name: name.to_owned(),
                    options: options.join(", "),
                    value,
                })
            }
        }
        _ => Ok(Value::String(value)),
    }
}
