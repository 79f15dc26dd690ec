//! `if:` conditions as GitHub evaluates them: one place for the implicit `success() &&`.
//!
//! GitHub's rule (actions/runner `PipelineTemplateConverter.ConvertToIfCondition`, and
//! actions/languageservices `convertToIfCondition`): an empty condition is `success()`; a
//! condition that calls none of `success()`, `failure()`, `cancelled()`, `always()` (in any case,
//! anywhere in the tree) becomes `success() && (condition)`. The text is an expression whether or
//! not it is wrapped in `${{ }}`; text mixed with `${{ }}` is a string template, so it is true when
//! it renders to a non-empty string (and it is behind the implicit `success()` like any condition).
//!
//! Invariant: `&&` short-circuits, so behind a false `success()` the condition itself is not
//! evaluated and its errors cannot fail a job or step that is skipped anyway. Used by the
//! scheduler (job `if:`) and the executor (step `if:`). Tests: `tests/unit.rs` (conditions).

use crate::ast::{Expr, ExprKind};
use crate::error::{Error, ErrorKind};
use crate::eval::{evaluate, Contexts, Host, StatusFunction};
use crate::span::Span;
use crate::template::{evaluate_template, parse_template};

/// Whether `expr` calls a status function anywhere, so that no implicit `success() &&` applies.
pub fn uses_status_function(expr: &Expr) -> bool {
    let mut found = false;
    expr.walk(&mut |node| {
        if let ExprKind::Call { name, .. } = &node.kind {
            let status_functions = [
                StatusFunction::Success,
                StatusFunction::Always,
                StatusFunction::Failure,
                StatusFunction::Cancelled,
            ];
            if status_functions
                .iter()
                .any(|f| name.eq_ignore_ascii_case(f.name()))
            {
                found = true;
            }
        }
    });
    found
}

/// Evaluates an `if:` condition (bare, wrapped in `${{ }}`, or empty) for the status `host`
/// reports.
pub fn evaluate_condition(
    text: &str,
    contexts: &dyn Contexts,
    host: &dyn Host,
) -> Result<bool, Error> {
    let text = text.trim();
    let success = || {
        host.status(StatusFunction::Success)
            .map_err(|message| Error::new(ErrorKind::Evaluation, message, Span::new(0, 0), text))
    };
    if text.is_empty() {
        return success();
    }
    let template;
    let bare;
    let expr: &Expr = if text.contains("${{") {
        template = parse_template(text)?;
        match template.as_single_expr() {
            Some(expr) => expr,
            None => {
                if !success()? {
                    return Ok(false);
                }
                let rendered = evaluate_template(&template, contexts, host)?;
                return Ok(!rendered.is_empty());
            }
        }
    } else {
        bare = crate::parser::parse(text)?;
        &bare
    };
    if !uses_status_function(expr) && !success()? {
        return Ok(false);
    }
    Ok(evaluate(expr, contexts, host)?.is_truthy())
}
