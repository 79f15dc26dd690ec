//! Hostile input: deep nesting, huge strings, non-ASCII, unterminated literals. Every case must end
//! in an error with a position (or a value), never a panic or a stack overflow. Regression tests for
//! fuzzer findings are named after what they pin.

use gantry_expr::{evaluate, parse, parse_template, ErrorKind, Map, NoHost, MAX_DEPTH, MAX_LENGTH};

/// Parses, and if that works evaluates against nothing; returns the error kind and message.
fn outcome(src: &str) -> Result<String, (ErrorKind, String)> {
    let expr = parse(src).map_err(|e| (e.kind, e.message))?;
    evaluate(&expr, &Map::new(), &NoHost)
        .map(|v| v.to_json().to_string())
        .map_err(|e| (e.kind, e.message))
}

fn check_error(src: &str, kind: ErrorKind, message_start: &str) {
    match outcome(src) {
        Ok(v) => panic!(
            "{}...: expected an error, got {v}",
            &src[..src.len().min(40)]
        ),
        Err((k, m)) => {
            assert_eq!(k, kind, "{m}");
            assert!(m.starts_with(message_start), "{m}");
        }
    }
}

#[test]
fn deep_nesting_is_a_depth_error() {
    let depth = "Exceeded max expression depth 50";
    let n = MAX_DEPTH + 1;
    check_error(
        &format!("{}1{}", "(".repeat(n), ")".repeat(n)),
        ErrorKind::Parsing,
        depth,
    );
    check_error(&format!("a{}", "[0]".repeat(n)), ErrorKind::Parsing, depth);
    check_error(&format!("a{}", ".b".repeat(n)), ErrorKind::Parsing, depth);
    check_error(&format!("{}true", "!".repeat(n)), ErrorKind::Parsing, depth);
    check_error(
        &format!("{}1{}", "toJSON(".repeat(n), ")".repeat(n)),
        ErrorKind::Parsing,
        depth,
    );
    check_error(
        &format!("1{}", " == 1".repeat(n)),
        ErrorKind::Parsing,
        depth,
    );
    check_error(&format!("1{}", " < 1".repeat(n)), ErrorKind::Parsing, depth);
    // Within the limit everything works.
    assert!(outcome(&format!("{}1{}", "(".repeat(40), ")".repeat(40))).is_ok());
    assert_eq!(
        outcome(&format!("1{}", " == 1".repeat(40))).unwrap(),
        "true"
    );
}

#[test]
fn huge_nesting_beyond_length_limit() {
    let length = "Exceeded max expression length 21000";
    for src in [
        "(".repeat(100_000),
        "[".repeat(100_000),
        "!".repeat(100_000),
        format!("'{}'", "x".repeat(MAX_LENGTH)),
        "a.".repeat(60_000),
    ] {
        check_error(&src, ErrorKind::Lexing, length);
    }
    // Just under the limit: deep but short enough to lex, so the depth check answers.
    check_error(
        &"(".repeat(20_000),
        ErrorKind::Parsing,
        "Exceeded max expression depth 50",
    );
    check_error(
        &"!".repeat(20_000),
        ErrorKind::Parsing,
        "Exceeded max expression depth 50",
    );
    check_error(
        &"a[".repeat(10_000),
        ErrorKind::Parsing,
        "Exceeded max expression depth 50",
    );
    check_error(
        &"1==".repeat(6_000),
        ErrorKind::Parsing,
        "Exceeded max expression depth 50",
    );
    // A long flat chain is fine.
    let chain = vec!["true"; 2_000].join(" && ");
    assert_eq!(outcome(&chain).unwrap(), "true");
}

#[test]
fn huge_strings() {
    let long = format!("'{}'", "é".repeat(10_000));
    assert!(outcome(&long).is_ok());
    let json = format!("fromJSON('{}')", "[".repeat(10_000));
    check_error(&json, ErrorKind::Evaluation, "Error parsing JSON");
    // toJSON/format blow-ups hit the memory cap instead of allocating without bound.
    let big = "format('{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}', format('{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}', format('{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}', format('{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}', 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx')))) == 'a'";
    check_error(
        big,
        ErrorKind::Evaluation,
        "The maximum allowed memory size was exceeded",
    );
}

#[test]
fn non_ascii_and_unterminated() {
    let cases: &[(&str, ErrorKind, &str, usize)] = &[
        ("'abc", ErrorKind::Lexing, "Unexpected symbol: ''abc'", 1),
        (
            "a == 'abc",
            ErrorKind::Lexing,
            "Unexpected symbol: ''abc'",
            6,
        ),
        (
            "'it''s",
            ErrorKind::Lexing,
            "Unexpected symbol: ''it''s'",
            1,
        ),
        ("ß", ErrorKind::Lexing, "Unexpected symbol: 'ß'", 1),
        ("'ü' == ü", ErrorKind::Lexing, "Unexpected symbol: 'ü'", 8),
        ("😊😊 x", ErrorKind::Lexing, "Unexpected symbol: '😊😊'", 1),
        (
            "a\u{a0}b",
            ErrorKind::Lexing,
            "Unexpected symbol: '\u{a0}b'",
            2,
        ),
        ("\u{0}", ErrorKind::Lexing, "Unexpected symbol: '\u{0}'", 1),
        ("a.é", ErrorKind::Lexing, "Unexpected symbol: 'é'", 3),
        (
            "a[",
            ErrorKind::Parsing,
            "Unexpected end of expression: '['",
            2,
        ),
        (
            "(",
            ErrorKind::Parsing,
            "Unexpected end of expression: '('",
            1,
        ),
        (")", ErrorKind::Parsing, "Unexpected symbol: ')'", 1),
        ("]", ErrorKind::Parsing, "Unexpected symbol: ']'", 1),
        (",", ErrorKind::Parsing, "Unexpected symbol: ','", 1),
        ("*", ErrorKind::Parsing, "Unexpected symbol: '*'", 1),
        ("a.", ErrorKind::Parsing, "Unexpected symbol: 'EOF'", 3),
        (
            "format(",
            ErrorKind::Parsing,
            "Unexpected end of expression: '('",
            7,
        ),
        (
            "format('a',",
            ErrorKind::Parsing,
            "Unexpected end of expression: ','",
            11,
        ),
    ];
    for (src, kind, message, position) in cases {
        let e = parse(src).expect_err(src);
        assert_eq!(
            (e.kind, e.message.as_str(), e.position()),
            (*kind, *message, *position),
            "{src:?}"
        );
    }
}

#[test]
fn templates_with_hostile_content() {
    assert!(parse_template(&"${{".repeat(50_000)).is_err());
    assert!(parse_template(&"}}".repeat(50_000)).is_ok());
    assert!(parse_template(&"${{ a }}".repeat(20_000)).is_ok());
    let e = parse_template(&format!("x ${{{{ {} }}}}", "(".repeat(100))).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Parsing);
    assert_eq!(e.span.start, 6 + 50);
    assert!(parse_template("${{ 'é }} ü").is_err());
    assert!(parse_template("é${{ 1 }}é${{").is_err());
}

#[test]
fn string_building_functions_respect_the_memory_cap() {
    let memory = "The maximum allowed memory size was exceeded";
    let array = format!("[{}]", vec!["1"; 3000].join(","));
    let separator = format!("format('{}', '{}')", "{0}".repeat(8), "x".repeat(1000));
    check_error(
        &format!("join(fromJSON('{array}'), {separator})"),
        ErrorKind::Evaluation,
        memory,
    );
    let many = "{0}".repeat(5000);
    check_error(
        &format!("format('{many}', '{}')", "y".repeat(1000)),
        ErrorKind::Evaluation,
        memory,
    );
}

#[test]
fn long_scans_stay_linear() {
    // 400k characters of `{{` as a format string: the brace scan must not restart from scratch for
    // every escape (that was quadratic).
    let inner = format!("format('{}', '{}')", "{0}".repeat(200), "{{".repeat(1000));
    let start = std::time::Instant::now();
    let result = outcome(&format!("format({inner}) == ''"));
    assert_eq!(result.unwrap(), "false");
    // contains() with a long needle on a long haystack.
    let hay = format!("format('{}', '{}')", "{0}".repeat(120), "ab".repeat(1000));
    let needle = format!("format('{}', '{}')", "{0}".repeat(60), "ab".repeat(1000));
    assert_eq!(
        outcome(&format!("contains({hay}, {needle})")).unwrap(),
        "true"
    );
    assert!(
        start.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
}
