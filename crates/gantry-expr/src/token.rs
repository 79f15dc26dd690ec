//! Tokens produced by the lexer.
//!
//! Invariant: every token carries the span of its text in the expression source; identifiers are
//! classified by context at lex time (named value, function, property name), as GitHub does.
//! Tests: `tests/unit.rs` (lexer section).

use crate::span::Span;

#[derive(Debug, Clone, PartialEq)]
pub enum TokenKind {
    /// `(` opening a group.
    StartGroup,
    /// `(` right after a function name.
    StartParameters,
    /// `[`
    StartIndex,
    /// `)` closing a group.
    EndGroup,
    /// `)` closing a parameter list.
    EndParameters,
    /// `]`
    EndIndex,
    /// `,`
    Separator,
    /// `.`
    Dereference,
    /// `*` after `.` or inside `[ ]`.
    Wildcard,
    /// `!`, `!=`, `==`, `<`, `<=`, `>`, `>=`, `&&`, `||`
    Operator(Operator),
    Number(f64),
    String(String),
    Boolean(bool),
    Null,
    /// An identifier right after `.`.
    PropertyName(String),
    /// An identifier followed by `(`.
    Function(String),
    /// Any other identifier (a context name such as `github`).
    NamedValue(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    Not,
    NotEqual,
    Equal,
    Less,
    LessEqual,
    Greater,
    GreaterEqual,
    And,
    Or,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub kind: TokenKind,
    pub span: Span,
}
