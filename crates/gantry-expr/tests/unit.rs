//! Unit tests by stage: lexer, parser, templates, coercions, functions, toJSON, errors, walking.
//! Each section has a `check`-style helper and many one-line cases.

use std::cell::RefCell;

use gantry_expr::{
    evaluate, evaluate_condition, evaluate_template, function_arity, lex, number, parse,
    parse_template, parse_with, Contexts, Error, ErrorKind, Expr, ExprKind, Host, Map, NoHost,
    ParseOptions, Span, StatusFunction, TemplatePart, TokenKind, Value,
};

// ---------------------------------------------------------------------------------------------
// Lexer

fn check_tokens(src: &str, expected: &[&str]) {
    let tokens = lex(src).unwrap_or_else(|e| panic!("{src:?}: {e}"));
    let got: Vec<String> = tokens
        .iter()
        .map(|t| {
            let text = t.span.text(src);
            match &t.kind {
                TokenKind::Number(n) => format!("num:{n}"),
                TokenKind::String(s) => format!("str:{s}"),
                TokenKind::Boolean(b) => format!("bool:{b}"),
                TokenKind::Null => "null".to_owned(),
                TokenKind::NamedValue(n) => format!("name:{n}"),
                TokenKind::PropertyName(n) => format!("prop:{n}"),
                TokenKind::Function(n) => format!("fn:{n}"),
                TokenKind::StartParameters => "fn(".to_owned(),
                TokenKind::EndParameters => "fn)".to_owned(),
                _ => text.to_owned(),
            }
        })
        .collect();
    assert_eq!(got, expected, "tokens of {src:?}");
}

fn check_lex_error(src: &str, message: &str, position: usize) {
    let e = lex(src).expect_err(src);
    assert_eq!(e.kind, ErrorKind::Lexing, "{src:?}");
    assert_eq!(e.message, message, "{src:?}");
    assert_eq!(e.position(), position, "{src:?}");
}

#[test]
fn lexer_tokens() {
    check_tokens("", &[]);
    check_tokens("  \t\r\n ", &[]);
    check_tokens("github.ref", &["name:github", ".", "prop:ref"]);
    check_tokens("a.b.c", &["name:a", ".", "prop:b", ".", "prop:c"]);
    check_tokens("a.*.b", &["name:a", ".", "*", ".", "prop:b"]);
    check_tokens("a[*]", &["name:a", "[", "*", "]"]);
    check_tokens("a['x']", &["name:a", "[", "str:x", "]"]);
    check_tokens("'it''s'", &["str:it's"]);
    check_tokens("'a''b''c'", &["str:a'b'c"]);
    check_tokens("''", &["str:"]);
    check_tokens("'multi\nline'", &["str:multi\nline"]);
    check_tokens(
        "1 2.5 .5 -1 +1 1e3 0xff 0o17",
        &[
            "num:1", "num:2.5", "num:0.5", "num:-1", "num:1", "num:1000", "num:255", "num:15",
        ],
    );
    check_tokens(
        "NaN Infinity -Infinity",
        &["num:NaN", "num:inf", "num:-inf"],
    );
    check_tokens("true false null", &["bool:true", "bool:false", "null"]);
    check_tokens("a.true", &["name:a", ".", "prop:true"]);
    check_tokens("True", &["name:True"]);
    check_tokens(
        "== != < <= > >= && || !",
        &["==", "!=", "<", "<=", ">", ">=", "&&", "||", "!"],
    );
    check_tokens("a==b", &["name:a", "==", "name:b"]);
    check_tokens("f(x)", &["fn:f", "fn(", "name:x", "fn)"]);
    check_tokens("f (x)", &["fn:f", "fn(", "name:x", "fn)"]);
    check_tokens("(x)", &["(", "name:x", ")"]);
    check_tokens(
        "f((x), y)",
        &["fn:f", "fn(", "(", "name:x", ")", ",", "name:y", "fn)"],
    );
    check_tokens(
        "steps.build-x.outputs.a_b",
        &[
            "name:steps",
            ".",
            "prop:build-x",
            ".",
            "prop:outputs",
            ".",
            "prop:a_b",
        ],
    );
    check_tokens("f(x).y", &["fn:f", "fn(", "name:x", "fn)", ".", "prop:y"]);
}

#[test]
fn lexer_errors() {
    check_lex_error("'foo", "Unexpected symbol: ''foo'", 1);
    check_lex_error("1 = 2", "Unexpected symbol: '='", 3);
    check_lex_error("1 =2", "Unexpected symbol: '=2'", 3);
    check_lex_error("a & b", "Unexpected symbol: '&'", 3);
    check_lex_error("a | b", "Unexpected symbol: '|'", 3);
    check_lex_error("foo.b@r", "Unexpected symbol: 'b@r'", 5);
    check_lex_error("0xZ", "Unexpected symbol: '0xZ'", 1);
    check_lex_error("-0x1", "Unexpected symbol: '-0x1'", 1);
    check_lex_error("-", "Unexpected symbol: '-'", 1);
    check_lex_error("1..2", "Unexpected symbol: '1..2'", 1);
    check_lex_error(".github/x", "Unexpected symbol: '.github/x'", 1);
    check_lex_error("a && 'x", "Unexpected symbol: ''x'", 6);
    check_lex_error("é", "Unexpected symbol: 'é'", 1);
    check_lex_error("'é' == é", "Unexpected symbol: 'é'", 8);
    // Positions count UTF-16 units, as GitHub does: the emoji is two.
    check_lex_error("'😊' @", "Unexpected symbol: '@'", 6);
    check_lex_error("'abc'.length", "Unexpected symbol: '.length'", 6);
}

// ---------------------------------------------------------------------------------------------
// Parser: the tree printed in canonical form

fn check_parse(src: &str, expected: &str) {
    let expr = parse(src).unwrap_or_else(|e| panic!("{src:?}: {e}"));
    assert_eq!(expr.to_string(), expected, "tree of {src:?}");
}

fn check_parse_error(src: &str, rendered: &str) {
    let e = parse(src).expect_err(src);
    assert_eq!(e.to_string(), rendered, "{src:?}");
}

#[test]
fn parser_precedence_and_shapes() {
    check_parse("", "null");
    check_parse("a", "a");
    check_parse("a || b && c", "(a || (b && c))");
    check_parse("a && b || c && d", "((a && b) || (c && d))");
    check_parse("a || b || c", "(a || b || c)");
    check_parse("a == b && c != d", "((a == b) && (c != d))");
    check_parse("a < b == c > d", "((a < b) == (c > d))");
    check_parse("!a == b", "(!a == b)");
    check_parse("!(a == b)", "!(a == b)");
    check_parse("!!a", "!!a");
    check_parse("(a || b) && c", "((a || b) && c)");
    check_parse("a.b['c'][0]", "a.b['c'][0]");
    check_parse("a.*.b", "a.*.b");
    check_parse("a[*].b", "a.*.b");
    check_parse("format('{0}', a, 1)", "format('{0}', a, 1)");
    check_parse("(((a)))", "a");
    check_parse("fromJSON(x).y[0]", "fromJSON(x).y[0]");
}

#[test]
fn parser_errors() {
    check_parse_error(
        "1 <",
        "Unexpected end of expression: '<'. Located at position 3 within expression: 1 <",
    );
    check_parse_error(
        "1 2",
        "Unexpected symbol: '2'. Located at position 3 within expression: 1 2",
    );
    check_parse_error(
        "foo.1",
        "Unexpected symbol: '1'. Located at position 5 within expression: foo.1",
    );
    check_parse_error(
        "github.()",
        "Unexpected symbol: '('. Located at position 8 within expression: github.()",
    );
    check_parse_error(
        "a[1",
        "Unexpected symbol: 'EOF'. Located at position 4 within expression: a[1",
    );
    check_parse_error(
        "f(1",
        "Unexpected symbol: 'EOF'. Located at position 4 within expression: f(1",
    );
    check_parse_error(
        "nope()",
        "Unrecognized function: 'nope'. Located at position 1 within expression: nope()",
    );
    check_parse_error(
        "contains(1)",
        "Too few parameters supplied: 'contains'. Located at position 1 within expression: contains(1)",
    );
    check_parse_error(
        "success(1)",
        "Too many parameters supplied: 'success'. Located at position 1 within expression: success(1)",
    );
    check_parse_error(
        "1 'x'",
        "Unexpected symbol: 'x'. Located at position 3 within expression: 1 'x'",
    );
    check_parse_error(
        "'x'[0]",
        "Unexpected symbol: '['. Located at position 4 within expression: 'x'[0]",
    );
}

#[test]
fn parser_named_values_and_functions() {
    let opts = ParseOptions::with_named_values(&["github", "env"]);
    assert!(parse_with("GitHub.ref && ENV.x", &opts).is_ok());
    let e = parse_with("github.ref && secrets.x", &opts).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Parsing);
    assert_eq!(e.message, "Unrecognized named-value: 'secrets'");
    assert_eq!(e.span, Span { start: 14, end: 21 });

    assert!(parse("myFunc(1)").is_err());
    let opts = ParseOptions {
        extra_functions: vec!["myFunc".to_owned()],
        ..ParseOptions::default()
    };
    assert!(parse_with("MYFUNC(1, 2, 3)", &opts).is_ok());
    for f in [
        "success()",
        "always()",
        "failure()",
        "cancelled()",
        "hashFiles('a', 'b')",
    ] {
        assert!(parse(f).is_ok(), "{f}");
    }
}

#[test]
fn function_arities() {
    let cases: &[(&str, Option<(usize, usize)>)] = &[
        ("contains", Some((2, 2))),
        ("STARTSWITH", Some((2, 2))),
        ("endsWith", Some((2, 2))),
        ("format", Some((1, 255))),
        ("join", Some((1, 2))),
        ("toJson", Some((1, 1))),
        ("fromJSON", Some((1, 1))),
        ("hashFiles", Some((1, 255))),
        ("success", Some((0, 0))),
        ("always", Some((0, 0))),
        ("failure", Some((0, 0))),
        ("cancelled", Some((0, 0))),
        ("case", Some((3, usize::MAX))),
        ("github", None),
    ];
    for (name, arity) in cases {
        assert_eq!(function_arity(name), *arity, "{name}");
    }
}

#[test]
fn spans_point_at_source() {
    let src = "contains(github.ref, 'x') && !env.A";
    let expr = parse(src).unwrap();
    let mut seen = Vec::new();
    expr.walk(&mut |e: &Expr| {
        let text = e.span.text(src).to_owned();
        let label = match &e.kind {
            ExprKind::Call { name, .. } => format!("call {name}"),
            ExprKind::NamedValue(n) => format!("name {n}"),
            ExprKind::Property(_, p) => format!("prop {p}"),
            ExprKind::String(_) => "string".to_owned(),
            ExprKind::Not(_) => "not".to_owned(),
            ExprKind::And(_) => "and".to_owned(),
            other => format!("{other:?}"),
        };
        seen.push(format!("{label} = {text}"));
    });
    assert_eq!(
        seen,
        [
            "and = contains(github.ref, 'x') && !env.A",
            "call contains = contains(github.ref, 'x')",
            "prop ref = github.ref",
            "name github = github",
            "string = 'x'",
            "not = !env.A",
            "prop A = env.A",
            "name env = env",
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Evaluation

struct TestHost {
    status: Result<bool, String>,
    calls: RefCell<Vec<String>>,
}

impl Host for TestHost {
    fn status(&self, f: StatusFunction) -> Result<bool, String> {
        self.calls.borrow_mut().push(f.name().to_owned());
        self.status.clone()
    }
    fn hash_files(&self, patterns: &[String]) -> Result<String, String> {
        self.calls
            .borrow_mut()
            .push(format!("hashFiles {patterns:?}"));
        Ok("abc123".to_owned())
    }
}

fn contexts() -> Map {
    let json = serde_json::json!({
        "github": {
            "event_name": "push",
            "ref": "refs/tags/v1.2",
            "event": {"labels": [{"name": "bug"}, {"name": "docs"}, {"other": 1}], "number": 42},
        },
        "matrix": {"os": "ubuntu-latest", "node": 18, "list": [1, 2, 3]},
        "env": {"EMPTY": "", "ZERO": "0", "FLAG": "true"},
    });
    match Value::from_json(&json) {
        Value::Object(map) => (*map).clone(),
        _ => unreachable!(),
    }
}

fn eval(src: &str) -> Result<Value, Error> {
    let host = TestHost {
        status: Ok(true),
        calls: RefCell::new(Vec::new()),
    };
    evaluate(&parse(src)?, &contexts(), &host)
}

/// Evaluates `src` and compares the toJSON form of the result.
fn check_eval(src: &str, expected_json: &str) {
    let value = eval(src).unwrap_or_else(|e| panic!("{src:?}: {e}"));
    assert_eq!(
        value.to_json().to_string(),
        expected_json,
        "value of {src:?}"
    );
}

fn check_eval_error(src: &str, message: &str) {
    let e = eval(src).expect_err(src);
    assert_eq!(e.kind, ErrorKind::Evaluation, "{src:?}");
    assert!(e.message.contains(message), "{src:?}: {}", e.message);
}

#[test]
fn evaluation_basics() {
    check_eval(
        "github.event_name == 'push' && matrix.os != 'windows'",
        "true",
    );
    check_eval("GITHUB.EVENT_NAME", "\"push\"");
    check_eval("github.nope", "null");
    check_eval("github.event_name.length", "null");
    check_eval("matrix.list[1]", "2");
    check_eval("matrix.list['1']", "2");
    check_eval("matrix.list[1.9]", "2");
    check_eval("matrix.list[5]", "null");
    check_eval("matrix.list[-1]", "null");
    check_eval("matrix['os']", "\"ubuntu-latest\"");
    check_eval("github.event.labels.*.name", "[\"bug\",\"docs\"]");
    check_eval("github.event.labels[*].name", "[\"bug\",\"docs\"]");
    check_eval("matrix.*", "[\"ubuntu-latest\",18,[1,2,3]]");
    check_eval("github.ref.*", "[]");
    check_eval("matrix.node > 16 && 'new' || 'old'", "\"new\"");
    check_eval("env.EMPTY || 'fallback'", "\"fallback\"");
    check_eval("env.ZERO && 'x'", "\"x\"");
    check_eval("!env.EMPTY", "true");
    check_eval("(matrix.list)[0]", "1");
    check_eval("fromJSON('{\"a\":[1,{\"b\":2}]}').a[1].b", "2");
}

#[test]
fn evaluation_coercions() {
    let cases: &[(&str, &str)] = &[
        ("1 == '1'", "true"),
        ("'abc' == 'ABC'", "true"),
        ("'' == 0", "true"),
        ("' 1 ' == 1", "true"),
        ("'0x10' == 16", "true"),
        ("'abc' == 0", "false"),
        ("null == 0", "true"),
        ("null == ''", "true"),
        ("null == false", "true"),
        ("true == 1", "true"),
        ("true == '1'", "true"),
        ("true == 'true'", "false"),
        ("NaN == NaN", "false"),
        ("NaN != NaN", "true"),
        ("matrix.list == matrix.list", "true"),
        ("fromJSON('[]') == fromJSON('[]')", "false"),
        ("matrix == 'Object'", "false"),
        ("'b' > 'A'", "true"),
        ("'a' < 'B'", "true"),
        ("2 >= '2'", "true"),
        ("true > false", "true"),
        ("null < 1", "true"),
        ("-0 == 0", "true"),
    ];
    for (src, expected) in cases {
        check_eval(src, expected);
    }
}

#[test]
fn evaluation_functions() {
    check_eval("contains(github.ref, 'refs/TAGS')", "true");
    check_eval("contains(matrix.list, '2')", "true");
    check_eval("contains(matrix.list, 4)", "false");
    check_eval("contains(matrix, 'os')", "false");
    check_eval("startsWith(github.ref, 'REFS/')", "true");
    check_eval("endsWith(github.ref, 'V1.2')", "true");
    check_eval("startsWith(matrix.list, '')", "false");
    check_eval("format('{0}-{1}-{0}', 'a', 2)", "\"a-2-a\"");
    check_eval("format('{{0}} {0}', 'x')", "\"{0} x\"");
    check_eval("format('{0}', matrix.list)", "\"Array\"");
    check_eval("format('{0}', 0.30000000000000004)", "\"0.3\"");
    check_eval("join(matrix.list)", "\"1,2,3\"");
    check_eval("join(matrix.list, ' + ')", "\"1 + 2 + 3\"");
    check_eval("join('abc', '-')", "\"abc\"");
    check_eval("toJSON(matrix.list)", "\"[\\n  1,\\n  2,\\n  3\\n]\"");
    check_eval("fromJSON('[1, 2]')[1]", "2");
    check_eval("fromJSON('{\"A\": 1, \"a\": 2}').a", "1");
    check_eval("case(matrix.node == 18, 'lts', 'other')", "\"lts\"");
    check_eval("case(false, 1, false, 2, 3)", "3");
    check_eval("success() && always()", "true");
    check_eval("hashFiles('**/Cargo.lock')", "\"abc123\"");
    check_eval_error("format('{0')", "The following format string is invalid: {0");
    check_eval_error(
        "format('{1}', 'a')",
        "The following format string references more arguments than were supplied: {1}",
    );
    check_eval_error("fromJSON('')", "empty input");
    check_eval_error(
        "fromJSON('{')",
        "Error parsing JSON when evaluating fromJson",
    );
    check_eval_error(
        "case('yes', 1, 2)",
        "case predicate must evaluate to a boolean value",
    );
}

#[test]
fn host_delegation_and_no_host() {
    let host = TestHost {
        status: Ok(false),
        calls: RefCell::new(Vec::new()),
    };
    let expr = parse("failure() || cancelled() || hashFiles('a', 'b*') == 'x'").unwrap();
    let value = evaluate(&expr, &Map::new(), &host).unwrap();
    assert_eq!(value.to_json(), serde_json::json!(false));
    assert_eq!(
        *host.calls.borrow(),
        ["failure", "cancelled", "hashFiles [\"a\", \"b*\"]"]
    );

    let e = evaluate(&parse("success()").unwrap(), &Map::new(), &NoHost).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Evaluation);
    assert_eq!(e.span, Span { start: 0, end: 9 });
    let e = evaluate(&parse("1 && hashFiles('x')").unwrap(), &Map::new(), &NoHost).unwrap_err();
    assert_eq!(e.span, Span { start: 5, end: 19 });

    let failing = TestHost {
        status: Err("boom".to_owned()),
        calls: RefCell::new(Vec::new()),
    };
    let e = evaluate(&parse("always()").unwrap(), &Map::new(), &failing).unwrap_err();
    assert_eq!(e.message, "boom");
}

#[test]
fn contexts_lookup_ignores_case() {
    let mut map = std::collections::HashMap::new();
    map.insert("Github".to_owned(), Value::from("x"));
    assert_eq!(
        map.named_value("GITHUB")
            .and_then(|v| v.as_str().map(str::to_owned)),
        Some("x".into())
    );
    let mut m = Map::new();
    m.insert("Key", Value::from(1.0));
    m.insert("KEY", Value::from(2.0));
    assert_eq!(m.len(), 1);
    assert_eq!(m.keys().collect::<Vec<_>>(), ["Key"]);
    assert!(matches!(m.get("key"), Some(Value::Number(n)) if *n == 2.0));

    // Small maps scan, large ones hash: both must agree, also for non-ASCII case folding
    // (the Kelvin sign lower-cases to `k`).
    for size in [3, 50] {
        let mut m = Map::new();
        for i in 0..size {
            m.insert(format!("Key{i}"), Value::from(i as f64));
        }
        m.insert("Straße", Value::from("street"));
        m.insert("a".repeat(100), Value::from("long"));
        assert!(m.get("KEY2").is_some(), "{size}");
        assert!(m.get("\u{212A}ey1").is_some(), "{size}");
        assert!(m.get("STRASSE").is_none(), "{size}");
        assert!(m.get("straße").is_some(), "{size}");
        assert!(m.get(&"A".repeat(100)).is_some(), "{size}");
        assert!(m.get(&"A".repeat(99)).is_none(), "{size}");
        assert!(m.get("nope").is_none(), "{size}");
    }
}

// ---------------------------------------------------------------------------------------------
// Values: interpolation, truthiness, toJSON

fn check_interpolated(json: serde_json::Value, expected: &str) {
    assert_eq!(
        Value::from_json(&json).to_interpolated_string(),
        expected,
        "{json}"
    );
}

#[test]
fn interpolation() {
    use serde_json::json;
    check_interpolated(json!(null), "");
    check_interpolated(json!(true), "true");
    check_interpolated(json!(false), "false");
    check_interpolated(json!(1), "1");
    check_interpolated(json!(1.5), "1.5");
    check_interpolated(json!(-0.0), "0");
    check_interpolated(json!(1e21), "1e+21");
    check_interpolated(json!(123456789012.0), "123456789012");
    check_interpolated(json!(0.1), "0.1");
    check_interpolated(json!(1.0e-7), "1e-7");
    check_interpolated(json!("text"), "text");
    check_interpolated(json!([1]), "Array");
    check_interpolated(json!({"a": 1}), "Object");
    assert_eq!(Value::Number(f64::NAN).to_interpolated_string(), "NaN");
    assert_eq!(
        Value::Number(f64::INFINITY).to_interpolated_string(),
        "Infinity"
    );
    assert_eq!(Value::Number(0.1 + 0.2).to_interpolated_string(), "0.3");
}

#[test]
fn truthiness() {
    use serde_json::json;
    for (json, truthy) in [
        (json!(null), false),
        (json!(false), false),
        (json!(0), false),
        (json!(""), false),
        (json!(true), true),
        (json!(-1), true),
        (json!("0"), true),
        (json!("false"), true),
        (json!([]), true),
        (json!({}), true),
    ] {
        assert_eq!(Value::from_json(&json).is_truthy(), truthy, "{json}");
    }
    assert!(!Value::Number(f64::NAN).is_truthy());
}

fn check_to_json_pretty(json: serde_json::Value, expected: &str) {
    assert_eq!(Value::from_json(&json).to_json_pretty(), expected, "{json}");
}

#[test]
fn to_json_pretty() {
    use serde_json::json;
    check_to_json_pretty(json!(null), "null");
    check_to_json_pretty(json!(1.5), "1.5");
    check_to_json_pretty(json!("a\"b\n"), "\"a\\\"b\\n\"");
    check_to_json_pretty(json!([]), "[]");
    check_to_json_pretty(json!({}), "{}");
    check_to_json_pretty(json!([1, "x"]), "[\n  1,\n  \"x\"\n]");
    check_to_json_pretty(
        json!({"a": {"b": [true, null]}, "c": {}}),
        "{\n  \"a\": {\n    \"b\": [\n      true,\n      null\n    ]\n  },\n  \"c\": {}\n}",
    );
    assert_eq!(Value::Number(f64::NAN).to_json_pretty(), "null");
}

#[test]
fn json_round_trip_keeps_order() {
    let json = serde_json::json!({"z": 1, "a": [1, 2, {"m": null}], "b": "x"});
    assert_eq!(Value::from_json(&json).to_json(), json);
}

// ---------------------------------------------------------------------------------------------
// Templates

fn check_template(src: &str, expected_parts: &[&str]) {
    let t = parse_template(src).unwrap_or_else(|e| panic!("{src:?}: {e}"));
    let parts: Vec<String> = t
        .parts
        .iter()
        .map(|p| match p {
            TemplatePart::Literal(s) => format!("lit:{s}"),
            TemplatePart::Expr { expr, span } => {
                format!("expr:{expr}@{}", span.text(src))
            }
        })
        .collect();
    assert_eq!(parts, expected_parts, "parts of {src:?}");
}

#[test]
fn templates() {
    check_template("", &[]);
    check_template("plain text", &["lit:plain text"]);
    check_template("${{ a }}", &["expr:a@${{ a }}"]);
    check_template("x ${{a}} y", &["lit:x ", "expr:a@${{a}}", "lit: y"]);
    check_template("${{ a }}${{ b }}", &["expr:a@${{ a }}", "expr:b@${{ b }}"]);
    check_template("${{ '}}' }}", &["expr:'}}'@${{ '}}' }}"]);
    check_template("${{ 'it''s' }}!", &["expr:'it''s'@${{ 'it''s' }}", "lit:!"]);
    check_template("$ {{ a }} ${ {", &["lit:$ {{ a }} ${ {"]);
    check_template("é ${{ a }} ü", &["lit:é ", "expr:a@${{ a }}", "lit: ü"]);

    let t = parse_template("${{ a }}").unwrap();
    assert!(t.as_single_expr().is_some() && !t.is_literal());
    let t = parse_template(" ${{ a }}").unwrap();
    assert!(t.as_single_expr().is_none());
    assert!(parse_template("abc").unwrap().is_literal());
}

#[test]
fn template_spans_and_errors() {
    let src = "run ${{ github.x == 1 }}";
    let t = parse_template(src).unwrap();
    let expr = t.as_single_expr().or_else(|| match &t.parts[1] {
        TemplatePart::Expr { expr, .. } => Some(expr),
        _ => None,
    });
    let expr = expr.unwrap();
    assert_eq!(expr.span.text(src), "github.x == 1");
    let mut names = Vec::new();
    expr.walk(&mut |e: &Expr| {
        if let ExprKind::NamedValue(_) = e.kind {
            names.push(e.span.text(src).to_owned());
        }
    });
    assert_eq!(names, ["github"]);

    let e = parse_template("a ${{ 1 == }} b").unwrap_err();
    assert_eq!(e.kind, ErrorKind::Parsing);
    assert_eq!(e.span.text("a ${{ 1 == }} b"), "==");
    let e = parse_template("a ${{ b").unwrap_err();
    assert!(
        e.message.starts_with("The expression is not closed"),
        "{}",
        e.message
    );
    assert_eq!(e.span.start, 2);
    let e = parse_template("a ${{   }}").unwrap_err();
    assert_eq!(e.message, "An expression was expected");
    let e = parse_template("${{ 'x }}").unwrap_err();
    assert!(e.message.starts_with("The expression is not closed"));
}

#[test]
fn template_evaluation() {
    let t = parse_template(
        "on ${{ github.event_name }} for ${{ matrix.node }}: ${{ matrix.list }}${{ null }}!",
    )
    .unwrap();
    let out = evaluate_template(&t, &contexts(), &NoHost).unwrap();
    assert_eq!(out, "on push for 18: Array!");
}

// ---------------------------------------------------------------------------------------------
// Conditions (`if:` with the implicit `success() &&`)

/// Status functions answered from a job's state: `failed` and `cancelled` so far.
struct JobState {
    failed: bool,
    cancelled: bool,
}

impl Host for JobState {
    fn status(&self, f: StatusFunction) -> Result<bool, String> {
        Ok(match f {
            StatusFunction::Success => !self.failed && !self.cancelled,
            StatusFunction::Always => true,
            StatusFunction::Failure => self.failed,
            StatusFunction::Cancelled => self.cancelled,
        })
    }
    fn hash_files(&self, _patterns: &[String]) -> Result<String, String> {
        Err("no workspace".to_owned())
    }
}

fn check_condition(src: &str, failed: bool, cancelled: bool, expected: Result<bool, ()>) {
    let mut contexts = Map::new();
    contexts.insert(
        "env",
        Value::from_json(&serde_json::json!({"FOO": "bar", "EMPTY": ""})),
    );
    contexts.insert(
        "matrix",
        Value::from_json(&serde_json::json!({"os": "linux", "experimental": true})),
    );
    let host = JobState { failed, cancelled };
    let got = evaluate_condition(src, &contexts, &host).map_err(|_| ());
    assert_eq!(
        got, expected,
        "{src:?} failed={failed} cancelled={cancelled}"
    );
}

#[test]
fn conditions() {
    check_condition("", false, false, Ok(true));
    check_condition("  ", true, false, Ok(false));
    check_condition("success()", false, false, Ok(true));
    check_condition("success()", true, false, Ok(false));
    check_condition("success()", false, true, Ok(false));
    check_condition("always()", true, true, Ok(true));
    check_condition("failure()", true, false, Ok(true));
    check_condition("failure()", false, false, Ok(false));
    check_condition("cancelled()", false, true, Ok(true));
    check_condition("${{ always() }}", true, false, Ok(true));
    check_condition("ALWAYS()", true, false, Ok(true));
    check_condition("env.FOO == 'bar'", false, false, Ok(true));
    check_condition("env.FOO == 'bar'", true, false, Ok(false));
    check_condition("${{ matrix.os == 'linux' }}", false, false, Ok(true));
    check_condition("matrix.os == 'mac'", false, false, Ok(false));
    check_condition("failure() || env.FOO == 'bar'", false, false, Ok(true));
    // A status function anywhere in the tree, even as an argument, lifts the implicit success().
    check_condition("format('{0}', always())", true, false, Ok(true));
    // Behind a false success() the condition is not evaluated: no error.
    check_condition("fromJSON('{')", true, false, Ok(false));
    check_condition("fromJSON('{')", false, false, Err(()));
    // Text mixed with `${{ }}` is a string: true when not empty, behind success().
    check_condition("${{ env.EMPTY }} x", false, false, Ok(true));
    check_condition("${{ matrix.os == 'mac' }} x", false, false, Ok(true));
    check_condition("${{ env.EMPTY }}${{ env.EMPTY }}", false, false, Ok(false));
    check_condition("${{ env.FOO }} x", true, false, Ok(false));
    // Regression (the scheduler's copy evaluated the template first): behind a false
    // success() a template is not evaluated either, as `success() && (...)` short-circuits.
    check_condition("${{ fromJSON('{') }} x", true, false, Ok(false));
    check_condition("${{ fromJSON('{') }} x", false, false, Err(()));
    // Parse errors are errors whatever the status.
    check_condition("env.FOO ==", false, false, Err(()));
}

// ---------------------------------------------------------------------------------------------
// Numbers: one text form per GitHub surface (`gantry_expr::number`)

/// The cases of GitHub's shared expression suite whose expression is `<function>(<args>, <number>)`
/// with a literal number argument, as (argument text, expected string).
fn shared_number_cases(prefix: &str) -> Vec<(String, String)> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../test_data/languageservices/expressions/expressions-flat.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let cases: Vec<serde_json::Value> = serde_json::from_str(&text).expect("cases are JSON");
    cases
        .iter()
        .filter_map(|case| {
            let expr = case["expr"].as_str()?;
            let argument = expr.strip_prefix(prefix)?.strip_suffix(')')?;
            let parsed = parse(argument).ok()?;
            let is_number = matches!(&parsed.kind, ExprKind::Number(_))
                || matches!(argument.trim_start_matches(['-', '+']), "Infinity" | "NaN");
            let expected = case["expected"]["value"].as_str()?;
            is_number.then(|| (argument.to_owned(), expected.to_owned()))
        })
        .collect()
}

fn number_of(argument: &str) -> f64 {
    match evaluate(&parse(argument).unwrap(), &Map::new(), &NoHost).unwrap() {
        Value::Number(n) => n,
        other => panic!("{argument:?} is not a number: {other:?}"),
    }
}

#[test]
fn expression_text_follows_github_format_cases() {
    let cases = shared_number_cases("format('{0}', ");
    assert!(cases.len() >= 30, "only {} format cases found", cases.len());
    for (argument, expected) in cases {
        let n = number_of(&argument);
        assert_eq!(number::expression_text(n), expected, "format of {argument}");
    }
}

#[test]
fn tojson_text_follows_github_tojson_cases() {
    let cases = shared_number_cases("tojson(");
    assert!(cases.len() >= 6, "only {} toJSON cases found", cases.len());
    for (argument, expected) in cases {
        let n = number_of(&argument);
        assert_eq!(number::tojson_text(n), expected, "toJSON of {argument}");
    }
    assert_eq!(number::tojson_text(f64::NAN), "null");
    assert_eq!(number::tojson_text(f64::INFINITY), "null");
}

#[test]
fn number_surfaces_differ_where_github_differs() {
    // (value, expression string, toJSON, printed literal, YAML literal read as a string)
    let cases: &[(f64, &str, &str, &str, &str)] = &[
        (0.0, "0", "0", "0", "0"),
        (-0.0, "0", "0", "0", "0"),
        (3.1, "3.1", "3.1", "3.1", "3.1"),
        (-0.5, "-0.5", "-0.5", "-0.5", "-0.5"),
        (
            0.845_512_408_225_570_1,
            "0.84551240822557",
            "0.8455124082255701",
            "0.8455124082255701",
            "0.84551240822557",
        ),
        (
            1e15,
            "1000000000000000",
            "1000000000000000",
            "1000000000000000",
            "1E+15",
        ),
        (
            1_587_106_672_383_762_434.0,
            "1587106672383762400",
            "1587106672383762400",
            "1587106672383762400",
            "1.58710667238376E+18",
        ),
        (1e21, "1e+21", "1e+21", "1e+21", "1E+21"),
        (1e-7, "1e-7", "1e-7", "1e-7", "1E-07"),
        (1e-16, "0", "1e-16", "1e-16", "1E-16"),
        (
            0.000_012_3,
            "0.0000123",
            "0.0000123",
            "0.0000123",
            "1.23E-05",
        ),
        (f64::INFINITY, "Infinity", "null", "Infinity", "Infinity"),
        (f64::NAN, "NaN", "null", "NaN", "NaN"),
    ];
    for &(n, expression, tojson, literal, yaml) in cases {
        assert_eq!(
            number::expression_text(n),
            expression,
            "expression text of {n}"
        );
        assert_eq!(number::tojson_text(n), tojson, "toJSON of {n}");
        assert_eq!(number::javascript_text(n), literal, "literal of {n}");
        assert_eq!(number::yaml_text(n), yaml, "YAML text of {n}");
    }
}

#[test]
fn json_numbers_are_integers_when_exact() {
    let check = |n: f64, expected: &str| {
        assert_eq!(number::json_number(n).to_string(), expected, "JSON of {n}");
    };
    check(1.0, "1");
    check(-42.0, "-42");
    check(0.5, "0.5");
    // Regression: the plan's copy switched to floats from 1e15 and printed `1000000000000000.0`.
    check(1e15, "1000000000000000");
    check(9_007_199_254_740_991.0, "9007199254740991");
    // 2^53 and beyond: not every integer is exact, so a float.
    check(9_007_199_254_740_992.0, "9007199254740992.0");
    check(f64::NAN, "null");
    check(f64::INFINITY, "null");
}

// ---------------------------------------------------------------------------------------------
// Error rendering

#[test]
fn error_rendering() {
    let e = parse("a == 'é' == b b").unwrap_err();
    assert_eq!(e.position(), 15);
    assert_eq!(
        e.to_string(),
        "Unexpected symbol: 'b'. Located at position 15 within expression: a == 'é' == b b"
    );
    let e = eval("format('{9}')").unwrap_err();
    assert_eq!(
        e.to_string(),
        "The following format string references more arguments than were supplied: {9}"
    );
    let e = e.with_expression("format('{9}')");
    assert_eq!(
        e.to_string(),
        "The following format string references more arguments than were supplied: {9}. Located at position 1 within expression: format('{9}')"
    );
}

#[test]
fn structural_equality() {
    use serde_json::json;
    let a = Value::from_json(&json!({"a": [1, {"b": null}], "c": "x"}));
    let b = Value::from_json(&json!({"C": "x", "A": [1, {"B": null}]}));
    let c = Value::from_json(&json!({"a": [1, {"b": 0}], "c": "x"}));
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_ne!(Value::Number(f64::NAN), Value::Number(f64::NAN));
    assert_ne!(Value::from("1"), Value::from(1.0));
}
