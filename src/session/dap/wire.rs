//! A top-level JSON object scanner for the DAP hot path.
//!
//! Routing a DAP message needs a handful of its top-level fields (`seq`,
//! `type`, `command`, `request_seq`, `event`, `success`); building a
//! `serde_json::Value` of a 64 KiB `variables` answer to learn them would cost
//! more than the rest of the proxy together. [`Members`] walks the top-level
//! object and yields each member's key and the byte range of its value,
//! skipping nested objects, arrays and strings without decoding them, and
//! [`head`] stops as soon as it has what routing needs (debugpy writes `body`
//! last, so a big body is never looked at).
//!
//! The scanner is not a validator: it checks the structure it walks through
//! (an object, keys, colons, commas, whole strings, balanced brackets), not
//! what it skips (escapes, number syntax, which bracket closes which).

use std::borrow::Cow;
use std::ops::Range;

/// Why the scan stopped short: what was found where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    pub what: &'static str,
    pub at: usize,
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at byte {}", self.what, self.at)
    }
}

/// A member's key, as written (quotes included, escapes not decoded).
#[derive(Debug, Clone, Copy)]
pub struct Key<'a>(&'a [u8]);

impl Key<'_> {
    /// The key's text (None if it is not valid UTF-8 or a bad escape).
    pub fn name(&self) -> Option<Cow<'_, str>> {
        string(self.0)
    }
}

/// The members of the top-level object in `input`, in order.
pub struct Members<'a> {
    s: &'a [u8],
    i: usize,
    started: bool,
    done: bool,
}

pub fn members(input: &[u8]) -> Members<'_> {
    Members {
        s: input,
        i: 0,
        started: false,
        done: false,
    }
}

impl<'a> Iterator for Members<'a> {
    type Item = Result<(Key<'a>, Range<usize>), Fault>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.member() {
            Ok(Some(m)) => Some(Ok(m)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl<'a> Members<'a> {
    fn fault(&self, what: &'static str) -> Fault {
        Fault { what, at: self.i }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\r' | b'\n') = self.peek() {
            self.i += 1;
        }
    }

    fn member(&mut self) -> Result<Option<(Key<'a>, Range<usize>)>, Fault> {
        self.ws();
        if !self.started {
            self.started = true;
            if self.peek() != Some(b'{') {
                return Err(self.fault("not a JSON object"));
            }
            self.i += 1;
            self.ws();
            if self.peek() == Some(b'}') {
                self.i += 1;
                return self.end();
            }
        } else {
            match self.peek() {
                Some(b',') => {
                    self.i += 1;
                    self.ws();
                }
                Some(b'}') => {
                    self.i += 1;
                    return self.end();
                }
                None => return Err(self.fault("truncated")),
                Some(_) => return Err(self.fault("expected ',' or '}'")),
            }
        }
        if self.peek() != Some(b'"') {
            return Err(self.fault("expected a key"));
        }
        let key_start = self.i;
        self.string()?;
        let key = Key(&self.s[key_start..self.i]);
        self.ws();
        if self.peek() != Some(b':') {
            return Err(self.fault("expected ':'"));
        }
        self.i += 1;
        self.ws();
        let value_start = self.i;
        self.value()?;
        Ok(Some((key, value_start..self.i)))
    }

    fn end(&mut self) -> Result<Option<(Key<'a>, Range<usize>)>, Fault> {
        self.ws();
        if self.i != self.s.len() {
            return Err(self.fault("bytes after the object"));
        }
        Ok(None)
    }

    /// Skips the string that starts at `self.i` (a quote).
    fn string(&mut self) -> Result<(), Fault> {
        let mut i = self.i + 1;
        while let Some(&b) = self.s.get(i) {
            match b {
                b'"' => {
                    self.i = i + 1;
                    return Ok(());
                }
                b'\\' => i += 2,
                _ => i += 1,
            }
        }
        self.i = self.s.len();
        Err(self.fault("truncated string"))
    }

    fn value(&mut self) -> Result<(), Fault> {
        match self.peek() {
            Some(b'"') => self.string(),
            Some(b'{' | b'[') => self.nested(),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.i;
                while let Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') = self.peek() {
                    self.i += 1;
                }
                if self.s[start..self.i].iter().any(u8::is_ascii_digit) {
                    Ok(())
                } else {
                    Err(self.fault("bad number"))
                }
            }
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            None => Err(self.fault("truncated")),
            Some(_) => Err(self.fault("expected a value")),
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), Fault> {
        if self.s[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(())
        } else {
            Err(self.fault("bad literal"))
        }
    }

    /// Skips an object or array by counting brackets outside strings.
    fn nested(&mut self) -> Result<(), Fault> {
        let mut depth = 0usize;
        while let Some(b) = self.peek() {
            match b {
                b'"' => {
                    self.string()?;
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

/// The routing fields of a DAP message: where each value is in the body.
#[derive(Debug, Default, Clone)]
pub struct Head {
    pub seq: Option<Range<usize>>,
    pub kind: Option<Range<usize>>,
    pub command: Option<Range<usize>>,
    pub request_seq: Option<Range<usize>>,
    pub event: Option<Range<usize>>,
    pub success: Option<Range<usize>>,
    /// The scan stopped at malformed JSON before it had all it wanted.
    pub fault: Option<Fault>,
}

impl Head {
    /// Whether the fields that a message of this type routes by are all found.
    fn complete(&self, body: &[u8]) -> bool {
        let (Some(_), Some(kind)) = (&self.seq, &self.kind) else {
            return false;
        };
        match &body[kind.clone()] {
            b"\"request\"" => self.command.is_some(),
            b"\"response\"" => {
                self.request_seq.is_some() && self.command.is_some() && self.success.is_some()
            }
            b"\"event\"" => self.event.is_some(),
            _ => true,
        }
    }
}

/// Scans `body` until the routing fields of its type are found. The first
/// occurrence of a duplicated key wins.
pub fn head(body: &[u8]) -> Head {
    let mut head = Head::default();
    for member in members(body) {
        let (key, range) = match member {
            Ok(m) => m,
            Err(fault) => {
                head.fault = Some(fault);
                break;
            }
        };
        let Some(name) = key.name() else { continue };
        let slot = match name.as_ref() {
            "seq" => &mut head.seq,
            "type" => &mut head.kind,
            "command" => &mut head.command,
            "request_seq" => &mut head.request_seq,
            "event" => &mut head.event,
            "success" => &mut head.success,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(range);
        }
        if head.complete(body) {
            break;
        }
    }
    head
}

/// A JSON integer (no fraction, no exponent) that fits an i64.
pub fn int(value: &[u8]) -> Option<i64> {
    let digits = value.strip_prefix(b"-").unwrap_or(value);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// Whether `value` is a JSON number.
pub fn is_number(value: &[u8]) -> bool {
    matches!(value.first(), Some(b'-' | b'0'..=b'9'))
}

/// A JSON string's text; borrowed unless it has escapes.
pub fn string(value: &[u8]) -> Option<Cow<'_, str>> {
    let inner = value.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    if !inner.contains(&b'\\') {
        return std::str::from_utf8(inner).ok().map(Cow::Borrowed);
    }
    serde_json::from_slice::<String>(value).ok().map(Cow::Owned)
}

pub fn boolean(value: &[u8]) -> Option<bool> {
    match value {
        b"true" => Some(true),
        b"false" => Some(false),
        _ => None,
    }
}

/// The text of the string at `range` in `body`, if that is a string.
pub fn text(body: &[u8], range: &Option<Range<usize>>) -> Option<String> {
    range
        .as_ref()
        .and_then(|r| string(&body[r.clone()]))
        .map(Cow::into_owned)
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
