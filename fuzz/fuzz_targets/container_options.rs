//! Fuzzes gantry-docker's parsers of a workflow's container settings: `options:` strings
//! (`split_words`, `parse_options`, `parse_bytes`, `parse_duration`) and `ports:` entries
//! (`PortSpec::parse`). Oracles: no panic; words re-quoted and split again give the same words,
//! and parse to the same options (parsing depends on the words alone); a parsed port spec keeps
//! the invariants its module states (container port 1..=65535, protocol tcp, udp or sctp, an IP
//! address as host IP) and reads back unchanged from its `Display` form; byte sizes are never
//! negative.

#![no_main]

use libfuzzer_sys::fuzz_target;

// The parsers are compiled from gantry-docker's own files rather than through the crate: its
// Docker client (bollard, hyper, tokio) would more than double the sanitizer build that CI runs
// on every push. The two modules use only std, thiserror and each other (`crate::ports`); if
// that changes, this build fails, and the way out is a cargo feature in gantry-docker that leaves
// the client out.
#[path = "../../crates/gantry-docker/src/options.rs"]
#[allow(dead_code, reason = "only the parsers are fuzzed")]
mod options;
#[path = "../../crates/gantry-docker/src/ports.rs"]
#[allow(dead_code, reason = "only the parsers are fuzzed")]
mod ports;

use options::{parse_bytes, parse_duration, parse_options, split_words};
use ports::PortSpec;

/// `word` quoted so that `split_words` reads it back as one word: single quotes keep everything
/// literal; a word holding a single quote goes in double quotes, where `\` escapes `"` and `\`.
fn quote(word: &str) -> String {
    if !word.contains('\'') {
        return format!("'{word}'");
    }
    let mut quoted = String::from("\"");
    for c in word.chars() {
        if c == '"' || c == '\\' {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = parse_options(text);
    if let Err(e) = &parsed {
        let _ = e.to_string();
    }
    match split_words(text) {
        Ok(words) => {
            let requoted = words.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" ");
            assert_eq!(
                split_words(&requoted).as_ref(),
                Ok(&words),
                "re-quoted words split differently: {requoted:?}"
            );
            assert_eq!(
                parse_options(&requoted),
                parsed,
                "re-quoted words parse differently: {requoted:?}"
            );
        }
        Err(e) => assert!(
            parsed.is_err(),
            "parse_options accepted what split_words refused: {e}"
        ),
    }
    if let Some(bytes) = parse_bytes(text) {
        assert!(bytes >= 0, "negative size {bytes}");
    }
    let _ = parse_duration(text);
    for spec_text in std::iter::once(text).chain(text.lines()) {
        match PortSpec::parse(spec_text) {
            Ok(spec) => {
                assert_ne!(spec.container_port, 0, "{spec:?}");
                assert!(
                    matches!(spec.protocol.as_str(), "tcp" | "udp" | "sctp"),
                    "{spec:?}"
                );
                if let Some(ip) = &spec.host_ip {
                    assert!(ip.parse::<std::net::IpAddr>().is_ok(), "{spec:?}");
                }
                let shown = spec.to_string();
                assert_eq!(
                    PortSpec::parse(&shown).as_ref(),
                    Ok(&spec),
                    "{spec:?} does not read back from {shown:?}"
                );
                let _ = spec.key();
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
});
