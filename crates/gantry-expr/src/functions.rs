//! The built-in functions: arity table and implementations.
//!
//! Invariant: names match case-insensitively; arity is checked at parse time, argument types are
//! coerced at call time following GitHub's rules. Tests: `tests/unit.rs`, `tests/languageservices.rs`.

/// `(min, max)` number of arguments of a known function (`usize::MAX`: variadic).
pub fn function_arity(name: &str) -> Option<(usize, usize)> {
    let lower = name.to_ascii_lowercase();
    Some(match lower.as_str() {
        "contains" | "startswith" | "endswith" => (2, 2),
        "format" => (1, usize::MAX),
        "join" => (1, 2),
        "tojson" | "fromjson" => (1, 1),
        "hashfiles" => (1, usize::MAX),
        "success" | "always" | "failure" | "cancelled" => (0, 0),
        "case" => (3, usize::MAX),
        _ => return None,
    })
}
