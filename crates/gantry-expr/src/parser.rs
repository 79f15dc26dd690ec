//! Builds the expression tree from tokens, checking named values and function arity.
//!
//! Invariant: nesting deeper than [`MAX_DEPTH`] is a Parsing error, counted as GitHub counts it
//! (each group, argument, index, `!`, `&&`/`||` chain and property step is one level; additionally
//! each comparison operator, so chains like `a == b == c ...` cannot build deep trees). Recursion is
//! therefore bounded and later recursive passes cannot overflow the stack.
//! Tests: `tests/unit.rs`, `tests/languageservices.rs`, `tests/bad_input.rs`.

use std::sync::Arc;

use crate::ast::{CompareOp, Expr, ExprKind};
use crate::error::{Error, ErrorKind};
use crate::functions::function_arity;
use crate::span::Span;
use crate::token::{Operator, Token, TokenKind};

/// GitHub's limit on nesting.
pub const MAX_DEPTH: usize = 50;
/// GitHub's limit on expression length (UTF-16 units).
pub const MAX_LENGTH: usize = 21_000;

/// What the parser accepts beyond the syntax.
#[derive(Debug, Clone, Default)]
pub struct ParseOptions {
    /// `None`: any named value. `Some(names)`: only these (case-insensitive); another name is a
    /// Parsing error `Unrecognized named-value: 'x'`.
    pub named_values: Option<Vec<String>>,
    /// Function names accepted in addition to the built-in ones (any number of arguments).
    pub extra_functions: Vec<String>,
}

impl ParseOptions {
    /// Only these named values are allowed.
    pub fn with_named_values<S: AsRef<str>>(names: &[S]) -> ParseOptions {
        ParseOptions {
            named_values: Some(names.iter().map(|n| n.as_ref().to_owned()).collect()),
            extra_functions: Vec::new(),
        }
    }
}

/// Parses an expression body (the text inside `${{ }}`). An empty body is `null`.
pub fn parse(src: &str) -> Result<Expr, Error> {
    parse_with(src, &ParseOptions::default())
}

/// Parses with named-value and function restrictions.
pub fn parse_with(src: &str, opts: &ParseOptions) -> Result<Expr, Error> {
    let tokens = crate::lexer::lex(src)?;
    let mut parser = Parser {
        src,
        tokens: &tokens,
        pos: 0,
        depth: 0,
        opts,
    };
    if tokens.is_empty() {
        return Ok(Expr::new(ExprKind::Null, Span::new(0, 0)));
    }
    let expr = parser.expression()?;
    if let Some(token) = parser.peek() {
        return Err(parser.error(Problem::UnexpectedSymbol, Some(token)));
    }
    Ok(expr)
}

#[derive(Clone, Copy)]
enum Problem {
    UnexpectedSymbol,
    UnexpectedEnd,
    UnrecognizedNamedValue,
    UnrecognizedFunction,
    TooFewParameters,
    TooManyParameters,
    EvenParameters,
    MaxDepth,
}

impl Problem {
    fn description(self) -> String {
        match self {
            Problem::UnexpectedSymbol => "Unexpected symbol".to_owned(),
            Problem::UnexpectedEnd => "Unexpected end of expression".to_owned(),
            Problem::UnrecognizedNamedValue => "Unrecognized named-value".to_owned(),
            Problem::UnrecognizedFunction => "Unrecognized function".to_owned(),
            Problem::TooFewParameters => "Too few parameters supplied".to_owned(),
            Problem::TooManyParameters => "Too many parameters supplied".to_owned(),
            Problem::EvenParameters => {
                "Even number of parameters supplied, requires an odd number of parameters"
                    .to_owned()
            }
            Problem::MaxDepth => format!("Exceeded max expression depth {MAX_DEPTH}"),
        }
    }
}

struct Parser<'a> {
    src: &'a str,
    tokens: &'a [Token],
    pos: usize,
    depth: usize,
    opts: &'a ParseOptions,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<&'a Token> {
        self.tokens.get(self.pos)
    }

    fn previous(&self) -> Option<&'a Token> {
        self.pos.checked_sub(1).and_then(|i| self.tokens.get(i))
    }

    fn check(&self, f: impl Fn(&TokenKind) -> bool) -> bool {
        self.peek().is_some_and(|t| f(&t.kind))
    }

    fn advance(&mut self) -> Option<&'a Token> {
        let token = self.peek();
        if token.is_some() {
            self.pos += 1;
        }
        token
    }

    fn eat(&mut self, f: impl Fn(&TokenKind) -> bool) -> Option<&'a Token> {
        if self.check(f) {
            self.advance()
        } else {
            None
        }
    }

    fn eat_operator(&mut self, ops: &[Operator]) -> Option<(Operator, &'a Token)> {
        match self.peek() {
            Some(
                token @ Token {
                    kind: TokenKind::Operator(op),
                    ..
                },
            ) if ops.contains(op) => {
                self.pos += 1;
                Some((*op, token))
            }
            _ => None,
        }
    }

    /// `token` `None` means end of input.
    fn error(&self, problem: Problem, token: Option<&Token>) -> Error {
        let (text, span) = match token {
            None => ("EOF".to_owned(), Span::new(self.src.len(), self.src.len())),
            Some(Token {
                kind: TokenKind::String(value),
                span,
            }) => (value.clone(), *span),
            Some(token) => (token.span.text(self.src).to_owned(), token.span),
        };
        Error::new(
            ErrorKind::Parsing,
            format!("{}: '{text}'", problem.description()),
            span,
            self.src,
        )
    }

    fn incr_depth(&mut self) -> Result<(), Error> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(Problem::MaxDepth, self.peek()));
        }
        Ok(())
    }

    fn expression(&mut self) -> Result<Expr, Error> {
        self.incr_depth()?;
        let result = self.logical(Operator::Or);
        self.depth -= 1;
        result
    }

    /// `a || b || ...` (over `&&` chains) or `a && b && ...` (over equality).
    fn logical(&mut self, op: Operator) -> Result<Expr, Error> {
        let first = if op == Operator::Or {
            self.logical(Operator::And)?
        } else {
            self.equality()?
        };
        if !self.check(|k| *k == TokenKind::Operator(op)) {
            return Ok(first);
        }
        self.incr_depth()?;
        let mut items = vec![first];
        while self.eat_operator(&[op]).is_some() {
            let next = if op == Operator::Or {
                self.logical(Operator::And)
            } else {
                self.equality()
            };
            match next {
                Ok(next) => items.push(next),
                Err(e) => {
                    self.depth -= 1;
                    return Err(e);
                }
            }
        }
        self.depth -= 1;
        let span = span_of_items(&items);
        let kind = if op == Operator::Or {
            ExprKind::Or(items)
        } else {
            ExprKind::And(items)
        };
        Ok(Expr::new(kind, span))
    }

    fn equality(&mut self) -> Result<Expr, Error> {
        self.binary_chain(&[Operator::Equal, Operator::NotEqual], Parser::comparison)
    }

    fn comparison(&mut self) -> Result<Expr, Error> {
        self.binary_chain(
            &[
                Operator::Greater,
                Operator::GreaterEqual,
                Operator::Less,
                Operator::LessEqual,
            ],
            Parser::unary,
        )
    }

    fn binary_chain(
        &mut self,
        ops: &[Operator],
        operand: fn(&mut Parser<'a>) -> Result<Expr, Error>,
    ) -> Result<Expr, Error> {
        let mut expr = operand(self)?;
        let depth_before = self.depth;
        let result = (|| {
            while let Some((op, _)) = self.eat_operator(ops) {
                // Each operator nests the tree one level deeper on the left.
                self.incr_depth()?;
                let right = operand(self)?;
                let span = expr.span.to(right.span);
                let op = match op {
                    Operator::Equal => CompareOp::Equal,
                    Operator::NotEqual => CompareOp::NotEqual,
                    Operator::Greater => CompareOp::Greater,
                    Operator::GreaterEqual => CompareOp::GreaterEqual,
                    Operator::Less => CompareOp::Less,
                    _ => CompareOp::LessEqual,
                };
                let left = std::mem::replace(&mut expr, Expr::new(ExprKind::Null, span));
                expr = Expr::new(ExprKind::Compare(op, Box::new(left), Box::new(right)), span);
            }
            Ok(())
        })();
        self.depth = depth_before;
        result.map(|()| expr)
    }

    fn unary(&mut self) -> Result<Expr, Error> {
        if let Some((_, bang)) = self.eat_operator(&[Operator::Not]) {
            self.incr_depth()?;
            let operand = self.unary();
            self.depth -= 1;
            let operand = operand?;
            let span = bang.span.to(operand.span);
            return Ok(Expr::new(ExprKind::Not(Box::new(operand)), span));
        }
        self.index()
    }

    fn index(&mut self) -> Result<Expr, Error> {
        let (mut expr, indexable) = self.call()?;
        if !indexable {
            return Ok(expr);
        }
        let depth_before = self.depth;
        let result = (|| loop {
            if self.eat(|k| *k == TokenKind::StartIndex).is_some() {
                let star = self.eat(|k| *k == TokenKind::Wildcard).is_some();
                let index = if star { None } else { Some(self.expression()?) };
                let Some(close) = self.eat(|k| *k == TokenKind::EndIndex) else {
                    return Err(self.error(Problem::UnexpectedSymbol, self.peek()));
                };
                self.incr_depth()?;
                let span = expr.span.to(close.span);
                let obj = Box::new(std::mem::replace(
                    &mut expr,
                    Expr::new(ExprKind::Null, span),
                ));
                let kind = match index {
                    None => ExprKind::Star(obj),
                    Some(index) => ExprKind::Index(obj, Box::new(index)),
                };
                expr = Expr::new(kind, span);
            } else if self.eat(|k| *k == TokenKind::Dereference).is_some() {
                self.incr_depth()?;
                let step = match self.peek() {
                    Some(
                        token @ Token {
                            kind: TokenKind::PropertyName(name),
                            ..
                        },
                    ) => (Some(name.as_str()), token),
                    Some(
                        token @ Token {
                            kind: TokenKind::Wildcard,
                            ..
                        },
                    ) => (None, token),
                    other => return Err(self.error(Problem::UnexpectedSymbol, other)),
                };
                self.pos += 1;
                let span = expr.span.to(step.1.span);
                let obj = Box::new(std::mem::replace(
                    &mut expr,
                    Expr::new(ExprKind::Null, span),
                ));
                let kind = match step.0 {
                    Some(name) => ExprKind::Property(obj, Arc::from(name)),
                    None => ExprKind::Star(obj),
                };
                expr = Expr::new(kind, span);
            } else {
                return Ok(());
            }
        })();
        self.depth = depth_before;
        result.map(|()| expr)
    }

    /// A function call, a named value, or a primary. The flag tells whether `.x` / `[x]` may follow.
    fn call(&mut self) -> Result<(Expr, bool), Error> {
        let Some(token) = self.peek() else {
            return self.primary().map(|e| (e, true));
        };
        match &token.kind {
            TokenKind::NamedValue(name) => {
                self.pos += 1;
                if let Some(allowed) = &self.opts.named_values {
                    if !allowed.iter().any(|a| a.eq_ignore_ascii_case(name)) {
                        return Err(self.error(Problem::UnrecognizedNamedValue, Some(token)));
                    }
                }
                Ok((
                    Expr::new(ExprKind::NamedValue(Arc::from(name.as_str())), token.span),
                    true,
                ))
            }
            TokenKind::Function(name) => {
                self.pos += 1;
                // The lexer only makes a Function token when `(` follows.
                self.eat(|k| *k == TokenKind::StartParameters);
                let mut args = Vec::new();
                let close = loop {
                    if let Some(close) = self.eat(|k| *k == TokenKind::EndParameters) {
                        break close;
                    }
                    args.push(self.expression()?);
                    if !self.check(|k| *k == TokenKind::EndParameters)
                        && self.eat(|k| *k == TokenKind::Separator).is_none()
                    {
                        return Err(self.error(Problem::UnexpectedSymbol, self.peek()));
                    }
                };
                self.validate_function(token, name, args.len())?;
                let span = token.span.to(close.span);
                Ok((
                    Expr::new(
                        ExprKind::Call {
                            name: Arc::from(name.as_str()),
                            args,
                        },
                        span,
                    ),
                    true,
                ))
            }
            _ => {
                let grouped = self.check(|k| *k == TokenKind::StartGroup);
                self.primary().map(|e| (e, grouped))
            }
        }
    }

    fn validate_function(&self, token: &Token, name: &str, n_args: usize) -> Result<(), Error> {
        let Some((min, max)) = function_arity(name) else {
            if self
                .opts
                .extra_functions
                .iter()
                .any(|f| f.eq_ignore_ascii_case(name))
            {
                return Ok(());
            }
            return Err(self.error(Problem::UnrecognizedFunction, Some(token)));
        };
        if n_args < min {
            return Err(self.error(Problem::TooFewParameters, Some(token)));
        }
        if n_args > max {
            return Err(self.error(Problem::TooManyParameters, Some(token)));
        }
        if name.eq_ignore_ascii_case("case") && n_args % 2 == 0 {
            return Err(self.error(Problem::EvenParameters, Some(token)));
        }
        Ok(())
    }

    fn primary(&mut self) -> Result<Expr, Error> {
        let Some(token) = self.peek() else {
            return Err(self.error(Problem::UnexpectedEnd, self.previous()));
        };
        let kind = match &token.kind {
            TokenKind::Boolean(b) => ExprKind::Bool(*b),
            TokenKind::Null => ExprKind::Null,
            TokenKind::Number(n) => ExprKind::Number(*n),
            TokenKind::String(s) => ExprKind::String(Arc::from(s.as_str())),
            TokenKind::StartGroup => {
                self.pos += 1;
                let mut inner = self.expression()?;
                if self.peek().is_none() {
                    return Err(self.error(Problem::UnexpectedEnd, self.previous()));
                }
                let Some(close) = self.eat(|k| *k == TokenKind::EndGroup) else {
                    return Err(self.error(Problem::UnexpectedSymbol, self.peek()));
                };
                inner.span = token.span.to(close.span);
                return Ok(inner);
            }
            _ => return Err(self.error(Problem::UnexpectedSymbol, Some(token))),
        };
        self.pos += 1;
        Ok(Expr::new(kind, token.span))
    }
}

fn span_of_items(items: &[Expr]) -> Span {
    match (items.first(), items.last()) {
        (Some(first), Some(last)) => first.span.to(last.span),
        _ => Span::default(),
    }
}
