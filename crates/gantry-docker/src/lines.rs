//! Cutting a byte stream into lines: the one line splitter of the project, used for the output of
//! host processes (gantry-executor), execs, session steps, containers run to their end and image
//! builds.
//!
//! Invariant: the buffer is bounded. A line longer than the limit is handed out in pieces
//! ([`Fragment::end_of_line`] false on every piece but the last), so output without newlines never
//! grows memory, and a consumer that masks secrets must treat the pieces of one line as one stream
//! (a piece is never a line of its own). Bytes are decoded lossily; a UTF-8 sequence cut by a read
//! or by a piece boundary is kept whole. Tests: the `tests` module below.

/// A piece of output: a whole line (`end_of_line`) or part of an over-long one, without its `\n` or
/// `\r\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    pub text: String,
    pub end_of_line: bool,
}

/// Splits a byte stream into lines with a bounded buffer.
#[derive(Debug)]
pub struct LineSplitter {
    buffer: Vec<u8>,
    limit: usize,
}

impl LineSplitter {
    /// A splitter that hands out lines of at most `limit` bytes whole (at least 4, the longest
    /// UTF-8 sequence).
    pub fn new(limit: usize) -> LineSplitter {
        LineSplitter {
            buffer: Vec::new(),
            limit: limit.max(4),
        }
    }

    /// Changes the longest whole line from now on.
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit.max(4);
    }

    /// Feeds bytes; calls `emit` for each finished line or over-long piece.
    pub fn push(&mut self, mut bytes: &[u8], emit: &mut dyn FnMut(Fragment)) {
        while !bytes.is_empty() {
            match bytes.iter().position(|b| *b == b'\n') {
                Some(nl) if self.buffer.len() + nl <= self.limit => {
                    self.buffer.extend_from_slice(&bytes[..nl]);
                    bytes = &bytes[nl + 1..];
                    let mut line = std::mem::take(&mut self.buffer);
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                    emit(Fragment {
                        text: decode(line),
                        end_of_line: true,
                    });
                }
                _ => {
                    // A full buffer becomes a piece only when more of its line arrives, so a line
                    // of exactly `limit` bytes stays whole however its bytes were cut into reads.
                    // (`>=`: the limit may also have shrunk below what is buffered.)
                    if self.buffer.len() >= self.limit {
                        self.emit_piece(emit);
                        continue;
                    }
                    let take = (self.limit - self.buffer.len()).min(bytes.len());
                    self.buffer.extend_from_slice(&bytes[..take]);
                    bytes = &bytes[take..];
                }
            }
        }
    }

    /// Hands out the buffer as an unfinished piece, keeping an incomplete UTF-8 sequence at its end.
    fn emit_piece(&mut self, emit: &mut dyn FnMut(Fragment)) {
        let keep = incomplete_utf8_tail(&self.buffer);
        let rest = self.buffer.split_off(self.buffer.len() - keep);
        let piece = std::mem::replace(&mut self.buffer, rest);
        emit(Fragment {
            text: decode(piece),
            end_of_line: false,
        });
    }

    /// End of stream: whatever is left is a last line.
    pub fn finish(&mut self, emit: &mut dyn FnMut(Fragment)) {
        if !self.buffer.is_empty() {
            let mut line = std::mem::take(&mut self.buffer);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            emit(Fragment {
                text: decode(line),
                end_of_line: true,
            });
        }
    }
}

fn decode(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// Length of a UTF-8 sequence cut off at the end of `bytes` (0 when the end is complete or invalid).
fn incomplete_utf8_tail(bytes: &[u8]) -> usize {
    for back in 1..=3.min(bytes.len()) {
        let b = bytes[bytes.len() - back];
        if b & 0xC0 == 0x80 {
            continue;
        }
        let needed = if b & 0xE0 == 0xC0 {
            2
        } else if b & 0xF0 == 0xE0 {
            3
        } else if b & 0xF8 == 0xF0 {
            4
        } else {
            return 0;
        };
        return if needed > back { back } else { 0 };
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(limit: usize, chunks: &[&[u8]]) -> Vec<(String, bool)> {
        let mut s = LineSplitter::new(limit);
        let mut out = Vec::new();
        for c in chunks {
            s.push(c, &mut |f| out.push((f.text, f.end_of_line)));
        }
        s.finish(&mut |f| out.push((f.text, f.end_of_line)));
        out
    }

    fn l(s: &str, eol: bool) -> (String, bool) {
        (s.to_owned(), eol)
    }

    #[test]
    fn splits_lines() {
        assert_eq!(split(100, &[b"a\nb\n"]), vec![l("a", true), l("b", true)]);
        assert_eq!(
            split(100, &[b"a", b"b\nc"]),
            vec![l("ab", true), l("c", true)]
        );
        assert_eq!(split(100, &[b"crlf\r\n"]), vec![l("crlf", true)]);
        assert_eq!(split(100, &[b"\n\n"]), vec![l("", true), l("", true)]);
        assert!(split(100, &[b""]).is_empty());
    }

    #[test]
    fn cuts_long_lines() {
        assert_eq!(
            split(4, &[b"abcdefghij\nxy\n"]),
            vec![
                l("abcd", false),
                l("efgh", false),
                l("ij", true),
                l("xy", true)
            ]
        );
        assert_eq!(split(4, &[b"abcd\n"]), vec![l("abcd", true)]);
    }

    #[test]
    fn keeps_utf8_sequences_whole() {
        let text = "aé€😀".as_bytes();
        for cut in 0..text.len() {
            let got = split(100, &[&text[..cut], &text[cut..]]);
            assert_eq!(got, vec![l("aé€😀", true)], "cut {cut}");
        }
        // A piece boundary inside a 4-byte sequence keeps the sequence for the next piece.
        assert_eq!(
            split(4, &["ab😀".as_bytes()]),
            vec![l("ab", false), l("😀", true)]
        );
    }

    #[test]
    fn invalid_utf8_is_lossy() {
        assert_eq!(split(100, &[b"a\xffb\n"]), vec![l("a\u{fffd}b", true)]);
    }

    #[test]
    fn bounded_memory_for_endless_line() {
        let mut s = LineSplitter::new(1024);
        let chunk = vec![b'x'; 4096];
        let mut pieces = 0;
        for _ in 0..256 {
            s.push(&chunk, &mut |f| {
                assert!(f.text.len() <= 1024);
                pieces += 1;
            });
            assert!(s.buffer.len() <= 1024);
        }
        // The last 1,024 bytes wait for more of their line.
        assert_eq!(pieces, 1023);
        s.finish(&mut |f| {
            assert!(f.end_of_line && f.text.len() == 1024);
            pieces += 1;
        });
        assert_eq!(pieces, 1024);
    }

    #[test]
    fn a_line_of_exactly_the_limit_stays_whole_however_it_is_read() {
        let line = b"abcdefgh\n";
        for cut in 0..line.len() {
            assert_eq!(
                split(8, &[&line[..cut], &line[cut..]]),
                vec![l("abcdefgh", true)],
                "cut {cut}"
            );
        }
    }

    #[test]
    fn utf8_tail() {
        assert_eq!(incomplete_utf8_tail(b"abc"), 0);
        assert_eq!(incomplete_utf8_tail(&"é".as_bytes()[..1]), 1);
        assert_eq!(incomplete_utf8_tail(&"€".as_bytes()[..2]), 2);
        assert_eq!(incomplete_utf8_tail("€".as_bytes()), 0);
        assert_eq!(incomplete_utf8_tail(&"😀".as_bytes()[..3]), 3);
    }

    #[test]
    fn a_lowered_limit_cuts_what_is_buffered() {
        let mut s = LineSplitter::new(100);
        let mut out = Vec::new();
        s.push(b"abcdefgh", &mut |f| out.push((f.text, f.end_of_line)));
        s.set_limit(4);
        s.push(b"ij\n", &mut |f| out.push((f.text, f.end_of_line)));
        assert_eq!(out, vec![l("abcdefgh", false), l("ij", true)]);
    }

    #[test]
    fn a_last_line_without_newline_loses_its_cr() {
        assert_eq!(split(100, &[b"a\r"]), vec![l("a", true)]);
    }

    /// Feeds `chunks` through a splitter of `max` bytes and compares the lines.
    fn check_text(max: usize, chunks: &[&str], expected: &[&str]) {
        let mut splitter = LineSplitter::new(max);
        let mut lines = Vec::new();
        for chunk in chunks {
            splitter.push(chunk.as_bytes(), &mut |f| lines.push(f.text));
        }
        splitter.finish(&mut |f| lines.push(f.text));
        assert_eq!(lines, expected, "chunks: {chunks:?}");
    }

    #[test]
    fn cuts_text_at_the_limit() {
        check_text(100, &[], &[]);
        check_text(100, &["a\nb\n"], &["a", "b"]);
        check_text(100, &["a", "b\nc"], &["ab", "c"]);
        check_text(100, &["a\r\n", "\n"], &["a", ""]);
        check_text(100, &["no newline"], &["no newline"]);
        check_text(4, &["abcdefghij\n"], &["abcd", "efgh", "ij"]);
        check_text(4, &["abcd\n"], &["abcd"]);
        check_text(4, &["abcde"], &["abcd", "e"]);
        check_text(5, &["abcé€x\n"], &["abcé", "€x"]);
        check_text(4, &["€€\n"], &["€", "€"]);
        check_text(100, &["x\r"], &["x"]);
    }
}
