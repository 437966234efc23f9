//! The engine's side of the proxy: which IDE its `<init>` asks for, the
//! `<init>` as the IDE must see it, and the command that lets go an engine
//! nobody takes.
//!
//! The proxy adds `proxied="<engine IP>"` to `<init>` (DBGp 5.3) and
//! changes nothing else, in either direction. Xdebug 3 puts the idekey in
//! `<init>` only when one is set (xdebug.idekey, DBGP_IDEKEY, or a trigger
//! in trigger mode): with `start_with_request=yes` alone there is none
//! (measured, shared/DBGP-PROXY.md). An engine let go gets `detach` with a
//! base64 reason: Xdebug answers `stopping`, logs the reason and runs the
//! script on, undebugged.

use std::net::IpAddr;

use crate::framing::Message;
use crate::protocol::dbgp::command::build;
use crate::protocol::dbgp::packet::{Packet, Root};

/// An engine's first packet, known to be its `<init>`.
#[derive(Debug, Clone)]
pub struct EngineInit {
    packet: Packet,
}

impl EngineInit {
    /// `message` is one whole engine packet (`LEN NUL XML NUL`), as the
    /// DBGp assembler hands it over; `None` unless it is an `<init>`.
    pub fn parse(message: &Message) -> Option<EngineInit> {
        let packet = Packet::parse(message);
        (packet.root == Root::Init).then_some(EngineInit { packet })
    }

    /// The `idekey` attribute, XML entities undone; `None` when absent or
    /// empty, or not UTF-8 (no registered key could match it).
    pub fn idekey(&self) -> Option<String> {
        let raw = self.packet.attr("idekey")?;
        let key = String::from_utf8(unescape(raw)).ok()?;
        (!key.is_empty()).then_some(key)
    }

    /// The script's `fileuri`, for `status`.
    pub fn fileuri(&self) -> String {
        let raw = self.packet.attr("fileuri").unwrap_or_default();
        String::from_utf8_lossy(&unescape(raw)).into_owned()
    }

    /// The `<init>` with `proxied="<engine IP>"` (replacing any there was),
    /// re-framed: the length prefix grows.
    pub fn proxied(&self, engine: IpAddr) -> Message {
        let ip = engine.to_string();
        self.packet
            .edit(&[("proxied", Some(ip.as_bytes()))], Vec::new())
    }
}

/// `detach -i TXN -- base64(reason)` NUL: lets an engine go; PHP runs on.
pub fn detach(txn: u64, reason: &str) -> Message {
    build(
        b"detach",
        txn,
        &[],
        Some(base64(reason.as_bytes()).as_bytes()),
    )
}

fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (b as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Undoes XML's character references in an attribute value (Xdebug writes
/// `&amp;` etc. for the idekey's special characters); bytes that do not
/// form one are kept as they are.
fn unescape(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'&'
            && let Some(len) = raw[i..].iter().take(12).position(|&b| b == b';')
            && let Some(c) = entity(&raw[i + 1..i + len])
        {
            let mut buf = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            i += len + 1;
            continue;
        }
        out.push(raw[i]);
        i += 1;
    }
    out
}

fn entity(name: &[u8]) -> Option<char> {
    Some(match name {
        b"amp" => '&',
        b"lt" => '<',
        b"gt" => '>',
        b"quot" => '"',
        b"apos" => '\'',
        [b'#', b'x' | b'X', hex @ ..] => {
            char::from_u32(u32::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?)?
        }
        [b'#', dec @ ..] => char::from_u32(std::str::from_utf8(dec).ok()?.parse().ok()?)?,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What Xdebug 3.2.0 sent with `start_with_request=yes` and no key.
    const KEYLESS: &[u8] = include_bytes!("../../session/dbgp/transcripts/conn1.bin");

    fn first_packet(t: &[u8]) -> Vec<u8> {
        let nul = t.iter().position(|&b| b == 0).unwrap();
        let len: usize = std::str::from_utf8(&t[..nul]).unwrap().parse().unwrap();
        t[..nul + len + 2].to_vec()
    }

    /// The same `<init>` as Xdebug writes it with `xdebug.idekey` set: the
    /// attribute follows `appid`.
    fn keyed(key: &str) -> Vec<u8> {
        let p = first_packet(KEYLESS);
        let nul = p.iter().position(|&b| b == 0).unwrap();
        let xml = String::from_utf8(p[nul + 1..p.len() - 1].to_vec()).unwrap();
        let xml = xml.replace(
            "appid=\"15369\"",
            &format!("appid=\"15369\" idekey=\"{key}\""),
        );
        [format!("{}\0", xml.len()).as_bytes(), xml.as_bytes(), b"\0"].concat()
    }

    fn init(bytes: &[u8]) -> EngineInit {
        EngineInit::parse(&Message::from_bytes(bytes)).expect("an <init>")
    }

    #[test]
    fn idekey_from_init() {
        assert_eq!(init(&first_packet(KEYLESS)).idekey(), None);
        assert_eq!(init(&keyed("alice")).idekey().as_deref(), Some("alice"));
        assert_eq!(
            init(&keyed("a&amp;b&#x20;&#233;&bogus;"))
                .idekey()
                .as_deref(),
            Some("a&b é&bogus;")
        );
        assert_eq!(init(&keyed("")).idekey(), None);
        let response = b"29\0<response command=\"run\"/>\0";
        assert!(EngineInit::parse(&Message::from_bytes(response)).is_none());
    }

    #[test]
    fn proxied_is_added_and_reframed() {
        let original = keyed("alice");
        let out = init(&original)
            .proxied("192.0.2.7".parse().unwrap())
            .to_vec();
        let nul = out.iter().position(|&b| b == 0).unwrap();
        let xml = &out[nul + 1..out.len() - 1];
        let len: usize = std::str::from_utf8(&out[..nul]).unwrap().parse().unwrap();
        assert_eq!(len, xml.len());
        assert_eq!(out.last(), Some(&0));
        // Nothing else changed: the original with the attribute spliced in.
        let o_nul = original.iter().position(|&b| b == 0).unwrap();
        let want = String::from_utf8(original[o_nul + 1..original.len() - 1].to_vec())
            .unwrap()
            .replace(
                "idekey=\"alice\">",
                "idekey=\"alice\" proxied=\"192.0.2.7\">",
            );
        assert_eq!(std::str::from_utf8(xml).unwrap(), want);
        let v6 = init(&out).proxied("2001:db8::1".parse().unwrap()).to_vec();
        assert!(String::from_utf8_lossy(&v6).contains(" proxied=\"2001:db8::1\">"));
        assert!(!String::from_utf8_lossy(&v6).contains("192.0.2.7"));
    }

    #[test]
    fn detach_carries_the_reason_in_base64() {
        assert_eq!(
            detach(1, "no IDE").to_vec(),
            b"detach -i 1 -- bm8gSURF\0".to_vec()
        );
        for (plain, coded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
        ] {
            assert_eq!(base64(plain.as_bytes()), coded);
        }
    }
}
