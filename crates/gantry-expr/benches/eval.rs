//! Throughput of evaluation and parsing, printed as operations per second.
//!
//! Run: `cargo bench -p gantry-expr --bench eval`. Evaluations use realistic contexts (the push
//! event `github` context from the languageservices memory case, plus `matrix`, `env`, `steps`);
//! parsing covers every line of actionlint's `bench/expressions.txt`.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use gantry_expr::{evaluate, parse, Host, Map, StatusFunction, Value};

struct BenchHost;

impl Host for BenchHost {
    fn status(&self, _f: StatusFunction) -> Result<bool, String> {
        Ok(true)
    }
    fn hash_files(&self, _patterns: &[String]) -> Result<String, String> {
        Ok(String::new())
    }
}

fn test_data(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../test_data")
        .join(path)
}

fn contexts() -> Map {
    let text = std::fs::read_to_string(test_data(
        "languageservices/expressions/expressions-flat.json",
    ))
    .expect("conformance data present");
    let cases: Vec<serde_json::Value> = serde_json::from_str(&text).expect("valid json");
    let github = cases
        .iter()
        .find(|c| c["name"] == "memory-errors")
        .map(|c| c["context"]["github"].clone())
        .expect("memory-errors case has a github context");
    let mut map = Map::new();
    map.insert("github", Value::from_json(&github));
    map.insert(
        "matrix",
        Value::from_json(&serde_json::json!({"os": "ubuntu-latest", "node": 20})),
    );
    map.insert(
        "env",
        Value::from_json(&serde_json::json!({"CI": "true", "RELEASE": "false"})),
    );
    map.insert(
        "steps",
        Value::from_json(
            &serde_json::json!({"build": {"outputs": {"version": "1.2.3"}, "outcome": "success"}}),
        ),
    );
    map
}

/// Runs `f` repeatedly for about `budget`, returns operations per second.
fn per_second(budget: Duration, mut f: impl FnMut()) -> f64 {
    let mut n: u64 = 0;
    let start = Instant::now();
    while start.elapsed() < budget {
        for _ in 0..1000 {
            f();
        }
        n += 1000;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let contexts = contexts();
    let budget = Duration::from_millis(700);
    let exprs = [
        "github.event_name == 'push' && matrix.os != 'windows'",
        "success()",
        "contains(github.ref, 'refs/tags')",
        "startsWith(github.ref, 'refs/heads/') && steps.build.outputs.version != ''",
        "github.event.head_commit.author.email",
        "format('{0}-{1}', matrix.os, matrix.node)",
        "toJSON(github.event.repository.owner)",
    ];
    println!("evaluation (parsed once):");
    for src in exprs {
        let expr = parse(src).expect("bench expression parses");
        let rate = per_second(budget, || {
            black_box(evaluate(black_box(&expr), &contexts, &BenchHost).ok());
        });
        println!("  {:>12.0} evals/s  {src}", rate);
    }

    let text = std::fs::read_to_string(test_data("actionlint/bench/expressions.txt"))
        .expect("actionlint data present");
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let bytes: usize = lines.iter().map(|l| l.len()).sum();
    let mut i = 0;
    let rate = per_second(budget, || {
        black_box(parse(black_box(lines[i % lines.len()])).ok());
        i += 1;
    });
    println!(
        "parsing: {:.0} parses/s over {} expressions ({:.1} MB/s)",
        rate,
        lines.len(),
        rate * bytes as f64 / lines.len() as f64 / 1e6
    );
}
