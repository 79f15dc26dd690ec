//! A spanned YAML tree built from `saphyr-parser` events, with the limits that make untrusted
//! input safe to load.
//!
//! Invariant: [`parse`] never panics and its cost is bounded by the input size: nesting depth is
//! capped at [`MAX_DEPTH`], alias expansion at [`MAX_ALIAS_NODES`] copied nodes, the input at
//! [`MAX_FILE_SIZE`] bytes. Every problem becomes a `syntax-check` [`Diagnostic`] with a position;
//! the tree built so far is returned. Positions are 1-based line/column (column in characters)
//! plus a byte offset. Scalars are typed with the YAML 1.2 core schema, as GitHub does (`on`,
//! `yes`, `off` are strings). Tests: `tests/yaml.rs`.

use std::borrow::Cow;
use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScanError};

use crate::diagnostic::{Diagnostic, Pos, Span};

/// Inputs larger than this are refused with a diagnostic.
pub const MAX_FILE_SIZE: usize = 10 * 1024 * 1024;
/// Deepest nesting of sequences and mappings accepted (GitHub's limit: a collection nested
/// inside 50 others is an error).
pub const MAX_DEPTH: usize = 50;
/// Total number of nodes that alias expansion may copy into the tree.
pub const MAX_ALIAS_NODES: usize = 100_000;

/// Resource limits for [`parse_bytes_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_file_size: usize,
    pub max_depth: usize,
    pub max_alias_nodes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_file_size: MAX_FILE_SIZE,
            max_depth: MAX_DEPTH,
            max_alias_nodes: MAX_ALIAS_NODES,
        }
    }
}

/// How a scalar was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum ScalarStyle {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
    Folded,
}

impl ScalarStyle {
    fn from_saphyr(style: saphyr_parser::ScalarStyle) -> ScalarStyle {
        match style {
            saphyr_parser::ScalarStyle::Plain => ScalarStyle::Plain,
            saphyr_parser::ScalarStyle::SingleQuoted => ScalarStyle::SingleQuoted,
            saphyr_parser::ScalarStyle::DoubleQuoted => ScalarStyle::DoubleQuoted,
            saphyr_parser::ScalarStyle::Literal => ScalarStyle::Literal,
            saphyr_parser::ScalarStyle::Folded => ScalarStyle::Folded,
        }
    }

    pub fn is_quoted(self) -> bool {
        self != ScalarStyle::Plain
    }
}

/// One YAML node with the source range it covers.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    Scalar {
        value: String,
        style: ScalarStyle,
        /// An explicit tag such as `!!str`, resolved to its full form (`tag:yaml.org,2002:str`).
        tag: Option<Box<str>>,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// The core-schema type of a scalar.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ScalarType {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str,
}

impl Node {
    pub fn as_scalar(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            NodeKind::Map(entries) => Some(entries),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            NodeKind::Seq(items) => Some(items),
            _ => None,
        }
    }

    pub fn style(&self) -> Option<ScalarStyle> {
        match &self.kind {
            NodeKind::Scalar { style, .. } => Some(*style),
            _ => None,
        }
    }

    /// The core-schema type of a scalar (`Str` for non-plain scalars and `!!str` tags); `None`
    /// for collections.
    pub fn scalar_type(&self) -> Option<ScalarType> {
        match &self.kind {
            NodeKind::Scalar { value, style, tag } => {
                if let Some(tag) = tag {
                    return Some(match tag.as_ref() {
                        "tag:yaml.org,2002:str" => ScalarType::Str,
                        "tag:yaml.org,2002:float" => match resolve_scalar(value) {
                            ScalarType::Int(i) => ScalarType::Float(i as f64),
                            other => other,
                        },
                        _ => resolve_scalar(value),
                    });
                }
                if *style != ScalarStyle::Plain {
                    return Some(ScalarType::Str);
                }
                Some(resolve_scalar(value))
            }
            _ => None,
        }
    }

    /// A scalar that is null (`~`, `null`, empty plain) or absent content.
    pub fn is_null(&self) -> bool {
        matches!(self.scalar_type(), Some(ScalarType::Null))
    }

    /// Human name of the node's kind, for messages.
    pub fn kind_name(&self) -> &'static str {
        match self.scalar_type() {
            None => match self.kind {
                NodeKind::Seq(_) => "sequence",
                _ => "mapping",
            },
            Some(ScalarType::Null) => "null",
            Some(ScalarType::Bool(_)) => "boolean",
            Some(ScalarType::Int(_)) | Some(ScalarType::Float(_)) => "number",
            Some(ScalarType::Str) => "string",
        }
    }
}

/// Types a plain scalar with the YAML 1.2 core schema.
pub fn resolve_scalar(value: &str) -> ScalarType {
    match value {
        "" | "~" | "null" | "Null" | "NULL" => return ScalarType::Null,
        "true" | "True" | "TRUE" => return ScalarType::Bool(true),
        "false" | "False" | "FALSE" => return ScalarType::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return ScalarType::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return ScalarType::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return ScalarType::Float(f64::NAN),
        _ => {}
    }
    let bytes = value.as_bytes();
    let first = match bytes.first() {
        Some(b) => *b,
        None => return ScalarType::Null,
    };
    if !(first.is_ascii_digit() || first == b'-' || first == b'+' || first == b'.') {
        return ScalarType::Str;
    }
    if let Some(hex) = value.strip_prefix("0x") {
        if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return match i64::from_str_radix(hex, 16) {
                Ok(n) => ScalarType::Int(n),
                Err(_) => ScalarType::Float(parse_big_radix(hex, 16)),
            };
        }
        return ScalarType::Str;
    }
    if let Some(oct) = value.strip_prefix("0o") {
        if !oct.is_empty() && oct.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            return match i64::from_str_radix(oct, 8) {
                Ok(n) => ScalarType::Int(n),
                Err(_) => ScalarType::Float(parse_big_radix(oct, 8)),
            };
        }
        return ScalarType::Str;
    }
    let digits = value.strip_prefix(['-', '+']).unwrap_or(value);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return match value.parse::<i64>() {
            Ok(n) => ScalarType::Int(n),
            Err(_) => value
                .parse::<f64>()
                .map_or(ScalarType::Str, ScalarType::Float),
        };
    }
    if is_core_float(digits) {
        return value
            .parse::<f64>()
            .map_or(ScalarType::Str, ScalarType::Float);
    }
    ScalarType::Str
}

fn parse_big_radix(digits: &str, radix: u32) -> f64 {
    digits.chars().fold(0.0, |acc, c| {
        acc * f64::from(radix) + f64::from(c.to_digit(radix).unwrap_or(0))
    })
}

/// `(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?` without the sign.
fn is_core_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = i - int_start;
    let mut frac_digits = 0;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let f = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        frac_digits = i - f;
    }
    if int_digits == 0 && frac_digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        let e = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == e {
            return false;
        }
    }
    i == b.len()
}

/// Whether byte `i` of `bytes` ends a line, as YAML breaks lines: an LF, or a CR not followed by
/// an LF (a lone CR). A CRLF ends at its LF. This is the one definition of a line that every
/// position in a [`Diagnostic`] follows ([`LineIndex`], [`split_lines`], `srcmap`).
pub fn ends_line(bytes: &[u8], i: usize) -> bool {
    match bytes.get(i) {
        Some(b'\n') => true,
        Some(b'\r') => bytes.get(i + 1) != Some(&b'\n'),
        _ => false,
    }
}

/// The lines of `text` without their breaks (LF, CRLF and a lone CR, see [`ends_line`]), so that
/// line numbers agree with the diagnostics' positions. A final line break opens no empty line.
pub fn split_lines(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut lines = Vec::new();
    let mut start = 0;
    for i in 0..bytes.len() {
        if ends_line(bytes, i) {
            // Line breaks are ASCII, so `start..end` are character boundaries.
            let end = if bytes[i] == b'\n' && i > start && bytes[i - 1] == b'\r' {
                i - 1
            } else {
                i
            };
            lines.push(&text[start..end]);
            start = i + 1;
        }
    }
    if start < text.len() {
        lines.push(&text[start..]);
    }
    lines
}

/// Maps the parser's character-based markers to [`Pos`] with byte offsets.
pub struct LineIndex<'a> {
    text: &'a str,
    ascii: bool,
    /// Byte offset of the start of each line (line 1 at index 0).
    line_starts: Vec<u32>,
    /// Last (line, column, byte offset) resolved in non-ASCII text: positions arrive in
    /// document order, so resuming from here keeps long non-ASCII lines linear, not quadratic.
    cursor: std::cell::Cell<(usize, usize, usize)>,
}

impl<'a> LineIndex<'a> {
    pub fn new(text: &'a str) -> LineIndex<'a> {
        let ascii = text.is_ascii();
        let mut line_starts = Vec::with_capacity(text.len() / 32 + 1);
        line_starts.push(0);
        let bytes = text.as_bytes();
        for i in 0..bytes.len() {
            if ends_line(bytes, i) {
                line_starts.push(to_u32(i + 1));
            }
        }
        LineIndex {
            text,
            ascii,
            line_starts,
            cursor: std::cell::Cell::new((0, 0, 0)),
        }
    }

    pub fn text(&self) -> &'a str {
        self.text
    }

    /// Number of lines a position may be on: one more than the number of line breaks, so a
    /// text ending with a break has an empty last line (where the end of the text is).
    pub fn line_count(&self) -> usize {
        self.line_starts.len()
    }

    /// Byte range of 1-based `line`, up to the byte that ends it ([`ends_line`]); the CR of a
    /// CRLF is the line's last character, as the scanner counts columns. `None` past the last
    /// line.
    pub fn line_range(&self, line: usize) -> Option<std::ops::Range<usize>> {
        let start = *self.line_starts.get(line.checked_sub(1)?)? as usize;
        let end = self
            .line_starts
            .get(line)
            .map_or(self.text.len(), |next| *next as usize - 1);
        Some(start..end)
    }

    /// Checks that `pos` is a position of this text: its line exists, its byte offset is a
    /// character boundary on that line (its end included), and its column counts the
    /// characters before the offset. Every diagnostic's start and end pass this check against
    /// the text it was produced for (what the fuzz targets assert).
    pub fn check_pos(&self, pos: Pos) -> Result<(), PosError> {
        let range = self
            .line_range(pos.line as usize)
            .ok_or(PosError::NoSuchLine {
                pos,
                lines: self.line_count(),
            })?;
        let offset = pos.offset as usize;
        if offset < range.start || offset > range.end {
            return Err(PosError::OffsetOffLine { pos, line: range });
        }
        let before = self
            .text
            .get(range.start..offset)
            .ok_or(PosError::SplitsChar { pos })?;
        let col = before.chars().count() + 1;
        if col != pos.col as usize {
            return Err(PosError::WrongColumn { pos, col });
        }
        Ok(())
    }

    /// Position from a 1-based line and 0-based character column.
    pub fn pos(&self, line: usize, col0: usize) -> Pos {
        let line = line.max(1);
        // The scanner's end-of-stream mark sits on a line after the last one when the text does
        // not end with a newline; such a position is the end of the text.
        if line > self.line_starts.len() {
            return self.pos_of_offset(self.text.len());
        }
        let start = self
            .line_starts
            .get(line - 1)
            .copied()
            .unwrap_or_else(|| to_u32(self.text.len())) as usize;
        let offset = if self.ascii {
            start + col0
        } else {
            let (c_line, c_col, c_offset) = self.cursor.get();
            let (from_col, from) = if c_line == line && c_col <= col0 {
                (c_col, c_offset)
            } else {
                (0, start)
            };
            let rest = self.text.get(from..).unwrap_or("");
            let offset = from
                + rest
                    .char_indices()
                    .nth(col0 - from_col)
                    .map_or(rest.len(), |(i, _)| i);
            self.cursor.set((line, col0, offset));
            offset
        };
        // A mark past the end of its line (the scanner's view of a line end) is the line end.
        let line_end = self
            .line_starts
            .get(line)
            .map_or(self.text.len(), |next| (*next as usize).saturating_sub(1))
            .max(start);
        if offset >= line_end {
            let end = self.pos_of_offset(line_end);
            if end.col < to_u32(col0 + 1) {
                return end;
            }
        }
        Pos {
            line: to_u32(line),
            col: to_u32(col0 + 1),
            offset: to_u32(offset.min(self.text.len())),
        }
    }

    /// Position of a byte offset.
    pub fn pos_of_offset(&self, offset: usize) -> Pos {
        let offset = offset.min(self.text.len());
        let line_idx = match self.line_starts.binary_search(&to_u32(offset)) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let start = self.line_starts.get(line_idx).copied().unwrap_or(0) as usize;
        let col = if self.ascii {
            offset - start
        } else {
            self.text
                .get(start..offset)
                .map_or(offset - start, |s| s.chars().count())
        };
        Pos {
            line: to_u32(line_idx + 1),
            col: to_u32(col + 1),
            offset: to_u32(offset),
        }
    }

    fn marker(&self, m: &saphyr_parser::Marker) -> Pos {
        self.pos(m.line(), m.col())
    }
}

/// Why a [`Pos`] is not a position of a text ([`LineIndex::check_pos`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PosError {
    #[error("{pos:?} is past the last line ({lines} lines)")]
    NoSuchLine { pos: Pos, lines: usize },
    #[error("{pos:?} has a byte offset outside its line (bytes {line:?})")]
    OffsetOffLine {
        pos: Pos,
        line: std::ops::Range<usize>,
    },
    #[error("{pos:?} has a byte offset inside a character")]
    SplitsChar { pos: Pos },
    #[error("{pos:?} has the wrong column for its offset (column {col})")]
    WrongColumn { pos: Pos, col: usize },
}

pub(crate) fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The result of decoding and parsing one file.
pub struct Parsed {
    /// The text the positions refer to (lossily decoded when the input was not UTF-8).
    pub text: String,
    /// The document's root node; `None` when the file is empty or unreadable.
    pub root: Option<Node>,
    /// True when parsing stopped early (syntax error, a limit): `root` is partial.
    pub fatal: bool,
}

/// Decodes `bytes` (size limit, UTF-8 with lossy fallback, BOM) and parses one YAML document.
pub fn parse_bytes(bytes: &[u8], diags: &mut Vec<Diagnostic>) -> Parsed {
    parse_bytes_with(bytes, &Limits::default(), diags)
}

/// [`parse_bytes`] with explicit limits.
pub fn parse_bytes_with(bytes: &[u8], limits: &Limits, diags: &mut Vec<Diagnostic>) -> Parsed {
    if bytes.len() > limits.max_file_size {
        diags.push(Diagnostic::error(
            "syntax-check",
            Span::point(Pos {
                line: 1,
                col: 1,
                offset: 0,
            }),
            format!(
                "file is too large: {} bytes, the limit is {} bytes",
                bytes.len(),
                limits.max_file_size
            ),
        ));
        return Parsed {
            text: String::new(),
            root: None,
            fatal: true,
        };
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(err) => {
            let valid = err.valid_up_to();
            let lossy = String::from_utf8_lossy(bytes).into_owned();
            let pos = LineIndex::new(&lossy).pos_of_offset(valid);
            diags.push(Diagnostic::error(
                "syntax-check",
                Span::point(pos),
                format!("invalid UTF-8 byte sequence at byte offset {valid}"),
            ));
            lossy
        }
    };
    let (root, fatal) = parse_impl(&text, limits, diags);
    Parsed { text, root, fatal }
}

/// Parses one YAML document from `text`. Errors are appended to `diags`; the tree built so far
/// is returned.
pub fn parse(text: &str, diags: &mut Vec<Diagnostic>) -> Option<Node> {
    parse_with(text, &Limits::default(), diags)
}

/// [`parse`] with explicit limits (the file size limit applies in [`parse_bytes_with`]).
pub fn parse_with(text: &str, limits: &Limits, diags: &mut Vec<Diagnostic>) -> Option<Node> {
    parse_impl(text, limits, diags).0
}

fn parse_impl(text: &str, limits: &Limits, diags: &mut Vec<Diagnostic>) -> (Option<Node>, bool) {
    let mut attempt = parse_once(text, limits);
    if attempt.recoverable.is_none() {
        diags.append(&mut attempt.diags);
        return (attempt.root, attempt.fatal);
    }
    // go-yaml (and so GitHub and actionlint) accept a flow collection's closing bracket or a
    // quoted scalar's continuation line indented less than YAML requires, and a comment that
    // touches the token before it; saphyr-parser does not. Insert the missing spaces, parse
    // again, then map positions back to the original text.
    let mut fixed = text.to_owned();
    let mut fixes: Vec<Fix> = Vec::new();
    while let Some(problem) = attempt.recoverable {
        // Each repair costs a parse: bound the total work by the input size.
        if fixes.len() >= MAX_INDENT_FIXES || (fixes.len() + 1) * fixed.len() > MAX_REPARSE_BYTES {
            break;
        }
        let fix = match problem {
            Recoverable::Indentation { line, in_quoted } => indent_fix(&fixed, line, in_quoted),
            Recoverable::TouchingComment { line, col0 } => comment_fix(&fixed, line, col0),
        };
        let Some(fix) = fix else {
            break;
        };
        let spaces = " ".repeat(fix.delta as usize);
        fixed.insert_str(fix.at as usize, &spaces);
        fixes.push(fix);
        attempt = parse_once(&fixed, limits);
    }
    if attempt.fatal && attempt.recoverable.is_some() {
        // Could not repair: report the original error.
        let mut original = parse_once(text, limits);
        diags.append(&mut original.diags);
        return (original.root, original.fatal);
    }
    let mut root = attempt.root;
    if let Some(root) = &mut root {
        unshift_node(root, &fixes);
    }
    for d in &mut attempt.diags {
        d.span.start = unshift(d.span.start, &fixes);
        d.span.end = unshift(d.span.end, &fixes);
    }
    diags.append(&mut attempt.diags);
    (root, attempt.fatal)
}

/// At most this many lines are re-indented when recovering from indentation errors.
const MAX_INDENT_FIXES: usize = 256;
/// Recovery re-parses the file once per repaired line; the bytes parsed that way are bounded.
const MAX_REPARSE_BYTES: usize = 16 * 1024 * 1024;

/// `delta` spaces inserted at byte `at`, which is 1-based column `col` of 1-based `line`.
struct Fix {
    line: u32,
    at: u32,
    col: u32,
    delta: u32,
}

/// Syntax errors that go-yaml does not make and that a few spaces repair.
#[derive(Clone, Copy)]
enum Recoverable {
    Indentation { line: u32, in_quoted: bool },
    TouchingComment { line: u32, col0: u32 },
}

/// A space before the `#` of a comment that touches the previous token (`[a]#note`).
fn comment_fix(text: &str, line: u32, col0: u32) -> Option<Fix> {
    let index = LineIndex::new(text);
    let pos = index.pos(line as usize, col0 as usize);
    let line_end = index.line_range(pos.line as usize)?.end;
    let line_rest = text.get(pos.offset as usize..line_end)?;
    let hash = line_rest.find('#')?;
    let at = pos.offset as usize + hash;
    // `hash` comes from `find`, so it is a character boundary.
    let col = pos.col + to_u32(line_rest[..hash].chars().count());
    Some(Fix {
        line,
        at: to_u32(at),
        col,
        delta: 1,
    })
}

/// The repair for an indentation error reported at `line`: for a flow collection, that line is
/// indented one column deeper than the previous non-blank line; for a quoted scalar starting at
/// `line`, its first under-indented continuation line is indented one column deeper than `line`.
fn indent_fix(text: &str, line: u32, in_quoted: bool) -> Option<Fix> {
    // Lines as the scanner numbers them (a lone CR breaks lines too), 0-based here.
    let index = LineIndex::new(text);
    let line_at = |i: usize| -> &str {
        index
            .line_range(i + 1)
            .and_then(|range| text.get(range))
            .unwrap_or("")
    };
    let indent = |l: &str| l.len() - l.trim_start_matches(' ').len();
    let err_idx = (line as usize).checked_sub(1)?;
    let (idx, wanted) = if in_quoted {
        // The column of the key on the scalar's line (past any `- ` sequence indicators).
        let start_line = line_at(err_idx);
        let mut rest = start_line.trim_start_matches(' ');
        while let Some(r) = rest.strip_prefix("- ") {
            rest = r.trim_start_matches(' ');
        }
        let base = start_line.len() - rest.len();
        let idx = (err_idx + 1..index.line_count()).find(|&i| {
            let l = line_at(i);
            !l.trim().is_empty() && indent(l) <= base
        })?;
        (idx, base + 1)
    } else {
        let previous = (0..err_idx).rev().find_map(|i| {
            let l = line_at(i);
            (!l.trim().is_empty()).then(|| indent(l))
        })?;
        (err_idx, previous + 1)
    };
    let old = indent(line_at(idx));
    let line_start = index.line_range(idx + 1)?.start;
    (wanted > old).then(|| Fix {
        line: to_u32(idx + 1),
        at: to_u32(line_start),
        col: 1,
        delta: to_u32(wanted - old),
    })
}

fn unshift(mut pos: Pos, fixes: &[Fix]) -> Pos {
    for fix in fixes.iter().rev() {
        if pos.line == fix.line {
            if pos.col >= fix.col + fix.delta {
                pos.col -= fix.delta;
            } else if pos.col > fix.col {
                pos.col = fix.col;
            }
        }
        if pos.offset >= fix.at + fix.delta {
            pos.offset -= fix.delta;
        } else if pos.offset > fix.at {
            pos.offset = fix.at;
        }
    }
    pos
}

fn unshift_node(node: &mut Node, fixes: &[Fix]) {
    node.span.start = unshift(node.span.start, fixes);
    node.span.end = unshift(node.span.end, fixes);
    match &mut node.kind {
        NodeKind::Scalar { .. } => {}
        // Depth is bounded by the parser's depth limit.
        NodeKind::Seq(items) => items.iter_mut().for_each(|n| unshift_node(n, fixes)),
        NodeKind::Map(entries) => {
            for (k, v) in entries {
                unshift_node(k, fixes);
                unshift_node(v, fixes);
            }
        }
    }
}

struct Attempt {
    root: Option<Node>,
    fatal: bool,
    diags: Vec<Diagnostic>,
    /// A syntax error of a kind go-yaml tolerates.
    recoverable: Option<Recoverable>,
}

fn parse_once(text: &str, limits: &Limits) -> Attempt {
    let mut diags = Vec::new();
    let index = LineIndex::new(text);
    let mut builder = Builder {
        index: &index,
        stack: Vec::new(),
        anchors: HashMap::new(),
        alias_budget: limits.max_alias_nodes,
        max_depth: limits.max_depth,
        root: None,
        documents: 0,
        anchor_defs: HashMap::new(),
        fatal: false,
        diags: &mut diags,
    };
    let mut recoverable = None;
    let mut parser = Parser::new_from_str(text);
    loop {
        match parser.next_event() {
            None => break,
            Some(Err(err)) => {
                let line = to_u32(err.marker().line());
                if err.info().starts_with("invalid indentation") {
                    let in_quoted = err.info().contains("quoted scalar");
                    recoverable = Some(Recoverable::Indentation { line, in_quoted });
                } else if err.info().starts_with("comments must be separated") {
                    let col0 = to_u32(err.marker().col());
                    recoverable = Some(Recoverable::TouchingComment { line, col0 });
                }
                builder.scan_error(&err);
                break;
            }
            Some(Ok((event, span))) => match builder.event(event, span) {
                Flow::Continue => {}
                Flow::Stop => {
                    builder.fatal = true;
                    break;
                }
            },
        }
    }
    // An error mid-document leaves containers open: close them so the partial tree is usable.
    while !builder.stack.is_empty() {
        builder.close(None);
    }
    if !builder.fatal {
        builder.report_unused_anchors();
    }
    let (root, fatal) = (builder.root, builder.fatal);
    Attempt {
        root,
        fatal,
        diags,
        recoverable,
    }
}

struct AnchorDef {
    name: String,
    pos: Pos,
    used: bool,
}

enum Flow {
    Continue,
    Stop,
}

enum Open {
    Seq {
        items: Vec<Node>,
        start: Pos,
        anchor: usize,
    },
    Map {
        entries: Vec<(Node, Node)>,
        pending_key: Option<Node>,
        start: Pos,
        anchor: usize,
    },
}

struct Builder<'a, 'd> {
    index: &'a LineIndex<'a>,
    stack: Vec<Open>,
    /// Anchor id -> (node, number of nodes in it).
    anchors: HashMap<usize, (Node, usize)>,
    alias_budget: usize,
    max_depth: usize,
    root: Option<Node>,
    documents: usize,
    /// Anchor id -> where it was defined and whether an alias used it.
    anchor_defs: HashMap<usize, AnchorDef>,
    fatal: bool,
    diags: &'d mut Vec<Diagnostic>,
}

impl Builder<'_, '_> {
    fn error(&mut self, span: Span, message: String) {
        self.diags
            .push(Diagnostic::error("syntax-check", span, message));
    }

    fn scan_error(&mut self, err: &ScanError) {
        self.fatal = true;
        // The column of the character the scanner stopped at (1-based, like every other
        // position; go-yaml, and so actionlint, print this one 0-based).
        let marker = err.marker();
        let mut col0 = marker.col();
        // A tab error is raised after the scanner consumed the tab: point at the tab itself.
        if err.info().contains("tab") && col0 > 0 {
            let before = self.index.pos(marker.line(), col0 - 1);
            let text = self.index.text();
            if text.as_bytes().get(before.offset as usize) == Some(&b'\t') {
                col0 -= 1;
            }
        }
        let pos = self.index.pos(marker.line(), col0);
        self.error(
            Span::point(pos),
            format!("could not parse as YAML: {}", err.info()),
        );
    }

    fn event(&mut self, event: Event<'_>, span: saphyr_parser::Span) -> Flow {
        let start = self.index.marker(&span.start);
        let anchor_id = match &event {
            Event::Scalar(_, _, a, _) | Event::SequenceStart(a, _) | Event::MappingStart(a, _) => {
                *a
            }
            _ => 0,
        };
        if anchor_id > 0 {
            self.define_anchor(anchor_id, start);
        }
        match event {
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    self.error(
                        Span::point(start),
                        "multiple YAML documents in one file are not supported".to_owned(),
                    );
                    return Flow::Stop;
                }
            }
            Event::Scalar(value, style, anchor, tag) => {
                let end = self.index.marker(&span.end);
                let tag = tag.map(|t| format!("{}{}", t.handle, t.suffix).into_boxed_str());
                let tag = tag.map(|t| match t.as_ref() {
                    // The non-specific tag `!` makes a plain scalar a string.
                    "!" => Box::from("tag:yaml.org,2002:str"),
                    t2 if t2.starts_with("!!") => {
                        format!("tag:yaml.org,2002:{}", t2.get(2..).unwrap_or("")).into_boxed_str()
                    }
                    _ => t,
                });
                let mut start = start;
                let mut end = end;
                if value.is_empty() && tag.is_none() && style == saphyr_parser::ScalarStyle::Plain {
                    // An empty value sits right after its key's `:` (as go-yaml reports it).
                    if self.index.text().as_bytes().get(start.offset as usize) == Some(&b':') {
                        start.col += 1;
                        start.offset += 1;
                        end = end.max(start);
                    }
                }
                let mut value = cow_into_string(value);
                let text = self.index.text();
                if matches!(
                    style,
                    saphyr_parser::ScalarStyle::Literal | saphyr_parser::ScalarStyle::Folded
                ) && !text.ends_with('\n')
                    && end.offset as usize >= text.len()
                    && value.ends_with('\n')
                {
                    // A block scalar that ends the file without a line break has no final line
                    // break to keep (saphyr-parser adds one; libyaml and GitHub do not).
                    value.pop();
                }
                let node = Node {
                    kind: NodeKind::Scalar {
                        value,
                        style: ScalarStyle::from_saphyr(style),
                        tag,
                    },
                    span: Span::new(start, end),
                };
                self.check_scalar_tag(&node);
                if anchor > 0 {
                    self.anchors.insert(anchor, (node.clone(), 1));
                }
                return self.push(node);
            }
            Event::Alias(id) => {
                if let Some(def) = self.anchor_defs.get_mut(&id) {
                    def.used = true;
                }
                let Some((node, size)) = self.anchors.get(&id) else {
                    // The anchored node is still open: the alias refers to its own ancestor.
                    let message = match self.anchor_defs.get(&id) {
                        Some(def) => format!(
                            "recursive alias \"{}\" is found. anchor was declared at line:{}, column:{}",
                            def.name, def.pos.line, def.pos.col
                        ),
                        None => "alias refers to an unknown anchor".to_owned(),
                    };
                    self.error(Span::point(start), message);
                    return self.push(null_node(Span::point(start)));
                };
                if *size > self.alias_budget {
                    self.error(
                        Span::point(start),
                        format!(
                            "too many nodes produced by YAML aliases (limit {}); is this an alias bomb?",
                            MAX_ALIAS_NODES
                        ),
                    );
                    return Flow::Stop;
                }
                self.alias_budget -= *size;
                let mut node = node.clone();
                // The copy keeps the anchored node's inner spans; the alias itself is where the
                // copy is used.
                let end = self.index.marker(&span.end);
                node.span = Span::new(start, end);
                return self.push(node);
            }
            Event::SequenceStart(anchor, tag) => {
                self.check_collection_tag(tag.as_deref(), "seq", start);
                if self.stack.len() >= self.max_depth {
                    self.error(
                        Span::point(start),
                        format!(
                            "maximum object depth exceeded: more than {} nested levels",
                            self.max_depth
                        ),
                    );
                    return Flow::Stop;
                }
                self.stack.push(Open::Seq {
                    items: Vec::new(),
                    start,
                    anchor,
                });
            }
            Event::MappingStart(anchor, tag) => {
                self.check_collection_tag(tag.as_deref(), "map", start);
                if self.stack.len() >= self.max_depth {
                    self.error(
                        Span::point(start),
                        format!(
                            "maximum object depth exceeded: more than {} nested levels",
                            self.max_depth
                        ),
                    );
                    return Flow::Stop;
                }
                self.stack.push(Open::Map {
                    entries: Vec::new(),
                    pending_key: None,
                    start,
                    anchor,
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let end = self.index.marker(&span.end);
                return self.close(Some(end));
            }
        }
        Flow::Continue
    }

    fn define_anchor(&mut self, id: usize, pos: Pos) {
        let text = self.index.text();
        let rest = text.get(pos.offset as usize..).unwrap_or("");
        let name = rest.strip_prefix('&').map(|r| {
            let end = r
                .find(|c: char| c.is_whitespace() || matches!(c, ',' | '[' | ']' | '{' | '}'))
                .unwrap_or(r.len());
            // `end` comes from `find` (or is the length): a character boundary.
            r[..end].to_owned()
        });
        if let Some(name) = name {
            self.anchor_defs.insert(
                id,
                AnchorDef {
                    name,
                    pos,
                    used: false,
                },
            );
        }
    }

    fn report_unused_anchors(&mut self) {
        let mut unused: Vec<&AnchorDef> = self.anchor_defs.values().filter(|d| !d.used).collect();
        unused.sort_by_key(|d| d.pos);
        let found: Vec<Diagnostic> = unused
            .iter()
            .map(|d| {
                Diagnostic::error(
                    "syntax-check",
                    Span::point(d.pos),
                    format!("anchor \"{}\" is defined but not used", d.name),
                )
            })
            .collect();
        self.diags.extend(found);
    }

    /// Only the core-schema tags are accepted, and a tagged scalar must be valid for its tag.
    fn check_scalar_tag(&mut self, node: &Node) {
        let NodeKind::Scalar {
            value,
            style,
            tag: Some(tag),
        } = &node.kind
        else {
            return;
        };
        let Some(suffix) = tag.strip_prefix("tag:yaml.org,2002:") else {
            self.error(node.span, format!("unexpected YAML tag \"{tag}\""));
            return;
        };
        if !matches!(suffix, "str" | "int" | "float" | "bool" | "null") {
            self.error(node.span, format!("unexpected YAML tag \"{tag}\""));
            return;
        }
        if suffix == "str" {
            return;
        }
        if *style != ScalarStyle::Plain {
            self.error(
                node.span,
                format!("the scalar style {style:?} is not valid with the tag \"{tag}\""),
            );
            return;
        }
        let ok = matches!(
            (suffix, resolve_scalar(value)),
            ("int", ScalarType::Int(_))
                | ("float", ScalarType::Int(_) | ScalarType::Float(_))
                | ("bool", ScalarType::Bool(_))
                | ("null", ScalarType::Null)
        );
        if !ok {
            self.error(
                node.span,
                format!("the value \"{value}\" is invalid for the type \"{tag}\""),
            );
        }
    }

    fn check_collection_tag(
        &mut self,
        tag: Option<&saphyr_parser::Tag>,
        expected: &str,
        start: Pos,
    ) {
        let Some(tag) = tag else { return };
        if tag.is_yaml_core_schema() && tag.suffix == expected {
            return;
        }
        self.error(
            Span::point(start),
            format!("unexpected YAML tag \"{}{}\"", tag.handle, tag.suffix),
        );
    }

    /// Pops the innermost open container and attaches it to its parent.
    fn close(&mut self, end: Option<Pos>) -> Flow {
        let Some(open) = self.stack.pop() else {
            return Flow::Continue;
        };
        let node = match open {
            Open::Seq {
                items,
                start,
                anchor,
            } => {
                let end = collection_end(end, start, items.last().map(|n| n.span.end));
                (
                    Node {
                        kind: NodeKind::Seq(items),
                        span: Span::new(start, end),
                    },
                    anchor,
                )
            }
            Open::Map {
                mut entries,
                pending_key,
                start,
                anchor,
            } => {
                if let Some(key) = pending_key {
                    // Unfinished entry after an error: keep the key with a null value.
                    let span = Span::point(key.span.end);
                    entries.push((key, null_node(span)));
                }
                self.check_duplicates(&entries);
                let end = collection_end(end, start, entries.last().map(|(_, v)| v.span.end));
                (
                    Node {
                        kind: NodeKind::Map(entries),
                        span: Span::new(start, end),
                    },
                    anchor,
                )
            }
        };
        let (node, anchor) = node;
        if anchor > 0 {
            let size = count_nodes(&node);
            self.anchors.insert(anchor, (node.clone(), size));
        }
        self.push(node)
    }

    fn push(&mut self, node: Node) -> Flow {
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Open::Seq { items, .. }) => items.push(node),
            Some(Open::Map {
                entries,
                pending_key,
                ..
            }) => match pending_key.take() {
                None => *pending_key = Some(node),
                Some(key) => entries.push((key, node)),
            },
        }
        Flow::Continue
    }

    fn check_duplicates(&mut self, entries: &[(Node, Node)]) {
        for (key, _) in entries {
            if let NodeKind::Scalar {
                value,
                style: ScalarStyle::Plain,
                tag: None,
            } = &key.kind
            {
                if value == "<<" {
                    self.diags.push(Diagnostic::error(
                        "syntax-check",
                        key.span,
                        "GitHub Actions does not support YAML merge key \"<<\"",
                    ));
                }
            }
        }
        let report = |diags: &mut Vec<Diagnostic>, first: &Node, second: &Node, key: &str| {
            diags.push(Diagnostic::error(
                "syntax-check",
                second.span,
                format!(
                    "key \"{key}\" is duplicated in mapping. previously defined at line:{},col:{}",
                    first.span.start.line, first.span.start.col
                ),
            ));
        };
        if entries.len() <= 16 {
            for (i, (key, _)) in entries.iter().enumerate() {
                let Some(name) = key.as_scalar() else {
                    continue;
                };
                if let Some((first, _)) = entries[..i]
                    .iter()
                    .find(|(k, _)| k.as_scalar() == Some(name))
                {
                    report(self.diags, first, key, name);
                }
            }
        } else {
            let mut seen: HashMap<&str, &Node> = HashMap::with_capacity(entries.len());
            for (key, _) in entries {
                let Some(name) = key.as_scalar() else {
                    continue;
                };
                if let Some(first) = seen.get(name) {
                    report(self.diags, first, key, name);
                } else {
                    seen.insert(name, key);
                }
            }
        }
    }
}

fn collection_end(end: Option<Pos>, start: Pos, last_child: Option<Pos>) -> Pos {
    // Block collections end with an empty span at the next token; prefer the last child's end.
    match (end, last_child) {
        (_, Some(child)) => child,
        (Some(end), None) => end.max(start),
        (None, None) => start,
    }
}

fn null_node(span: Span) -> Node {
    Node {
        kind: NodeKind::Scalar {
            value: String::new(),
            style: ScalarStyle::Plain,
            tag: None,
        },
        span,
    }
}

fn cow_into_string(value: Cow<'_, str>) -> String {
    value.into_owned()
}

fn count_nodes(node: &Node) -> usize {
    let mut count = 0usize;
    let mut stack = vec![node];
    while let Some(n) = stack.pop() {
        count = count.saturating_add(1);
        match &n.kind {
            NodeKind::Scalar { .. } => {}
            NodeKind::Seq(items) => stack.extend(items.iter()),
            NodeKind::Map(entries) => {
                for (k, v) in entries {
                    stack.push(k);
                    stack.push(v);
                }
            }
        }
    }
    count
}
