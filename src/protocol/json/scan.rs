//! The one JSON scanner under the session layer's readers (`members`,
//! `fields`, `check` in `mod.rs`): it moves a position over one value of any
//! kind without building it, either checking it against the grammar or only
//! finding where it ends (`Values`). Iterative, so that deep nesting costs
//! memory in proportion to the message (already bounded by framing), never
//! stack.

use std::ops::Range;

use super::{Fault, Values};
use crate::protocol::plain;

pub(super) struct Scanner<'a> {
    pub b: &'a [u8],
    pub i: usize,
}

impl<'a> Scanner<'a> {
    pub fn new(b: &'a [u8]) -> Scanner<'a> {
        Scanner { b, i: 0 }
    }

    pub fn fault(&self, what: &'static str) -> Fault {
        Fault { what, at: self.i }
    }

    pub fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    pub fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\r' | b'\n') = self.peek() {
            self.i += 1;
        }
    }

    /// Steps over `c`, which must be next.
    pub fn eat(&mut self, c: u8, what: &'static str) -> Result<(), Fault> {
        if self.peek() != Some(c) {
            return Err(self.fault(what));
        }
        self.i += 1;
        Ok(())
    }

    /// Steps over the value at the position, read as `how` says.
    pub fn value(&mut self, how: Values) -> Result<(), Fault> {
        match (self.peek(), how) {
            (Some(b'{' | b'['), Values::Extent) => self.brackets(),
            (Some(b'{' | b'['), Values::Checked { max_depth }) => self.nested(max_depth),
            _ if how == Values::Extent => self.scalar::<true>(),
            _ => self.scalar::<false>(),
        }
    }

    /// `"key"` and its colon, leaving the position at the value; where the
    /// key is, quotes included.
    pub fn key<const LOOSE: bool>(&mut self) -> Result<Range<usize>, Fault> {
        if self.peek() != Some(b'"') {
            return Err(self.fault("expected a key"));
        }
        let start = self.i;
        self.string::<LOOSE>()?;
        let key = start..self.i;
        self.ws();
        self.eat(b':', "expected ':'")?;
        self.ws();
        Ok(key)
    }

    /// `LOOSE` reads for extent only (`Values::Extent`); a constant, so that
    /// each way of reading gets its own copy, without the other's tests.
    fn scalar<const LOOSE: bool>(&mut self) -> Result<(), Fault> {
        match self.peek() {
            Some(b'"') => self.string::<LOOSE>(),
            Some(b'-' | b'0'..=b'9') if LOOSE => self.number_extent(),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            None => Err(self.fault("truncated")),
            Some(_) => Err(self.fault("expected a value")),
        }
    }

    /// The string that starts at the position (a quote). Loosely, a
    /// backslash only means that the next byte is not the closing quote,
    /// and control characters pass.
    fn string<const LOOSE: bool>(&mut self) -> Result<(), Fault> {
        self.i += 1;
        // Keys and names end within a few bytes, read one by one; after a
        // run of plain bytes, the rest of a long string goes to the block
        // skip.
        let mut run = 0;
        loop {
            let Some(b) = self.peek() else {
                self.i = self.b.len();
                return Err(self.fault("truncated string"));
            };
            match b {
                b'"' => {
                    self.i += 1;
                    return Ok(());
                }
                b'\\' if LOOSE => {
                    self.i += 2;
                    run = 0;
                }
                b'\\' => {
                    self.i += 1;
                    match self.peek() {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.i += 1,
                        Some(b'u') => {
                            let hex = self.b.get(self.i + 1..self.i + 5);
                            if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                                return Err(self.fault("bad \\u escape"));
                            }
                            self.i += 5;
                        }
                        _ => return Err(self.fault("bad escape")),
                    }
                    run = 0;
                }
                0..0x20 if !LOOSE => return Err(self.fault("control character in a string")),
                0x80.. if !LOOSE => {
                    self.utf8_char()?;
                    run = 0;
                }
                _ => {
                    self.i += 1;
                    run += 1;
                    if run == 16 {
                        self.skip_plain::<LOOSE>();
                        run = 0;
                    }
                }
            }
        }
    }

    /// Skips the rest of a long string's plain bytes: those that need no
    /// look. Loosely that is all but `"` and `\`, found by `memchr`;
    /// strictly also control characters and non-ASCII (whose UTF-8 the
    /// string loop checks), found a block at a time.
    fn skip_plain<const LOOSE: bool>(&mut self) {
        let rest = &self.b[self.i..];
        self.i += if LOOSE {
            memchr::memchr2(b'"', b'\\', rest).unwrap_or(rest.len())
        } else {
            plain::blocks(rest, plain::json_special)
        };
    }

    /// Steps over the one UTF-8 encoded character at the position, which
    /// starts with a non-ASCII byte. Checking here, where the scan meets
    /// such a byte, spares a whole-body UTF-8 pass over the (usually ASCII)
    /// rest; outside strings the grammar refuses any such byte anyway.
    fn utf8_char(&mut self) -> Result<(), Fault> {
        let len = match self.b[self.i] {
            0xc2..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf4 => 4,
            _ => 1,
        };
        let end = (self.i + len).min(self.b.len());
        if std::str::from_utf8(&self.b[self.i..end]).is_err() {
            return Err(self.fault("not UTF-8"));
        }
        self.i = end;
        Ok(())
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Result<(), Fault> {
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.fault("bad number")),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return Err(self.fault("bad fraction"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(self.fault("bad exponent"));
            }
        }
        Ok(())
    }

    /// The bytes a number can hold, at least one of them a digit.
    fn number_extent(&mut self) -> Result<(), Fault> {
        let start = self.i;
        while let Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') = self.peek() {
            self.i += 1;
        }
        if self.b[start..self.i].iter().any(u8::is_ascii_digit) {
            Ok(())
        } else {
            Err(self.fault("bad number"))
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), Fault> {
        if !self.b[self.i..].starts_with(word) {
            return Err(self.fault("bad literal"));
        }
        self.i += word.len();
        Ok(())
    }

    /// An object or array checked against the grammar, at most `max_depth`
    /// containers deep.
    fn nested(&mut self, max_depth: usize) -> Result<(), Fault> {
        // The closing bracket of each open container.
        let mut open: Vec<u8> = Vec::new();
        loop {
            // A value at the position: open a container, or step over it.
            match self.peek() {
                Some(c @ (b'{' | b'[')) => {
                    if open.len() >= max_depth {
                        return Err(self.fault("nested too deep"));
                    }
                    self.i += 1;
                    self.ws();
                    let close = if c == b'{' { b'}' } else { b']' };
                    if self.peek() == Some(close) {
                        self.i += 1;
                    } else {
                        open.push(close);
                        if close == b'}' {
                            self.key::<false>()?;
                        }
                        continue;
                    }
                }
                _ => self.scalar::<false>()?,
            }
            // A value ended: close what it ends, or go on to the next one.
            loop {
                let Some(&close) = open.last() else {
                    return Ok(());
                };
                self.ws();
                match self.peek() {
                    Some(b',') => {
                        self.i += 1;
                        self.ws();
                        if close == b'}' {
                            self.key::<false>()?;
                        }
                        break;
                    }
                    Some(c) if c == close => {
                        self.i += 1;
                        open.pop();
                    }
                    None => return Err(self.fault("truncated")),
                    Some(_) if close == b'}' => return Err(self.fault("expected ',' or '}'")),
                    Some(_) => return Err(self.fault("expected ',' or ']'")),
                }
            }
        }
    }

    /// An object or array found by counting brackets outside strings.
    fn brackets(&mut self) -> Result<(), Fault> {
        let mut depth = 0usize;
        while let Some(b) = self.peek() {
            match b {
                b'"' => {
                    self.string::<true>()?;
                    continue;
                }
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        self.i += 1;
                        return Ok(());
                    }
                }
                _ => {}
            }
            self.i += 1;
        }
        Err(self.fault("truncated object or array"))
    }
}
