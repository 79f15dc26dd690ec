//! Why a job fails before the executor sees it: typed errors of job-level evaluation and of
//! preparing a leg, turned into the job's error text once, with their causes (`render`).
//!
//! Invariant: the rendered text is the message chain joined by `: `, so a cause is written once,
//! in its own error, and the job's error reads `runs-on: expected a boolean, got …`.
//! Tests: the scenario tests (`tests/scenarios/`) pin the texts.

/// A job-level `${{ }}` that failed or gave the wrong type.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum EvalError {
    #[error(transparent)]
    Expression(#[from] gantry_expr::Error),
    #[error("expected a boolean, got {got}")]
    NotABoolean { got: String },
    #[error("expected a number, got '{got}'")]
    NotANumberText { got: String },
    #[error("expected a number, got {got}")]
    NotANumber { got: String },
    #[error("expected a finite number")]
    NotFinite,
}

/// A `workflow_call` input given with the wrong type.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum InputTypeError {
    #[error("input {name} must be a number, got '{got}'")]
    NotANumberText { name: String, got: String },
    #[error("input {name} must be a {expected}, got {got}")]
    WrongType {
        name: String,
        expected: String,
        got: String,
    },
}

/// Preparing a job (its matrix) or one leg of it (its `JobSpec`, or the inputs and secrets of a
/// call to a reusable workflow).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum PrepareError {
    #[error("runs-on")]
    RunsOn(#[source] EvalError),
    #[error("timeout-minutes")]
    TimeoutMinutes(#[source] EvalError),
    #[error("timeout-minutes must be greater than 0, got {0}")]
    TimeoutNotPositive(f64),
    #[error("concurrency")]
    Concurrency(#[source] EvalError),
    #[error("internal: job is not running")]
    NotRunning,
    #[error("invalid input, {0} is not defined in the referenced workflow")]
    UnknownInput(String),
    #[error("input {0} is required, but not provided while calling")]
    MissingInput(String),
    #[error("secret {0} is required, but not provided while calling")]
    MissingSecret(String),
    #[error(transparent)]
    InputType(#[from] InputTypeError),
    #[error(transparent)]
    Eval(#[from] EvalError),
    #[error(transparent)]
    Matrix(#[from] gantry_plan::matrix::MatrixError),
}

pub(crate) use gantry_plan::error_chain as render;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_with_causes_once() {
        let err = PrepareError::TimeoutMinutes(EvalError::NotANumberText { got: "soon".into() });
        assert_eq!(
            render(&err),
            "timeout-minutes: expected a number, got 'soon'"
        );
        let err = PrepareError::Eval(EvalError::NotFinite);
        assert_eq!(render(&err), "expected a finite number");
        let err = PrepareError::from(InputTypeError::WrongType {
            name: "flag".into(),
            expected: "boolean".into(),
            got: "3".into(),
        });
        assert_eq!(render(&err), "input flag must be a boolean, got 3");
    }
}
