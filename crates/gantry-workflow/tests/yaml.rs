//! The YAML layer: scalar typing, spans, and bad input that must give a positioned diagnostic
//! quickly instead of a panic, a hang or unbounded memory.

use std::time::{Duration, Instant};

use gantry_workflow::yaml::{self, resolve_scalar, Node, NodeKind, ScalarStyle, ScalarType};
use gantry_workflow::Diagnostic;

fn parse(text: &str) -> (Option<Node>, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let node = yaml::parse(text, &mut diags);
    (node, diags)
}

#[test]
fn scalar_types_follow_the_yaml_1_2_core_schema() {
    let check = |s: &str, expected: ScalarType| {
        let got = resolve_scalar(s);
        let same = match (got, expected) {
            (ScalarType::Float(a), ScalarType::Float(b)) => a == b || (a.is_nan() && b.is_nan()),
            (a, b) => a == b,
        };
        assert!(same, "{s:?}: got {got:?}, expected {expected:?}");
    };
    check("on", ScalarType::Str);
    check("yes", ScalarType::Str);
    check("no", ScalarType::Str);
    check("off", ScalarType::Str);
    check("y", ScalarType::Str);
    check("true", ScalarType::Bool(true));
    check("True", ScalarType::Bool(true));
    check("TRUE", ScalarType::Bool(true));
    check("false", ScalarType::Bool(false));
    check("tRUE", ScalarType::Str);
    check("", ScalarType::Null);
    check("~", ScalarType::Null);
    check("null", ScalarType::Null);
    check("NULL", ScalarType::Null);
    check("nULL", ScalarType::Str);
    check("0", ScalarType::Int(0));
    check("-12", ScalarType::Int(-12));
    check("+12", ScalarType::Int(12));
    check("012", ScalarType::Int(12));
    check("0x1F", ScalarType::Int(31));
    check("0o17", ScalarType::Int(15));
    check("0b101", ScalarType::Str);
    check("1_000", ScalarType::Str);
    check("1.5", ScalarType::Float(1.5));
    check(".5", ScalarType::Float(0.5));
    check("1.", ScalarType::Float(1.0));
    check("1e3", ScalarType::Float(1000.0));
    check("-1.5E-2", ScalarType::Float(-0.015));
    check(".inf", ScalarType::Float(f64::INFINITY));
    check("-.Inf", ScalarType::Float(f64::NEG_INFINITY));
    check(".NaN", ScalarType::Float(f64::NAN));
    check("inf", ScalarType::Str);
    check("1.2.3", ScalarType::Str);
    check("e3", ScalarType::Str);
    check(
        "99999999999999999999",
        ScalarType::Float(99999999999999999999.0),
    );
    check("ubuntu-latest", ScalarType::Str);
}

#[test]
fn quoted_and_tagged_scalars_are_strings() {
    let (node, diags) = parse("a: 'true'\nb: \"1\"\nc: !!str 5\nd: !\ne: |\n  x\n");
    assert!(diags.is_empty(), "{diags:?}");
    let node = node.expect("root");
    let types: Vec<_> = node
        .as_map()
        .expect("map")
        .iter()
        .map(|(_, v)| v.scalar_type())
        .collect();
    assert!(
        types.iter().all(|t| *t == Some(ScalarType::Str)),
        "{types:?}"
    );
}

#[test]
fn spans_are_one_based_with_byte_offsets() {
    let (node, diags) = parse("a: 1\nb:\n  - x\n  - \"q\"\nc: |\n  hi\né: ü\n");
    assert!(diags.is_empty(), "{diags:?}");
    let node = node.expect("root");
    let map = node.as_map().expect("map");
    let pos = |n: &Node| (n.span.start.line, n.span.start.col, n.span.start.offset);
    assert_eq!(pos(&map[0].0), (1, 1, 0));
    assert_eq!(pos(&map[0].1), (1, 4, 3));
    let seq = map[1].1.as_seq().expect("seq");
    assert_eq!(pos(&seq[0]), (3, 5, 12));
    assert_eq!(pos(&seq[1]), (4, 5, 18));
    assert_eq!(seq[1].style(), Some(ScalarStyle::DoubleQuoted));
    assert_eq!(pos(&map[2].1), (6, 3, 29));
    // Columns count characters, offsets count bytes.
    assert_eq!(pos(&map[3].0), (7, 1, 32));
    assert_eq!(pos(&map[3].1), (7, 4, 36));
    assert_eq!(map[3].1.as_scalar(), Some("ü"));
}

#[test]
fn anchors_and_aliases_are_expanded() {
    let (node, diags) = parse("a: &x\n  k: v\nb: *x\n");
    assert!(diags.is_empty(), "{diags:?}");
    let node = node.expect("root");
    let map = node.as_map().expect("map");
    assert_eq!(map[1].1.as_map().map(|m| m.len()), Some(1));
    assert_eq!(map[1].1.span.start.line, 3);
}

/// Parses, and checks that one error is reported at `line:col` whose message contains `needle`
/// (or one of its `|`-separated alternatives),
/// within a time budget.
fn check_bad(name: &str, bytes: &[u8], line: u32, col: Option<u32>, needle: &str) {
    let start = Instant::now();
    let mut diags = Vec::new();
    let _ = yaml::parse_bytes(bytes, &mut diags);
    let elapsed = start.elapsed();
    assert!(elapsed < Duration::from_secs(2), "{name}: took {elapsed:?}");
    let found = diags.iter().any(|d| {
        d.is_error()
            && d.code == "syntax-check"
            && d.span.start.line == line
            && col.is_none_or(|c| d.span.start.col == c)
            && needle.split('|').any(|n| d.message.contains(n))
    });
    assert!(
        found,
        "{name}: no error at {line}:{col:?} containing {needle:?}; got {diags:?}"
    );
}

#[test]
/// Syntax errors point at the character the scanner stopped at (1-based column).
fn malformed_yaml_is_a_positioned_error() {
    check_bad(
        "unclosed flow",
        b"a: [1, 2\nb: 3\n",
        2,
        None,
        "could not parse as YAML",
    );
    check_bad(
        "bad indent",
        b"a:\n  b: 1\n c: 2\n",
        3,
        None,
        "could not parse as YAML",
    );
    check_bad(
        "unclosed quote",
        b"a: \"abc\n",
        1,
        Some(4),
        "could not parse as YAML",
    );
    check_bad(
        "stray colon",
        b"a: b: c\n",
        1,
        Some(5),
        "could not parse as YAML",
    );
}

#[test]
fn duplicate_keys_are_reported_at_the_second_key() {
    check_bad(
        "dup",
        b"a: 1\nb: 2\na: 3\n",
        3,
        Some(1),
        "key \"a\" is duplicated",
    );
    check_bad(
        "dup nested",
        b"x:\n  k: 1\n  k: 2\n",
        3,
        Some(3),
        "previously defined at line:2,col:3",
    );
    let mut big = String::new();
    for i in 0..100 {
        big.push_str(&format!("k{i}: {i}\n"));
    }
    big.push_str("k42: again\n");
    check_bad(
        "dup in large map",
        big.as_bytes(),
        101,
        Some(1),
        "key \"k42\" is duplicated",
    );
}

#[test]
fn deep_nesting_is_cut_off() {
    let flow = format!("a: {}{}\n", "[".repeat(10_000), "]".repeat(10_000));
    // saphyr-parser's own recursion guard may fire first for flow collections.
    check_bad(
        "10k flow sequences",
        flow.as_bytes(),
        1,
        None,
        "maximum object depth exceeded|recursion limit exceeded",
    );
    let maps = format!("a: {}1{}\n", "{a: ".repeat(10_000), "}".repeat(10_000));
    check_bad(
        "10k flow mappings",
        maps.as_bytes(),
        1,
        None,
        "maximum object depth exceeded|recursion limit exceeded",
    );
    let mut block = String::new();
    for depth in 0..60 {
        block.push_str(&" ".repeat(depth * 2));
        block.push_str("k:\n");
    }
    check_bad(
        "60 block mappings",
        block.as_bytes(),
        51,
        None,
        "maximum object depth exceeded",
    );
}

#[test]
fn alias_bombs_are_cut_off() {
    let mut bomb = String::from("a0: &a0 [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]\n");
    for i in 1..10 {
        let p = i - 1;
        bomb.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    check_bad(
        "billion laughs",
        bomb.as_bytes(),
        6,
        None,
        "too many nodes produced by YAML aliases",
    );
}

#[test]
fn huge_files_are_refused() {
    let mut big = Vec::with_capacity(20 * 1024 * 1024 + 16);
    while big.len() < 20 * 1024 * 1024 {
        big.extend_from_slice(b"k: vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv\n");
    }
    check_bad("20 MB", &big, 1, Some(1), "file is too large");
}

#[test]
fn invalid_utf8_is_reported_with_its_byte_offset_and_loading_continues() {
    let mut diags = Vec::new();
    let parsed = yaml::parse_bytes(b"a: 1\nb: x\xffy\nc: 3\n", &mut diags);
    let d = diags
        .iter()
        .find(|d| d.message.contains("invalid UTF-8"))
        .expect("utf-8 diagnostic");
    assert_eq!(
        (d.span.start.line, d.span.start.col, d.span.start.offset),
        (2, 5, 9)
    );
    assert!(d.message.contains("byte offset 9"), "{}", d.message);
    let root = parsed.root.expect("lossy text still parses");
    assert_eq!(root.as_map().map(|m| m.len()), Some(3));
}

#[test]
fn tabs_in_indentation_are_errors() {
    check_bad("tab indent", b"a:\n\tb: 1\n", 2, None, "tab");
    check_bad(
        "tab in a plain scalar's continuation",
        b"a:\n  - x\n\t- y\n",
        2,
        None,
        "tab",
    );
}

#[test]
fn multiple_documents_are_an_error() {
    check_bad(
        "two docs",
        b"a: 1\n---\nb: 2\n",
        2,
        Some(1),
        "multiple YAML documents",
    );
}

#[test]
fn unsupported_or_mismatched_tags_are_errors() {
    check_bad(
        "timestamp",
        b"a: !!timestamp 2001-12-14\n",
        1,
        Some(4),
        "unexpected YAML tag",
    );
    check_bad(
        "custom",
        b"a: !foo bar\n",
        1,
        Some(4),
        "unexpected YAML tag",
    );
    check_bad(
        "bad bool",
        b"a: !!bool test\n",
        1,
        Some(4),
        "is invalid for the type",
    );
    check_bad(
        "bad int",
        b"a: !!int 1.5\n",
        1,
        Some(4),
        "is invalid for the type",
    );
    check_bad(
        "quoted int",
        b"a: !!int \"5\"\n",
        1,
        Some(4),
        "is not valid with the tag",
    );
    let (_, diags) =
        parse("a: !!int 5\nb: !!float 1\nc: !!null ~\nd: !!bool true\ne: !!map {}\nf: !!seq []\n");
    assert!(diags.is_empty(), "{diags:?}");
}

#[test]
fn empty_input_has_no_root() {
    for text in ["", "# only a comment\n", "\n\n"] {
        let (node, diags) = parse(text);
        assert!(
            node.is_none() && diags.is_empty(),
            "{text:?}: {node:?} {diags:?}"
        );
    }
}

#[test]
fn node_kinds_are_built() {
    let (node, _) = parse("a: [1, {b: c}]\n");
    let node = node.expect("root");
    let NodeKind::Map(entries) = &node.kind else {
        panic!("not a map")
    };
    let NodeKind::Seq(items) = &entries[0].1.kind else {
        panic!("not a seq")
    };
    assert_eq!(items.len(), 2);
    assert!(matches!(items[1].kind, NodeKind::Map(_)));
}

#[test]
fn anchor_problems_are_reported() {
    check_bad(
        "unused anchor",
        b"a: &x 1\nb: 2\n",
        1,
        Some(4),
        "anchor \"x\" is defined but not used",
    );
    check_bad(
        "merge key",
        b"base: &b {x: 1}\nc:\n  <<: *b\n",
        3,
        Some(3),
        "merge key \"<<\"",
    );
    check_bad(
        "recursive alias",
        b"a: &r\n  - x\n  - *r\n",
        3,
        Some(5),
        "recursive alias \"r\" is found. anchor was declared at line:1, column:4",
    );
    let (_, diags) = parse("a: &x 1\nb: *x\n");
    assert!(diags.is_empty(), "{diags:?}");
}

#[test]
fn empty_values_sit_after_the_colon() {
    let (node, _) = parse("a:\nb: x\n");
    let node = node.expect("root");
    let value = &node.as_map().expect("map")[0].1;
    assert_eq!((value.span.start.line, value.span.start.col), (1, 3));
}

/// go-yaml (so GitHub and actionlint) accepts these under-indented lines; real workflows rely
/// on it (apache/airflow, onevcat/Kingfisher).
#[test]
fn under_indented_flow_and_quoted_lines_are_accepted() {
    let (node, diags) = parse("a:\n  b: [\n    x,\n    y\n  ]\n  c: 1\n");
    assert!(diags.is_empty(), "{diags:?}");
    let node = node.expect("root");
    let inner = node.as_map().expect("map")[0]
        .1
        .as_map()
        .expect("inner map");
    assert_eq!(inner[0].1.as_seq().map(|s| s.len()), Some(2));
    let c = &inner[1].0;
    assert_eq!(
        (c.span.start.line, c.span.start.col, c.span.start.offset),
        (6, 3, 29)
    );

    let text = "s:\n  - run: \"echo $(x\n 'y')\"\n    id: z\n  - k: \"a\\\n${{ b }}\"\n";
    let (node, diags) = parse(text);
    assert!(diags.is_empty(), "{diags:?}");
    let node = node.expect("root");
    let items = node.as_map().expect("map")[0].1.as_seq().expect("seq");
    let first = items[0].as_map().expect("step");
    assert_eq!(first[0].1.as_scalar(), Some("echo $(x 'y')"));
    assert_eq!(
        (first[1].0.span.start.line, first[1].0.span.start.col),
        (4, 5)
    );
    let second = items[1].as_map().expect("step");
    assert_eq!(second[0].1.as_scalar(), Some("a${{ b }}"));
}

#[test]
fn comments_touching_a_flow_collection_are_accepted() {
    let (node, diags) = parse("a:\n  - [one]#, two ]\n  - b\n");
    assert!(diags.is_empty(), "{diags:?}");
    let node = node.expect("root");
    let items = node.as_map().expect("map")[0].1.as_seq().expect("seq");
    assert_eq!(items.len(), 2);
    assert_eq!((items[1].span.start.line, items[1].span.start.col), (3, 5));
}

/// Regression: positions on one long non-ASCII line were found by rescanning the line from its
/// start for every event, which made such a file quadratic.
#[test]
fn long_non_ascii_lines_load_in_linear_time() {
    /// One flow mapping of `n` entries with non-ASCII values on a single line.
    fn line_of(n: usize) -> String {
        let parts: Vec<String> = (0..n).map(|i| format!("k{i}: é{i}")).collect();
        format!("{{{}}}\n", parts.join(", "))
    }
    /// The fastest of three parses: the least disturbed by whatever else the machine runs.
    fn fastest_parse(text: &str) -> Duration {
        (0..3)
            .map(|_| {
                let start = Instant::now();
                let (_, diags) = parse(text);
                let elapsed = start.elapsed();
                assert!(diags.is_empty(), "{:?}", diags.first());
                elapsed
            })
            .min()
            .expect("three runs")
    }
    // Linear, not quadratic, in the line's length: four times the entries cost about four times
    // the time (sixteen if each position were counted from the line's start). A ratio of two
    // measurements taken side by side holds on a loaded machine where a time limit would not.
    let small = fastest_parse(&line_of(5_000));
    let large = fastest_parse(&line_of(20_000));
    let ratio = large.as_secs_f64() / small.as_secs_f64().max(1e-6);
    assert!(
        ratio < 9.0,
        "4x the input took {ratio:.1}x the time ({small:?} -> {large:?})"
    );

    let text = line_of(20_000);
    let (node, diags) = parse(&text);
    assert!(diags.is_empty(), "{:?}", diags.first());
    let node = node.expect("root");
    let last = node.as_map().and_then(|m| m.last()).expect("entries");
    let expected_col = text
        .find("k19999")
        .map(|b| text[..b].chars().count() + 1)
        .expect("key");
    assert_eq!(last.0.span.start.col as usize, expected_col);
    assert_eq!(
        last.0.span.start.offset as usize,
        text.find("k19999").expect("key")
    );
}

#[test]
fn block_scalars_at_end_of_file_without_newline_have_no_final_line_break() {
    for (text, want) in [
        ("a: |\n  x\n  y", "x\ny"),
        ("a: |\n  x\n  y\n", "x\ny\n"),
        ("a: >\n  x\n  y", "x y"),
        ("a: |-\n  x\n", "x"),
    ] {
        let (node, diags) = parse(text);
        assert!(diags.is_empty(), "{diags:?}");
        let node = node.expect("root");
        assert_eq!(
            node.as_map().expect("map")[0].1.as_scalar(),
            Some(want),
            "{text:?}"
        );
    }
}

#[test]
fn lines_split_at_every_yaml_line_break() {
    use gantry_workflow::yaml::split_lines;
    assert_eq!(split_lines("a\nb\r\nc\rd"), ["a", "b", "c", "d"]);
    assert_eq!(split_lines("a\n\nb\n"), ["a", "", "b"]);
    assert_eq!(split_lines("\r\r\n"), ["", ""]);
    assert_eq!(split_lines("é\rü"), ["é", "ü"]);
    assert_eq!(split_lines(""), Vec::<&str>::new());
}
