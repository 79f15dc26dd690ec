//! Conformance: the 1,020 expression cases of actions/languageservices (`expressions-flat.json`).
//!
//! Each case is lexed and parsed with exactly its context keys as allowed named values, evaluated
//! against its contexts, and compared by result kind and JSON value, or by error stage and message
//! substring. Cases we fail are listed in `skipped.txt` with a reason; the test fails when a listed
//! case passes (the list must stay honest) or an unlisted case fails.

use std::collections::BTreeMap;
use std::path::PathBuf;

use gantry_expr::{evaluate, parse_with, ErrorKind, Map, NoHost, ParseOptions, Value};

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../test_data/languageservices/expressions")
}

/// Runs one case; `Err` describes the mismatch.
fn run_case(case: &serde_json::Value) -> Result<(), String> {
    let expr = case["expr"].as_str().ok_or("case without expr")?;
    let context = case["context"].as_object().cloned().unwrap_or_default();
    let names: Vec<&str> = context.keys().map(String::as_str).collect();
    let expected = &case["expected"];

    let outcome = parse_with(expr, &ParseOptions::with_named_values(&names)).and_then(|ast| {
        let contexts: Map = context
            .iter()
            .map(|(k, v)| (k.as_str(), Value::from_json(v)))
            .collect();
        evaluate(&ast, &contexts, &NoHost).map_err(|e| e.with_expression(expr))
    });

    match (&expected["error"], outcome) {
        (serde_json::Value::Null, Ok(value)) => {
            let kind = expected["kind"].as_str().unwrap_or("?");
            if value.kind().name() != kind {
                return Err(format!(
                    "kind {} (value {}), expected {kind} {}",
                    value.kind().name(),
                    value.to_json(),
                    expected["value"]
                ));
            }
            if !json_equal(&value.to_json(), &expected["value"]) {
                return Err(format!(
                    "value {}, expected {}",
                    value.to_json(),
                    expected["value"]
                ));
            }
            Ok(())
        }
        (serde_json::Value::Null, Err(e)) => Err(format!("error {:?}: {e}", e.kind)),
        (err, Ok(value)) => Err(format!("value {}, expected error {err}", value.to_json())),
        (err, Err(e)) => {
            let kind = match e.kind {
                ErrorKind::Lexing => "lexing",
                ErrorKind::Parsing => "parsing",
                ErrorKind::Evaluation => "evaluation",
            };
            let want_kind = err["kind"].as_str().unwrap_or("?");
            let want_message = err["message_contains"].as_str().unwrap_or("?");
            let message = e.to_string();
            if kind != want_kind || !message.contains(want_message) {
                return Err(format!(
                    "{kind} error {message:?}, expected {want_kind} containing {want_message:?}"
                ));
            }
            Ok(())
        }
    }
}

/// JSON equality with numbers compared as f64 (`1` equals `1.0`).
fn json_equal(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value as J;
    match (a, b) {
        (J::Number(x), J::Number(y)) => x.as_f64() == y.as_f64(),
        (J::Array(x), J::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_equal(x, y))
        }
        (J::Object(x), J::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((kx, vx), (ky, vy))| kx == ky && json_equal(vx, vy))
        }
        _ => a == b,
    }
}

fn case_id(case: &serde_json::Value) -> String {
    format!(
        "{}:{}:{}",
        case["file"].as_str().unwrap_or("?"),
        case["name"].as_str().unwrap_or("?"),
        case["index"]
    )
}

#[test]
fn languageservices_expression_cases() {
    let text = std::fs::read_to_string(data_dir().join("expressions-flat.json")).unwrap();
    let cases: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(cases.len(), 1020);

    let skipped_text = std::fs::read_to_string(data_dir().join("skipped.txt")).unwrap_or_default();
    let skipped: BTreeMap<&str, &str> = skipped_text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split_once('\t').unwrap_or((l, "")))
        .collect();

    let mut unexpected_failures = Vec::new();
    let mut unexpected_passes = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut passed = 0;
    for case in &cases {
        let id = case_id(case);
        assert!(seen.insert(id.clone()), "duplicate case id {id}");
        let result = run_case(case);
        match (result, skipped.contains_key(id.as_str())) {
            (Ok(()), false) => passed += 1,
            (Ok(()), true) => unexpected_passes.push(id),
            (Err(why), false) => {
                unexpected_failures.push(format!("{id}: {:?}: {why}", case["expr"].as_str()))
            }
            (Err(_), true) => {}
        }
    }
    for id in skipped.keys() {
        assert!(seen.contains(*id), "skipped.txt lists unknown case {id}");
    }
    assert!(
        unexpected_failures.is_empty() && unexpected_passes.is_empty(),
        "{} passed; {} unexpected failures:\n{}\n{} listed in skipped.txt but passing:\n{}",
        passed,
        unexpected_failures.len(),
        unexpected_failures.join("\n"),
        unexpected_passes.len(),
        unexpected_passes.join("\n")
    );
    eprintln!("{passed} passed, {} skipped", skipped.len());
    assert_eq!(passed + skipped.len(), cases.len());
}
