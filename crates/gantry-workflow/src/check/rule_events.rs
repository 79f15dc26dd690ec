//! Rule `events`: trigger names, activity types, filters and their patterns (`glob`), cron
//! schedules and time zones, `workflow_dispatch` / `workflow_call` input definitions.
//!
//! Invariant: positions follow actionlint (event name for event-level problems, the filter key
//! for filter-level ones, the offending item otherwise). Tests: `tests/actionlint.rs`.

use super::cron::{is_valid_timezone, Cron, MIN_INTERVAL_SECONDS};
use super::events::{self, ActivityTypes, Filter, MAX_WORKFLOW_DISPATCH_INPUTS};
use super::{quoted_list, str_pos, Checker};
use crate::glob::{validate_glob, GlobKind};
use crate::model::{
    EventConfig, EventFilters, Input, InputType, StrList, Value, ValueKind, Workflow,
};

pub(crate) fn check(cx: &mut Checker<'_>, workflow: &Workflow) {
    // `snapshot.version` of custom images is a version filter pattern too.
    for job in workflow.jobs.values() {
        if let Some(version) = job.snapshot.as_ref().and_then(|s| s.version.as_ref()) {
            if version.is_literal() {
                let item = crate::model::Str::new(version.raw.clone(), version.span);
                check_glob(cx, &item, GlobKind::Other);
            }
        }
    }
    let Some(on) = &workflow.on else { return };
    for event in &on.events {
        let name = &event.name.value;
        let Some(spec) = events::event(name) else {
            cx.error(
                "events",
                str_pos(&event.name),
                format!("unknown event {name:?}; see GitHub's \"Events that trigger workflows\" for the names"),
            );
            continue;
        };
        match &event.config {
            EventConfig::None => {}
            EventConfig::Filters(filters) => check_filters(cx, &event.name, spec, filters),
            EventConfig::Schedule(crons) => {
                for cron in crons {
                    if let Some(text) = &cron.cron {
                        check_cron(cx, text);
                    }
                    if let Some(tz) = &cron.timezone {
                        if !tz.value.is_empty() && !is_valid_timezone(&tz.value) {
                            cx.error(
                                "events",
                                str_pos(tz),
                                format!("invalid time zone {:?} in schedule; use an IANA name such as \"Europe/Paris\"", tz.value),
                            );
                        }
                    }
                }
            }
            EventConfig::WorkflowDispatch(dispatch) => {
                if dispatch.inputs.len() > MAX_WORKFLOW_DISPATCH_INPUTS {
                    cx.error(
                        "events",
                        str_pos(&event.name),
                        format!(
                            "workflow_dispatch accepts at most {MAX_WORKFLOW_DISPATCH_INPUTS} inputs but {} are defined",
                            dispatch.inputs.len()
                        ),
                    );
                }
                for input in dispatch.inputs.values() {
                    check_dispatch_input(cx, input);
                }
            }
            EventConfig::WorkflowCall(call) => {
                for input in call.inputs.values() {
                    check_call_input(cx, input);
                }
            }
        }
    }
}

fn check_cron(cx: &mut Checker<'_>, text: &crate::model::Str) {
    if text.value.is_empty() {
        return; // the loader reports empty strings
    }
    match Cron::parse(&text.value) {
        Err(e) => cx.error(
            "events",
            str_pos(text),
            format!("invalid cron expression {:?}: {e}", text.value),
        ),
        Ok(cron) => {
            if let Some(interval) = cron.shortest_interval_seconds() {
                if interval < MIN_INTERVAL_SECONDS {
                    cx.error(
                        "events",
                        str_pos(text),
                        format!("schedule {:?} runs every {interval} seconds but GitHub runs scheduled workflows at most every 5 minutes", text.value),
                    );
                }
            }
        }
    }
}

fn check_filters(
    cx: &mut Checker<'_>,
    name: &crate::model::Str,
    spec: &events::EventSpec,
    filters: &EventFilters,
) {
    if let Some(types) = &filters.types {
        match spec.types {
            ActivityTypes::NotAllowed => cx.error(
                "events",
                str_pos(name),
                format!(
                    "event {:?} has no activity types; remove \"types\"",
                    name.value
                ),
            ),
            ActivityTypes::Only(allowed) => {
                for ty in &types.items {
                    if !allowed.contains(&ty.value.as_str()) {
                        cx.error(
                            "events",
                            str_pos(ty),
                            format!(
                                "invalid activity type {:?} for event {:?}; available types are {}",
                                ty.value,
                                name.value,
                                quoted_list(allowed.iter().copied())
                            ),
                        );
                    }
                }
            }
            ActivityTypes::Any => {}
        }
    }
    let present: [(Filter, Option<&StrList>); 8] = [
        (Filter::Branches, filters.branches.as_ref()),
        (Filter::BranchesIgnore, filters.branches_ignore.as_ref()),
        (Filter::Tags, filters.tags.as_ref()),
        (Filter::TagsIgnore, filters.tags_ignore.as_ref()),
        (Filter::Paths, filters.paths.as_ref()),
        (Filter::PathsIgnore, filters.paths_ignore.as_ref()),
        (Filter::Workflows, filters.workflows.as_ref()),
        (Filter::Versions, filters.versions.as_ref()),
    ];
    for (filter, list) in present {
        let Some(list) = list else { continue };
        let key_pos = cx.key_pos(list.span.start, filter.as_str());
        if !spec.accepts_filter(filter) {
            if filter != Filter::Versions && filter != Filter::Workflows {
                cx.error(
                    "events",
                    key_pos,
                    format!(
                        "filter {:?} is not available for event {:?}; only for {}",
                        filter.as_str(),
                        name.value,
                        filter.events_allowing().join(", ")
                    ),
                );
            }
            continue;
        }
        if let Some(other) = filter.exclusive_with() {
            let other_list = present
                .iter()
                .find(|(f, _)| *f == other)
                .and_then(|(_, l)| *l);
            if let Some(other_list) = other_list {
                if other_list.span.start.offset < list.span.start.offset {
                    cx.error(
                        "events",
                        key_pos,
                        format!(
                            "filters {:?} and {:?} cannot be used together on event {:?}; negate patterns with '!' instead",
                            other.as_str(),
                            filter.as_str(),
                            name.value
                        ),
                    );
                }
            }
        }
        let kind = if filter.is_ref() {
            GlobKind::Ref
        } else if filter.is_path() {
            GlobKind::Path
        } else if filter == Filter::Workflows {
            continue;
        } else {
            GlobKind::Other
        };
        for item in &list.items {
            check_glob(cx, item, kind);
        }
    }
}

/// Reports the errors of one filter pattern at their exact column.
pub(crate) fn check_glob(cx: &mut Checker<'_>, item: &crate::model::Str, kind: GlobKind) {
    if item.value.is_empty() || item.value.contains("${{") {
        return;
    }
    let node = cx.node_start(item.span.start);
    if node != item.span.start {
        // A block scalar: columns inside it do not map to the header line.
        for error in validate_glob(&item.value, kind) {
            cx.error(
                "glob",
                node,
                format!("invalid filter pattern {:?}: {}", item.value, error.message),
            );
        }
        return;
    }
    let start = cx.content_start(item.span.start);
    for error in validate_glob(&item.value, kind) {
        let pos = advance_on_line(cx.source, start, error.column.saturating_sub(1));
        cx.error(
            "glob",
            pos,
            format!("invalid filter pattern {:?}: {}", item.value, error.message),
        );
    }
}

/// `start` moved right by `n` characters of `source`, keeping the byte offset in step with the
/// column and stopping at the end of the line (a pattern folded over lines or written with
/// escapes does not map char for char onto the file).
fn advance_on_line(source: &str, start: crate::Pos, n: usize) -> crate::Pos {
    let rest = source.get(start.offset as usize..).unwrap_or("");
    let mut pos = start;
    for c in rest.chars().take(n).take_while(|&c| c != '\n' && c != '\r') {
        pos.col += 1;
        pos.offset += c.len_utf8() as u32;
    }
    pos
}

fn value_text(value: &Value) -> Option<String> {
    match &value.kind {
        ValueKind::String(s) => Some(s.raw.clone()),
        ValueKind::Bool(b) => Some(b.to_string()),
        ValueKind::Number(n) => Some(n.to_string()),
        ValueKind::Null => None,
        ValueKind::Seq(_) | ValueKind::Map(_) => None,
    }
}

fn is_expression(value: &Value) -> bool {
    matches!(&value.kind, ValueKind::String(s) if s.raw.contains("${{"))
}

fn check_dispatch_input(cx: &mut Checker<'_>, input: &Input) {
    let name = &input.name.value;
    let ty = input.input_type();
    let options = input.options.as_ref();
    if ty == Some(InputType::Choice) {
        match options {
            Some(options) if !options.value.is_empty() => {
                for (i, option) in options.value.iter().enumerate() {
                    if options.value[..i].iter().any(|o| o.value == option.value) {
                        cx.error(
                            "events",
                            str_pos(option),
                            format!(
                                "option {:?} of input {name:?} is listed twice",
                                option.value
                            ),
                        );
                    }
                }
                if let Some(default) = &input.default {
                    if let Some(text) = value_text(default) {
                        if !is_expression(default) && !options.value.iter().any(|o| o.value == text)
                        {
                            cx.error(
                                "events",
                                default.span.start,
                                format!(
                                    "default {text:?} of input {name:?} is not one of its options"
                                ),
                            );
                        }
                    }
                }
            }
            _ => cx.error(
                "events",
                str_pos(&input.name),
                format!("input {name:?} has type \"choice\" but no \"options\""),
            ),
        }
    } else if options.is_some() && (ty.is_some() || input.type_.is_none()) {
        cx.error(
            "events",
            str_pos(&input.name),
            format!("input {name:?} has \"options\" but its type is not \"choice\""),
        );
    }
    if let Some(default) = &input.default {
        check_default_type(cx, input, default, ty);
    }
}

fn check_default_type(cx: &mut Checker<'_>, input: &Input, default: &Value, ty: Option<InputType>) {
    if is_expression(default) {
        return;
    }
    let name = &input.name.value;
    match ty {
        Some(InputType::Boolean) => {
            let ok = match &default.kind {
                ValueKind::Bool(_) => true,
                ValueKind::String(s) => s.raw == "true" || s.raw == "false",
                _ => false,
            };
            if !ok {
                cx.error(
                    "events",
                    default.span.start,
                    format!("default of boolean input {name:?} must be true or false"),
                );
            }
        }
        Some(InputType::Number) => {
            let ok = match &default.kind {
                ValueKind::Number(_) => true,
                ValueKind::String(s) => s.raw.trim().parse::<f64>().is_ok(),
                _ => false,
            };
            if !ok {
                cx.error(
                    "events",
                    default.span.start,
                    format!("default of number input {name:?} is not a number"),
                );
            }
        }
        _ => {}
    }
}

fn check_call_input(cx: &mut Checker<'_>, input: &Input) {
    let Some(default) = &input.default else {
        return;
    };
    check_default_type(cx, input, default, input.input_type());
    // GitHub accepts the pair (the default is simply never used): a warning, not an error.
    if input.required.as_ref().is_some_and(|r| r.value) {
        cx.warning(
            "events",
            default.span.start,
            format!(
                "input {:?} is required, so its default is never used",
                input.name.value
            ),
        );
    }
}
