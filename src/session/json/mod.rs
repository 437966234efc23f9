//! A top-level key scanner for JSON objects: where the values of a few keys
//! (`seq`, `type`, `request_seq`, …) lie in a message body, without building
//! a value tree, so that a session can splice a new id into the original
//! bytes. Used by the legacy V8 session; pure, bounded (nesting depth), and
//! checked against serde_json by property tests.

use std::ops::Range;

/// Deeper nesting is refused (serde_json's own limit is 128).
const MAX_DEPTH: usize = 256;

/// How much of the body to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Until {
    /// Stop as soon as every wanted key has been seen (a debugger's message:
    /// trusted, possibly large). The first occurrence of a key counts.
    Found,
    /// Read and check the whole body, which must be one valid JSON object
    /// (a client's message: checked before it reaches the debugger). The
    /// last occurrence of a key counts, as with `JSON.parse`.
    End,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    pub at: usize,
    pub what: &'static str,
}

/// The byte ranges of the values of `keys` at the top level of the object in
/// `body`, each `None` when absent. Keys are compared as raw bytes between
/// the quotes (a key spelled with escapes does not match).
pub fn fields<const N: usize>(
    body: &[u8],
    keys: [&str; N],
    until: Until,
) -> Result<[Option<Range<usize>>; N], JsonError> {
    let mut found: [Option<Range<usize>>; N] = std::array::from_fn(|_| None);
    let mut missing = N;
    let mut s = Scanner { b: body, i: 0 };
    s.ws();
    s.expect(b'{', "not a JSON object")?;
    s.ws();
    if s.peek() == Some(b'}') {
        s.i += 1;
        return s.end(until).map(|()| found);
    }
    loop {
        s.ws();
        let key = s.string()?;
        s.ws();
        s.expect(b':', "expected ':'")?;
        s.ws();
        let start = s.i;
        s.value()?;
        let key = &body[key.start + 1..key.end - 1];
        if let Some(k) = keys.iter().position(|k| k.as_bytes() == key) {
            if found[k].is_none() {
                missing -= 1;
            }
            if found[k].is_none() || until == Until::End {
                found[k] = Some(start..s.i);
            }
            if missing == 0 && until == Until::Found {
                return Ok(found);
            }
        }
        s.ws();
        match s.next() {
            Some(b',') => continue,
            Some(b'}') => return s.end(until).map(|()| found),
            _ => return Err(s.error("expected ',' or '}'")),
        }
    }
}

/// The value's bytes when it is a JSON number.
pub fn number(body: &[u8], range: &Option<Range<usize>>) -> Option<Range<usize>> {
    let r = range.clone()?;
    matches!(body.get(r.start), Some(b'-' | b'0'..=b'9')).then_some(r)
}

/// The value as an unsigned integer, when it is one.
pub fn unsigned(body: &[u8], range: &Option<Range<usize>>) -> Option<u64> {
    let r = number(body, range)?;
    std::str::from_utf8(&body[r]).ok()?.parse().ok()
}

/// The contents of a string value without escapes (command names, event
/// names, `type`), or `None`.
pub fn plain_str<'a>(body: &'a [u8], range: &Option<Range<usize>>) -> Option<&'a [u8]> {
    let r = range.clone()?;
    let v = &body[r];
    let inner = v.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    (!inner.contains(&b'\\')).then_some(inner)
}

/// Whether the value is the literal `true` (`Some(false)` for `false`).
pub fn boolean(body: &[u8], range: &Option<Range<usize>>) -> Option<bool> {
    match &body[range.clone()?] {
        b"true" => Some(true),
        b"false" => Some(false),
        _ => None,
    }
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    fn error(&self, what: &'static str) -> JsonError {
        JsonError { at: self.i, what }
    }

    fn expect(&mut self, c: u8, what: &'static str) -> Result<(), JsonError> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.error(what))
        }
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn end(&mut self, until: Until) -> Result<(), JsonError> {
        if until == Until::Found {
            return Ok(());
        }
        self.ws();
        if self.i != self.b.len() {
            return Err(self.error("bytes after the object"));
        }
        std::str::from_utf8(self.b)
            .map(|_| ())
            .map_err(|e| JsonError {
                at: e.valid_up_to(),
                what: "not UTF-8",
            })
    }

    /// A string, quotes included.
    fn string(&mut self) -> Result<Range<usize>, JsonError> {
        let start = self.i;
        self.expect(b'"', "expected a string")?;
        loop {
            match self.next() {
                None => return Err(self.error("unterminated string")),
                Some(b'"') => return Ok(start..self.i),
                Some(b'\\') => match self.next() {
                    Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {}
                    Some(b'u') => {
                        for _ in 0..4 {
                            if !self.next().is_some_and(|c| c.is_ascii_hexdigit()) {
                                return Err(self.error("bad \\u escape"));
                            }
                        }
                    }
                    _ => return Err(self.error("bad escape")),
                },
                Some(0..0x20) => return Err(self.error("control character in a string")),
                Some(_) => {}
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Result<(), JsonError> {
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.error("bad number")),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return Err(self.error("bad number"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(self.error("bad number"));
            }
        }
        Ok(())
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), JsonError> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(())
        } else {
            Err(self.error("bad literal"))
        }
    }

    /// Skips one value of any kind; nesting is followed with an explicit
    /// stack, so that depth costs no recursion.
    fn value(&mut self) -> Result<(), JsonError> {
        // Each open container: whether it is an object.
        let mut stack: Vec<bool> = Vec::new();
        loop {
            // A value at the current position.
            match self.peek() {
                Some(b'{' | b'[') => {
                    let object = self.peek() == Some(b'{');
                    self.i += 1;
                    if stack.len() >= MAX_DEPTH {
                        return Err(self.error("nested too deep"));
                    }
                    stack.push(object);
                    self.ws();
                    let close = if object { b'}' } else { b']' };
                    if self.peek() == Some(close) {
                        self.i += 1;
                        stack.pop();
                    } else {
                        if object {
                            self.member_key()?;
                        }
                        continue;
                    }
                }
                Some(b'"') => {
                    self.string()?;
                }
                Some(b't') => self.literal(b"true")?,
                Some(b'f') => self.literal(b"false")?,
                Some(b'n') => self.literal(b"null")?,
                _ => self.number()?,
            }
            // After a value: close containers or move to the next element.
            loop {
                let Some(&object) = stack.last() else {
                    return Ok(());
                };
                self.ws();
                match self.next() {
                    Some(b',') => {
                        self.ws();
                        if object {
                            self.member_key()?;
                        }
                        break;
                    }
                    Some(b'}') if object => {
                        stack.pop();
                    }
                    Some(b']') if !object => {
                        stack.pop();
                    }
                    _ => return Err(self.error("expected ',' or a closing bracket")),
                }
            }
        }
    }

    /// `"key" :` inside a nested object, leaving the position at the value.
    fn member_key(&mut self) -> Result<(), JsonError> {
        self.string()?;
        self.ws();
        self.expect(b':', "expected ':'")?;
        self.ws();
        Ok(())
    }
}

#[cfg(test)]
mod tests;
