//! Oracles shared by the fuzz targets in `fuzz_targets/`: what must hold of the loaders' output
//! whatever the input. They panic (which libFuzzer reports as a crash, saving the input) with the
//! offending value in the message.

use gantry_workflow::yaml::{LineIndex, MAX_FILE_SIZE};
use gantry_workflow::Diagnostic;

/// Every diagnostic's start and end are positions of `source` under the loader's own line
/// index, start is not after end, and the rule code and message are not empty.
pub fn assert_diagnostics(diagnostics: &[Diagnostic], source: &str) {
    let index = LineIndex::new(source);
    for d in diagnostics {
        for pos in [d.span.start, d.span.end] {
            if let Err(e) = index.check_pos(pos) {
                panic!("{e}: {d:?} in {} bytes", source.len());
            }
        }
        assert!(
            d.span.start.offset <= d.span.end.offset,
            "span reversed: {d:?}"
        );
        assert!(
            !d.code.is_empty() && !d.message.is_empty(),
            "empty diagnostic: {d:?}"
        );
    }
}

/// `source` is `data` decoded as the loaders promise: a leading BOM removed, invalid UTF-8
/// replaced; empty when the input is over the size limit.
pub fn assert_decoded(data: &[u8], source: &str) {
    if data.len() > MAX_FILE_SIZE {
        assert!(source.is_empty());
        return;
    }
    let bytes = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    assert_eq!(
        source,
        String::from_utf8_lossy(bytes),
        "source differs from the input"
    );
}
