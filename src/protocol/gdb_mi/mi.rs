//! GDB/MI syntax, as much as the session needs: what kind of record gdb sent,
//! what a client's line asks for, and the few values read out of records
//! (a breakpoint number, a tuple's extent). Pure functions over one line's
//! bytes; MI2 and MI3 alike.

use std::ops::Range;

use crate::protocol::plain;

/// A line without its `\n` or `\r\n`.
pub fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Kinds of output records, by the character after the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `^done`, `^running`, `^error`, `^connected`, `^exit`.
    Result,
    /// `*running`, `*stopped`.
    Exec,
    /// `+…`
    Status,
    /// `=…`
    Notify,
    /// `~`, `@`, `&`.
    Stream,
    /// Anything else (inferior output when gdb runs without `--tty`).
    Other,
}

pub struct Record<'a> {
    pub kind: Kind,
    /// The class: `done`, `stopped`, `breakpoint-created`, …
    pub class: &'a [u8],
    /// What follows the class: empty, or `,` and the results.
    pub rest: &'a [u8],
    /// Where `rest` starts in the line.
    pub rest_at: usize,
}

pub fn record(line: &[u8]) -> Record<'_> {
    let digits = line.iter().take_while(|c| c.is_ascii_digit()).count();
    let kind = match line.get(digits) {
        Some(b'^') => Kind::Result,
        Some(b'*') => Kind::Exec,
        Some(b'+') => Kind::Status,
        Some(b'=') => Kind::Notify,
        Some(b'~' | b'@' | b'&') if digits == 0 => Kind::Stream,
        _ => Kind::Other,
    };
    let (class, rest_at) = match kind {
        Kind::Stream | Kind::Other => (&line[..0], 0),
        _ => {
            let start = digits + 1;
            let end = line[start..]
                .iter()
                .position(|&c| c == b',')
                .map_or(line.len(), |p| start + p);
            (&line[start..end], end)
        }
    };
    Record {
        kind,
        class,
        rest: &line[rest_at..],
        rest_at,
    }
}

/// A client's line, understood.
#[derive(Debug, PartialEq, Eq)]
pub struct Command<'a> {
    pub token: &'a [u8],
    pub op: Op<'a>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Op<'a> {
    /// Nothing but (maybe) a token: gdb answers `^done`.
    Empty,
    /// `-name args`
    Mi { name: &'a [u8], args: &'a [u8] },
    /// A CLI command: its first word and the rest.
    Cli { word: &'a [u8], args: &'a [u8] },
}

/// Longer tokens are refused: a token is echoed back and kept per command.
const MAX_TOKEN: usize = 20;

/// Reads a client's line; `Err` says why it is not a command gdb should see.
pub fn command(line: &[u8]) -> Result<Command<'_>, &'static str> {
    // Most of a long line is printable ASCII, stepped over in blocks; the
    // rest (the last block, or from the first byte that needs a look) is
    // checked closely. The skipped part ends on a character boundary, so
    // the rest is UTF-8 exactly when the whole line is.
    let rest = &line[plain::blocks(line, plain::text_special)..];
    if std::str::from_utf8(rest).is_err() {
        return Err("not UTF-8 text");
    }
    // No early exit, so that this vectorises too (a line of non-ASCII text).
    let control = rest.iter().fold(false, |any, &c| {
        any | (c < 0x20 && c != b'\t') | (c == 0x7f)
    });
    if control {
        return Err("control characters in a command");
    }
    let digits = line.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits > MAX_TOKEN {
        return Err("token over 20 digits");
    }
    let (token, rest) = line.split_at(digits);
    if let Some(mi) = rest.strip_prefix(b"-") {
        let (name, args) = split_word(mi);
        if name.is_empty() {
            return Err("an MI command without a name");
        }
        return Ok(Command {
            token,
            op: Op::Mi { name, args },
        });
    }
    let rest = rest.trim_ascii_start();
    let op = match rest.first() {
        None => Op::Empty,
        Some(b'^' | b'*' | b'+' | b'=' | b'~' | b'@' | b'&' | b'(') => {
            return Err("an output record, not a command");
        }
        Some(_) => {
            let (word, args) = split_word(rest);
            Op::Cli { word, args }
        }
    };
    Ok(Command { token, op })
}

fn split_word(s: &[u8]) -> (&[u8], &[u8]) {
    let end = s
        .iter()
        .position(|c| c.is_ascii_whitespace())
        .unwrap_or(s.len());
    (&s[..end], s[end..].trim_ascii())
}

/// Whitespace-separated arguments, outer double quotes removed.
pub fn args(args: &[u8]) -> impl Iterator<Item = &[u8]> {
    args.split(|c| c.is_ascii_whitespace())
        .filter(|a| !a.is_empty())
        .map(|a| {
            a.strip_prefix(b"\"")
                .and_then(|a| a.strip_suffix(b"\""))
                .unwrap_or(a)
        })
}

/// The value of the first `key="…"` in a record's results that starts a
/// field (after `,`, `{` or `[`), without unescaping: for numbers and ids.
pub fn field<'a>(rest: &'a [u8], key: &str) -> Option<&'a [u8]> {
    let needle = [key.as_bytes(), b"=\""].concat();
    let mut from = 0;
    while let Some(p) = find(&rest[from..], &needle) {
        let at = from + p;
        if at == 0 || matches!(rest[at - 1], b',' | b'{' | b'[') {
            let value = &rest[at + needle.len()..];
            let end = value.iter().position(|&c| c == b'"')?;
            return Some(&value[..end]);
        }
        from = at + 1;
    }
    None
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A breakpoint number (`"3"`; `"3.1"` names a location of breakpoint 3).
pub fn breakpoint_number(s: &[u8]) -> Option<u32> {
    let main = s.split(|&c| c == b'.').next()?;
    if main.is_empty() || main.len() > 9 || !main.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(main).ok()?.parse().ok()
}

/// Where the list or tuple opened at `open` closes (the index of its closing
/// bracket), skipping C strings.
pub fn matching_close(s: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, &c) in s.iter().enumerate().skip(open) {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// In a `-break-info` result, the contents of `body=[…]`: the breakpoint as
/// gdb writes it in its own notifications (`bkpt={…}`, plus the location
/// tuples that follow it in MI2).
pub fn table_body(line: &[u8]) -> Option<Range<usize>> {
    let open = find(line, b"body=[")? + b"body=".len();
    let close = matching_close(line, open)?;
    (close > open + 1).then_some(open + 1..close)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_by_kind_and_class() {
        let r = record(b"12^done,bkpt={number=\"1\"}");
        assert_eq!((r.kind, r.class), (Kind::Result, &b"done"[..]));
        assert_eq!(r.rest, b",bkpt={number=\"1\"}");
        assert_eq!(record(b"^running").class, b"running");
        assert_eq!(record(b"*stopped,reason=\"x\"").kind, Kind::Exec);
        assert_eq!(
            record(b"=breakpoint-created,bkpt={}").class,
            b"breakpoint-created"
        );
        assert_eq!(record(b"~\"hi\\n\"").kind, Kind::Stream);
        assert_eq!(record(b"hello").kind, Kind::Other);
    }

    #[test]
    fn client_lines() {
        let c = command(b"12-break-insert -t main").unwrap();
        assert_eq!(c.token, b"12");
        assert_eq!(
            c.op,
            Op::Mi {
                name: b"break-insert",
                args: b"-t main"
            }
        );
        assert_eq!(
            command(b"  quit").unwrap().op,
            Op::Cli {
                word: b"quit",
                args: b""
            }
        );
        assert_eq!(command(b"7").unwrap().op, Op::Empty);
        assert_eq!(command(b"  \t").unwrap().op, Op::Empty);
        for bad in [
            &b"^done"[..],
            b"5*stopped",
            b"=x",
            b"(gdb) ",
            b"\x01\x02",
            b"\xff",
            b"-",
        ] {
            assert!(command(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_long_line_is_checked_at_every_position() {
        let plain = "p".repeat(200);
        for at in 0..=plain.len() {
            let with = |bad: &[u8]| {
                let mut line = b"9-data-evaluate-expression \"".to_vec();
                line.extend_from_slice(&plain.as_bytes()[..at]);
                line.extend_from_slice(bad);
                line.extend_from_slice(&plain.as_bytes()[at..]);
                line.push(b'"');
                command(&line).map(|_| ())
            };
            assert_eq!(with(b"\t"), Ok(()));
            assert_eq!(with("\u{e9}\u{4e16}".as_bytes()), Ok(()));
            assert_eq!(with(b"\x1b"), Err("control characters in a command"));
            assert_eq!(with(b"\x7f"), Err("control characters in a command"));
            assert_eq!(with(b"\xc3"), Err("not UTF-8 text"));
            assert_eq!(with(b"\xed\xa0\x80"), Err("not UTF-8 text"));
        }
    }

    #[test]
    fn fields_numbers_and_brackets() {
        let rest = br#",bkpt={number="12",type="breakpoint",locations=[{number="12.1"}]}"#;
        assert_eq!(field(rest, "number"), Some(&b"12"[..]));
        assert_eq!(field(br#",id="3""#, "id"), Some(&b"3"[..]));
        assert_eq!(field(br#",thread-id="3""#, "id"), None);
        assert_eq!(breakpoint_number(b"12.1"), Some(12));
        assert_eq!(breakpoint_number(b"x"), None);
        let line = br#"^done,BreakpointTable={hdr=[{a="]"}],body=[bkpt={number="1",x="}\""},{number="1.1"}]}"#;
        let body = table_body(line).unwrap();
        assert_eq!(&line[body], br#"bkpt={number="1",x="}\""},{number="1.1"}"#);
        assert_eq!(table_body(b"^done,BreakpointTable={body=[]}"), None);
        assert_eq!(
            args(br#"1 "2"  3-4"#).collect::<Vec<_>>(),
            [&b"1"[..], b"2", b"3-4"]
        );
    }
}
