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
#[error("{}", self.render())]
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

    /// 1-based position of the start of `span` in `expression`, counted in UTF-16 units as GitHub
    /// counts it (equal to the character position for text without astral characters).
    pub fn position(&self) -> usize {
        let start = (self.span.start as usize).min(self.expression.len());
        let prefix = self.expression.get(..start).unwrap_or(&self.expression);
        prefix.encode_utf16().count() + 1
    }

    /// Attaches the source text (evaluation errors are created without it).
    pub fn with_expression(mut self, expression: &str) -> Error {
        expression.clone_into(&mut self.expression);
        self
    }

    /// `<message>. Located at position <n> within expression: <expression>`, or just the message
    /// when the source text is unknown.
    pub fn render(&self) -> String {
        if self.expression.is_empty() && self.kind == ErrorKind::Evaluation {
            return self.message.clone();
        }
        format!(
            "{}. Located at position {} within expression: {}",
            self.message,
            self.position(),
            self.expression
        )
    }
}
