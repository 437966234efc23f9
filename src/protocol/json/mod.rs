//! Reading JSON message bodies without building them, for the sessions that
//! route JSON (DAP, legacy V8).
//!
//! Routing a message needs a handful of its top-level fields (`seq`, `type`,
//! `command`, `request_seq`, …); building a `serde_json::Value` of a 64 KiB
//! answer to learn them would cost more than the rest of the proxy together,
//! and a session splices new ids into the original bytes anyway, so it wants
//! where each value lies. One scanner (`scan.rs`) serves three readers:
//! - [`members`]: the top-level members in order, as far as the caller
//!   wants (DAP stops once it has the fields that message's type routes by);
//! - [`fields`]: the values of a few keys, up to the last one found or
//!   through the whole body (V8);
//! - [`check`]: whether a whole body is strictly valid JSON, before a
//!   client's message reaches a debugger that would choke on it (DAP).
//!
//! The value helpers (`values.rs`) read what those ranges hold.

mod scan;
mod values;

#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::ops::Range;

use self::scan::Scanner;
pub use self::values::{boolean, int, number, plain_str, string, text, unsigned};

/// Deeper nesting is refused by [`fields`] (serde_json's own limit is 128).
const MAX_DEPTH: usize = 256;

/// Why a scan stopped short: what was found where.
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

/// How closely a scan reads the values it passes over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Values {
    /// Only as far as it takes to find where each ends: whole strings and
    /// balanced brackets, not escapes, number syntax or which bracket closes
    /// which. Quick; a malformed value before the wanted fields still lets
    /// them be found.
    Extent,
    /// Against the grammar (escapes, control characters in strings,
    /// numbers, bracket matching), at most `max_depth` containers deep.
    Checked { max_depth: usize },
}

/// A member's key, as written (quotes included, escapes not decoded).
#[derive(Debug, Clone, Copy)]
pub struct Key<'a>(&'a [u8]);

impl<'a> Key<'a> {
    /// The bytes between the quotes.
    pub fn raw(&self) -> &'a [u8] {
        // A key is only made of a whole string: both quotes are there.
        &self.0[1..self.0.len() - 1]
    }

    /// The key's text (None if it is not valid UTF-8 or a bad escape).
    pub fn name(&self) -> Option<Cow<'a, str>> {
        string(self.0)
    }
}

/// The members of the top-level object in `body`, in order, with their
/// values read as `how` says. As an iterator it ends with a fault if
/// anything but whitespace follows the object; it stops after a fault.
pub fn members(body: &[u8], how: Values) -> Members<'_> {
    Members {
        s: Scanner::new(body),
        how,
        state: State::Start,
    }
}

pub struct Members<'a> {
    s: Scanner<'a>,
    how: Values,
    state: State,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Start,
    Open,
    Closed,
    Done,
}

impl<'a> Members<'a> {
    /// The next member's key and the range of its value, or `None` once the
    /// object has closed.
    // Inlined into each reader, the way of reading is known there: 15-20 %
    // of a small message's scan (measured).
    #[inline(always)]
    pub fn member(&mut self) -> Result<Option<(Key<'a>, Range<usize>)>, Fault> {
        let s = &mut self.s;
        s.ws();
        match self.state {
            State::Start => {
                s.eat(b'{', "not a JSON object")?;
                s.ws();
                if s.peek() == Some(b'}') {
                    s.i += 1;
                    self.state = State::Closed;
                    return Ok(None);
                }
            }
            State::Open => match s.peek() {
                Some(b',') => {
                    s.i += 1;
                    s.ws();
                }
                Some(b'}') => {
                    s.i += 1;
                    self.state = State::Closed;
                    return Ok(None);
                }
                None => return Err(s.fault("truncated")),
                Some(_) => return Err(s.fault("expected ',' or '}'")),
            },
            State::Closed | State::Done => return Ok(None),
        }
        let key = if self.how == Values::Extent {
            s.key::<true>()?
        } else {
            s.key::<false>()?
        };
        let body: &'a [u8] = s.b;
        let key = Key(&body[key]);
        let value_at = s.i;
        s.value(self.how)?;
        self.state = State::Open;
        Ok(Some((key, value_at..s.i)))
    }

    /// After the object has closed: only whitespace may follow it.
    pub fn end(&mut self) -> Result<(), Fault> {
        self.s.ws();
        if self.s.i != self.s.b.len() {
            return Err(self.s.fault("bytes after the object"));
        }
        Ok(())
    }
}

impl<'a> Iterator for Members<'a> {
    type Item = Result<(Key<'a>, Range<usize>), Fault>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.state == State::Done {
            return None;
        }
        let next = match self.member() {
            Ok(Some(m)) => return Some(Ok(m)),
            Ok(None) => self.end().err().map(Err),
            Err(fault) => Some(Err(fault)),
        };
        self.state = State::Done;
        next
    }
}

/// How much of the body [`fields`] reads.
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

/// The byte ranges of the values of `keys` at the top level of the object in
/// `body`, each `None` when absent. Keys are compared as raw bytes between
/// the quotes (a key spelled with escapes does not match). What is read is
/// checked against the grammar.
pub fn fields<const N: usize>(
    body: &[u8],
    keys: [&str; N],
    until: Until,
) -> Result<[Option<Range<usize>>; N], Fault> {
    let mut found: [Option<Range<usize>>; N] = std::array::from_fn(|_| None);
    let mut missing = N;
    let mut members = members(
        body,
        Values::Checked {
            max_depth: MAX_DEPTH,
        },
    );
    while let Some((key, value)) = members.member()? {
        let Some(k) = keys.iter().position(|k| k.as_bytes() == key.raw()) else {
            continue;
        };
        if found[k].is_none() {
            missing -= 1;
        }
        if found[k].is_none() || until == Until::End {
            found[k] = Some(value);
        }
        if missing == 0 && until == Until::Found {
            return Ok(found);
        }
    }
    if until == Until::End {
        members.end()?;
    }
    Ok(found)
}

/// Whether `body` is one JSON value (UTF-8, grammar, escapes, numbers,
/// bracket matching, at most `MAX_DEPTH` containers deep), nothing else but
/// whitespace around it. The depth bound is the debugger's safety, not the
/// scanner's (it is iterative): Python's `json`, debugpy's reader, raises
/// RecursionError at about a thousand levels and debugpy then drops its
/// connection, ending every client's session.
pub fn check(body: &[u8]) -> Result<(), Fault> {
    let mut s = Scanner::new(body);
    s.ws();
    s.value(Values::Checked {
        max_depth: MAX_DEPTH,
    })?;
    s.ws();
    if s.i != body.len() {
        return Err(s.fault("bytes after the value"));
    }
    Ok(())
}
