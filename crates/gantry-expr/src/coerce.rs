//! Loose equality and ordering between values, and GitHub's case-insensitive string rules.
//!
//! Invariant: follows JavaScript's abstract equality except that strings compare ignoring case and
//! arrays/objects are never coerced (they are equal only to themselves). NaN is unequal and
//! unordered to everything. Tests: `tests/unit.rs`, `tests/languageservices.rs`.

use std::cmp::Ordering;
use std::sync::Arc;

use crate::value::Value;

/// Both sides after coercion.
enum Coerced<'a> {
    Numbers(f64, f64),
    Strings(&'a str, &'a str),
    Bools(bool, bool),
    Nulls,
    /// Arrays or objects of the same kind: equal when the same instance.
    SameRef(bool),
    /// Different kinds after coercion: never equal or ordered.
    Mismatch,
}

fn coerce<'a>(left: &'a Value, right: &'a Value) -> Coerced<'a> {
    match (left, right) {
        (Value::Null, Value::Null) => Coerced::Nulls,
        (Value::Bool(l), Value::Bool(r)) => Coerced::Bools(*l, *r),
        (Value::Number(l), Value::Number(r)) => Coerced::Numbers(*l, *r),
        (Value::String(l), Value::String(r)) => Coerced::Strings(l, r),
        (Value::Array(l), Value::Array(r)) => Coerced::SameRef(Arc::ptr_eq(l, r)),
        (Value::Object(l), Value::Object(r)) => Coerced::SameRef(Arc::ptr_eq(l, r)),
        // Number/String, and Null/Boolean against anything: compare as numbers when the other
        // side is (or coerces to) a primitive; arrays/objects never match.
        (Value::Array(_) | Value::Object(_), _) | (_, Value::Array(_) | Value::Object(_)) => {
            Coerced::Mismatch
        }
        (l, r) => Coerced::Numbers(l.to_number(), r.to_number()),
    }
}

pub(crate) fn equals(left: &Value, right: &Value) -> bool {
    match coerce(left, right) {
        Coerced::Numbers(l, r) => l == r,
        Coerced::Strings(l, r) => compare_ignore_case(l, r) == Ordering::Equal,
        Coerced::Bools(l, r) => l == r,
        Coerced::Nulls => true,
        Coerced::SameRef(same) => same,
        Coerced::Mismatch => false,
    }
}

pub(crate) fn greater_than(left: &Value, right: &Value) -> bool {
    match coerce(left, right) {
        Coerced::Numbers(l, r) => l > r,
        Coerced::Strings(l, r) => compare_ignore_case(l, r) == Ordering::Greater,
        Coerced::Bools(l, r) => l && !r,
        _ => false,
    }
}

pub(crate) fn less_than(left: &Value, right: &Value) -> bool {
    match coerce(left, right) {
        Coerced::Numbers(l, r) => l < r,
        Coerced::Strings(l, r) => compare_ignore_case(l, r) == Ordering::Less,
        Coerced::Bools(l, r) => !l && r,
        _ => false,
    }
}

/// Compares upper-cased forms (GitHub leaves the dotless `ı` alone), in UTF-16 order.
pub(crate) fn compare_ignore_case(l: &str, r: &str) -> Ordering {
    if l.is_ascii() && r.is_ascii() {
        let l = l.bytes().map(|b| b.to_ascii_uppercase());
        let r = r.bytes().map(|b| b.to_ascii_uppercase());
        return l.cmp(r);
    }
    let l = upper_special(l);
    let r = upper_special(r);
    l.encode_utf16().cmp(r.encode_utf16())
}

/// Upper case, except the dotless `ı` (which would otherwise become `I`).
pub(crate) fn upper_special(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_uppercase();
    }
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == 'ı' {
            out.push(c);
        } else {
            out.extend(c.to_uppercase());
        }
    }
    out
}
