//! Matrix expansion: the examples from GitHub's docs and edge cases, one `check` per case.

use gantry_plan::matrix::{display_name, expand_matrix, MatrixError};
use serde_json::Value;

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// `expected` is one JSON object per combination, in order.
fn check(matrix: &str, expected: &[&str]) {
    let combinations = expand_matrix(&parse(matrix)).unwrap_or_else(|e| panic!("{matrix}: {e}"));
    let got: Vec<String> = combinations
        .iter()
        .map(|c| serde_json::to_string(c).unwrap())
        .collect();
    let want: Vec<String> = expected
        .iter()
        .map(|e| serde_json::to_string(&parse(e)).unwrap())
        .collect();
    assert_eq!(got, want, "matrix {matrix}");
}

fn check_err(matrix: &str, expected: MatrixError) {
    assert_eq!(
        expand_matrix(&parse(matrix)),
        Err(expected),
        "matrix {matrix}"
    );
}

#[test]
fn cartesian_product_in_axis_order() {
    check(
        r#"{"os": ["ubuntu", "windows"], "version": [10, 12, 14]}"#,
        &[
            r#"{"os":"ubuntu","version":10}"#,
            r#"{"os":"ubuntu","version":12}"#,
            r#"{"os":"ubuntu","version":14}"#,
            r#"{"os":"windows","version":10}"#,
            r#"{"os":"windows","version":12}"#,
            r#"{"os":"windows","version":14}"#,
        ],
    );
    check(r#"{"v": [1]}"#, &[r#"{"v":1}"#]);
}

#[test]
fn docs_include_example_fruit_animal() {
    check(
        r#"{"fruit": ["apple", "pear"], "animal": ["cat", "dog"], "include": [
            {"color": "green"},
            {"color": "pink", "animal": "cat"},
            {"fruit": "apple", "shape": "circle"},
            {"fruit": "banana"},
            {"fruit": "banana", "animal": "cat"}]}"#,
        &[
            r#"{"fruit":"apple","animal":"cat","color":"pink","shape":"circle"}"#,
            r#"{"fruit":"apple","animal":"dog","color":"green","shape":"circle"}"#,
            r#"{"fruit":"pear","animal":"cat","color":"pink"}"#,
            r#"{"fruit":"pear","animal":"dog","color":"green"}"#,
            r#"{"fruit":"banana"}"#,
            r#"{"fruit":"banana","animal":"cat"}"#,
        ],
    );
}

#[test]
fn docs_expanding_configurations_example() {
    // "Example: Expanding configurations": node 16 on windows gets npm 6 added.
    check(
        r#"{"os": ["windows-latest", "ubuntu-latest"], "node": [14, 16],
            "include": [{"os": "windows-latest", "node": 16, "npm": 6}]}"#,
        &[
            r#"{"os":"windows-latest","node":14}"#,
            r#"{"os":"windows-latest","node":16,"npm":6}"#,
            r#"{"os":"ubuntu-latest","node":14}"#,
            r#"{"os":"ubuntu-latest","node":16}"#,
        ],
    );
}

#[test]
fn docs_adding_configurations_example() {
    // "Example: Adding configurations": 9 jobs plus windows/17.
    let got = expand_matrix(&parse(
        r#"{"os": ["macos-latest", "windows-latest", "ubuntu-latest"], "version": [12, 14, 16],
            "include": [{"os": "windows-latest", "version": 17}]}"#,
    ))
    .unwrap();
    assert_eq!(got.len(), 10);
    assert_eq!(
        serde_json::to_string(&got[9]).unwrap(),
        r#"{"os":"windows-latest","version":17}"#
    );
}

#[test]
fn docs_include_only() {
    check(
        r#"{"include": [{"site": "production", "datacenter": "site-a"},
                        {"site": "staging", "datacenter": "site-b"}]}"#,
        &[
            r#"{"site":"production","datacenter":"site-a"}"#,
            r#"{"site":"staging","datacenter":"site-b"}"#,
        ],
    );
}

#[test]
fn docs_exclude_example() {
    // "Excluding matrix configurations": 12 combinations minus 2 excluded by partial matches.
    let got = expand_matrix(&parse(
        r#"{"os": ["macos-latest", "windows-latest"], "version": [12, 14, 16],
            "environment": ["staging", "production"],
            "exclude": [{"os": "macos-latest", "version": 12, "environment": "production"},
                        {"os": "windows-latest", "version": 16}]}"#,
    ))
    .unwrap();
    assert_eq!(got.len(), 12 - 1 - 2);
    assert!(got
        .iter()
        .all(|c| !(c["os"] == "windows-latest" && c["version"] == 16)));
}

#[test]
fn exclude_partial_and_whole() {
    check(
        r#"{"a": [1, 2], "b": ["x", "y"], "exclude": [{"a": 1}]}"#,
        &[r#"{"a":2,"b":"x"}"#, r#"{"a":2,"b":"y"}"#],
    );
    check(
        r#"{"a": [1, 2], "b": ["x", "y"], "exclude": [{"a": 2, "b": "y"}]}"#,
        &[
            r#"{"a":1,"b":"x"}"#,
            r#"{"a":1,"b":"y"}"#,
            r#"{"a":2,"b":"x"}"#,
        ],
    );
    // Numbers compare by value.
    check(r#"{"a": [1, 2], "exclude": [{"a": 1.0}]}"#, &[r#"{"a":2}"#]);
}

#[test]
fn exclude_then_include_re_adds() {
    check(
        r#"{"a": [1, 2], "exclude": [{"a": 2}], "include": [{"a": 2, "extra": true}]}"#,
        &[r#"{"a":1}"#, r#"{"a":2,"extra":true}"#],
    );
}

#[test]
fn object_values_match_deeply() {
    check(
        r#"{"cfg": [{"os": "linux", "cc": "gcc"}, {"os": "mac", "cc": "clang"}],
            "include": [{"cfg": {"os": "mac", "cc": "clang"}, "arch": "arm64"}],
            "exclude": [{"cfg": {"os": "linux", "cc": "clang"}}]}"#,
        &[
            r#"{"cfg":{"os":"linux","cc":"gcc"}}"#,
            r#"{"cfg":{"os":"mac","cc":"clang"},"arch":"arm64"}"#,
        ],
    );
}

#[test]
fn include_overwrites_added_but_not_original_values() {
    check(
        r#"{"a": [1], "include": [{"x": "first"}, {"x": "second"}, {"a": 1, "x": "third"}]}"#,
        &[r#"{"a":1,"x":"third"}"#],
    );
    check(
        r#"{"a": [1], "include": [{"a": 2, "x": "new"}]}"#,
        &[r#"{"a":1}"#, r#"{"a":2,"x":"new"}"#],
    );
}

#[test]
fn errors() {
    check_err(r#"[1]"#, MatrixError::NotAMapping("a sequence"));
    check_err(r#"{"a": []}"#, MatrixError::EmptyAxis("a".into()));
    check_err(
        r#"{"a": "x"}"#,
        MatrixError::AxisNotASequence("a".into(), "a string"),
    );
    check_err(
        r#"{"a": [1], "include": {"a": 1}}"#,
        MatrixError::BadFilterList("include"),
    );
    check_err(
        r#"{"a": [1], "exclude": [3]}"#,
        MatrixError::BadFilterList("exclude"),
    );
    check_err(
        r#"{"a": [1], "exclude": [{"b": 1}]}"#,
        MatrixError::UnknownExcludeKey("b".into()),
    );
    check_err(r#"{"a": [1], "exclude": [{"a": 1}]}"#, MatrixError::Empty);
    check_err(r#"{}"#, MatrixError::Empty);
    let big: Vec<u32> = (0..17).collect();
    let text = serde_json::json!({"a": big, "b": big}).to_string();
    check_err(&text, MatrixError::TooManyCombinations(289));
    let huge: Vec<u32> = (0..1000).collect();
    let text = serde_json::json!({"a": huge, "b": huge, "c": huge}).to_string();
    check_err(&text, MatrixError::TooManyCombinations(1_000_000_000));
}

#[test]
fn exactly_256_is_allowed() {
    let axis: Vec<u32> = (0..16).collect();
    let text = serde_json::json!({"a": axis, "b": axis}).to_string();
    assert_eq!(expand_matrix(&parse(&text)).unwrap().len(), 256);
}

fn check_name(combination: &str, expected: &str) {
    let Value::Object(map) = parse(combination) else {
        panic!("not an object")
    };
    assert_eq!(display_name("test", &map), expected, "{combination}");
}

#[test]
fn display_names() {
    check_name(r#"{"os":"ubuntu","node":18}"#, "test (ubuntu, 18)");
    check_name(r#"{"a":1.5,"b":true}"#, "test (1.5, true)");
    check_name(
        r#"{"cfg":{"os":"linux","cc":"gcc"},"x":[1,2]}"#,
        "test (linux, gcc, 1, 2)",
    );
    check_name(r#"{"a":"","b":null,"c":"x"}"#, "test (x)");
    check_name(r#"{"a":""}"#, "test");
    check_name(r#"{}"#, "test");
}
