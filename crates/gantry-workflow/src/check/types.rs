//! A small static type system for `${{ }}` expressions: enough to know which properties of a
//! context exist (`steps.<id>`, `needs.<job>.outputs.<name>`, `matrix.<axis>`, `inputs.<name>`,
//! `github.<property>`) and whether a value is an object, an array or null.
//!
//! Invariant: `Ty::Any` absorbs everything, so an unknown type never produces an error; only
//! strict objects (whose full set of properties is known) reject unknown properties. Property
//! names compare case-insensitively like the expression language. Tests: `tests/actionlint.rs`.

use std::sync::{Arc, LazyLock};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Ty {
    Any,
    Null,
    Bool,
    Number,
    String,
    Array(Arc<Ty>),
    Object(Arc<Obj>),
}

/// An object type: known properties, and what other properties are (`None`: they do not exist).
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Obj {
    /// Lowercase name, type.
    pub props: Vec<(String, Ty)>,
    pub rest: Option<Ty>,
}

impl Obj {
    pub fn strict(props: Vec<(String, Ty)>) -> Obj {
        Obj {
            props: props
                .into_iter()
                .map(|(k, t)| (k.to_ascii_lowercase(), t))
                .collect(),
            rest: None,
        }
    }

    pub fn loose(rest: Ty) -> Obj {
        Obj {
            props: Vec::new(),
            rest: Some(rest),
        }
    }

    pub fn get(&self, name: &str) -> Option<&Ty> {
        self.props
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, t)| t)
    }

    pub fn insert(&mut self, name: &str, ty: Ty) {
        let lower = name.to_ascii_lowercase();
        match self.props.iter_mut().find(|(k, _)| *k == lower) {
            Some(slot) => slot.1 = ty,
            None => self.props.push((lower, ty)),
        }
    }

    pub fn is_strict(&self) -> bool {
        self.rest.is_none()
    }

    /// `{a; b; c}` for messages.
    pub fn describe(&self) -> String {
        let mut names: Vec<&str> = self.props.iter().map(|(k, _)| k.as_str()).collect();
        names.sort_unstable();
        format!("{{{}}}", names.join(", "))
    }
}

impl Ty {
    pub fn object(obj: Obj) -> Ty {
        Ty::Object(Arc::new(obj))
    }

    pub fn strict(props: &[(&str, Ty)]) -> Ty {
        Ty::object(Obj::strict(
            props
                .iter()
                .map(|(k, t)| (k.to_string(), t.clone()))
                .collect(),
        ))
    }

    pub fn loose(rest: Ty) -> Ty {
        Ty::object(Obj::loose(rest))
    }

    pub fn name(&self) -> &'static str {
        match self {
            Ty::Any => "any",
            Ty::Null => "null",
            Ty::Bool => "bool",
            Ty::Number => "number",
            Ty::String => "string",
            Ty::Array(_) => "array",
            Ty::Object(_) => "object",
        }
    }

    /// The common type of two alternatives (`a || b`, two matrix values): arrays merge their
    /// elements, objects the union of their properties.
    pub fn merge(&self, other: &Ty) -> Ty {
        match (self, other) {
            (a, b) if a == b => a.clone(),
            (Ty::Array(a), Ty::Array(b)) => Ty::Array(Arc::new(a.merge(b))),
            (Ty::Object(a), Ty::Object(b)) => {
                let mut merged = Obj {
                    props: a.props.clone(),
                    rest: match (&a.rest, &b.rest) {
                        (None, None) => None,
                        (Some(x), Some(y)) => Some(x.merge(y)),
                        (Some(x), None) | (None, Some(x)) => Some(x.clone()),
                    },
                };
                for (name, ty) in &b.props {
                    match merged.props.iter_mut().find(|(k, _)| k == name) {
                        Some(slot) => slot.1 = slot.1.merge(ty),
                        None => merged.props.push((name.clone(), ty.clone())),
                    }
                }
                Ty::object(merged)
            }
            _ => Ty::Any,
        }
    }
}

/// The `github` context.
pub(crate) static GITHUB: LazyLock<Ty> = LazyLock::new(|| github_with_event(Ty::loose(Ty::Any)));

pub(crate) fn github_with_event(event: Ty) -> Ty {
    const STRING_PROPS: &[&str] = &[
        "action",
        "action_path",
        "action_ref",
        "action_repository",
        "action_status",
        "actor",
        "actor_id",
        "api_url",
        "base_ref",
        "env",
        "event_name",
        "event_path",
        "graphql_url",
        "head_ref",
        "job",
        "job_workflow_sha",
        "output",
        "path",
        "ref",
        "ref_name",
        "ref_type",
        "repository",
        "repository_id",
        "repository_owner",
        "repository_owner_id",
        "repositoryurl",
        "repository_visibility",
        "retention_days",
        "run_id",
        "run_number",
        "run_attempt",
        "secret_source",
        "server_url",
        "sha",
        "state",
        "step_summary",
        "token",
        "triggering_actor",
        "workflow",
        "workflow_ref",
        "workflow_sha",
        "workspace",
    ];
    let mut props: Vec<(String, Ty)> = STRING_PROPS
        .iter()
        .map(|p| (p.to_string(), Ty::String))
        .collect();
    props.push(("ref_protected".into(), Ty::Bool));
    props.push(("event".into(), event));
    Ty::object(Obj::strict(props))
}

pub(crate) static RUNNER: LazyLock<Ty> = LazyLock::new(|| {
    Ty::strict(&[
        ("name", Ty::String),
        ("os", Ty::String),
        ("arch", Ty::String),
        ("temp", Ty::String),
        ("tool_cache", Ty::String),
        ("debug", Ty::String),
        ("environment", Ty::String),
        ("workspace", Ty::String),
    ])
});

pub(crate) static JOB: LazyLock<Ty> = LazyLock::new(|| {
    Ty::strict(&[
        (
            "container",
            Ty::strict(&[("id", Ty::String), ("network", Ty::String)]),
        ),
        (
            "services",
            Ty::loose(Ty::strict(&[
                ("id", Ty::String),
                ("network", Ty::String),
                // Indexed by port number: `job.services.redis.ports[6379]`.
                ("ports", Ty::Any),
            ])),
        ),
        ("status", Ty::String),
        ("check_run_id", Ty::Number),
        ("workflow_ref", Ty::String),
        ("workflow_sha", Ty::String),
        ("workflow_repository", Ty::String),
        ("workflow_file_path", Ty::String),
    ])
});

pub(crate) static STRATEGY: LazyLock<Ty> = LazyLock::new(|| {
    Ty::strict(&[
        ("fail-fast", Ty::Bool),
        ("job-index", Ty::Number),
        ("job-total", Ty::Number),
        ("max-parallel", Ty::Number),
    ])
});

/// `steps.<id>` of one step.
pub(crate) static STEP: LazyLock<Ty> = LazyLock::new(|| {
    Ty::strict(&[
        ("outputs", Ty::loose(Ty::String)),
        ("conclusion", Ty::String),
        ("outcome", Ty::String),
    ])
});

/// `steps.<id>` of a step running an action whose outputs are known.
pub(crate) fn step_with_outputs(names: &[String]) -> Ty {
    let outputs = Ty::object(Obj::strict(
        names.iter().map(|n| (n.clone(), Ty::String)).collect(),
    ));
    Ty::strict(&[
        ("outputs", outputs),
        ("conclusion", Ty::String),
        ("outcome", Ty::String),
    ])
}

/// `needs.<id>` / `jobs.<id>` of a job with these outputs (`None`: unknown outputs).
pub(crate) fn job_result(outputs: Option<&[String]>) -> Ty {
    let outputs = match outputs {
        Some(names) => Ty::object(Obj::strict(
            names.iter().map(|n| (n.clone(), Ty::String)).collect(),
        )),
        None => Ty::loose(Ty::String),
    };
    Ty::strict(&[("outputs", outputs), ("result", Ty::String)])
}

/// Return type of a built-in function.
pub(crate) fn function_return(name: &str) -> Ty {
    match name.to_ascii_lowercase().as_str() {
        "contains" | "startswith" | "endswith" | "always" | "success" | "failure" | "cancelled" => {
            Ty::Bool
        }
        "format" | "join" | "tojson" | "hashfiles" => Ty::String,
        _ => Ty::Any,
    }
}

/// The type of a known value.
pub(crate) fn of_value(value: &gantry_expr::Value) -> Ty {
    use gantry_expr::Value;
    match value {
        Value::Null => Ty::Null,
        Value::Bool(_) => Ty::Bool,
        Value::Number(_) => Ty::Number,
        Value::String(_) => Ty::String,
        Value::Array(items) => Ty::Array(Arc::new(
            items
                .iter()
                .map(of_value)
                .reduce(|a, b| a.merge(&b))
                .unwrap_or(Ty::Any),
        )),
        Value::Object(map) => Ty::object(Obj::strict(
            map.iter()
                .map(|(k, v)| (k.to_string(), of_value(v)))
                .collect(),
        )),
    }
}
