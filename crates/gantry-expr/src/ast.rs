//! The expression tree.
//!
//! Invariant: every node carries the span of the source text it was parsed from (for a call, from
//! the function name to the closing parenthesis). Nesting depth is bounded by the parser, so
//! recursive walks over a parsed tree cannot overflow the stack. Tests: `tests/unit.rs`.

use std::sync::Arc;

use crate::span::Span;

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    Equal,
    NotEqual,
    Less,
    LessEqual,
    Greater,
    GreaterEqual,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Null,
    Bool(bool),
    Number(f64),
    String(Arc<str>),
    /// A context name such as `github`, `env`, `matrix` (as written).
    NamedValue(Arc<str>),
    /// `obj.name`
    Property(Box<Expr>, Arc<str>),
    /// `obj[index]`
    Index(Box<Expr>, Box<Expr>),
    /// `obj.*` or `obj[*]`: an object filter; later property/index steps apply to each element.
    Star(Box<Expr>),
    /// `!operand`
    Not(Box<Expr>),
    Compare(CompareOp, Box<Expr>, Box<Expr>),
    /// `a && b && ...` (flattened, at least two operands)
    And(Vec<Expr>),
    /// `a || b || ...` (flattened, at least two operands)
    Or(Vec<Expr>),
    /// `name(args)`; `name` as written in the source.
    Call {
        name: Arc<str>,
        args: Vec<Expr>,
    },
}

impl Expr {
    pub fn new(kind: ExprKind, span: Span) -> Expr {
        Expr { kind, span }
    }

    /// Pre-order visit of this node and all its descendants.
    pub fn walk(&self, f: &mut dyn FnMut(&Expr)) {
        // Explicit stack: safe for any tree shape, visits children left to right.
        let mut stack: Vec<&Expr> = vec![self];
        while let Some(expr) = stack.pop() {
            f(expr);
            let before = stack.len();
            match &expr.kind {
                ExprKind::Null
                | ExprKind::Bool(_)
                | ExprKind::Number(_)
                | ExprKind::String(_)
                | ExprKind::NamedValue(_) => {}
                ExprKind::Property(obj, _) | ExprKind::Star(obj) | ExprKind::Not(obj) => {
                    stack.push(obj)
                }
                ExprKind::Index(obj, index) | ExprKind::Compare(_, obj, index) => {
                    stack.push(obj);
                    stack.push(index);
                }
                ExprKind::And(items) | ExprKind::Or(items) | ExprKind::Call { args: items, .. } => {
                    stack.extend(items.iter())
                }
            }
            stack[before..].reverse();
        }
    }
}

/// Canonical source form (used in messages that quote the expression): literals as written in
/// expression syntax, comparisons and logical chains parenthesised, function names as written.
impl std::fmt::Display for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            ExprKind::Null => f.write_str("null"),
            ExprKind::Bool(b) => write!(f, "{b}"),
            ExprKind::Number(n) => f.write_str(&crate::number::javascript_text(*n)),
            ExprKind::String(s) => write!(f, "'{}'", s.replace('\'', "''")),
            ExprKind::NamedValue(name) => f.write_str(name),
            ExprKind::Property(obj, name) => write!(f, "{obj}.{name}"),
            ExprKind::Index(obj, index) => write!(f, "{obj}[{index}]"),
            ExprKind::Star(obj) => write!(f, "{obj}.*"),
            ExprKind::Not(operand) => write!(f, "!{operand}"),
            ExprKind::Compare(op, left, right) => {
                let op = match op {
                    CompareOp::Equal => "==",
                    CompareOp::NotEqual => "!=",
                    CompareOp::Less => "<",
                    CompareOp::LessEqual => "<=",
                    CompareOp::Greater => ">",
                    CompareOp::GreaterEqual => ">=",
                };
                write!(f, "({left} {op} {right})")
            }
            ExprKind::And(items) | ExprKind::Or(items) => {
                let op = if matches!(self.kind, ExprKind::And(_)) {
                    " && "
                } else {
                    " || "
                };
                f.write_str("(")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(op)?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str(")")
            }
            ExprKind::Call { name, args } => {
                write!(f, "{name}(")?;
                for (i, arg) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{arg}")?;
                }
                f.write_str(")")
            }
        }
    }
}
