//! `Content-Length` messages (DAP and legacy V8), seen from a session: where
//! a message's JSON body starts, and how to rewrite a few values in it
//! without copying the rest.
//!
//! Framing upstream hands over whole, well-formed messages, so the body is
//! whatever follows the first empty header line (framing takes `\n` as well
//! as `\r\n` line ends). A rewritten message has one header,
//! `Content-Length`. A rewrite is a new header plus
//! slices of the original chunk around the spliced numbers; short stretches
//! between splices are copied into the new bytes instead, so that a typical
//! rewritten message is two parts: the new header with the rewritten
//! `{"seq": …, "request_seq": …` prefix, and a slice of the rest.

use std::ops::Range;

use serde_json::Value;

use crate::framing::Message;
use crate::net::queue::Chunk;

/// Original bytes shorter than this are copied rather than sliced: a slice
/// costs a queue entry and an iovec.
const COPY_BELOW: usize = 256;

/// Edits sorted on the stack up to this many (`seq`, `request_seq`, a
/// `cancel`'s `requestId`: a rewrite changes a few numbers).
const MAX_EDITS: usize = 8;

/// A message and where its body starts.
pub struct Frame {
    chunk: Chunk,
    body: usize,
}

impl Frame {
    /// None when the message has no header end (framing guarantees one).
    pub fn of(message: &Message) -> Option<Frame> {
        // A message that spanned reads: one copy, then slices of it.
        let chunk = message.one_chunk();
        let mut at = 0;
        loop {
            let newline = at + chunk[at..].iter().position(|&b| b == b'\n')?;
            let line = &chunk[at..newline];
            at = newline + 1;
            if line.is_empty() || line == b"\r" {
                return Some(Frame { chunk, body: at });
            }
        }
    }

    pub fn body(&self) -> &[u8] {
        &self.chunk[self.body..]
    }

    /// The message with each body range in `edits` replaced by its number,
    /// re-framed. Ranges must not overlap.
    pub fn splice(&self, edits: &[(Range<usize>, i64)]) -> Message {
        // This runs twice per round trip (the request's seq, the answer's
        // request_seq): no formatting machinery and one allocation for the
        // new bytes, as edits are few and come nearly sorted.
        let (mut small, mut large) = ([0usize; MAX_EDITS], Vec::new());
        let order: &mut [usize] = if edits.len() <= MAX_EDITS {
            &mut small[..edits.len()]
        } else {
            large.resize(edits.len(), 0);
            &mut large
        };
        for (k, slot) in order.iter_mut().enumerate() {
            *slot = k;
        }
        order.sort_unstable_by_key(|&k| edits[k].0.start);
        let body = self.body();
        let grown: usize = edits.iter().map(|(_, n)| digits(*n)).sum();
        let shrunk: usize = edits.iter().map(|(r, _)| r.len()).sum();
        let len = body.len() + grown - shrunk;
        let mut new = Vec::with_capacity(128);
        new.extend_from_slice(b"Content-Length: ");
        push_number(&mut new, len as i64);
        new.extend_from_slice(b"\r\n\r\n");
        let mut parts = Vec::new();
        let mut at = 0;
        for &k in order.iter() {
            let (range, n) = &edits[k];
            self.keep(at..range.start, &mut new, &mut parts);
            push_number(&mut new, *n);
            at = range.end;
        }
        self.keep(at..body.len(), &mut new, &mut parts);
        if !new.is_empty() {
            parts.push(Chunk::copy_from(&new));
        }
        Message::from_parts(parts)
    }

    /// The message with the body's `range` replaced by `bytes`, re-framed
    /// (a rewritten array: `stopped.hitBreakpointIds`).
    pub fn replace(&self, range: Range<usize>, bytes: &[u8]) -> Message {
        let body = self.body();
        let len = body.len() + bytes.len() - range.len();
        let mut new = Vec::with_capacity(128);
        new.extend_from_slice(b"Content-Length: ");
        push_number(&mut new, len as i64);
        new.extend_from_slice(b"\r\n\r\n");
        let mut parts = Vec::new();
        self.keep(0..range.start, &mut new, &mut parts);
        new.extend_from_slice(bytes);
        self.keep(range.end..body.len(), &mut new, &mut parts);
        if !new.is_empty() {
            parts.push(Chunk::copy_from(&new));
        }
        Message::from_parts(parts)
    }

    /// Appends the original body bytes `range` to the output.
    fn keep(&self, range: Range<usize>, new: &mut Vec<u8>, parts: &mut Vec<Chunk>) {
        if range.len() < COPY_BELOW {
            new.extend_from_slice(&self.body()[range]);
            return;
        }
        if !new.is_empty() {
            parts.push(Chunk::copy_from(new));
            new.clear();
        }
        parts.push(
            self.chunk
                .slice(self.body + range.start, self.body + range.end),
        );
    }
}

/// `Content-Length: N` and `parts` (empty ones left out), shared, not copied.
pub fn framed_parts(parts: Vec<Chunk>) -> Message {
    let len: usize = parts.iter().map(|c| c.len()).sum();
    let mut all = vec![Chunk::copy_from(
        format!("Content-Length: {len}\r\n\r\n").as_bytes(),
    )];
    all.extend(parts.into_iter().filter(|c| !c.is_empty()));
    Message::from_parts(all)
}

/// A message the proxy wrote itself.
pub fn framed(value: &Value) -> Message {
    // Serialising a Value cannot fail: its map keys are strings.
    let body = serde_json::to_vec(value).unwrap_or_default();
    let mut bytes = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    bytes.extend_from_slice(&body);
    Message::from_bytes(&bytes)
}

/// Appends `n` in decimal.
fn push_number(out: &mut Vec<u8>, n: i64) {
    if n < 0 {
        out.push(b'-');
    }
    let mut m = n.unsigned_abs();
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (m % 10) as u8;
        m /= 10;
        if m == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[at..]);
}

fn digits(n: i64) -> usize {
    let sign = usize::from(n < 0);
    let mut m = n.unsigned_abs();
    let mut d = 1;
    while m >= 10 {
        m /= 10;
        d += 1;
    }
    sign + d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(body: &str) -> Message {
        Message::from_bytes(format!("Content-Length: {}\r\n\r\n{body}", body.len()).as_bytes())
    }

    #[test]
    fn splice_rewrites_numbers_and_reframes() {
        let tail = "x".repeat(1000);
        let m = message(&format!(
            r#"{{"seq": 4, "type": "response", "request_seq": 17, "body": "{tail}"}}"#
        ));
        let f = Frame::of(&m).unwrap();
        let find = |s: &str| {
            let at = f
                .body()
                .windows(s.len())
                .position(|w| w == s.as_bytes())
                .unwrap();
            at + s.len()..at + s.len() + 2
        };
        let (seq, request_seq) = (find(r#""seq": "#), find(r#""request_seq": "#));
        let out = f.splice(&[(request_seq, -3), (seq.start..seq.start + 1, 12345)]);
        let expect =
            format!(r#"{{"seq": 12345, "type": "response", "request_seq": -3, "body": "{tail}"}}"#);
        assert_eq!(
            String::from_utf8(out.to_vec()).unwrap(),
            format!("Content-Length: {}\r\n\r\n{expect}", expect.len())
        );
        // The new prefix, then the original body shared, not copied.
        assert_eq!(out.parts().len(), 2);
    }

    #[test]
    fn digits_counts_signs() {
        for n in [0, 9, 10, -1, -10, i64::MAX, i64::MIN, 123456] {
            assert_eq!(digits(n), n.to_string().len(), "{n}");
            let mut out = b"x".to_vec();
            push_number(&mut out, n);
            assert_eq!(out, format!("x{n}").into_bytes());
        }
    }

    #[test]
    fn many_edits_in_any_order() {
        let body: String = (0..12).map(|k| format!("[{k}]")).collect();
        let f = Frame::of(&message(&body)).unwrap();
        // Each number sits at 1 + 3k (one digit) or later (two digits).
        let mut edits: Vec<(Range<usize>, i64)> = Vec::new();
        let mut at = 0;
        for k in 0..12i64 {
            let start = body[at..].find('[').unwrap() + at + 1;
            let end = body[start..].find(']').unwrap() + start;
            edits.push((start..end, -100 * k));
            at = end;
        }
        edits.reverse();
        let out = f.splice(&edits);
        let expect: String = (0..12).map(|k| format!("[{}]", -100 * k)).collect();
        assert_eq!(
            String::from_utf8(out.to_vec()).unwrap(),
            format!("Content-Length: {}\r\n\r\n{expect}", expect.len())
        );
    }

    #[test]
    fn replace_swaps_a_range_for_other_bytes() {
        let tail = "z".repeat(600);
        let m = message(&format!(r#"{{"ids": [10, 11], "t": "{tail}"}}"#));
        let f = Frame::of(&m).unwrap();
        let at = f.body().iter().position(|&b| b == b'[').unwrap();
        let out = f.replace(at..at + 8, b"[3]");
        let expect = format!(r#"{{"ids": [3], "t": "{tail}"}}"#);
        assert_eq!(
            String::from_utf8(out.to_vec()).unwrap(),
            format!("Content-Length: {}\r\n\r\n{expect}", expect.len())
        );
    }

    #[test]
    fn the_body_starts_after_the_first_empty_line() {
        let lf = Message::from_bytes(b"Content-Length: 2\nX: y\n\n{}");
        assert_eq!(Frame::of(&lf).unwrap().body(), b"{}");
        let crlf = Message::from_bytes(b"Type: connect\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(Frame::of(&crlf).unwrap().body(), b"");
        assert!(Frame::of(&Message::from_bytes(b"Content-Length: 2\r\n")).is_none());
        let m = framed_parts(vec![
            Chunk::copy_from(b"{"),
            Chunk::copy_from(b""),
            Chunk::copy_from(b"}"),
        ]);
        assert_eq!(m.to_vec(), b"Content-Length: 2\r\n\r\n{}");
        assert_eq!(m.parts().len(), 3);
    }

    #[test]
    fn a_message_in_many_parts_is_read_whole() {
        let m = message(r#"{"seq":1}"#);
        let bytes = m.to_vec();
        let parts = vec![
            Chunk::copy_from(&bytes[..10]),
            Chunk::copy_from(&bytes[10..]),
        ];
        let f = Frame::of(&Message::from_parts(parts)).unwrap();
        assert_eq!(f.body(), br#"{"seq":1}"#);
    }
}
