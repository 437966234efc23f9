//! Strict JSON validation of what clients send, before the debugger sees it.
//!
//! debugpy's reader re-raises on a body it cannot decode and its connection
//! ends: one client's malformed message would end everyone's session. So a
//! client's message is checked in full (UTF-8, grammar, escapes, numbers,
//! bracket matching) before it is forwarded. Client messages are small; the
//! debugger's, which can be large, are only scanned as far as routing needs.
//! Iterative, so that deep nesting costs memory in proportion to the message
//! (already bounded by framing), never stack.

use super::wire::Fault;

#[derive(Clone, Copy)]
enum Open {
    Object,
    Array,
}

struct Validator<'a> {
    s: &'a [u8],
    i: usize,
    open: Vec<Open>,
}

/// Whether `input` is one JSON value, nothing else but whitespace around it.
pub fn json(input: &[u8]) -> Result<(), Fault> {
    if let Err(e) = std::str::from_utf8(input) {
        return Err(Fault {
            what: "not UTF-8",
            at: e.valid_up_to(),
        });
    }
    let mut v = Validator {
        s: input,
        i: 0,
        open: Vec::new(),
    };
    v.value()?;
    v.ws();
    if v.i != input.len() {
        return Err(v.fault("bytes after the value"));
    }
    Ok(())
}

impl Validator<'_> {
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

    fn eat(&mut self, b: u8, what: &'static str) -> Result<(), Fault> {
        self.ws();
        if self.peek() != Some(b) {
            return Err(self.fault(what));
        }
        self.i += 1;
        Ok(())
    }

    /// `"key":`, before an object member's value.
    fn key(&mut self) -> Result<(), Fault> {
        self.ws();
        if self.peek() != Some(b'"') {
            return Err(self.fault("expected a key"));
        }
        self.string()?;
        self.eat(b':', "expected ':'")
    }

    fn value(&mut self) -> Result<(), Fault> {
        loop {
            self.ws();
            match self.peek() {
                Some(b'{') => {
                    self.i += 1;
                    self.ws();
                    if self.peek() == Some(b'}') {
                        self.i += 1;
                    } else {
                        self.open.push(Open::Object);
                        self.key()?;
                        continue;
                    }
                }
                Some(b'[') => {
                    self.i += 1;
                    self.ws();
                    if self.peek() == Some(b']') {
                        self.i += 1;
                    } else {
                        self.open.push(Open::Array);
                        continue;
                    }
                }
                Some(b'"') => self.string()?,
                Some(b'-' | b'0'..=b'9') => self.number()?,
                Some(b't') => self.literal(b"true")?,
                Some(b'f') => self.literal(b"false")?,
                Some(b'n') => self.literal(b"null")?,
                None => return Err(self.fault("truncated")),
                Some(_) => return Err(self.fault("expected a value")),
            }
            // A value ended: close what it ends, or go on to the next one.
            loop {
                self.ws();
                match (self.open.last(), self.peek()) {
                    (None, _) => return Ok(()),
                    (Some(Open::Object), Some(b',')) => {
                        self.i += 1;
                        self.key()?;
                        break;
                    }
                    (Some(Open::Array), Some(b',')) => {
                        self.i += 1;
                        break;
                    }
                    (Some(Open::Object), Some(b'}')) | (Some(Open::Array), Some(b']')) => {
                        self.i += 1;
                        self.open.pop();
                    }
                    (Some(_), None) => return Err(self.fault("truncated")),
                    (Some(Open::Object), _) => return Err(self.fault("expected ',' or '}'")),
                    (Some(Open::Array), _) => return Err(self.fault("expected ',' or ']'")),
                }
            }
        }
    }

    fn string(&mut self) -> Result<(), Fault> {
        self.i += 1;
        loop {
            self.skip_plain();
            match self.peek() {
                None => return Err(self.fault("truncated string")),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(());
                }
                Some(b'\\') => {
                    self.i += 1;
                    match self.peek() {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.i += 1,
                        Some(b'u') => {
                            let hex = self.s.get(self.i + 1..self.i + 5);
                            if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                                return Err(self.fault("bad \\u escape"));
                            }
                            self.i += 5;
                        }
                        _ => return Err(self.fault("bad escape")),
                    }
                }
                Some(0..0x20) => return Err(self.fault("control character in a string")),
                Some(_) => self.i += 1,
            }
        }
    }

    /// Skips string bytes that need no look (not `"`, `\\` or a control
    /// character) 32 at a time: the bulk of a large message is one long
    /// string. The test of a whole block has no early exit, so the compiler
    /// turns it into a few vector compares.
    fn skip_plain(&mut self) {
        const BLOCK: usize = 32;
        while let Some(block) = self.s.get(self.i..self.i + BLOCK) {
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

    fn literal(&mut self, word: &[u8]) -> Result<(), Fault> {
        if !self.s[self.i..].starts_with(word) {
            return Err(self.fault("bad literal"));
        }
        self.i += word.len();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::json;

    #[test]
    fn long_strings_are_checked_at_every_position() {
        // The eight-at-a-time skip must stop at whatever sits in any lane.
        let plain = "ab\u{e9}cdefghijklmnopqrstu\u{4e16}vwxyz0123";
        assert!(json(format!("\"{plain}\"").as_bytes()).is_ok());
        for at in 0..plain.len() {
            if !plain.is_char_boundary(at) {
                continue;
            }
            for (bad, ok) in [
                ("\u{1}", false),
                ("\\n", true),
                ("\\q", false),
                ("\"", false),
            ] {
                let text = format!("\"{}{bad}{}\"", &plain[..at], &plain[at..]);
                assert_eq!(json(text.as_bytes()).is_ok(), ok, "{text:?}");
            }
        }
    }

    #[test]
    fn accepts_json_and_refuses_the_rest() {
        for good in [
            "{}",
            " [ ] ",
            "0",
            "-0.5e+10",
            "\"a\\u00e9\\n\"",
            "{\"a\":[1,{\"b\":null}],\"c\":true}",
            "[[[[[]]]]]",
        ] {
            assert_eq!(json(good.as_bytes()), Ok(()), "{good}");
        }
        for bad in [
            "",
            "{",
            "{]",
            "[}",
            "{\"a\"}",
            "{\"a\":1,}",
            "[1,]",
            "01",
            "1.",
            "-",
            "1e",
            "\"\\x\"",
            "\"\\u12\"",
            "\"\t\"",
            "tru",
            "{} {}",
            "{\"a\":1 \"b\":2}",
            "[1 2]",
            "{1:2}",
        ] {
            assert!(json(bad.as_bytes()).is_err(), "{bad:?} accepted");
        }
        assert!(json(b"\"\xff\"").is_err());
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        assert_eq!(json(deep.as_bytes()), Ok(()));
    }

    proptest! {
        /// Agrees with serde_json on JSON-ish text, where serde_json is not
        /// stricter than the grammar (huge numbers, lone surrogates: Python's
        /// json, debugpy's, takes them).
        #[test]
        fn agrees_with_serde(
            text in r#"[\[\]{}",:0-9a-z\\ .eE+-]{0,24}"#,
        ) {
            let serde = serde_json::from_str::<serde_json::Value>(&text);
            let stricter = serde.as_ref().is_err_and(|e| {
                let e = e.to_string();
                e.contains("out of range") || e.contains("surrogate")
            });
            if !stricter {
                prop_assert_eq!(json(text.as_bytes()).is_ok(), serde.is_ok(), "{}", text);
            }
        }
    }
}
