//! An IDE's DBGp command, as the session needs it: `name -i TXN [-x value …]
//! [-- base64] NUL`. The parser records where each option's value lies in
//! the command's own bytes, so that a rewrite (`-i`, `-d`) splices new bytes
//! between slices of the original instead of writing the command anew.
//!
//! Quoting follows Xdebug's parser: a value may be `"…"` with backslash
//! escapes; `--` starts the data, which runs to the end.

use std::ops::Range;

use crate::framing::Message;
use crate::net::queue::Chunk;

/// More options than any DBGp command has.
const MAX_ARGS: usize = 32;
/// Digits of a transaction id: a u64 at most.
const MAX_TXN_DIGITS: usize = 19;

/// One `-x value` option.
#[derive(Debug, Clone)]
pub struct Arg {
    pub opt: u8,
    /// The value as written, quotes included.
    pub raw: Range<usize>,
    /// The value with quoting undone.
    pub value: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct Command {
    /// The whole command, its terminating NUL included.
    pub bytes: Chunk,
    name: Range<usize>,
    pub args: Vec<Arg>,
    /// What follows `--`.
    pub data: Option<Range<usize>>,
}

/// Why a command was refused: with its name when it had one.
#[derive(Debug, PartialEq, Eq)]
pub enum Bad {
    /// Not even a command name: nothing to answer.
    Garbage(String),
    /// A named command the engine must not see: answered with an error.
    Malformed {
        name: String,
        txn: Option<String>,
        what: String,
    },
}

impl Command {
    pub fn parse(message: &Message) -> Result<Command, Bad> {
        let bytes = message.one_chunk();
        let end = match bytes.last() {
            Some(0) => bytes.len() - 1,
            _ => bytes.len(),
        };
        let text = &bytes[..end];
        let name_end = text.iter().position(|&b| b == b' ').unwrap_or(end);
        let name = 0..name_end;
        if name.is_empty()
            || !text[name.clone()]
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(Bad::Garbage(crate::framing::escape(text, 48)));
        }
        let name_str = String::from_utf8_lossy(&text[name.clone()]).into_owned();
        let (args, data) = parse_args(text, name_end).map_err(|what| Bad::Malformed {
            name: name_str.clone(),
            txn: None,
            what,
        })?;
        let command = Command {
            bytes,
            name,
            args,
            data,
        };
        match command.arg(b'i') {
            None => Err(Bad::Malformed {
                name: name_str,
                txn: None,
                what: "no transaction id (-i)".into(),
            }),
            Some(a) if !is_txn(&a.value) => Err(Bad::Malformed {
                name: name_str,
                // Echoed only when it cannot break the XML it is put in.
                txn: a
                    .value
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric())
                    .then(|| String::from_utf8_lossy(&a.value).into_owned()),
                what: "the transaction id (-i) is not a number".into(),
            }),
            Some(_) => Ok(command),
        }
    }

    pub fn name(&self) -> &[u8] {
        &self.bytes[self.name.clone()]
    }

    pub fn arg(&self, opt: u8) -> Option<&Arg> {
        self.args.iter().find(|a| a.opt == opt)
    }

    pub fn value(&self, opt: u8) -> Option<&[u8]> {
        self.arg(opt).map(|a| &a.value[..])
    }

    /// The client's own transaction id (checked to be digits by `parse`).
    pub fn txn(&self) -> &[u8] {
        self.value(b'i').unwrap_or_default()
    }

    pub fn data(&self) -> Option<&[u8]> {
        self.data.clone().map(|r| &self.bytes[r])
    }

    /// The command with `-i` set to `txn` and each `(opt, value)` of
    /// `replace` put in place of that option's value.
    pub fn rewritten(&self, txn: u64, replace: &[(u8, &[u8])]) -> Message {
        let txn = txn.to_string();
        let mut edits: Vec<(Range<usize>, &[u8])> = Vec::new();
        for a in &self.args {
            if a.opt == b'i' {
                edits.push((a.raw.clone(), txn.as_bytes()));
            } else if let Some((_, v)) = replace.iter().find(|(o, _)| *o == a.opt) {
                edits.push((a.raw.clone(), v));
            }
        }
        edits.sort_by_key(|(r, _)| r.start);
        let mut parts = Vec::with_capacity(edits.len() * 2 + 1);
        let mut at = 0;
        for (range, new) in edits {
            parts.push(self.bytes.slice(at, range.start));
            parts.push(Chunk::copy_from(new));
            at = range.end;
        }
        parts.push(self.bytes.slice(at, self.bytes.len()));
        Message::from_parts(parts.into_iter().filter(|c| !c.is_empty()).collect())
    }

    /// The options and data that say what the command does, `-i` left out,
    /// in a fixed order: two commands with equal keys do the same thing.
    pub fn key(&self) -> Vec<(u8, Vec<u8>)> {
        let mut key: Vec<(u8, Vec<u8>)> = self
            .args
            .iter()
            .filter(|a| a.opt != b'i')
            .map(|a| (a.opt, a.value.clone()))
            .collect();
        key.sort();
        if let Some(d) = self.data() {
            key.push((b'-', d.to_vec()));
        }
        key
    }
}

/// A command anew from its name, options (values as written) and data: for
/// the commands the proxy itself replays.
pub fn build(name: &[u8], txn: u64, args: &[(u8, Vec<u8>)], data: Option<&[u8]>) -> Message {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(name);
    out.extend_from_slice(format!(" -i {txn}").as_bytes());
    for (opt, raw) in args {
        out.extend_from_slice(&[b' ', b'-', *opt, b' ']);
        out.extend_from_slice(raw);
    }
    if let Some(d) = data {
        out.extend_from_slice(b" -- ");
        out.extend_from_slice(d);
    }
    out.push(0);
    Message::from_bytes(&out)
}

/// A DBGp transaction id as the proxy accepts it: a decimal number.
pub fn is_txn(v: &[u8]) -> bool {
    !v.is_empty() && v.len() <= MAX_TXN_DIGITS && v.iter().all(u8::is_ascii_digit)
}

pub(crate) type Parsed = (Vec<Arg>, Option<Range<usize>>);

pub(crate) fn parse_args(text: &[u8], mut i: usize) -> Result<Parsed, String> {
    let mut args = Vec::new();
    loop {
        while text.get(i) == Some(&b' ') {
            i += 1;
        }
        let Some(&c) = text.get(i) else {
            return Ok((args, None));
        };
        if c != b'-' {
            return Err(format!("expected an option at byte {i}"));
        }
        let opt = *text.get(i + 1).ok_or("an option without a letter")?;
        if opt == b'-' {
            let mut start = i + 2;
            while text.get(start) == Some(&b' ') {
                start += 1;
            }
            return Ok((args, Some(start..text.len())));
        }
        if !opt.is_ascii_alphabetic() || text.get(i + 2) != Some(&b' ') {
            return Err(format!("malformed option at byte {i}"));
        }
        if args.len() == MAX_ARGS {
            return Err(format!("more than {MAX_ARGS} options"));
        }
        i += 3;
        let (raw, value) = parse_value(text, i)?;
        i = raw.end;
        args.push(Arg { opt, raw, value });
    }
}

fn parse_value(text: &[u8], start: usize) -> Result<(Range<usize>, Vec<u8>), String> {
    if text.get(start) != Some(&b'"') {
        let end = text[start..]
            .iter()
            .position(|&b| b == b' ')
            .map_or(text.len(), |n| start + n);
        return Ok((start..end, text[start..end].to_vec()));
    }
    let mut value = Vec::new();
    let mut i = start + 1;
    while let Some(&b) = text.get(i) {
        match b {
            b'"' => return Ok((start..i + 1, value)),
            b'\\' => {
                let next = *text.get(i + 1).ok_or("a backslash at the end")?;
                value.push(next);
                i += 2;
            }
            _ => {
                value.push(b);
                i += 1;
            }
        }
    }
    Err("an unterminated quote".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Command, Bad> {
        Command::parse(&Message::from_bytes(s.as_bytes()))
    }

    #[test]
    fn options_quotes_and_data() {
        let c =
            parse("breakpoint_set -i 7 -t line -f \"file:///a b/\\\"x\\\".php\" -n 4 -- JGk=\0")
                .unwrap();
        assert_eq!(c.name(), b"breakpoint_set");
        assert_eq!(c.txn(), b"7");
        assert_eq!(c.value(b'f').unwrap(), b"file:///a b/\"x\".php");
        assert_eq!(c.data().unwrap(), b"JGk=");
        let m = c.rewritten(123, &[(b'n', b"9")]);
        assert_eq!(
            m.to_vec(),
            b"breakpoint_set -i 123 -t line -f \"file:///a b/\\\"x\\\".php\" -n 9 -- JGk=\0"
        );
    }

    #[test]
    fn refusals() {
        assert!(matches!(parse("\0"), Err(Bad::Garbage(_))));
        assert!(matches!(parse("<xml>\0"), Err(Bad::Garbage(_))));
        let Err(Bad::Malformed { name, txn, .. }) = parse("status\0") else {
            panic!()
        };
        assert_eq!((name.as_str(), txn), ("status", None));
        let Err(Bad::Malformed { txn, .. }) = parse("status -i abc\0") else {
            panic!()
        };
        assert_eq!(txn.as_deref(), Some("abc"));
        assert!(matches!(
            parse("eval -i 3 -x \"open\0"),
            Err(Bad::Malformed { .. })
        ));
        assert!(matches!(parse("run -i 1 x\0"), Err(Bad::Malformed { .. })));
    }

    #[test]
    fn key_ignores_order_and_txn() {
        let a = parse("breakpoint_set -i 1 -t line -n 4 -f f\0").unwrap();
        let b = parse("breakpoint_set -i 9 -f f -t line -n 4\0").unwrap();
        assert_eq!(a.key(), b.key());
    }
}
