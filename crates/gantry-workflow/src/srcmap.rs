//! Maps a byte offset inside a scalar's value back to its position in the file.
//!
//! Invariant: the result always lies inside the scalar's source range (or at its start when the
//! source does not match the value); it never panics on any input. Plain, single-quoted and
//! block scalars map exactly for non-whitespace characters; double-quoted scalars with escapes
//! are aligned best effort. Tests: `tests/load.rs` (expression positions).

use crate::diagnostic::{Pos, Span};
use crate::yaml::ScalarStyle;

/// File position of byte `offset` of `value`, the scalar written at `span` in `source`.
pub fn scalar_pos(source: &str, span: Span, style: ScalarStyle, value: &str, offset: usize) -> Pos {
    let start = span.start.offset as usize;
    let end = (span.end.offset as usize).max(start).min(source.len());
    let Some(src) = source.get(start..end).or_else(|| source.get(start..)) else {
        return span.start;
    };
    let mut line = span.start.line;
    let mut col = span.start.col;
    let mut src_chars = src.char_indices().peekable();
    // Line breaks as YAML has them (the CR of a CRLF counts as a column).
    let bytes = src.as_bytes();
    let advance = |i: usize, line: &mut u32, col: &mut u32| {
        if crate::yaml::ends_line(bytes, i) {
            *line += 1;
            *col = 1;
        } else {
            *col += 1;
        }
    };
    // Skip the opening quote of quoted scalars.
    match style {
        ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => {
            if let Some((i, _)) = src_chars.next() {
                advance(i, &mut line, &mut col);
            }
        }
        // Block scalars start at their first content character, plain ones at the text.
        ScalarStyle::Plain | ScalarStyle::Literal | ScalarStyle::Folded => {}
    }
    let target = offset.min(value.len());
    let prefix = value.get(..target).unwrap_or(value);
    for want in prefix.chars() {
        loop {
            let Some(&(i, got)) = src_chars.peek() else {
                return Pos {
                    line,
                    col,
                    offset: to_offset(start, src, src_chars.peek()),
                };
            };
            src_chars.next();
            advance(i, &mut line, &mut col);
            if got == want || (want.is_whitespace() && got.is_whitespace()) {
                break;
            }
        }
    }
    // Skip indentation and escape backslashes before the wanted character.
    let want = value.get(target..).and_then(|s| s.chars().next());
    if let Some(want) = want {
        if !want.is_whitespace() {
            let mut probe = src_chars.clone();
            let (mut l, mut c) = (line, col);
            while let Some(&(i, got)) = probe.peek() {
                if got == want {
                    line = l;
                    col = c;
                    src_chars = probe;
                    break;
                }
                if !(got.is_whitespace() || got == '\\' || got == '\'' || got == '"') {
                    break;
                }
                probe.next();
                advance(i, &mut l, &mut c);
            }
        }
    }
    Pos {
        line,
        col,
        offset: to_offset(start, src, src_chars.peek()),
    }
}

fn to_offset(start: usize, src: &str, next: Option<&(usize, char)>) -> u32 {
    let rel = next.map_or(src.len(), |(i, _)| *i);
    u32::try_from(start + rel).unwrap_or(u32::MAX)
}
