//! `${{ }}` evaluation for the executor: the contexts a step sees, the status functions from the
//! job's state so far, `hashFiles` over the workspace, and step conditions.
//!
//! Invariant: all evaluation goes through `gantry_expr`, including GitHub's implicit
//! `success() &&` of conditions (`gantry_expr::evaluate_condition`).
//! Tests: the `tests` module below; end to end in `tests/host.rs`.

use std::collections::HashMap;
use std::path::Path;

use gantry_expr::{Contexts, Host, StatusFunction, Value};

/// The named values one evaluation sees: the job's base contexts plus the current scope's `env`,
/// `steps` and (in a composite action) `inputs` and an adjusted `github`.
pub struct Scope<'a> {
    pub base: &'a HashMap<String, Value>,
    pub env: Value,
    pub steps: Value,
    pub inputs: Option<Value>,
    pub github: Option<Value>,
    /// `job.status` so far (`success`, `failure`, `cancelled`).
    pub job_status: &'static str,
}

impl Contexts for Scope<'_> {
    fn named_value(&self, name: &str) -> Option<Value> {
        let lower = name.to_ascii_lowercase();
        match lower.as_str() {
            "env" => Some(self.env.clone()),
            "steps" => Some(self.steps.clone()),
            "inputs" if self.inputs.is_some() => self.inputs.clone(),
            "github" if self.github.is_some() => self.github.clone(),
            "job" => {
                let mut job = match self.base.get("job") {
                    Some(Value::Object(m)) => (**m).clone(),
                    _ => gantry_expr::Map::new(),
                };
                job.insert("status", Value::from(self.job_status));
                Some(Value::from(job))
            }
            _ => self.base.get(&lower).cloned(),
        }
    }
}

/// Job status as the status functions see it.
#[derive(Debug, Clone)]
pub struct StatusHost<'a> {
    pub failed: bool,
    pub cancelled: bool,
    pub workspace: &'a Path,
}

impl Host for StatusHost<'_> {
    fn status(&self, f: StatusFunction) -> Result<bool, String> {
        Ok(match f {
            StatusFunction::Success => !self.failed && !self.cancelled,
            StatusFunction::Always => true,
            StatusFunction::Failure => self.failed,
            StatusFunction::Cancelled => self.cancelled,
        })
    }

    fn hash_files(&self, patterns: &[String]) -> Result<String, String> {
        crate::hash_files::hash_files(self.workspace, patterns).map_err(|e| {
            let mut message = e.to_string();
            if let Some(source) = std::error::Error::source(&e) {
                message.push_str(&format!(": {source}"));
            }
            message
        })
    }
}

/// A step-level `${{ }}` that failed, or a setting of the wrong type.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// Shown as GitHub's message without the position (the log names the step).
    #[error("{}", .0.message)]
    Expression(gantry_expr::Error),
    #[error("timeout-minutes must be a number, got '{got}'")]
    MinutesNotANumber { got: String },
    #[error("timeout-minutes must be a positive number, got {minutes}")]
    MinutesNotPositive { minutes: f64 },
}

impl From<gantry_expr::Error> for EvalError {
    fn from(error: gantry_expr::Error) -> EvalError {
        EvalError::Expression(error)
    }
}

/// Evaluates a template: a single `${{ }}` keeps its value's type, anything else is a string.
pub fn eval_value(raw: &str, contexts: &dyn Contexts, host: &dyn Host) -> Result<Value, EvalError> {
    if !raw.contains("${{") {
        return Ok(Value::from(raw));
    }
    let template = gantry_expr::parse_template(raw)?;
    if let Some(expr) = template.as_single_expr() {
        return gantry_expr::evaluate(expr, contexts, host).map_err(EvalError::from);
    }
    gantry_expr::evaluate_template(&template, contexts, host)
        .map(Value::from)
        .map_err(EvalError::from)
}

/// Evaluates a template to a string (as interpolated into `run:`, `env:`, `with:`).
pub fn eval_string(
    raw: &str,
    contexts: &dyn Contexts,
    host: &dyn Host,
) -> Result<String, EvalError> {
    if !raw.contains("${{") {
        return Ok(raw.to_owned());
    }
    let template = gantry_expr::parse_template(raw)?;
    gantry_expr::evaluate_template(&template, contexts, host).map_err(EvalError::from)
}

/// `continue-on-error` and similar booleans: `true`, `"true"`, or an expression giving either.
pub fn eval_bool(raw: &str, contexts: &dyn Contexts, host: &dyn Host) -> Result<bool, EvalError> {
    let value = eval_value(raw.trim(), contexts, host)?;
    Ok(match &value {
        Value::Bool(b) => *b,
        Value::String(s) => s.trim().eq_ignore_ascii_case("true"),
        other => other.is_truthy(),
    })
}

/// `timeout-minutes` of a step: a number or an expression giving one.
pub fn eval_minutes(raw: &str, contexts: &dyn Contexts, host: &dyn Host) -> Result<f64, EvalError> {
    let value = eval_value(raw.trim(), contexts, host)?;
    let minutes = match &value {
        Value::Number(n) => *n,
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .map_err(|_| EvalError::MinutesNotANumber { got: s.to_string() })?,
        _ => value.to_number(),
    };
    if minutes.is_nan() || minutes < 0.0 {
        return Err(EvalError::MinutesNotPositive { minutes });
    }
    Ok(minutes)
}

/// Evaluates a step's `if:` (GitHub's implicit `success() &&` lives in
/// [`gantry_expr::evaluate_condition`]).
pub fn eval_condition(
    raw: &str,
    contexts: &dyn Contexts,
    host: &dyn Host,
) -> Result<bool, EvalError> {
    gantry_expr::evaluate_condition(raw, contexts, host).map_err(EvalError::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gantry_expr::Map;

    fn base() -> HashMap<String, Value> {
        let mut m = HashMap::new();
        let mut matrix = Map::new();
        matrix.insert("os", Value::from("linux"));
        matrix.insert("experimental", Value::from(true));
        m.insert("matrix".to_owned(), Value::from(matrix));
        m
    }

    fn check_condition(raw: &str, failed: bool, cancelled: bool, expected: Result<bool, ()>) {
        let base = base();
        let mut env = Map::new();
        env.insert("FOO", Value::from("bar"));
        let scope = Scope {
            base: &base,
            env: Value::from(env),
            steps: Value::from(Map::new()),
            inputs: None,
            github: None,
            job_status: "success",
        };
        let host = StatusHost {
            failed,
            cancelled,
            workspace: Path::new("/nonexistent"),
        };
        let got = eval_condition(raw, &scope, &host).map_err(|_| ());
        assert_eq!(
            got, expected,
            "{raw:?} failed={failed} cancelled={cancelled}"
        );
    }

    #[test]
    fn conditions() {
        check_condition("", false, false, Ok(true));
        check_condition("", true, false, Ok(false));
        check_condition("success()", false, false, Ok(true));
        check_condition("success()", true, false, Ok(false));
        check_condition("success()", false, true, Ok(false));
        check_condition("always()", true, true, Ok(true));
        check_condition("failure()", true, false, Ok(true));
        check_condition("failure()", false, false, Ok(false));
        check_condition("cancelled()", false, true, Ok(true));
        check_condition("${{ always() }}", true, false, Ok(true));
        check_condition("env.FOO == 'bar'", false, false, Ok(true));
        check_condition("env.FOO == 'bar'", true, false, Ok(false));
        check_condition("${{ matrix.os == 'linux' }}", false, false, Ok(true));
        check_condition("matrix.os == 'mac'", false, false, Ok(false));
        check_condition("failure() || env.FOO == 'bar'", false, false, Ok(true));
        // Not evaluated behind a false success(): no error.
        check_condition("fromJSON('{')", true, false, Ok(false));
        check_condition("fromJSON('{')", false, false, Err(()));
    }
}
