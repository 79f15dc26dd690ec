//! Strings with embedded `${{ }}` expressions (`"text ${{ a }} more"`).
//!
//! Invariant: parts cover the template in order; literal parts never contain `${{`; each
//! expression part keeps the span of its whole `${{ ... }}` in the template, and errors point into
//! the template text. Tests: `tests/unit.rs` (template section).

use crate::ast::Expr;
use crate::error::{Error, ErrorKind};
use crate::eval::{Contexts, Host};
use crate::parser::ParseOptions;
use crate::span::Span;

#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub parts: Vec<TemplatePart>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TemplatePart {
    Literal(String),
    /// `span` covers the whole `${{ ... }}` in the template text; `expr` spans are offsets into
    /// the template text too.
    Expr {
        expr: Expr,
        span: Span,
    },
}

impl Template {
    /// No `${{ }}` at all.
    pub fn is_literal(&self) -> bool {
        self.parts
            .iter()
            .all(|p| matches!(p, TemplatePart::Literal(_)))
    }

    /// The expression when the whole template is exactly one `${{ }}` (surrounding whitespace is not
    /// allowed; it would make the result a string).
    pub fn as_single_expr(&self) -> Option<&Expr> {
        match self.parts.as_slice() {
            [TemplatePart::Expr { expr, .. }] => Some(expr),
            _ => None,
        }
    }
}

/// Splits a template into literal text and parsed expressions.
pub fn parse_template(src: &str) -> Result<Template, Error> {
    parse_template_with(src, &ParseOptions::default())
}

/// Like [`parse_template`] with named-value and function restrictions.
pub fn parse_template_with(src: &str, _opts: &ParseOptions) -> Result<Template, Error> {
    Err(Error::new(
        ErrorKind::Parsing,
        "template parser not available",
        Span::new(0, 0),
        src,
    ))
}

/// Evaluates each expression and concatenates (values rendered with `to_interpolated_string`).
pub fn evaluate_template(
    t: &Template,
    contexts: &dyn Contexts,
    host: &dyn Host,
) -> Result<String, Error> {
    let mut out = String::new();
    for part in &t.parts {
        match part {
            TemplatePart::Literal(text) => out.push_str(text),
            TemplatePart::Expr { expr, .. } => {
                let value = crate::eval::evaluate(expr, contexts, host)?;
                out.push_str(&value.to_interpolated_string());
            }
        }
    }
    Ok(out)
}
