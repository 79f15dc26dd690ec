//! GitHub's filter pattern syntax (`branches:`, `tags:`, `paths:`, ...): validation with the
//! position of each problem, and matching for the run engine.
//!
//! Syntax: `*` any run of characters but `/`; `**` any run of characters; `?` zero or one and
//! `+` one or more of the preceding character; `[a-z0-9]` one character of a set; `\` escapes
//! `[ ? * + \ !`; a leading `!` negates the pattern inside a filter list.
//! Invariant: validation and matching never panic; matching an invalid pattern is lenient (it
//! treats stray special characters literally). Tests are at the bottom.

/// What the pattern filters, which decides the extra rules applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GlobKind {
    /// Branch and tag names: characters Git forbids in ref names are errors.
    Ref,
    /// File paths: no surrounding spaces, no `.` or `..` components.
    Path,
    /// Anything else (image versions...).
    Other,
}

/// One problem in a pattern. `column` is the 1-based character index in the pattern of the
/// offending character (the pattern length for "unexpected end"), 0 before the first one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobError {
    pub column: usize,
    pub message: String,
}

/// Validates `pattern`; an empty result means the pattern is valid.
pub fn validate_glob(pattern: &str, kind: GlobKind) -> Vec<GlobError> {
    let mut errors = Vec::new();
    let chars: Vec<char> = pattern.chars().collect();
    if chars.is_empty() {
        errors.push(GlobError {
            column: 0,
            message: "glob pattern cannot be empty".into(),
        });
        return errors;
    }
    if kind == GlobKind::Path {
        if pattern.trim() != pattern {
            errors.push(GlobError {
                column: 1,
                message: "leading and trailing spaces are not allowed in a path pattern".into(),
            });
            return errors;
        }
        let body = pattern.strip_prefix('!').unwrap_or(pattern);
        if body.split('/').any(|part| part == "." || part == "..") {
            errors.push(GlobError {
                column: 1,
                message: "'.' and '..' components are not allowed in a path pattern".into(),
            });
            return errors;
        }
    }

    let is_ref = kind == GlobKind::Ref;
    let mut error = |column: usize, message: String| errors.push(GlobError { column, message });
    let ref_char = |c: char, why: &str| {
        format!("character {c:?} is invalid in branch and tag names: {why}. regular expressions are not available")
    };
    let n = chars.len();
    let mut i = 0; // index of the next character to read
                   // Whether the previous item can take `?` or `+` (a plain character or a set).
    let mut prec = false;
    // `chars` is not empty (checked above).
    match chars[0] {
        '/' if is_ref => {
            error(1, ref_char('/', "a ref name cannot start with /"));
            i = 1;
            prec = true;
        }
        '!' => {
            if n == 1 {
                error(
                    1,
                    "invalid glob pattern: at least one character must follow the negation !"
                        .into(),
                );
                return errors;
            }
            i = 1;
        }
        _ => {}
    }

    while i < n {
        let c = chars[i]; // i < n by the loop condition
        i += 1;
        let col = i; // 1-based column of `c`
        match c {
            '\\' => {
                match chars.get(i) {
                    Some(&e @ ('[' | '?' | '*')) => {
                        i += 1;
                        if is_ref {
                            error(
                                i,
                                ref_char(e, "a ref name cannot contain spaces, ~, ^, :, [, ?, *"),
                            );
                        }
                    }
                    Some('+' | '\\' | '!') => i += 1,
                    _ if is_ref => error(
                        col,
                        ref_char(
                            '\\',
                            "only the special characters [, ?, +, *, \\, ! can be escaped with \\",
                        ),
                    ),
                    _ => {}
                }
                prec = true;
            }
            '?' | '+' => {
                if !prec {
                    error(col, format!("invalid glob pattern: {c:?} must follow a character that is not special"));
                }
                prec = false;
            }
            '*' => prec = false,
            '[' => {
                if chars.get(i) == Some(&']') {
                    i += 1;
                    error(
                        i,
                        "invalid glob pattern: a character set [] cannot be empty".into(),
                    );
                    prec = true;
                    continue;
                }
                let mut n_chars = 0;
                loop {
                    let Some(&d) = chars.get(i) else {
                        error(
                            n,
                            "invalid glob pattern: missing ] at the end of the character set"
                                .into(),
                        );
                        return errors;
                    };
                    i += 1;
                    if d == ']' {
                        if n_chars == 1 {
                            error(i, "invalid glob pattern: a character set with one character is useless, write x instead of [x]".into());
                        }
                        break;
                    }
                    if chars.get(i) != Some(&'-') {
                        n_chars += 1;
                        continue;
                    }
                    n_chars += 2;
                    i += 1; // the '-'
                    match chars.get(i) {
                        Some(']') => {
                            i += 1;
                            error(
                                i,
                                "invalid glob pattern: the end of the character range is missing"
                                    .into(),
                            );
                            break;
                        }
                        None => {}
                        Some(&end) => {
                            i += 1;
                            if d > end {
                                error(i, format!("invalid glob pattern: the range start {d:?} is greater than its end {end:?}"));
                            }
                        }
                    }
                }
                prec = true;
            }
            '\r' | '\n' => {
                if c == '\r' && chars.get(i) == Some(&'\n') {
                    i += 1;
                }
                error(
                    col,
                    "invalid glob pattern: a pattern cannot contain a newline".into(),
                );
                prec = true;
            }
            ' ' | '\t' | '~' | '^' | ':' => {
                if is_ref {
                    error(
                        col,
                        ref_char(c, "a ref name cannot contain spaces, ~, ^, :, [, ?, *"),
                    );
                }
                prec = true;
            }
            _ => prec = true,
        }
        if i >= n && is_ref && (c == '/' || c == '.') {
            error(i, ref_char(c, "a ref name cannot end with / or ."));
        }
    }
    errors
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Atom {
    Char(char),
    /// `[...]`: single characters and inclusive ranges.
    Set(Vec<(char, char)>),
    /// Any character but `/` (the atom of `*`).
    NotSlash,
    /// Any character (the atom of `**`).
    Any,
}

impl Atom {
    fn matches(&self, c: char) -> bool {
        match self {
            Atom::Char(a) => *a == c,
            Atom::Set(ranges) => ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)),
            Atom::NotSlash => c != '/',
            Atom::Any => true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    One(Atom),
    Optional(Atom),
    Many(Atom),
    /// `**/`: nothing, or anything ending with `/`.
    AnyDirs,
}

/// A compiled filter pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    items: Vec<Item>,
    negated: bool,
}

impl Glob {
    /// Compiles `pattern`. Never fails: invalid syntax is read leniently ([`validate_glob`] reports it).
    pub fn new(pattern: &str) -> Glob {
        let (negated, body) = match pattern.strip_prefix('!') {
            Some(rest) if !rest.is_empty() => (true, rest),
            _ => (false, pattern),
        };
        let chars: Vec<char> = body.chars().collect();
        let mut items: Vec<Item> = Vec::new();
        let mut i = 0;
        while let Some(&c) = chars.get(i) {
            i += 1;
            match c {
                '*' if chars.get(i) == Some(&'*') => {
                    i += 1;
                    while chars.get(i) == Some(&'*') {
                        i += 1;
                    }
                    if chars.get(i) == Some(&'/') {
                        i += 1;
                        items.push(Item::AnyDirs);
                    } else {
                        items.push(Item::Many(Atom::Any));
                    }
                }
                '*' => items.push(Item::Many(Atom::NotSlash)),
                '?' | '+' => {
                    let quantified = match items.pop() {
                        Some(Item::One(atom)) if c == '?' => Item::Optional(atom),
                        Some(Item::One(atom)) => {
                            items.push(Item::One(atom.clone()));
                            Item::Many(atom)
                        }
                        other => {
                            items.extend(other);
                            Item::One(Atom::Char(c))
                        }
                    };
                    items.push(quantified);
                }
                '\\' => match chars.get(i) {
                    Some(&e @ ('[' | '?' | '*' | '+' | '\\' | '!')) => {
                        i += 1;
                        items.push(Item::One(Atom::Char(e)));
                    }
                    _ => items.push(Item::One(Atom::Char('\\'))),
                },
                '[' => {
                    let close = chars[i..].iter().position(|&d| d == ']').map(|p| p + i);
                    match close {
                        Some(close) if close > i => {
                            let set = &chars[i..close];
                            let mut ranges = Vec::new();
                            let mut k = 0;
                            while let Some(&lo) = set.get(k) {
                                match (set.get(k + 1), set.get(k + 2)) {
                                    (Some('-'), Some(&hi)) => {
                                        ranges.push((lo, hi));
                                        k += 3;
                                    }
                                    _ => {
                                        ranges.push((lo, lo));
                                        k += 1;
                                    }
                                }
                            }
                            items.push(Item::One(Atom::Set(ranges)));
                            i = close + 1;
                        }
                        _ => items.push(Item::One(Atom::Char('['))),
                    }
                }
                _ => items.push(Item::One(Atom::Char(c))),
            }
        }
        Glob { items, negated }
    }

    /// Whether the pattern started with `!`.
    pub fn is_negated(&self) -> bool {
        self.negated
    }

    /// Whether `text` matches the pattern, ignoring a leading `!`.
    pub fn matches_body(&self, text: &str) -> bool {
        let text: Vec<char> = text.chars().collect();
        let width = text.len() + 1;
        // memo[item * width + pos]: 0 unknown, 1 false, 2 true.
        let mut memo = vec![0u8; (self.items.len() + 1) * width];
        self.match_from(0, 0, &text, &mut memo)
    }

    fn match_from(&self, item: usize, pos: usize, text: &[char], memo: &mut [u8]) -> bool {
        let width = text.len() + 1;
        let slot = item * width + pos;
        match memo.get(slot) {
            Some(1) => return false,
            Some(2) => return true,
            _ => {}
        }
        let result = match self.items.get(item) {
            None => pos == text.len(),
            Some(Item::One(atom)) => {
                text.get(pos).is_some_and(|&c| atom.matches(c))
                    && self.match_from(item + 1, pos + 1, text, memo)
            }
            Some(Item::Optional(atom)) => {
                self.match_from(item + 1, pos, text, memo)
                    || (text.get(pos).is_some_and(|&c| atom.matches(c))
                        && self.match_from(item + 1, pos + 1, text, memo))
            }
            Some(Item::Many(atom)) => {
                self.match_from(item + 1, pos, text, memo)
                    || (text.get(pos).is_some_and(|&c| atom.matches(c))
                        && self.match_from(item, pos + 1, text, memo))
            }
            Some(Item::AnyDirs) => {
                self.match_from(item + 1, pos, text, memo)
                    || (pos..text.len())
                        // k < text.len() by the range.
                        .any(|k| text[k] == '/' && self.match_from(item + 1, k + 1, text, memo))
            }
        };
        if let Some(m) = memo.get_mut(slot) {
            *m = if result { 2 } else { 1 };
        }
        result
    }
}

/// Whether `text` matches `pattern`; a leading `!` inverts the result.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let glob = Glob::new(pattern);
    glob.matches_body(text) != glob.negated
}

/// Whether `text` passes a filter list such as `branches:`: patterns are applied in order, a
/// positive pattern includes and a `!` pattern excludes, and the last one that matches wins.
pub fn filter_matches(patterns: &[Glob], text: &str) -> bool {
    let mut included = false;
    for glob in patterns {
        if glob.negated == included && glob.matches_body(text) {
            included = !glob.negated;
        }
    }
    included
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `expected` lists the 1-based columns of the errors.
    fn check(pattern: &str, kind: GlobKind, expected: &[usize]) {
        let columns: Vec<usize> = validate_glob(pattern, kind)
            .iter()
            .map(|e| e.column)
            .collect();
        assert_eq!(columns, expected, "{pattern:?}");
    }

    #[test]
    fn validation() {
        use GlobKind::*;
        check("**", Ref, &[]);
        check("release/v12", Ref, &[]);
        check("!*", Ref, &[]);
        check("v[0-9]+.*", Ref, &[]);
        check("[x]", Ref, &[3]);
        check(" ", Ref, &[1]);
        check("/v\\d+/", Ref, &[1, 3, 6]);
        check("v[0-", Ref, &[4]);
        check("v[9-0]", Ref, &[5]);
        check("v[9-1]", Ref, &[5]);
        check("^foo-", Ref, &[1]);
        check("v*+", Ref, &[3]);
        check("+a", Ref, &[1]);
        check("a?+", Ref, &[3]);
        check("v\\d+", Ref, &[2]);
        check("[]", Ref, &[2]);
        check("[a-]", Ref, &[4]);
        check("!", Path, &[1]);
        check("!", Ref, &[1]);
        check("foo\\bar", Path, &[]);
        check(" ", Path, &[1]);
        check("  foo", Path, &[1]);
        check("foo  ", Path, &[1]);
        check("foo.txt\n", Path, &[1]);
        check(".", Path, &[1]);
        check("./foo/bar.txt", Path, &[1]);
        check("foo/../bar", Path, &[1]);
        check("!./foo", Path, &[1]);
        check("**/*.rs", Path, &[]);
        check(".github/**", Path, &[]);
        check("a\nb", Ref, &[2]);
        check("a\nb", Other, &[2]);
        check("feature/", Ref, &[8]);
        check("", Ref, &[0]);
    }

    fn m(pattern: &str, text: &str, expected: bool) {
        assert_eq!(
            glob_match(pattern, text),
            expected,
            "{pattern:?} on {text:?}"
        );
    }

    #[test]
    fn matching() {
        m("main", "main", true);
        m("main", "mainx", false);
        m("*", "feature", true);
        m("*", "feature/a", false);
        m("**", "feature/a", true);
        m("feature/*", "feature/a", true);
        m("feature/*", "feature/a/b", false);
        m("feature/**", "feature/a/b", true);
        m("v[12].[0-9]+.[0-9]+", "v1.10.3", true);
        m("v[12].[0-9]+.[0-9]+", "v3.10.3", false);
        m("v[12].[0-9]+.[0-9]+", "v1..3", false);
        m("docs?", "doc", true);
        m("docs?", "docs", true);
        m("docs?", "docss", false);
        m("**/README.md", "README.md", true);
        m("**/README.md", "a/b/README.md", true);
        m("**.js", "a/b/c.js", true);
        m("*.js", "a/c.js", false);
        m("docs/**/*.md", "docs/a.md", true);
        m("docs/**/*.md", "docs/x/y/a.md", true);
        m("\\*star", "*star", true);
        m("\\*star", "xstar", false);
        m("!main", "main", false);
        m("!main", "dev", true);
        m("*-[ab]", "x-b", true);
        m("", "", true);
        m("[", "[", true);
    }

    #[test]
    fn filter_lists() {
        let list = |patterns: &[&str]| patterns.iter().map(|p| Glob::new(p)).collect::<Vec<_>>();
        let releases = list(&["releases/**", "!releases/**-alpha"]);
        assert!(filter_matches(&releases, "releases/10"));
        assert!(!filter_matches(&releases, "releases/10-alpha"));
        assert!(!filter_matches(&releases, "main"));
        let reincluded = list(&["*.md", "!README.md", "README*"]);
        assert!(filter_matches(&reincluded, "README.md"));
        assert!(filter_matches(&reincluded, "a.md"));
        assert!(!filter_matches(&list(&["!main"]), "dev"));
    }

    #[test]
    fn matching_is_not_exponential() {
        let text = "a".repeat(200);
        assert!(!glob_match("**a**a**a**a**a**a**b", &text));
    }
}
