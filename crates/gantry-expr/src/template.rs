//! Strings with embedded `${{ }}` expressions (`"text ${{ a }} more"`).
//!
//! Invariant: parts cover the template in order; literal parts never contain `${{`; each
//! expression part keeps the span of its whole `${{ ... }}` in the template, and errors point into
//! the template text. Tests: `tests/unit.rs` (template section).

use crate::ast::{Expr, ExprKind};
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
///
/// Follows GitHub's reader: `${{` starts an expression, which ends at the first `}}` outside a
/// single-quoted string; the text between is trimmed and must not be empty.
pub fn parse_template_with(src: &str, opts: &ParseOptions) -> Result<Template, Error> {
    let bytes = src.as_bytes();
    let mut parts = Vec::new();
    let mut literal_start = 0;
    let mut search_from = 0;
    while let Some(found) = src.get(search_from..).and_then(|rest| rest.find("${{")) {
        let open = search_from + found;
        let body_start = open + 3;
        let mut in_string = false;
        let mut close = None;
        let mut i = body_start;
        // `i + 1 < len` keeps `bytes[i]` and `bytes[i + 1]` in bounds.
        while i + 1 < bytes.len() {
            match bytes[i] {
                b'\'' => in_string = !in_string,
                b'}' if !in_string && bytes[i + 1] == b'}' => {
                    close = Some(i);
                    break;
                }
                _ => {}
            }
            i += 1;
        }
        let Some(close) = close else {
            return Err(Error::new(
                ErrorKind::Parsing,
                "The expression is not closed. An unescaped ${{ sequence was found, but the closing }} sequence was not found",
                Span::new(open, src.len()),
                src,
            ));
        };
        // `open`, `body_start` and `close` sit next to ASCII bytes, so they are char boundaries.
        let raw_body = &src[body_start..close];
        let trimmed = raw_body.trim_start();
        let body_offset = body_start + (raw_body.len() - trimmed.len());
        let body = trimmed.trim_end();
        let whole = Span::new(open, close + 2);
        if body.is_empty() {
            return Err(Error::new(
                ErrorKind::Parsing,
                "An expression was expected",
                whole,
                src,
            ));
        }
        let mut expr = crate::parser::parse_with(body, opts).map_err(|e| Error {
            span: e.span.shifted(body_offset),
            expression: src.to_owned(),
            ..e
        })?;
        shift_spans(&mut expr, body_offset);
        if literal_start < open {
            parts.push(TemplatePart::Literal(src[literal_start..open].to_owned()));
        }
        parts.push(TemplatePart::Expr { expr, span: whole });
        literal_start = close + 2;
        search_from = close + 2;
    }
    if literal_start < src.len() {
        parts.push(TemplatePart::Literal(src[literal_start..].to_owned()));
    }
    Ok(Template { parts })
}

fn shift_spans(expr: &mut Expr, offset: usize) {
    let mut stack: Vec<&mut Expr> = vec![expr];
    while let Some(e) = stack.pop() {
        e.span = e.span.shifted(offset);
        match &mut e.kind {
            ExprKind::Null
            | ExprKind::Bool(_)
            | ExprKind::Number(_)
            | ExprKind::String(_)
            | ExprKind::NamedValue(_) => {}
            ExprKind::Property(obj, _) | ExprKind::Star(obj) | ExprKind::Not(obj) => {
                stack.push(obj)
            }
            ExprKind::Index(a, b) | ExprKind::Compare(_, a, b) => {
                stack.push(a);
                stack.push(b);
            }
            ExprKind::And(items) | ExprKind::Or(items) | ExprKind::Call { args: items, .. } => {
                stack.extend(items.iter_mut())
            }
        }
    }
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
