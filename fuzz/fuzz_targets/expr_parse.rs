//! Fuzzes the expression pipeline: `parse` and `parse_template` on arbitrary text, then evaluation
//! of whatever parses, against an empty context and a small one. Oracles: no panic, no stack
//! overflow, no hang, and every error span and node span lies on char boundaries of its source.

#![no_main]

use gantry_expr::{
    evaluate, evaluate_template, parse, parse_template, Error, Expr, Map, NoHost, Span, Value,
};
use libfuzzer_sys::fuzz_target;

fn check_span(span: Span, src: &str) {
    assert!(span.start <= span.end, "span {span:?} reversed");
    let (start, end) = (span.start as usize, span.end as usize);
    assert!(
        end <= src.len(),
        "span {span:?} past the end of {} bytes",
        src.len()
    );
    assert!(
        src.is_char_boundary(start) && src.is_char_boundary(end),
        "span {span:?} splits a char"
    );
}

fn check_error(e: &Error, src: &str) {
    check_span(e.span, &e.expression);
    assert!(e.expression.is_empty() || e.expression == src);
    let _ = e.to_string();
}

fn check_tree(expr: &Expr, src: &str) {
    expr.walk(&mut |node: &Expr| check_span(node.span, src));
    let _ = expr.to_string();
}

fn small_context() -> Map {
    let json = serde_json::json!({
        "github": {"ref": "refs/heads/main", "event": {"labels": [{"name": "a"}, {"name": "B"}], "n": 1}},
        "matrix": {"list": [1, "2", null, true, [3], {"k": "v"}]},
    });
    match Value::from_json(&json) {
        Value::Object(map) => (*map).clone(),
        _ => Map::new(),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let contexts = small_context();
    match parse(src) {
        Ok(expr) => {
            check_tree(&expr, src);
            for ctx in [&Map::new(), &contexts] {
                if let Err(e) = evaluate(&expr, ctx, &NoHost) {
                    check_span(e.span, src);
                    let _ = e.with_expression(src).to_string();
                }
            }
        }
        Err(e) => check_error(&e, src),
    }
    match parse_template(src) {
        Ok(template) => {
            for part in &template.parts {
                if let gantry_expr::TemplatePart::Expr { expr, span } = part {
                    check_span(*span, src);
                    check_tree(expr, src);
                }
            }
            let _ = evaluate_template(&template, &contexts, &NoHost);
        }
        Err(e) => check_error(&e, src),
    }
});
