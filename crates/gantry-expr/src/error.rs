//! The one error type of the crate: lexing, parsing or evaluation failure with a position.
//!
//! Invariant: `span` indexes `expression` (the text that was being lexed, parsed or evaluated), so the
//! rendered message can always point at it. The rendering follows GitHub's wording:
//! `<message>. Located at position <n> within expression: <expression>` where `n` is the 1-based
//! character position. Tests: `tests/unit.rs`, `tests/languageservices.rs`.

use crate::span::Span;

/// Which stage failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    Lexing,
    Parsing,
    Evaluation,
}

/// A lexing, parsing or evaluation error.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}. Located at position {} within expression: {expression}", self.position())]
pub struct Error {
    pub kind: ErrorKind,
    /// GitHub's message without the location suffix, e.g. `Unexpected symbol: '2'`.
    pub message: String,
    /// Where in `expression` the problem is.
    pub span: Span,
    /// The source text `span` points into.
    pub expression: String,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>, span: Span, expression: &str) -> Error {
        Error {
            kind,
            message: message.into(),
            span,
            expression: expression.to_owned(),
        }
    }

    /// 1-based character (not byte) position of the start of `span` in `expression`.
    pub fn position(&self) -> usize {
        let start = (self.span.start as usize).min(self.expression.len());
        let prefix = self.expression.get(..start).unwrap_or(&self.expression);
        prefix.chars().count() + 1
    }
}
