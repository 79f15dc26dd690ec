//! Fuzzes what gantry-executor reads from a step: its output lines (workflow commands,
//! `commands.rs`), its `GITHUB_OUTPUT`/`GITHUB_ENV`/`GITHUB_PATH` files (`files.rs`) and the
//! masking of secrets in what it prints (`mask.rs`). The input is secrets, then a NUL, then the
//! output, cut into writes at further NULs.
//! Oracles: no panic; masking a stream written in pieces gives exactly what masking it whole
//! gives (the `StreamMasker` invariant: a secret split across writes is still masked); data
//! escaped as the runner escapes it reads back unchanged from `::debug::`; a parsed env file
//! written back (`NAME=value`, or a heredoc for multi-line values) parses to the same entries.

#![no_main]

use libfuzzer_sys::fuzz_target;

// Compiled from gantry-executor's own files, not through the crate, which brings the Docker client
// and the rest of the runner into the sanitizer build; these modules use only std, thiserror and
// aho-corasick. If that changes, this build fails (see container_options.rs).
#[path = "../../crates/gantry-executor/src/commands.rs"]
#[allow(dead_code, reason = "only the parsers are fuzzed")]
mod commands;
#[path = "../../crates/gantry-executor/src/files.rs"]
#[allow(dead_code, reason = "only the parsers are fuzzed")]
mod files;
#[path = "../../crates/gantry-executor/src/mask.rs"]
#[allow(dead_code, reason = "only the masking is fuzzed")]
mod mask;

use commands::{Command, CommandParser};
use files::{parse_key_values, parse_path};
use mask::{Masker, StreamMasker};

/// The runner's escaping of command data: `%` first, then CR and LF.
fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// `entries` in the env file format: `NAME=value`, or `NAME<<DELIM` lines `DELIM` when the value
/// spans lines, with a delimiter that is none of its lines. Lines end with CRLF, so that a line
/// of a value that ends with CR keeps it (the reader drops one CR before each LF).
fn write_env_file(entries: &[(String, String)]) -> String {
    let mut file = String::new();
    for (name, value) in entries {
        if !value.contains('\n') {
            file.push_str(&format!("{name}={value}\r\n"));
            continue;
        }
        let mut delimiter = String::from("EOF");
        while value.split('\n').any(|line| line == delimiter) {
            delimiter.push('_');
        }
        let value = value.replace('\n', "\r\n");
        file.push_str(&format!(
            "{name}<<{delimiter}\r\n{value}\r\n{delimiter}\r\n"
        ));
    }
    file
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (secrets, output) = text.split_once('\0').unwrap_or(("", text));

    let mut masker = Masker::new();
    masker.add(secrets);
    let mut stream = StreamMasker::new();
    let mut streamed = String::new();
    for write in output.split('\0') {
        streamed.push_str(&stream.push(&masker, write, false));
    }
    streamed.push_str(&stream.finish(&masker));
    let whole = masker.mask(&output.replace('\0', ""));
    assert_eq!(
        streamed, whole,
        "masking in pieces differs from masking whole"
    );

    let mut parser = CommandParser::new();
    for line in output.lines() {
        let _ = parser.parse_line(line);
    }
    let line = output.split('\0').next().unwrap_or_default();
    assert_eq!(
        CommandParser::new().parse_line(&format!("::debug::{}", escape_data(line))),
        Some(Command::Debug(line.to_owned())),
        "escaped data does not read back"
    );

    let _ = parse_path(output);
    match parse_key_values(output, "GITHUB_ENV") {
        Ok(entries) => {
            let file = write_env_file(&entries);
            let again = parse_key_values(&file, "GITHUB_ENV")
                .unwrap_or_else(|e| panic!("{file:?} written back does not parse: {e}"));
            assert_eq!(again, entries, "{file:?} written back parses differently");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
