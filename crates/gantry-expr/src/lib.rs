//! `${{ }}` expression language: lexer, parser, AST, values, evaluation. No YAML, no IO.
//!
//! The pipeline, one file per stage: `span` / `error` (positions and the error type), `lexer` and
//! `token` (text to tokens), `parser` and `ast` (tokens to a tree, with GitHub's depth limit and
//! named-value checks), `value` / `json` / `coerce` (runtime values, string forms, loose
//! equality), `number` (number to text, one function per GitHub surface), `eval` and `functions`
//! (evaluation), `template` (strings with embedded `${{ }}`), `condition` (`if:` with GitHub's
//! implicit `success() &&`).
//!
//! ```
//! use gantry_expr::{evaluate, parse, Map, NoHost, Value};
//!
//! let mut contexts = Map::new();
//! contexts.insert("github", Value::from_json(&serde_json::json!({"event_name": "push"})));
//! let expr = parse("github.event_name == 'PUSH' && 'yes' || 'no'").unwrap();
//! let value = evaluate(&expr, &contexts, &NoHost).unwrap();
//! assert_eq!(value.to_interpolated_string(), "yes");
//! ```
//!
//! Semantics are GitHub's (actions/runner and actions/languageservices), checked against the
//! languageservices conformance cases. Where the two differ we follow the cases: numbers print in
//! JavaScript's shortest form rounded to 15 decimals, error positions count UTF-16 units from the
//! start of the whole expression. One deliberate addition: each comparison operator counts toward
//! the nesting limit of 50, so `a == b == c == ...` cannot build a tree deep enough to exhaust the
//! stack.
//!
//! Invariant: no input, however large or malformed, panics or overflows the stack; every error
//! carries a span into the text it came from. Tests: `tests/` (conformance data from
//! actions/languageservices and actionlint, unit tests, bad input), `benches/eval.rs`, and the
//! `expr_parse` fuzz target in `fuzz/`.

mod ast;
mod coerce;
mod condition;
mod error;
mod eval;
mod functions;
mod json;
mod lexer;
pub mod number;
mod parser;
mod span;
mod template;
mod token;
mod value;

pub use ast::{CompareOp, Expr, ExprKind};
pub use condition::{evaluate_condition, uses_status_function};
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
