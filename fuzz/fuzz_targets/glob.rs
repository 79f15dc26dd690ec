//! Fuzzes GitHub's filter patterns (`check::glob`): validation and matching. The input is a
//! pattern, then a NUL, then a name to match (a ref or a path). Oracles: no panic, no stack
//! overflow, no hang; every validation error's column lies inside the pattern (0 before its
//! first character); `!` in front of a pattern inverts the match; `**` matches everything; the
//! name with its special characters escaped is a pattern that matches exactly the name.

#![no_main]

use gantry_workflow::check::glob::{filter_matches, glob_match, validate_glob, Glob, GlobKind};
use libfuzzer_sys::fuzz_target;

/// `text` as a pattern matching itself only: `[ ? * + \ !` escaped with `\`.
fn escape(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() * 2);
    for c in text.chars() {
        if matches!(c, '[' | '?' | '*' | '+' | '\\' | '!') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let (pattern, name) = input.split_once('\0').unwrap_or((input, ""));
    let n_chars = pattern.chars().count();
    for kind in [GlobKind::Ref, GlobKind::Path, GlobKind::Other] {
        for error in validate_glob(pattern, kind) {
            assert!(error.column <= n_chars, "{error:?} in {pattern:?}");
            assert!(!error.message.is_empty());
        }
    }
    let matched = glob_match(pattern, name);
    if !pattern.is_empty() && !pattern.starts_with('!') {
        assert_eq!(
            glob_match(&format!("!{pattern}"), name),
            !matched,
            "negation of {pattern:?} on {name:?}"
        );
    }
    let glob = Glob::new(pattern);
    assert_eq!(
        filter_matches(std::slice::from_ref(&glob), name),
        matched && !glob.is_negated()
    );
    assert!(glob_match("**", name), "** on {name:?}");
    let literal = escape(name);
    assert!(glob_match(&literal, name), "{literal:?} on {name:?}");
    if name != pattern {
        assert!(!glob_match(&escape(pattern), name));
    }
});
