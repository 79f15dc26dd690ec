//! Job-level `${{ }}` evaluation: conditions with GitHub's implicit `success()`, string
//! templates, and template trees (matrix, `runs-on`, `with:`).
//!
//! Invariant: user text never panics; every failure is an [`EvalError`] that the scheduler turns
//! into a failed job with its message. Covered by the scenario tests.

use gantry_expr::{Contexts, Host, StatusFunction, Value};

pub(crate) use crate::error::EvalError;

/// The job-status functions' answers for one job.
#[derive(Debug, Clone, Copy)]
pub(crate) struct JobStatus {
    pub success: bool,
    pub failure: bool,
    pub cancelled: bool,
}

impl Host for JobStatus {
    fn status(&self, f: StatusFunction) -> Result<bool, String> {
        Ok(match f {
            StatusFunction::Success => self.success,
            StatusFunction::Always => true,
            StatusFunction::Failure => self.failure,
            StatusFunction::Cancelled => self.cancelled,
        })
    }

    fn hash_files(&self, _patterns: &[String]) -> Result<String, String> {
        Err("the function 'hashFiles' is not available at job level".to_owned())
    }
}

pub(crate) type Ctx = gantry_expr::Map;

pub(crate) fn ctx_from_json(map: &serde_json::Map<String, serde_json::Value>) -> Ctx {
    map.iter()
        .map(|(k, v)| (k.as_str(), Value::from_json(v)))
        .collect()
}

/// Evaluates a job's `if:` (GitHub's implicit `success() &&` lives in
/// [`gantry_expr::evaluate_condition`]).
pub(crate) fn eval_condition(
    text: &str,
    contexts: &dyn Contexts,
    status: &JobStatus,
) -> Result<bool, EvalError> {
    Ok(gantry_expr::evaluate_condition(text, contexts, status)?)
}

/// Evaluates a string template (text without `${{` is returned as is).
pub(crate) fn eval_string(
    text: &str,
    contexts: &dyn Contexts,
    host: &dyn Host,
) -> Result<String, EvalError> {
    if !text.contains("${{") {
        return Ok(text.to_owned());
    }
    let template = gantry_expr::parse_template(text)?;
    gantry_expr::evaluate_template(&template, contexts, host).map_err(EvalError::from)
}

/// Evaluates a template to a value: exactly one `${{ }}` keeps the expression's type.
pub(crate) fn eval_to_value(
    text: &str,
    contexts: &dyn Contexts,
    host: &dyn Host,
) -> Result<Value, EvalError> {
    if !text.contains("${{") {
        return Ok(Value::string(text));
    }
    let template = gantry_expr::parse_template(text.trim())?;
    if let Some(expr) = template.as_single_expr() {
        return gantry_expr::evaluate(expr, contexts, host).map_err(EvalError::from);
    }
    let text = gantry_expr::evaluate_template(&template, contexts, host)?;
    Ok(Value::string(&text))
}

/// A boolean setting written as `true`/`false` or a template (`continue-on-error`, `fail-fast`).
pub(crate) fn eval_bool(
    text: &str,
    contexts: &dyn Contexts,
    host: &dyn Host,
) -> Result<bool, EvalError> {
    match text.trim() {
        "true" => Ok(true),
        "false" | "" => Ok(false),
        other => {
            let value = eval_to_value(other, contexts, host)?;
            match value {
                Value::Bool(b) => Ok(b),
                Value::String(s) if &*s == "true" => Ok(true),
                Value::String(s) if &*s == "false" => Ok(false),
                other => Err(EvalError::NotABoolean {
                    got: other.to_interpolated_string(),
                }),
            }
        }
    }
}

/// A number setting (`timeout-minutes`, `max-parallel`).
pub(crate) fn eval_number(
    text: &str,
    contexts: &dyn Contexts,
    host: &dyn Host,
) -> Result<f64, EvalError> {
    if let Ok(n) = text.trim().parse::<f64>() {
        return Ok(n);
    }
    let value = eval_to_value(text, contexts, host)?;
    let number = match &value {
        Value::Number(n) => *n,
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .map_err(|_| EvalError::NotANumberText { got: s.to_string() })?,
        other => {
            return Err(EvalError::NotANumber {
                got: other.to_interpolated_string(),
            })
        }
    };
    if number.is_finite() {
        Ok(number)
    } else {
        Err(EvalError::NotFinite)
    }
}

/// Evaluates every string of a template tree; mappings and sequences keep their shape.
pub(crate) fn eval_tree(
    tree: &serde_json::Value,
    contexts: &dyn Contexts,
    host: &dyn Host,
) -> Result<serde_json::Value, EvalError> {
    Ok(match tree {
        serde_json::Value::String(s) => eval_to_value(s, contexts, host)?.to_json(),
        serde_json::Value::Array(items) => serde_json::Value::Array(
            items
                .iter()
                .map(|item| eval_tree(item, contexts, host))
                .collect::<Result<_, _>>()?,
        ),
        serde_json::Value::Object(map) => {
            let mut out = serde_json::Map::with_capacity(map.len());
            for (k, v) in map {
                out.insert(k.clone(), eval_tree(v, contexts, host)?);
            }
            serde_json::Value::Object(out)
        }
        other => other.clone(),
    })
}
