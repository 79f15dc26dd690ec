//! The built-in functions: arity table and implementations.
//!
//! Invariant: names match case-insensitively; arity is checked at parse time (so `call` may rely on
//! it but still never indexes past the arguments), argument types are coerced at call time
//! following GitHub's rules. Tests: `tests/unit.rs`, `tests/languageservices.rs`.

use crate::coerce::{equals, upper_special};
use crate::eval::{Evaluated, Host, StatusFunction, MAX_MEMORY};

/// Why a function call failed.
pub(crate) enum CallError {
    /// GitHub's message for this failure.
    Message(String),
    /// The result would exceed the evaluation memory cap.
    Memory,
}

impl From<String> for CallError {
    fn from(message: String) -> CallError {
        CallError::Message(message)
    }
}
use crate::value::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Builtin {
    Contains,
    StartsWith,
    EndsWith,
    Format,
    Join,
    ToJson,
    FromJson,
    HashFiles,
    Status(StatusFunction),
    Case,
}

const BUILTINS: &[(&str, Builtin, usize, usize)] = &[
    ("contains", Builtin::Contains, 2, 2),
    ("startsWith", Builtin::StartsWith, 2, 2),
    ("endsWith", Builtin::EndsWith, 2, 2),
    ("format", Builtin::Format, 1, 255),
    ("join", Builtin::Join, 1, 2),
    ("toJSON", Builtin::ToJson, 1, 1),
    ("fromJSON", Builtin::FromJson, 1, 1),
    ("hashFiles", Builtin::HashFiles, 1, 255),
    ("success", Builtin::Status(StatusFunction::Success), 0, 0),
    ("always", Builtin::Status(StatusFunction::Always), 0, 0),
    ("failure", Builtin::Status(StatusFunction::Failure), 0, 0),
    (
        "cancelled",
        Builtin::Status(StatusFunction::Cancelled),
        0,
        0,
    ),
    ("case", Builtin::Case, 3, usize::MAX),
];

fn lookup(name: &str) -> Option<&'static (&'static str, Builtin, usize, usize)> {
    BUILTINS.iter().find(|(n, ..)| n.eq_ignore_ascii_case(name))
}

/// `(min, max)` number of arguments of a known function, names matched ignoring case
/// (`usize::MAX`: variadic). `case` also requires an odd count, checked by the parser.
pub fn function_arity(name: &str) -> Option<(usize, usize)> {
    lookup(name).map(|(_, _, min, max)| (*min, *max))
}

/// The canonical spelling of a known function (`tojson` -> `toJSON`).
pub fn function_name(name: &str) -> Option<&'static str> {
    lookup(name).map(|(n, ..)| *n)
}

/// Calls a function on evaluated arguments. Errors are GitHub's messages.
pub(crate) fn call(
    name: &str,
    mut args: Vec<Evaluated>,
    host: &dyn Host,
) -> Result<Evaluated, CallError> {
    let Some((_, builtin, ..)) = lookup(name) else {
        return Err(format!("Unrecognized function: '{name}'").into());
    };
    let arg = |i: usize| args.get(i).map(|a| &a.value).unwrap_or(&Value::Null);
    let value = match builtin {
        Builtin::Contains => Value::Bool(contains(arg(0), arg(1))),
        Builtin::StartsWith | Builtin::EndsWith => {
            let (l, r) = (arg(0), arg(1));
            if !l.is_primitive() || !r.is_primitive() {
                Value::Bool(false)
            } else {
                let (l, r) = (l.coerce_str(), r.coerce_str());
                let starts = *builtin == Builtin::StartsWith;
                Value::Bool(if l.is_ascii() && r.is_ascii() {
                    let (l, r) = (l.as_bytes(), r.as_bytes());
                    let part = if starts {
                        l.get(..r.len())
                    } else {
                        l.len().checked_sub(r.len()).and_then(|i| l.get(i..))
                    };
                    part.is_some_and(|p| p.eq_ignore_ascii_case(r))
                } else {
                    let (l, r) = (upper_special(&l), upper_special(&r));
                    if starts {
                        l.starts_with(&r)
                    } else {
                        l.ends_with(&r)
                    }
                })
            }
        }
        Builtin::Format => {
            let values: Vec<&Value> = args.iter().map(|a| &a.value).collect();
            Value::from(format(&values)?)
        }
        Builtin::Join => Value::from(join(arg(0), args.get(1).map(|a| &a.value))?),
        Builtin::ToJson => Value::from(arg(0).to_json_pretty()),
        Builtin::FromJson => from_json(arg(0))?,
        Builtin::HashFiles => {
            let patterns: Vec<String> = args
                .iter()
                .map(|a| a.value.to_interpolated_string())
                .collect();
            Value::from(host.hash_files(&patterns)?)
        }
        Builtin::Status(f) => Value::Bool(host.status(*f)?),
        Builtin::Case => {
            let n = args.len();
            let mut i = 0;
            while i + 1 < n {
                // `i + 1 < n`: both `args[i]` and `args[i + 1]` exist.
                match &args[i].value {
                    Value::Bool(true) => return Ok(args.swap_remove(i + 1)),
                    Value::Bool(false) => {}
                    _ => {
                        return Err("case predicate must evaluate to a boolean value"
                            .to_owned()
                            .into())
                    }
                }
                i += 2;
            }
            return args
                .pop()
                .ok_or_else(|| "case requires at least one argument".to_owned().into());
        }
    };
    Ok(Evaluated {
        value,
        filtered: false,
    })
}

fn contains(search: &Value, item: &Value) -> bool {
    match search {
        Value::Array(items) => items.iter().any(|v| equals(item, v)),
        Value::Object(_) => false,
        _ if item.is_primitive() => {
            let haystack = search.coerce_str();
            let needle = item.coerce_str();
            if haystack.is_ascii() && needle.is_ascii() {
                ascii_contains_ignore_case(haystack.as_bytes(), needle.as_bytes())
            } else {
                haystack.to_lowercase().contains(&needle.to_lowercase())
            }
        }
        _ => false,
    }
}

fn ascii_contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    if needle.is_empty() {
        return true;
    }
    if needle.len() <= 16 {
        // Short needles (the usual case): no allocation, at most 16 comparisons per position.
        return haystack
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle));
    }
    // Long needles: a linear-time substring search on lower-cased copies.
    let haystack = haystack.to_ascii_lowercase();
    let needle = needle.to_ascii_lowercase();
    match (std::str::from_utf8(&haystack), std::str::from_utf8(&needle)) {
        (Ok(h), Ok(n)) => h.contains(n),
        _ => false,
    }
}

fn join(array: &Value, separator: Option<&Value>) -> Result<String, CallError> {
    match array {
        Value::Array(items) => {
            let separator = match separator {
                Some(s) if s.is_primitive() => s.coerce_str(),
                _ => std::borrow::Cow::Borrowed(","),
            };
            let mut out = String::new();
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(&separator);
                }
                out.push_str(&item.coerce_str());
                check_size(&out)?;
            }
            Ok(out)
        }
        Value::Object(_) => Ok(String::new()),
        primitive => Ok(primitive.coerce_str().into_owned()),
    }
}

fn from_json(input: &Value) -> Result<Value, String> {
    let text = input.coerce_str();
    if text.trim_matches(crate::lexer::is_js_whitespace).is_empty() {
        return Err("empty input".to_owned());
    }
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(json) => Ok(Value::from_json(&json)),
        Err(e) => Err(format!("Error parsing JSON when evaluating fromJson: {e}")),
    }
}

/// `format('{0} and {1}', a, b)`: `{{` and `}}` are literal braces.
fn format(args: &[&Value]) -> Result<String, CallError> {
    let Some(first) = args.first() else {
        return Ok(String::new());
    };
    let fs = first.coerce_str();
    let values: Vec<_> = args.iter().skip(1).map(|a| a.coerce_str()).collect();
    let b = fs.as_bytes();
    let invalid = || CallError::Message(format!("The following format string is invalid: {fs}"));
    let find = |c: u8, from: usize| {
        b.get(from..)
            .and_then(|rest| rest.iter().position(|x| *x == c))
            .map(|p| p + from)
    };
    // Next `{` / `}` at or after `index`, recomputed only when passed: the scan stays linear.
    let (mut lbrace, mut rbrace) = (find(b'{', 0), find(b'}', 0));
    let mut out = String::with_capacity(fs.len());
    let mut index = 0;
    // All slicing below is at `{`/`}` positions or right after them (ASCII), so on char boundaries.
    while index < b.len() {
        if lbrace.is_some_and(|l| l < index) {
            lbrace = find(b'{', index);
        }
        if rbrace.is_some_and(|r| r < index) {
            rbrace = find(b'}', index);
        }
        match (lbrace, rbrace) {
            (Some(l), r) if r.is_none_or(|r| r > l) => {
                if b.get(l + 1) == Some(&b'{') {
                    out.push_str(&fs[index..=l]);
                    index = l + 2;
                    continue;
                }
                if let Some(r) = r.filter(|r| *r > l + 1) {
                    let digits = b[l + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
                    if digits > 0 {
                        let arg_index = fs[l + 1..l + 1 + digits]
                            .parse::<usize>()
                            .unwrap_or(usize::MAX);
                        let Some(value) = values.get(arg_index) else {
                            return Err(CallError::Message(format!(
                                "The following format string references more arguments than were supplied: {fs}"
                            )));
                        };
                        out.push_str(&fs[index..l]);
                        out.push_str(value);
                        check_size(&out)?;
                        index = r + 1;
                        continue;
                    }
                }
                return Err(invalid());
            }
            (_, Some(r)) => {
                if b.get(r + 1) == Some(&b'}') {
                    out.push_str(&fs[index..=r]);
                    index = r + 2;
                } else {
                    return Err(invalid());
                }
            }
            _ => {
                out.push_str(&fs[index..]);
                break;
            }
        }
    }
    Ok(out)
}

/// Strings being built may not outgrow the evaluation memory cap (2 bytes per UTF-16 unit, as
/// GitHub counts; bytes of UTF-8 are a close upper bound).
fn check_size(out: &str) -> Result<(), CallError> {
    if out.len().saturating_mul(2) > MAX_MEMORY {
        return Err(CallError::Memory);
    }
    Ok(())
}
