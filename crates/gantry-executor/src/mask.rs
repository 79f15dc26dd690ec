//! Secret masking: every registered value (job secrets, `::add-mask::` values) is replaced by `***`
//! in everything the executor prints or saves.
//!
//! Invariant: masking is applied before text leaves the crate. A multi-line secret is registered
//! line by line (each non-empty line is its own value), so masking works on single lines. Text that
//! arrives in pieces without a newline (a long line cut by the line reader, or split writes) goes
//! through [`StreamMasker`], which holds back only a tail that could still grow into a secret, so a
//! secret split across writes is masked exactly as if it had arrived whole. Matching is
//! leftmost-longest (Aho-Corasick). Tests: the `tests` module below.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

/// What a masked value is replaced with, as GitHub prints it.
pub const MASK: &str = "***";

/// A set of values to hide. Cheap to query; rebuilding after `add` is lazy.
#[derive(Debug, Default, Clone)]
pub struct Masker {
    values: Vec<String>,
    automaton: Option<AhoCorasick>,
    max_len: usize,
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
        let mut changed = false;
        let pieces: Vec<&str> = if value.contains('\n') {
            value
                .split('\n')
                .map(|l| l.trim_end_matches('\r'))
                .collect()
        } else {
            vec![value]
        };
        for piece in pieces {
            if piece.trim().is_empty() || self.values.iter().any(|v| v == piece) {
                continue;
            }
            self.max_len = self.max_len.max(piece.len());
            self.values.push(piece.to_owned());
            changed = true;
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

    /// Moves `cut` past a match that starts before it and ends after it: such a match is final, and
    /// cutting inside it would leave both halves unmasked.
    fn match_end_across(&self, text: &str, cut: usize) -> usize {
        let ends = match &self.automaton {
            Some(ac) => ac
                .find_iter(text)
                .take_while(|m| m.start() < cut)
                .map(|m| m.end())
                .max(),
            None => self
                .values
                .iter()
                .flat_map(|v| {
                    text.match_indices(v.as_str())
                        .map(|(i, m)| (i, i + m.len()))
                })
                .filter(|(start, _)| *start < cut)
                .map(|(_, end)| end)
                .max(),
        };
        ends.map_or(cut, |end| end.max(cut))
    }

    /// Whether `tail` is a proper prefix of some value (it could still grow into a match).
    fn could_grow(&self, tail: &str) -> bool {
        self.values
            .iter()
            .any(|v| v.len() > tail.len() && v.starts_with(tail))
    }
}

/// Masks a stream that arrives in pieces: output is safe to print as soon as it is returned.
#[derive(Debug, Default)]
pub struct StreamMasker {
    pending: String,
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
        let hold_from = masker.match_end_across(&self.pending, self.hold_from(masker));
        let rest = self.pending.split_off(hold_from);
        let ready = std::mem::replace(&mut self.pending, rest);
        masker.mask(&ready)
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
        let values: Vec<String> = (0..2000).map(|i| format!("secret-value-{i:05}")).collect();
        let mut m = Masker::new();
        m.extend(values.iter().map(String::as_str));
        let line = "plain text without secrets ".repeat(40) + "secret-value-01999";
        let started = std::time::Instant::now();
        for _ in 0..2000 {
            assert!(m.mask(&line).ends_with(MASK));
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }
}
