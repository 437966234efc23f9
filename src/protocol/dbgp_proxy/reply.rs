//! The registrar's answers, as bytes: `LEN NUL XML NUL` like every engine
//! packet (dbgpProxy's form; Xdebug's dbgpClient needs the framing, the
//! other IDEs read to EOF and parse either form), with compact XML and no
//! declaration. VS Code php-debug shows the *first child* of the root as
//! the error, and the text of that element's first child as the message:
//! whitespace between them turns it into "Unknown proxy Error", so there
//! is none.
//!
//! Error ids: where DBGp's own command errors fit they are used (1 parse
//! error, 3 invalid options, 4 unimplemented command); the proxy's own
//! refusals take the 600s, which the spec leaves free.

use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorId {
    /// Not a command, or a command too long to be one.
    Parse = 1,
    /// A missing or malformed `-k`, `-p`, `-m`.
    Options = 3,
    /// A command this port does not serve.
    Unknown = 4,
    /// No whole command came in time.
    Timeout = 600,
    /// The idekey is registered by another owner.
    Taken = 601,
    /// The registration table is full.
    Full = 602,
    /// `proxystop` for an idekey nobody registered.
    NotRegistered = 603,
    /// The access rules refuse the registering peer.
    Denied = 604,
}

/// `<proxyinit success="1" idekey="K" address="A" port="P"/>`: the IDE's
/// address and port, as dbgpProxy answers.
pub fn init_ok(key: &str, address: IpAddr, port: u16) -> Vec<u8> {
    frame(&format!(
        "<proxyinit success=\"1\" idekey=\"{}\" address=\"{address}\" port=\"{port}\"/>",
        escape(key)
    ))
}

/// `<proxystop success="1" idekey="K"/>`.
pub fn stop_ok(key: &str) -> Vec<u8> {
    frame(&format!(
        "<proxystop success=\"1\" idekey=\"{}\"/>",
        escape(key)
    ))
}

/// `<ROOT success="0" idekey="K"><error id="N"><message>…</message></error></ROOT>`;
/// `root` is the command answered (`proxyerror` when there was none).
pub fn error(root: &str, key: Option<&str>, id: ErrorId, message: &str) -> Vec<u8> {
    let key = key.map_or(String::new(), |k| format!(" idekey=\"{}\"", escape(k)));
    frame(&format!(
        "<{root} success=\"0\"{key}><error id=\"{}\"><message>{}</message></error></{root}>",
        id as u32,
        escape(message)
    ))
}

/// Text made safe for an XML attribute value or element content. Control
/// characters XML 1.0 cannot carry at all become U+FFFD.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push_str(&format!("&#{};", c as u32)),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

fn frame(xml: &str) -> Vec<u8> {
    let mut out = format!("{}\0", xml.len()).into_bytes();
    out.extend_from_slice(xml.as_bytes());
    out.push(0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_bytes() {
        let ip: IpAddr = "10.1.2.3".parse().unwrap();
        let xml =
            "<proxyinit success=\"1\" idekey=\"a&amp;b\" address=\"10.1.2.3\" port=\"9000\"/>";
        let want = [format!("{}\0", xml.len()).as_bytes(), xml.as_bytes(), b"\0"].concat();
        assert_eq!(init_ok("a&b", ip, 9000), want);
        assert_eq!(
            stop_ok("k"),
            b"35\0<proxystop success=\"1\" idekey=\"k\"/>\0"
        );
        let e = error(
            "proxystop",
            Some("k"),
            ErrorId::NotRegistered,
            "no <key> \"k\"",
        );
        let xml = "<proxystop success=\"0\" idekey=\"k\"><error id=\"603\"><message>no &lt;key&gt; &quot;k&quot;</message></error></proxystop>";
        assert_eq!(
            e,
            [format!("{}\0", xml.len()).as_bytes(), xml.as_bytes(), b"\0"].concat()
        );
        let e = error("proxyerror", None, ErrorId::Parse, "x");
        assert!(
            e.starts_with(b"79\0<proxyerror success=\"0\"><error id=\"1\">"),
            "{e:?}"
        );
        assert_eq!(e.len(), "79\0".len() + 79 + 1);
    }

    #[test]
    fn escapes_what_xml_cannot_carry() {
        assert_eq!(escape("é'\u{1}\n"), "é&apos;\u{fffd}&#10;");
        let ip6: IpAddr = "::1".parse().unwrap();
        let r = init_ok("k", ip6, 1);
        assert!(
            std::str::from_utf8(&r)
                .unwrap()
                .contains("address=\"::1\" port=\"1\"")
        );
    }
}
