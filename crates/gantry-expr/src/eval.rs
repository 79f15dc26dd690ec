//! Evaluates an expression tree against contexts and a host.
//!
//! Invariant: evaluation never panics and never recurses deeper than the parser allowed; errors
//! carry the span of the node that failed. `&&`/`||` short-circuit and return operand values.
//! Tests: `tests/unit.rs`, `tests/languageservices.rs`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::ast::{CompareOp, Expr, ExprKind};
use crate::coerce;
use crate::error::{Error, ErrorKind};
use crate::functions::CallError;
use crate::value::{Map, Value};

/// Supplies named values (`github`, `env`, `matrix`, ...). Lookups ignore case.
pub trait Contexts {
    fn named_value(&self, name: &str) -> Option<Value>;
}

impl Contexts for Map {
    fn named_value(&self, name: &str) -> Option<Value> {
        self.get(name).cloned()
    }
}

impl Contexts for HashMap<String, Value> {
    fn named_value(&self, name: &str) -> Option<Value> {
        if let Some(v) = self.get(name) {
            return Some(v.clone());
        }
        self.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }
}

impl Contexts for BTreeMap<String, Value> {
    fn named_value(&self, name: &str) -> Option<Value> {
        if let Some(v) = self.get(name) {
            return Some(v.clone());
        }
        self.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }
}

/// The job-status functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusFunction {
    Success,
    Always,
    Failure,
    Cancelled,
}

impl StatusFunction {
    pub fn name(self) -> &'static str {
        match self {
            StatusFunction::Success => "success",
            StatusFunction::Always => "always",
            StatusFunction::Failure => "failure",
            StatusFunction::Cancelled => "cancelled",
        }
    }
}

/// Functions whose answer depends on the run: job status and workspace file hashes.
/// Errors are plain messages; the evaluator attaches the position.
pub trait Host {
    fn status(&self, f: StatusFunction) -> Result<bool, String>;
    fn hash_files(&self, patterns: &[String]) -> Result<String, String>;
}

/// A host for places where status functions and `hashFiles` are not available: both are errors.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHost;

impl Host for NoHost {
    fn status(&self, f: StatusFunction) -> Result<bool, String> {
        Err(format!("the function '{}' is not available here", f.name()))
    }

    fn hash_files(&self, _patterns: &[String]) -> Result<String, String> {
        Err("the function 'hashFiles' is not available here".to_owned())
    }
}

/// GitHub's cap on the memory an evaluation may hold in intermediate results (1 MiB).
pub const MAX_MEMORY: usize = 1024 * 1024;

/// Evaluates `expr`. Errors carry the span of the failing node; their `expression` text is empty
/// (attach it with [`Error::with_expression`] when the source is at hand).
pub fn evaluate(expr: &Expr, contexts: &dyn Contexts, host: &dyn Host) -> Result<Value, Error> {
    let mut evaluator = Evaluator {
        contexts,
        host,
        memory: Memory::default(),
        root: expr,
    };
    evaluator.eval(expr, 0).map(|e| e.value).map_err(|e| *e)
}

/// A value plus whether it is a filtered array (the result of `.*` / `[*]`): property and index
/// steps on a filtered array apply to each element.
pub(crate) struct Evaluated {
    pub(crate) value: Value,
    pub(crate) filtered: bool,
}

impl Evaluated {
    fn plain(value: Value) -> Evaluated {
        Evaluated {
            value,
            filtered: false,
        }
    }

    fn filtered(items: Vec<Value>) -> Evaluated {
        Evaluated {
            value: Value::Array(Arc::new(items)),
            filtered: true,
        }
    }
}

/// Bytes held by results at each tree depth, as GitHub accounts them: when a node finishes, the
/// results of its children (deeper levels) are released and its own result is added.
struct Memory {
    depths: [usize; MEMORY_LEVELS],
    max_active: usize,
    total: usize,
}

const MEMORY_LEVELS: usize = 64;

impl Default for Memory {
    fn default() -> Memory {
        Memory {
            depths: [0; MEMORY_LEVELS],
            max_active: 0,
            total: 0,
        }
    }
}

impl Memory {
    /// Returns false when the cap is exceeded.
    // Indexing below cannot go out of bounds: `depth` is clamped and `max_active <= depth` after
    // every call, so both stay below `MEMORY_LEVELS`.
    fn complete(&mut self, depth: usize, bytes: usize) -> bool {
        let depth = depth.min(MEMORY_LEVELS - 1);
        while self.max_active > depth {
            self.total -= self.depths[self.max_active];
            self.depths[self.max_active] = 0;
            self.max_active -= 1;
        }
        self.max_active = depth;
        self.depths[depth] += bytes;
        self.total += bytes;
        self.total <= MAX_MEMORY
    }
}

/// GitHub's estimate: strings 26 bytes plus 2 per UTF-16 unit, anything else 24.
fn result_bytes(value: &Value) -> usize {
    match value {
        Value::String(s) => 26 + 2 * s.len(),
        _ => 24,
    }
}

struct Evaluator<'a> {
    contexts: &'a dyn Contexts,
    host: &'a dyn Host,
    memory: Memory,
    root: &'a Expr,
}

/// What an index step selects.
enum Selector<'v> {
    Star,
    Key {
        key: Option<std::borrow::Cow<'v, str>>,
        position: Option<usize>,
    },
}

impl<'a> Evaluator<'a> {
    fn error(&self, expr: &Expr, message: impl Into<String>) -> Box<Error> {
        Box::new(Error {
            kind: ErrorKind::Evaluation,
            message: message.into(),
            span: expr.span,
            expression: String::new(),
        })
    }

    // Errors are boxed so the hot `Ok` path moves small results.
    fn eval(&mut self, expr: &Expr, depth: usize) -> Result<Evaluated, Box<Error>> {
        let result = self.eval_node(expr, depth)?;
        if !self.memory.complete(depth, result_bytes(&result.value)) {
            return Err(self.memory_error(expr));
        }
        Ok(result)
    }

    fn memory_error(&self, expr: &Expr) -> Box<Error> {
        self.error(
            expr,
            format!(
                "The maximum allowed memory size was exceeded while evaluating the following expression: {}",
                self.root
            ),
        )
    }

    fn eval_node(&mut self, expr: &Expr, depth: usize) -> Result<Evaluated, Box<Error>> {
        let child = depth + 1;
        Ok(match &expr.kind {
            ExprKind::Null => Evaluated::plain(Value::Null),
            ExprKind::Bool(b) => Evaluated::plain(Value::Bool(*b)),
            ExprKind::Number(n) => Evaluated::plain(Value::Number(*n)),
            ExprKind::String(s) => Evaluated::plain(Value::String(s.clone())),
            ExprKind::NamedValue(name) => {
                Evaluated::plain(self.contexts.named_value(name).unwrap_or(Value::Null))
            }
            ExprKind::Property(obj, name) => {
                let obj = self.eval(obj, child)?;
                index(
                    &obj,
                    Selector::Key {
                        key: Some(std::borrow::Cow::Borrowed(name)),
                        position: None,
                    },
                )
            }
            ExprKind::Index(obj, idx) => {
                let obj = self.eval(obj, child)?;
                let idx = self.eval(idx, child)?.value;
                let key = idx.is_primitive().then(|| idx.coerce_str());
                let number = idx.to_number();
                let position = (number.is_finite() && number >= 0.0).then(|| {
                    // Saturating float-to-int cast: huge indexes simply miss.
                    number.floor() as usize
                });
                index(&obj, Selector::Key { key, position })
            }
            ExprKind::Star(obj) => {
                let obj = self.eval(obj, child)?;
                index(&obj, Selector::Star)
            }
            ExprKind::Not(operand) => {
                let v = self.eval(operand, child)?.value;
                Evaluated::plain(Value::Bool(!v.is_truthy()))
            }
            ExprKind::Compare(op, left, right) => {
                let l = self.eval(left, child)?.value;
                let r = self.eval(right, child)?.value;
                let b = match op {
                    CompareOp::Equal => coerce::equals(&l, &r),
                    CompareOp::NotEqual => !coerce::equals(&l, &r),
                    CompareOp::Greater => coerce::greater_than(&l, &r),
                    CompareOp::GreaterEqual => {
                        coerce::equals(&l, &r) || coerce::greater_than(&l, &r)
                    }
                    CompareOp::Less => coerce::less_than(&l, &r),
                    CompareOp::LessEqual => coerce::equals(&l, &r) || coerce::less_than(&l, &r),
                };
                Evaluated::plain(Value::Bool(b))
            }
            ExprKind::And(items) | ExprKind::Or(items) => {
                let is_and = matches!(expr.kind, ExprKind::And(_));
                let mut last = Evaluated::plain(Value::Null);
                for item in items {
                    last = self.eval(item, child)?;
                    if last.value.is_truthy() != is_and {
                        break;
                    }
                }
                last
            }
            ExprKind::Call { name, args } => {
                let mut values = Vec::with_capacity(args.len());
                for arg in args {
                    values.push(self.eval(arg, child)?);
                }
                crate::functions::call(name, values, self.host).map_err(|e| match e {
                    CallError::Message(message) => self.error(expr, message),
                    CallError::Memory => self.memory_error(expr),
                })?
            }
        })
    }
}

fn index(obj: &Evaluated, selector: Selector<'_>) -> Evaluated {
    match (&obj.value, obj.filtered) {
        (Value::Array(items), true) => {
            let mut out = Vec::new();
            for item in items.iter() {
                match (item, &selector) {
                    (Value::Object(map), Selector::Star) => out.extend(map.values().cloned()),
                    (Value::Array(inner), Selector::Star) => out.extend(inner.iter().cloned()),
                    (Value::Object(map), Selector::Key { key: Some(key), .. }) => {
                        if let Some(v) = map.get(key) {
                            out.push(v.clone());
                        }
                    }
                    (
                        Value::Array(inner),
                        Selector::Key {
                            position: Some(i), ..
                        },
                    ) => {
                        if let Some(v) = inner.get(*i) {
                            out.push(v.clone());
                        }
                    }
                    _ => {}
                }
            }
            Evaluated::filtered(out)
        }
        (Value::Array(items), false) => match selector {
            Selector::Star => Evaluated::filtered(items.to_vec()),
            Selector::Key { position, .. } => Evaluated::plain(
                position
                    .and_then(|i| items.get(i))
                    .cloned()
                    .unwrap_or(Value::Null),
            ),
        },
        (Value::Object(map), _) => match selector {
            Selector::Star => Evaluated::filtered(map.values().cloned().collect()),
            Selector::Key { key, .. } => Evaluated::plain(
                key.and_then(|k| map.get(&k).cloned())
                    .unwrap_or(Value::Null),
            ),
        },
        _ => match selector {
            Selector::Star => Evaluated::filtered(Vec::new()),
            Selector::Key { .. } => Evaluated::plain(Value::Null),
        },
    }
}
