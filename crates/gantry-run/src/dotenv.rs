//! Reads `--secret-file`, `--var-file` and `--env-file` files: dotenv syntax (`KEY=value`,
//! `export KEY=value`, `#` comments, single- and double-quoted values with `\n` escapes in
//! double quotes, multi-line quoted values).
//!
//! Invariant: a malformed line is an error naming `file:line`, never silently skipped, so a
//! secret is not lost to a typo. Tests: below.

use crate::error::{bail_input, Result};

pub fn parse(file: &str, text: &str) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((idx, raw)) = lines.next() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            bail_input!("{file}:{}: expected KEY=value", idx + 1);
        };
        let key = key.trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            bail_input!("{file}:{}: invalid name {key:?}", idx + 1);
        }
        let value = value.trim_start();
        let value = if let Some(quote) = value.chars().next().filter(|c| *c == '"' || *c == '\'') {
            let mut body = value[1..].to_string();
            // A quoted value may span lines until its closing quote.
            while !closes(&body, quote) {
                match lines.next() {
                    Some((_, more)) => {
                        body.push('\n');
                        body.push_str(more);
                    }
                    None => bail_input!("{file}:{}: unterminated {quote} quote", idx + 1),
                }
            }
            let end = closing_index(&body, quote).unwrap_or(body.len());
            let inner = &body[..end];
            if quote == '"' {
                unescape(inner)
            } else {
                inner.to_string()
            }
        } else {
            // Unquoted: a ` #` starts a comment.
            value
                .split(" #")
                .next()
                .unwrap_or("")
                .trim_end()
                .to_string()
        };
        out.push((key.to_string(), value));
    }
    Ok(out)
}

fn closing_index(body: &str, quote: char) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' && quote == '"' {
            escaped = true;
        } else if c == quote {
            return Some(i);
        }
    }
    None
}

fn closes(body: &str, quote: char) -> bool {
    closing_index(body, quote).is_some()
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::parse;

    fn check(text: &str, expected: &[(&str, &str)]) {
        let got = parse("f.env", text).expect("parses");
        let got: Vec<(&str, &str)> = got.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(got, expected, "{text:?}");
    }

    #[test]
    fn dotenv_forms() {
        check("A=1\nB = two # comment\n", &[("A", "1"), ("B", "two")]);
        check("# c\n\nexport TOKEN=abc", &[("TOKEN", "abc")]);
        check("S='a # b'", &[("S", "a # b")]);
        check("D=\"line1\\nline2\"", &[("D", "line1\nline2")]);
        check(
            "M=\"first\nsecond\"\nN=x",
            &[("M", "first\nsecond"), ("N", "x")],
        );
        check("E=", &[("E", "")]);
    }

    #[test]
    fn dotenv_errors_name_the_line() {
        let err = |text: &str| parse("f.env", text).expect_err("fails").to_string();
        assert_eq!(err("A=1\nnot a pair"), "f.env:2: expected KEY=value");
        assert_eq!(err("BAD-NAME=1"), "f.env:1: invalid name \"BAD-NAME\"");
        assert_eq!(err("Q=\"open\nstill"), "f.env:1: unterminated \" quote");
    }
}
