//! Number to text, one function per place GitHub prints a number, because the places disagree;
//! and text to number as JavaScript's `Number()` reads it (`parse_js_number`).
//!
//! - [`expression_text`]: string coercion inside expressions (`format`, `join`, interpolation,
//!   comparisons with strings); what a step sees in an `env:` or `run:` value that came from
//!   `${{ }}`, and what outputs and matrix leg names show.
//! - [`tojson_text`]: `toJSON` (JavaScript's `JSON.stringify`).
//! - [`javascript_text`]: printing an expression back (JavaScript's `Number.prototype.toString`).
//! - [`yaml_text`]: a YAML number literal read as a string (`env: { N: 3.10 }` is `3.1`).
//! - [`json_number`]: a number as a JSON value (integers exactly representable in a double, below
//!   2^53, stay integers; anything else a float; NaN and infinities `null`), for the plan's and
//!   the event's JSON.
//!
//! Invariant: these are the only number-to-text conversions in the workspace; a new surface gets
//! a function here, named for it, with cases. Tests: `tests/unit.rs` (numbers), which runs the
//! `format` and `tojson` cases of GitHub's shared expression suite through the functions directly.

/// Integers below this magnitude are exact in a double (2^53).
const MAX_EXACT_INTEGER: f64 = 9_007_199_254_740_992.0;

/// **Expression string coercion**: `format()`, `join()`, `${{ }}` interpolation into `run:`,
/// `env:`, `with:`, step outputs and names, comparisons with strings (GitHub's
/// `ExpressionUtility.FormatValue`: 15 decimals at most, then the shortest form, `Infinity`/`NaN`
/// spelled out). Cases: the `format('{0}', n)` cases of GitHub's shared expression suite.
pub fn expression_text(n: f64) -> String {
    if n == 0.0 {
        return "0".to_owned();
    }
    if n.fract() == 0.0 && n.abs() < 1e15 {
        // Exact integer, fewer than 16 digits: nothing to round.
        return (n as i64).to_string();
    }
    if n.is_finite() && n.abs() < 1e21 {
        // Round to 15 decimals, then print the shortest form of the rounded value.
        let fixed = format!("{n:.15}");
        if let Ok(rounded) = fixed.parse::<f64>() {
            return javascript_text(rounded);
        }
    }
    javascript_text(n)
}

/// **`toJSON`**: JavaScript's `JSON.stringify` of a number: the shortest form of
/// [`javascript_text`], `null` for NaN and infinities (JSON cannot hold them). Cases: the
/// `tojson(n)` cases of GitHub's shared expression suite.
pub fn tojson_text(n: f64) -> String {
    if n.is_finite() {
        javascript_text(n)
    } else {
        "null".to_owned()
    }
}

/// NaN, the infinities and zero (either sign), spelled alike by JavaScript and .NET.
fn special_text(n: f64) -> Option<&'static str> {
    if n.is_nan() {
        Some("NaN")
    } else if n.is_infinite() {
        Some(if n > 0.0 { "Infinity" } else { "-Infinity" })
    } else if n == 0.0 {
        Some("0")
    } else {
        None
    }
}

/// **Printing an expression back** (a number literal in `Display` of the AST): JavaScript's
/// `Number.prototype.toString()`; also the last step of [`expression_text`] and of
/// [`tojson_text`].
pub fn javascript_text(n: f64) -> String {
    if let Some(text) = special_text(n) {
        return text.to_owned();
    }
    // Shortest round-trip digits and decimal exponent from Rust's `{:e}`: "d.ddde<exp>".
    let sci = format!("{:e}", n.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let k = digits.len() as i32;
    let point = exp + 1; // value = 0.digits * 10^point
    let mut out = String::new();
    if n < 0.0 {
        out.push('-');
    }
    if k <= point && point <= 21 {
        out.push_str(&digits);
        for _ in 0..(point - k) {
            out.push('0');
        }
    } else if 0 < point && point <= 21 {
        let (int, frac) = digits.split_at(point as usize);
        out.push_str(int);
        out.push('.');
        out.push_str(frac);
    } else if -6 < point && point <= 0 {
        out.push_str("0.");
        for _ in 0..(-point) {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        out.push('e');
        out.push(if point > 0 { '+' } else { '-' });
        out.push_str(&(point - 1).abs().to_string());
    }
    out
}

/// JavaScript's `Number(text)`: surrounding whitespace ignored, empty is 0, optional sign, decimal
/// with optional fraction and exponent, `Infinity`, or unsigned `0x`/`0o`/`0b` integers.
/// `None` where JavaScript gives NaN.
pub(crate) fn parse_js_number(text: &str) -> Option<f64> {
    let t = text.trim_matches(crate::lexer::is_js_whitespace);
    if t.is_empty() {
        return Some(0.0);
    }
    // `t` is non-empty, and the slices below start after ASCII bytes (sign, `0x`), so indexing
    // is in bounds and on char boundaries.
    let bytes = t.as_bytes();
    if bytes.len() > 2 && bytes[0] == b'0' {
        let radix = match bytes[1] {
            b'x' | b'X' => Some(16),
            b'o' | b'O' => Some(8),
            b'b' | b'B' => Some(2),
            _ => None,
        };
        if let Some(radix) = radix {
            let mut value = 0f64;
            for c in t[2..].chars() {
                value = value * f64::from(radix) + f64::from(c.to_digit(radix)?);
            }
            return Some(value);
        }
    }
    let (negative, unsigned) = match bytes[0] {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    if unsigned == "Infinity" {
        return Some(if negative {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if !is_decimal_literal(unsigned) {
        return None;
    }
    let value: f64 = unsigned.parse().ok()?;
    Some(if negative { -value } else { value })
}

/// `digits [. digits?] [exp] | . digits [exp]` where exp is `[eE][+-]?digits`.
fn is_decimal_literal(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let int_digits = count_digits(b, &mut i);
    let mut frac_digits = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        frac_digits = count_digits(b, &mut i);
    }
    if int_digits == 0 && frac_digits == 0 {
        return false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if count_digits(b, &mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

fn count_digits(b: &[u8], i: &mut usize) -> usize {
    let start = *i;
    while b.get(*i).is_some_and(u8::is_ascii_digit) {
        *i += 1;
    }
    *i - start
}

/// **A YAML number where the workflow wants a string** (`env:`, `with:`, `name:`, ...): the
/// runner's template reader keeps numbers as doubles and prints them with .NET's `G15`: 15
/// significant digits, exponent form from 1e15 and below 1e-4 (`3.10` is "3.1", `1e18` is
/// "1E+18").
pub fn yaml_text(n: f64) -> String {
    if let Some(text) = special_text(n) {
        return text.to_owned();
    }
    // `d.dddddddddddddde±x`: 15 significant digits, rounded.
    let sci = format!("{:.14e}", n.abs());
    let Some((mantissa, exponent)) = sci.split_once('e') else {
        return sci;
    };
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    let sign = if n < 0.0 { "-" } else { "" };
    // .NET: fixed point when the exponent is greater than -5 and less than the precision.
    if !(-4..15).contains(&exponent) {
        let (first, rest) = digits.split_at(1);
        let fraction = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        return format!("{sign}{first}{fraction}E{exp_sign}{:02}", exponent.abs());
    }
    if exponent < 0 {
        let zeros = "0".repeat((-exponent - 1) as usize);
        return format!("{sign}0.{zeros}{digits}");
    }
    let int_len = exponent as usize + 1;
    if digits.len() <= int_len {
        format!("{sign}{digits}{}", "0".repeat(int_len - digits.len()))
    } else {
        // `digits` is ASCII and longer than `int_len` here.
        format!("{sign}{}.{}", &digits[..int_len], &digits[int_len..])
    }
}

/// **A number as a JSON value** (the plan's matrix and `with:` values, `workflow_dispatch`
/// number inputs, `Value::to_json`): an integer when it is one exactly, else a float; `null` for
/// NaN and infinities, which JSON cannot hold.
pub fn json_number(n: f64) -> serde_json::Value {
    if n.fract() == 0.0 && n.abs() < MAX_EXACT_INTEGER {
        // Exact: |n| < 2^53 and integral, so the cast loses nothing.
        serde_json::Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null)
    }
}
