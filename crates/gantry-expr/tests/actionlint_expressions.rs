//! Real-world expressions: every line of actionlint's `bench/expressions.txt` (bodies of `${{ }}`
//! collected from public workflows) must lex and parse. Lines we cannot parse would be listed in
//! `test_data/actionlint/bench-expressions-skipped.txt`; today none are.

use std::path::PathBuf;

use gantry_expr::{lex, parse};

fn data(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../test_data/actionlint")
        .join(path)
}

#[test]
fn every_bench_expression_parses() {
    let text = std::fs::read_to_string(data("bench/expressions.txt")).unwrap();
    let skipped =
        std::fs::read_to_string(data("bench-expressions-skipped.txt")).unwrap_or_default();
    let skipped: Vec<&str> = skipped
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split_once('\t').map_or(l, |(expr, _)| expr))
        .collect();
    let mut failures = Vec::new();
    let mut n_lines = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        n_lines += 1;
        let result = lex(line).and_then(|_| parse(line));
        match (result, skipped.contains(&line)) {
            (Ok(_), false) | (Err(_), true) => {}
            (Ok(_), true) => failures.push(format!("listed as skipped but parses: {line}")),
            (Err(e), false) => failures.push(format!("{e}")),
        }
    }
    assert!(n_lines > 1800, "only {n_lines} lines read");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
