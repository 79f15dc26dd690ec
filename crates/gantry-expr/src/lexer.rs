//! Turns expression text into tokens.
//!
//! Invariant: never panics on any input; a run of characters that is not a token becomes a Lexing
//! error at its position with GitHub's message `Unexpected symbol: '<text>'`. Identifiers are
//! classified here (property name after `.`, function before `(`, otherwise named value), and
//! `(`/`)` are told apart as group or parameter list, as GitHub's lexer does. Tests: `tests/unit.rs`.

use crate::error::{Error, ErrorKind};
use crate::number::parse_js_number;
use crate::parser::MAX_LENGTH;
use crate::span::Span;
use crate::token::{Operator, Token, TokenKind};

/// Lexes the whole expression. Input longer than [`MAX_LENGTH`] characters is a Lexing error.
pub fn lex(src: &str) -> Result<Vec<Token>, Error> {
    if src.len() > MAX_LENGTH && src.encode_utf16().count() > MAX_LENGTH {
        return Err(Error::new(
            ErrorKind::Lexing,
            format!("Exceeded max expression length {MAX_LENGTH}"),
            Span::new(0, 0),
            src,
        ));
    }
    Lexer {
        src,
        bytes: src.as_bytes(),
        pos: 0,
        tokens: Vec::new(),
        parens: Vec::new(),
    }
    .run()
}

struct Lexer<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    tokens: Vec<Token>,
    /// For each open `(`: true when it opened a parameter list.
    parens: Vec<bool>,
}

impl<'a> Lexer<'a> {
    fn run(mut self) -> Result<Vec<Token>, Error> {
        while let Some(c) = self.peek_char() {
            let start = self.pos;
            match c {
                ' ' | '\t' | '\r' | '\n' => self.pos += 1,
                '(' => {
                    self.pos += 1;
                    let params = matches!(
                        self.tokens.last().map(|t| &t.kind),
                        Some(TokenKind::Function(_))
                    );
                    self.parens.push(params);
                    let kind = if params {
                        TokenKind::StartParameters
                    } else {
                        TokenKind::StartGroup
                    };
                    self.push(kind, start);
                }
                ')' => {
                    self.pos += 1;
                    let kind = if self.parens.pop() == Some(true) {
                        TokenKind::EndParameters
                    } else {
                        TokenKind::EndGroup
                    };
                    self.push(kind, start);
                }
                '[' => {
                    self.pos += 1;
                    self.push(TokenKind::StartIndex, start);
                }
                ']' => {
                    self.pos += 1;
                    self.push(TokenKind::EndIndex, start);
                }
                ',' => {
                    self.pos += 1;
                    self.push(TokenKind::Separator, start);
                }
                '*' => {
                    self.pos += 1;
                    self.push(TokenKind::Wildcard, start);
                }
                '.' => {
                    let dereferenceable = matches!(
                        self.tokens.last().map(|t| &t.kind),
                        Some(
                            TokenKind::NamedValue(_)
                                | TokenKind::PropertyName(_)
                                | TokenKind::EndIndex
                                | TokenKind::EndGroup
                                | TokenKind::EndParameters
                                | TokenKind::Wildcard
                        )
                    );
                    if dereferenceable {
                        self.pos += 1;
                        self.push(TokenKind::Dereference, start);
                    } else {
                        self.number(start)?;
                    }
                }
                '-' | '+' | '0'..='9' => self.number(start)?,
                '!' => self.operator(start, '=', Operator::NotEqual, Some(Operator::Not))?,
                '=' => self.operator(start, '=', Operator::Equal, None)?,
                '<' => self.operator(start, '=', Operator::LessEqual, Some(Operator::Less))?,
                '>' => {
                    self.operator(start, '=', Operator::GreaterEqual, Some(Operator::Greater))?
                }
                '&' => self.operator(start, '&', Operator::And, None)?,
                '|' => self.operator(start, '|', Operator::Or, None)?,
                '\'' => self.string(start)?,
                _ => self.identifier(start)?,
            }
        }
        Ok(self.tokens)
    }

    fn peek_char(&self) -> Option<char> {
        self.src
            .get(self.pos..)
            .and_then(|rest| rest.chars().next())
    }

    fn push(&mut self, kind: TokenKind, start: usize) {
        self.tokens.push(Token {
            kind,
            span: Span::new(start, self.pos),
        });
    }

    fn unexpected(&self, start: usize) -> Error {
        let text = self.src.get(start..self.pos).unwrap_or("");
        Error::new(
            ErrorKind::Lexing,
            format!("Unexpected symbol: '{text}'"),
            Span::new(start, self.pos),
            self.src,
        )
    }

    /// Advances past the current char and then to the next token boundary (`.` included when
    /// `dot_allowed`).
    fn skip_to_boundary(&mut self, dot_allowed: bool) {
        if let Some(c) = self.peek_char() {
            self.pos += c.len_utf8();
        }
        while let Some(c) = self.peek_char() {
            if is_boundary(c) && !(dot_allowed && c == '.') {
                break;
            }
            self.pos += c.len_utf8();
        }
    }

    /// Two-character operators; a lone first character is an unexpected symbol unless `single`.
    fn operator(
        &mut self,
        start: usize,
        second: char,
        double: Operator,
        single: Option<Operator>,
    ) -> Result<(), Error> {
        let second_matches = self.bytes.get(start + 1) == Some(&(second as u8));
        if second_matches {
            self.pos = start + 2;
            self.push(TokenKind::Operator(double), start);
            return Ok(());
        }
        match single {
            Some(op) => {
                self.pos = start + 1;
                self.push(TokenKind::Operator(op), start);
                Ok(())
            }
            None => {
                self.skip_to_boundary(false);
                Err(self.unexpected(start))
            }
        }
    }

    fn number(&mut self, start: usize) -> Result<(), Error> {
        self.skip_to_boundary(true);
        let text = self.src.get(start..self.pos).unwrap_or("");
        match parse_js_number(text) {
            Some(n) if !n.is_nan() => {
                self.push(TokenKind::Number(n), start);
                Ok(())
            }
            _ => Err(self.unexpected(start)),
        }
    }

    fn string(&mut self, start: usize) -> Result<(), Error> {
        // `''` inside the quotes is an escaped quote.
        let mut value = String::new();
        let mut i = start + 1;
        let mut segment_start = i;
        loop {
            match self.bytes.get(i) {
                None => {
                    self.pos = self.src.len();
                    return Err(self.unexpected(start));
                }
                Some(b'\'') => {
                    value.push_str(self.src.get(segment_start..i).unwrap_or(""));
                    if self.bytes.get(i + 1) == Some(&b'\'') {
                        value.push('\'');
                        i += 2;
                        segment_start = i;
                    } else {
                        self.pos = i + 1;
                        self.push(TokenKind::String(value), start);
                        return Ok(());
                    }
                }
                Some(_) => i += 1,
            }
        }
    }

    fn identifier(&mut self, start: usize) -> Result<(), Error> {
        self.skip_to_boundary(false);
        let text = self.src.get(start..self.pos).unwrap_or("");
        let after_dot = matches!(
            self.tokens.last().map(|t| &t.kind),
            Some(TokenKind::Dereference)
        );
        if !after_dot {
            let literal = match text {
                "true" => Some(TokenKind::Boolean(true)),
                "false" => Some(TokenKind::Boolean(false)),
                "null" => Some(TokenKind::Null),
                "NaN" => Some(TokenKind::Number(f64::NAN)),
                "Infinity" => Some(TokenKind::Number(f64::INFINITY)),
                _ => None,
            };
            if let Some(kind) = literal {
                self.push(kind, start);
                return Ok(());
            }
        }
        if !is_legal_identifier(text) {
            return Err(self.unexpected(start));
        }
        let name = text.to_owned();
        let kind = if after_dot {
            TokenKind::PropertyName(name)
        } else if self.next_non_space_is_paren() {
            TokenKind::Function(name)
        } else {
            TokenKind::NamedValue(name)
        };
        self.push(kind, start);
        Ok(())
    }

    fn next_non_space_is_paren(&self) -> bool {
        self.bytes
            .get(self.pos..)
            .and_then(|rest| {
                rest.iter()
                    .find(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
            })
            .is_some_and(|b| *b == b'(')
    }
}

/// Characters that end a number, identifier or unexpected symbol.
fn is_boundary(c: char) -> bool {
    matches!(
        c,
        '(' | '[' | ')' | ']' | ',' | '.' | '!' | '>' | '<' | '=' | '&' | '|'
    ) || is_js_whitespace(c)
}

/// JavaScript's `\s`.
pub(crate) fn is_js_whitespace(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{0B}' | '\u{0C}' | '\r' | ' ' | '\u{A0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200A}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202F}'
                | '\u{205F}'
                | '\u{3000}'
                | '\u{FEFF}'
    )
}

/// `[A-Za-z_][A-Za-z0-9_-]*`
fn is_legal_identifier(text: &str) -> bool {
    let mut bytes = text.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}
