//! Secret masking: every registered value (job secrets, `::add-mask::` values) is replaced by `***`
//! in everything the executor prints or saves.
//!
//! Invariant: masking is applied before text leaves the crate. A multi-line secret is registered
//! line by line (each non-empty line is its own value), so masking works on single lines. Text that
//! arrives in pieces without a newline (a long line cut by the line reader, or split writes) goes
//! through [`StreamMasker`], which holds back only a tail that could still grow into a secret, so a
//! secret split across writes is masked exactly as if it had arrived whole. Matching is
//! leftmost-longest (Aho-Corasick). Each value is also registered in the encoded forms the
//! runner masks ([`encodings`]). Tests: the `tests` module below.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

/// What a masked value is replaced with, as GitHub prints it.
pub const MASK: &str = "***";

/// A set of values to hide. Cheap to query; rebuilding after `add` is lazy. Its `Debug` shows how
/// many values it holds, never the values.
#[derive(Default, Clone)]
pub struct Masker {
    values: Vec<String>,
    automaton: Option<AhoCorasick>,
    max_len: usize,
}

impl std::fmt::Debug for Masker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Masker")
            .field("values", &self.values.len())
            .finish_non_exhaustive()
    }
}

impl Masker {
    pub fn new() -> Masker {
        Masker::default()
    }

    /// Registers a value. Multi-line values register each line (trailing `\r` trimmed); empty and
    /// whitespace-only pieces are ignored (masking them would blank the whole log).
    pub fn add(&mut self, value: &str) {
        if self.insert(value) {
            self.rebuild();
        }
    }

    /// Registers many values, rebuilding the automaton once.
    pub fn extend<'a>(&mut self, values: impl IntoIterator<Item = &'a str>) {
        let mut changed = false;
        for value in values {
            changed |= self.insert(value);
        }
        if changed {
            self.rebuild();
        }
    }

    fn insert(&mut self, value: &str) -> bool {
        let mut pieces: Vec<&str> = vec![value];
        if value.contains('\n') || value.contains('\r') {
            pieces.extend(value.split('\n').map(|l| l.trim_end_matches('\r')));
        }
        let mut changed = false;
        for piece in pieces {
            if piece.trim().is_empty() {
                continue;
            }
            for encoded in std::iter::once(piece.to_owned()).chain(encodings(piece)) {
                if encoded.trim().is_empty() || self.values.contains(&encoded) {
                    continue;
                }
                self.max_len = self.max_len.max(encoded.len());
                self.values.push(encoded);
                changed = true;
            }
        }
        changed
    }

    fn rebuild(&mut self) {
        // Building only fails for pattern sets far larger than any job registers; without an
        // automaton `mask` falls back to a plain scan, so nothing leaks either way.
        self.automaton = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&self.values)
            .ok();
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Length in bytes of the longest registered value.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Replaces every occurrence of every value by `***` (leftmost-longest).
    pub fn mask(&self, text: &str) -> String {
        if self.values.is_empty() {
            return text.to_owned();
        }
        match &self.automaton {
            Some(ac) => {
                let replacements = vec![MASK; self.values.len()];
                ac.replace_all(text, &replacements)
            }
            None => {
                let mut out = text.to_owned();
                let mut sorted: Vec<&String> = self.values.iter().collect();
                sorted.sort_by_key(|v| std::cmp::Reverse(v.len()));
                for v in sorted {
                    out = out.replace(v.as_str(), MASK);
                }
                out
            }
        }
    }

    /// Masks `text[..cut]` in one scan, moving `cut` past a match that starts before it and ends
    /// after it (such a match is final; cutting inside it would leave both halves unmasked).
    /// Returns the masked head and the final cut.
    fn mask_head(&self, text: &str, cut: usize) -> (String, usize) {
        let Some(ac) = &self.automaton else {
            // No automaton (never expected): mask everything that is there now.
            return (self.mask(text), text.len());
        };
        let mut out = String::with_capacity(cut);
        let mut last = 0;
        for m in ac.find_iter(text) {
            if m.start() >= cut {
                break;
            }
            out.push_str(&text[last..m.start()]);
            out.push_str(MASK);
            last = m.end();
        }
        let cut = cut.max(last);
        out.push_str(&text[last..cut]);
        (out, cut)
    }

    /// Whether `tail` is a proper prefix of some value (it could still grow into a match).
    fn could_grow(&self, tail: &str) -> bool {
        self.values
            .iter()
            .any(|v| v.len() > tail.len() && v.starts_with(tail))
    }
}

/// The encoded forms of a value the runner also masks (its production `ValueEncoders`): base64
/// at byte offsets 0, 1 and 2, JSON string escaping, URI data escaping, XML escaping, expression
/// string escaping (`'` doubled), command-line escaping (`"` as `\"`), and surrounding double
/// quotes trimmed.
pub fn encodings(value: &str) -> Vec<String> {
    let bytes = value.as_bytes();
    let shifted = |shift: usize| {
        if bytes.len() > shift {
            base64(&bytes[shift..])
        } else {
            base64(bytes)
        }
    };
    let json = serde_json::to_string(value).unwrap_or_default();
    let json = json
        .strip_prefix('"')
        .and_then(|j| j.strip_suffix('"'))
        .unwrap_or(&json)
        .to_owned();
    vec![
        shifted(0),
        shifted(1),
        shifted(2),
        json,
        uri_data_escape(value),
        xml_escape(value),
        value.replace('\'', "''"),
        value.replace('"', "\\\""),
        value.trim_matches('"').to_owned(),
    ]
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `Uri.EscapeDataString`: everything but RFC 3986 unreserved characters as `%XX`.
fn uri_data_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `SecurityElement.Escape`.
fn xml_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '&' => out.push_str("&amp;"),
            c => out.push(c),
        }
    }
    out
}

/// Masks a stream that arrives in pieces: output is safe to print as soon as it is returned.
#[derive(Default)]
pub struct StreamMasker {
    pending: String,
}

/// What is held back may be the start of a secret: `Debug` shows its length only.
impl std::fmt::Debug for StreamMasker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamMasker")
            .field("pending_bytes", &self.pending.len())
            .finish()
    }
}

impl StreamMasker {
    pub fn new() -> StreamMasker {
        StreamMasker::default()
    }

    /// Feeds `text`. With `end_of_line` everything is flushed; otherwise the shortest safe tail (one
    /// that could be the start of a secret) is kept back for the next call.
    pub fn push(&mut self, masker: &Masker, text: &str, end_of_line: bool) -> String {
        self.pending.push_str(text);
        if end_of_line || masker.is_empty() {
            let all = std::mem::take(&mut self.pending);
            return masker.mask(&all);
        }
        let (masked, cut) = masker.mask_head(&self.pending, self.hold_from(masker));
        self.pending.drain(..cut);
        masked
    }

    /// Flushes what is held back (end of stream).
    pub fn finish(&mut self, masker: &Masker) -> String {
        let all = std::mem::take(&mut self.pending);
        masker.mask(&all)
    }

    /// The smallest char boundary `i` such that `pending[i..]` could grow into a secret. No match can
    /// start before `i` and reach past the end (by minimality), so the matches starting before `i`
    /// are final; with the cut moved past any of them that crosses it, masking the head now and the
    /// rest later gives the same result as masking it all at once.
    fn hold_from(&self, masker: &Masker) -> usize {
        let len = self.pending.len();
        let window = masker.max_len().saturating_sub(1);
        let mut start = len.saturating_sub(window);
        while !self.pending.is_char_boundary(start) {
            start += 1;
        }
        for (offset, _) in self.pending[start..].char_indices() {
            let i = start + offset;
            if masker.could_grow(&self.pending[i..]) {
                return i;
            }
        }
        len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masker(values: &[&str]) -> Masker {
        let mut m = Masker::new();
        for v in values {
            m.add(v);
        }
        m
    }

    fn check(values: &[&str], input: &str, expected: &str) {
        assert_eq!(masker(values).mask(input), expected, "values {values:?}");
    }

    #[test]
    fn debug_shows_no_value() {
        let shown = format!("{:?}", masker(&["hunter2", "s3cr3t"]));
        assert!(
            !shown.contains("hunter2") && !shown.contains("s3cr3t"),
            "{shown}"
        );
    }

    #[test]
    fn masks_values() {
        check(&[], "nothing to hide", "nothing to hide");
        check(&["s3cr3t"], "token=s3cr3t", "token=***");
        check(&["s3cr3t"], "s3cr3ts3cr3t", "******");
        check(&["ab", "abcd"], "xabcdx abx", "x***x ***x");
        check(&["abcd", "ab"], "abcd", "***");
        check(&["bc", "abcd"], "abcd", "***");
        check(
            &[""],
            "empty values are ignored",
            "empty values are ignored",
        );
        check(&["  "], "a  b", "a  b");
        check(&["ü€"], "aü€b", "a***b");
    }

    #[test]
    fn encoded_forms_are_masked() {
        // base64("hunter2"), and at byte offsets 1 and 2.
        check(&["hunter2"], "aHVudGVyMg==", "***");
        check(&["hunter2"], "dW50ZXIy", "***");
        check(&["hunter2"], "bnRlcjI=", "***");
        check(&["a b&c"], "a%20b%26c", "***");
        check(&["a b&c"], "a b&amp;c", "***");
        check(&["say \"hi\""], r#"json: say \"hi\""#, "json: ***");
        check(&["it's"], "it''s", "***");
        check(&["\"quoted\""], "quoted", "***");
    }

    #[test]
    fn base64_matches_the_standard_alphabet() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), expected);
        }
    }

    #[test]
    fn multi_line_secret_is_masked_line_by_line() {
        let m = masker(&["line one\nline two\r\n\nline three"]);
        assert_eq!(m.mask("x line one y"), "x *** y");
        assert_eq!(m.mask("line two"), "***");
        assert_eq!(m.mask("line three!"), "***!");
        assert_eq!(m.mask("line one\nline two"), "***\n***");
    }

    fn stream(values: &[&str], pieces: &[&str]) -> (Vec<String>, String) {
        let m = masker(values);
        let mut s = StreamMasker::new();
        let mut outs = Vec::new();
        for p in pieces {
            outs.push(s.push(&m, p, false));
        }
        let tail = s.finish(&m);
        let mut all = outs.concat();
        all.push_str(&tail);
        (outs, all)
    }

    #[test]
    fn split_writes_are_masked() {
        let (outs, all) = stream(&["password123"], &["my pass", "word", "123 is here"]);
        assert_eq!(all, "my *** is here");
        // "pass" could start the secret, so only "my " is released by the first write.
        assert_eq!(outs[0], "my ");
        let (_, all) = stream(&["abc"], &["a", "b", "c"]);
        assert_eq!(all, "***");
        let (_, all) = stream(&["abc"], &["a", "b", "x"]);
        assert_eq!(all, "abx");
        let (_, all) = stream(&["ab", "abcd"], &["xab", "cd"]);
        assert_eq!(all, "x***");
        let (_, all) = stream(&["ab", "abcd"], &["xab", "c", "y"]);
        assert_eq!(all, "x***cy");
    }

    #[test]
    fn stream_holds_back_only_possible_prefixes() {
        let m = masker(&["secret"]);
        let mut s = StreamMasker::new();
        assert_eq!(s.push(&m, "hello world", false), "hello world");
        assert_eq!(s.push(&m, "xx se", false), "xx ");
        assert_eq!(s.push(&m, "a", false), "sea");
        assert_eq!(s.push(&m, "sec", true), "sec");
    }

    #[test]
    fn stream_matches_whole_masking_on_every_split() {
        let m = masker(&["abcab", "bca", "ü€x"]);
        let text = "zabcabcabü€xabca";
        let expected = m.mask(text);
        for cut in 0..=text.len() {
            if !text.is_char_boundary(cut) {
                continue;
            }
            let mut s = StreamMasker::new();
            let mut out = s.push(&m, &text[..cut], false);
            out.push_str(&s.push(&m, &text[cut..], true));
            assert_eq!(out, expected, "cut at {cut}");
        }
    }

    #[test]
    fn many_values_are_fast() {
        let values: Vec<String> = (0..400).map(|i| format!("secret-value-{i:05}")).collect();
        let mut m = Masker::new();
        m.extend(values.iter().map(String::as_str));
        let line = "plain text without secrets ".repeat(40) + "secret-value-00399";
        let started = std::time::Instant::now();
        for _ in 0..2000 {
            assert!(m.mask(&line).ends_with(MASK));
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }
}
