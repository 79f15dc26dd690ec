//! `${{ }}` expression language: lexer, parser, AST, values, evaluation. No YAML, no IO.
//!
//! The pipeline, one file per stage: `span` / `error` (positions and the error type), `lexer` and
//! `token` (text to tokens), `parser` and `ast` (tokens to a tree, with GitHub's depth limit and
//! named-value checks), `value` / `json` (runtime values, coercions, toJSON), `eval` and
//! `functions` (evaluation), `template` (strings with embedded `${{ }}`).
//!
//! Invariant: no input, however large or malformed, panics or overflows the stack; every error
//! carries a span into the text it came from. Tests: `tests/` (conformance data from
//! actions/languageservices and actionlint, unit tests, bad input) and `benches/eval.rs`.

mod ast;
mod coerce;
mod error;
mod eval;
mod functions;
mod json;
mod lexer;
mod parser;
mod span;
mod template;
mod token;
mod value;

pub use ast::{CompareOp, Expr, ExprKind};
pub use error::{Error, ErrorKind};
pub use eval::{evaluate, Contexts, Host, NoHost, StatusFunction, MAX_MEMORY};
pub use functions::{function_arity, function_name};
pub use lexer::lex;
pub use parser::{parse, parse_with, ParseOptions, MAX_DEPTH, MAX_LENGTH};
pub use span::Span;
pub use template::{
    evaluate_template, parse_template, parse_template_with, Template, TemplatePart,
};
pub use token::{Operator, Token, TokenKind};
pub use value::{Map, Value, ValueKind};
