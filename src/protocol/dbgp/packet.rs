//! An engine packet (`LEN NUL <xml…> NUL`), as the session needs it: the
//! root element's name and the byte ranges of its attributes, and of the
//! `id` of any `<breakpoint>` inside. A rewrite splices new attribute values
//! between slices of the original packet and writes a new length prefix;
//! the XML is otherwise the same bytes. Also the proxy's own packets, in
//! exactly the form Xdebug writes them.

use std::ops::Range;

use crate::framing::Message;
use crate::net::queue::Chunk;

const XML_HEAD: &str = "<?xml version=\"1.0\" encoding=\"iso-8859-1\"?>\n";
const XMLNS: &str =
    "xmlns=\"urn:debugger_protocol_v1\" xmlns:xdebug=\"https://xdebug.org/dbgp/xdebug\"";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    Init,
    Response,
    Stream,
    Notify,
    Other,
}

#[derive(Debug, Clone)]
pub struct Attr {
    name: Range<usize>,
    /// The value, quotes excluded.
    value: Range<usize>,
}

#[derive(Debug, Clone)]
pub struct Packet {
    pub bytes: Chunk,
    /// The XML: after the length and its NUL, before the final NUL.
    xml: Range<usize>,
    pub root: Root,
    attrs: Vec<Attr>,
    /// Where a new attribute of the root element can go.
    attrs_end: usize,
}

impl Packet {
    /// Never fails: what cannot be read is `Root::Other`, passed on as is.
    pub fn parse(message: &Message) -> Packet {
        let bytes = message.one_chunk();
        let start = bytes.iter().position(|&b| b == 0).map_or(0, |n| n + 1);
        let end = match bytes.last() {
            Some(0) if bytes.len() > start => bytes.len() - 1,
            _ => bytes.len(),
        };
        let mut packet = Packet {
            bytes,
            xml: start..end,
            root: Root::Other,
            attrs: Vec::new(),
            attrs_end: start,
        };
        packet.read_root();
        packet
    }

    fn read_root(&mut self) {
        let b = &self.bytes[..self.xml.end];
        let mut i = self.xml.start;
        loop {
            while b.get(i).is_some_and(u8::is_ascii_whitespace) {
                i += 1;
            }
            if b[i..].starts_with(b"<?") {
                match find(b, i, b"?>") {
                    Some(n) => i = n + 2,
                    None => return,
                }
            } else {
                break;
            }
        }
        if b.get(i) != Some(&b'<') {
            return;
        }
        let name_end = name_end(b, i + 1);
        self.root = match &b[i + 1..name_end] {
            b"init" => Root::Init,
            b"response" => Root::Response,
            b"stream" => Root::Stream,
            b"notify" => Root::Notify,
            _ => return,
        };
        match read_attrs(b, name_end) {
            Some((attrs, end)) => {
                self.attrs = attrs;
                self.attrs_end = end;
            }
            None => self.root = Root::Other,
        }
    }

    pub fn attr(&self, name: &str) -> Option<&[u8]> {
        self.attr_range(name).map(|r| &self.bytes[r])
    }

    fn attr_range(&self, name: &str) -> Option<Range<usize>> {
        self.attrs
            .iter()
            .find(|a| &self.bytes[a.name.clone()] == name.as_bytes())
            .map(|a| a.value.clone())
    }

    /// The engine's `transaction_id`, when it is a number.
    pub fn txn(&self) -> Option<u64> {
        std::str::from_utf8(self.attr("transaction_id")?)
            .ok()?
            .parse()
            .ok()
    }

    /// The code of an `<error>` in the response, if any.
    pub fn error_code(&self) -> Option<&[u8]> {
        let b = &self.bytes[..self.xml.end];
        let at = find(b, self.attrs_end, b"<error code=\"")? + 13;
        let end = b[at..].iter().position(|&c| c == b'"')? + at;
        Some(&b[at..end])
    }

    /// The `id` values of the `<breakpoint>` elements inside.
    pub fn breakpoint_ids(&self) -> Vec<Range<usize>> {
        let b = &self.bytes[..self.xml.end];
        let mut ids = Vec::new();
        let mut i = self.attrs_end;
        while let Some(at) = find(b, i, b"<breakpoint") {
            i = at + 11;
            if name_end(b, at + 1) != i {
                continue;
            }
            if let Some((attrs, _)) = read_attrs(b, i) {
                ids.extend(
                    attrs
                        .into_iter()
                        .filter(|a| &b[a.name.clone()] == b"id")
                        .map(|a| a.value),
                );
            }
        }
        ids
    }

    /// The packet with these root attributes set (replaced, or added when
    /// missing; `None` removes one) and these ranges replaced, re-framed.
    pub fn edit(
        &self,
        attrs: &[(&str, Option<&[u8]>)],
        mut ranges: Vec<(Range<usize>, Vec<u8>)>,
    ) -> Message {
        let mut added = Vec::new();
        for (name, value) in attrs {
            match (self.attr_range(name), value) {
                // From the space before the name to the closing quote.
                (Some(r), None) => {
                    let from = self.name_start(name).unwrap_or(r.start);
                    ranges.push((from..r.end + 1, Vec::new()));
                }
                (Some(r), Some(v)) => ranges.push((r, v.to_vec())),
                (None, Some(v)) => {
                    added.extend_from_slice(format!(" {name}=\"").as_bytes());
                    added.extend_from_slice(v);
                    added.push(b'"');
                }
                (None, None) => {}
            }
        }
        if !added.is_empty() {
            ranges.push((self.attrs_end..self.attrs_end, added));
        }
        if ranges.is_empty() {
            return Message::from_parts(vec![self.bytes.clone()]);
        }
        ranges.sort_by_key(|(r, _)| r.start);
        let grown: usize = ranges.iter().map(|(_, v)| v.len()).sum();
        let cut: usize = ranges.iter().map(|(r, _)| r.len()).sum();
        let len = self.xml.len() + grown - cut;
        let mut parts = vec![Chunk::copy_from(format!("{len}\0").as_bytes())];
        let mut at = self.xml.start;
        for (range, new) in ranges {
            parts.push(self.bytes.slice(at, range.start));
            if !new.is_empty() {
                parts.push(Chunk::copy_from(&new));
            }
            at = range.end;
        }
        parts.push(self.bytes.slice(at, self.bytes.len()));
        Message::from_parts(parts.into_iter().filter(|c| !c.is_empty()).collect())
    }

    /// The packet addressed to another transaction (`None`: to nobody in
    /// particular, as Xdebug's own reports of a stop sometimes are).
    pub fn readdressed(&self, command: Option<&[u8]>, txn: Option<&[u8]>) -> Message {
        let mut attrs = vec![("transaction_id", txn)];
        if let Some(c) = command {
            attrs.insert(0, ("command", Some(c)));
        }
        self.edit(&attrs, Vec::new())
    }

    fn name_start(&self, name: &str) -> Option<usize> {
        self.attrs
            .iter()
            .find(|a| &self.bytes[a.name.clone()] == name.as_bytes())
            .map(|a| a.name.start - 1)
    }
}

/// A response the proxy answers itself, in Xdebug's form:
/// `<response xmlns=… command="NAME" transaction_id="ID" ATTRS>BODY</response>`.
pub fn response(command: &[u8], txn: Option<&[u8]>, attrs: &[(&str, &str)], body: &str) -> Message {
    let mut xml = Vec::with_capacity(256);
    xml.extend_from_slice(XML_HEAD.as_bytes());
    xml.extend_from_slice(format!("<response {XMLNS} command=\"").as_bytes());
    xml.extend_from_slice(command);
    xml.push(b'"');
    if let Some(t) = txn {
        xml.extend_from_slice(b" transaction_id=\"");
        xml.extend_from_slice(t);
        xml.push(b'"');
    }
    for (k, v) in attrs {
        xml.extend_from_slice(format!(" {k}=\"{v}\"").as_bytes());
    }
    xml.extend_from_slice(format!(">{body}</response>").as_bytes());
    frame(&xml)
}

/// Xdebug's error response: `<error code="N"><message><![CDATA[…]]>`.
pub fn error(command: &[u8], txn: Option<&[u8]>, code: u32, message: &str) -> Message {
    let message = message.replace("]]>", "]] >");
    let body = format!("<error code=\"{code}\"><message><![CDATA[{message}]]></message></error>");
    response(command, txn, &[], &body)
}

/// A stop report that answers no command in particular: what Xdebug sends
/// when the script stops after it resumed on its own.
pub fn status_report(status: &str, reason: &str) -> Message {
    let xml =
        format!("{XML_HEAD}<response {XMLNS} status=\"{status}\" reason=\"{reason}\"></response>");
    frame(xml.as_bytes())
}

fn frame(xml: &[u8]) -> Message {
    let mut out = format!("{}\0", xml.len()).into_bytes();
    out.extend_from_slice(xml);
    out.push(0);
    Message::from_bytes(&out)
}

fn find(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|n| from + n)
}

fn name_end(b: &[u8], mut i: usize) -> usize {
    while b
        .get(i)
        .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b':' | b'-' | b'.'))
    {
        i += 1;
    }
    i
}

/// The attributes of a start tag from `i` (after its name), and where the
/// tag's attributes end (before `>` or `/>`); `None` if malformed.
fn read_attrs(b: &[u8], mut i: usize) -> Option<(Vec<Attr>, usize)> {
    let mut attrs = Vec::new();
    loop {
        let before_space = i;
        while b.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        match b.get(i)? {
            b'>' => return Some((attrs, before_space)),
            b'/' if b.get(i + 1) == Some(&b'>') => return Some((attrs, before_space)),
            _ => {}
        }
        let name = i..name_end(b, i);
        if name.is_empty() || b.get(name.end) != Some(&b'=') {
            return None;
        }
        let quote = *b.get(name.end + 1)?;
        if quote != b'"' && quote != b'\'' {
            return None;
        }
        let start = name.end + 2;
        let end = start + b.get(start..)?.iter().position(|&c| c == quote)?;
        attrs.push(Attr {
            name,
            value: start..end,
        });
        i = end + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(m: &Message) -> (usize, Vec<u8>) {
        let v = m.to_vec();
        let nul = v.iter().position(|&b| b == 0).unwrap();
        let len = std::str::from_utf8(&v[..nul]).unwrap().parse().unwrap();
        (len, v[nul + 1..v.len() - 1].to_vec())
    }

    #[test]
    fn reads_root_attributes_and_breakpoint_ids() {
        let xml = "<?xml version=\"1.0\"?>\n<response command=\"breakpoint_list\" transaction_id=\"14\"><breakpoint type=\"line\" id=\"153690001\"></breakpoint><breakpoints/><breakpoint id='7'/></response>";
        let p = Packet::parse(&frame(xml.as_bytes()));
        assert_eq!(p.root, Root::Response);
        assert_eq!(p.txn(), Some(14));
        let ids: Vec<_> = p
            .breakpoint_ids()
            .into_iter()
            .map(|r| p.bytes[r].to_vec())
            .collect();
        assert_eq!(ids, vec![b"153690001".to_vec(), b"7".to_vec()]);
    }

    #[test]
    fn edits_reframe() {
        let p = Packet::parse(&response(b"run", Some(b"7"), &[("status", "break")], ""));
        for m in [
            p.readdressed(Some(b"step_into"), Some(b"12345")),
            p.readdressed(None, None),
            Packet::parse(&status_report("stopping", "ok")).readdressed(Some(b"run"), Some(b"3")),
        ] {
            let (len, xml) = framed(&m);
            assert_eq!(len, xml.len());
            let again = Packet::parse(&m);
            assert_eq!(again.root, Root::Response);
        }
        let (_, xml) = framed(&p.readdressed(None, None));
        assert!(!String::from_utf8(xml).unwrap().contains("transaction_id"));
        let m = p.readdressed(Some(b"step_into"), Some(b"12345"));
        assert_eq!(Packet::parse(&m).attr("command"), Some(&b"step_into"[..]));
        assert_eq!(Packet::parse(&m).txn(), Some(12345));
    }
}
