//! The one JSON scanner under the session layer's readers (`members`,
//! `fields`, `check` in `mod.rs`): it moves a position over one value of any
//! kind without building it, either checking it against the grammar or only
//! finding where it ends (`Values`). Iterative, so that deep nesting costs
//! memory in proportion to the message (already bounded by framing), never
//! stack.

use std::ops::Range;

use super::{Fault, Values};

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
                _ => {
                    self.i += 1;
                    run += 1;
                    if run == 16 {
                        self.skip_plain();
                        run = 0;
                    }
                }
            }
        }
    }

    /// Skips string bytes that need no look (not `"`, `\\` or a control
    /// character) 32 at a time: the bulk of a large message is one long
    /// string. The test of a whole block has no early exit, so the compiler
    /// turns it into a few vector compares.
    fn skip_plain(&mut self) {
        const BLOCK: usize = 32;
        while let Some(block) = self.b.get(self.i..self.i + BLOCK) {
            let special = block.iter().fold(false, |any, &b| {
                any | (b == b'"') | (b == b'\\') | (b < 0x20)
            });
            if special {
                return;
            }
            self.i += BLOCK;
        }
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
