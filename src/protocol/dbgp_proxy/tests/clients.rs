//! Each IDE's registration, as it sends it, and the exact bytes it gets.

use super::*;
use crate::protocol::dbgp_proxy::reply;

const VSC: &[u8] =
    b"69\0<proxyinit success=\"1\" idekey=\"vsc\" address=\"127.0.0.1\" port=\"9003\"/>\0";

fn ide(h: &H, key: &str) -> String {
    h.reg.lookup(Some(key)).expect("registered").ide.to_string()
}

/// php-debug writes the command, writes its NUL 500 ms later, and parses
/// the reply on close; the idle pause answers (and closes) first.
#[test]
fn vscode_php_debug() {
    let mut h = H::new();
    let d = h.conn(
        "127.0.0.1",
        ALICE,
        &[
            Ev::Send(0, b"proxyinit -k vsc -p 9003 -m 1"),
            Ev::Send(500, b"\0"),
        ],
    );
    assert_eq!(d.reply(), VSC);
    assert_eq!(d.at, 300, "answered before the late NUL");
    assert_eq!(d.answer.level, log::Level::Info);
    assert_eq!(
        d.answer.note,
        "proxyinit: idekey 'vsc' -> 127.0.0.1:9003 (uid 1000, multi)"
    );
    assert_eq!(ide(&h, "vsc"), "127.0.0.1:9003");
    assert!(h.reg.lookup(Some("vsc")).unwrap().multi);
    // Its proxystop, within 500 ms: proxyinit's timer writes its stale NUL
    // into this socket 38 ms after the command, which ends it.
    h.wait(100);
    let d = h.conn(
        "127.0.0.1",
        ALICE,
        &[Ev::Send(0, b"proxystop -k vsc"), Ev::Send(38, b"\0")],
    );
    assert_eq!(
        d.reply(),
        b"37\0<proxystop success=\"1\" idekey=\"vsc\"/>\0"
    );
    assert_eq!(d.at, 38);
    assert!(h.reg.is_empty());
}

/// The stale NUL can also come first, before the command it does not end.
#[test]
fn vscode_stale_nul_before_the_command_is_no_command() {
    let mut h = H::new();
    h.conn(
        "127.0.0.1",
        ALICE,
        &[Ev::Send(0, b"proxyinit -k vsc -p 9003 -m 1")],
    );
    let d = h.conn(
        "127.0.0.1",
        ALICE,
        &[
            Ev::Send(0, b"\0"),
            Ev::Send(5, b"proxystop -k vsc"),
            Ev::Send(505, b"\0"),
        ],
    );
    assert_eq!(d.reply(), reply::stop_ok("vsc"));
    assert_eq!(d.at, 305);
    // A lone NUL and a close: nothing asked, nothing answered.
    let d = h.conn("127.0.0.1", ALICE, &[Ev::Send(0, b"\0"), Ev::Eof(3)]);
    assert_eq!((d.answer.reply, d.at), (None, 3));
}

/// NetBeans sends no NUL and waits for the proxy's EOF; the command may
/// come in more than one segment: the pause counts from the last.
#[test]
fn netbeans() {
    let mut h = H::new();
    let d = h.conn(
        "10.0.0.5",
        ALICE,
        &[
            Ev::Send(0, b"proxyinit -p 9009 "),
            Ev::Send(120, b"-k netbeans-xdebug -m 0"),
        ],
    );
    assert_eq!(
        d.reply(),
        b"80\0<proxyinit success=\"1\" idekey=\"netbeans-xdebug\" address=\"10.0.0.5\" port=\"9009\"/>\0"
    );
    assert_eq!(d.at, 420);
    assert_eq!(ide(&h, "netbeans-xdebug"), "10.0.0.5:9009");
    assert!(!h.reg.lookup(Some("netbeans-xdebug")).unwrap().multi);
}

/// Eclipse PDT: no NUL, then a half-close.
#[test]
fn eclipse_pdt() {
    let mut h = H::new();
    let d = h.conn(
        "::1",
        Owner::Token,
        &[
            Ev::Send(0, b"proxyinit -p 10000 -k ECLIPSE_DBGP_42 -m 1"),
            Ev::Eof(2),
        ],
    );
    assert_eq!(
        d.reply(),
        b"76\0<proxyinit success=\"1\" idekey=\"ECLIPSE_DBGP_42\" address=\"::1\" port=\"10000\"/>\0"
    );
    assert_eq!(d.at, 2);
    assert_eq!(ide(&h, "ECLIPSE_DBGP_42"), "[::1]:10000");
    let d = h.conn(
        "::1",
        Owner::Token,
        &[Ev::Send(0, b"proxystop -k ECLIPSE_DBGP_42"), Ev::Eof(1)],
    );
    assert_eq!(d.reply(), reply::stop_ok("ECLIPSE_DBGP_42"));
}

/// Xdebug's dbgpClient: options in another order, a NUL, a framed reply.
#[test]
fn xdebug_dbgp_client() {
    let mut h = H::new();
    let d = h.conn(
        "192.0.2.9",
        ALICE,
        &[Ev::Send(0, b"proxyinit -m 1 -k dbgpclient -p 9000\0")],
    );
    assert_eq!(
        d.reply(),
        b"76\0<proxyinit success=\"1\" idekey=\"dbgpclient\" address=\"192.0.2.9\" port=\"9000\"/>\0"
    );
    assert_eq!(d.at, 0);
}

/// The gedit plugin: a NUL; it reads once, so the answer is one write.
#[test]
fn gedit() {
    let mut h = H::new();
    let d = h.conn(
        "127.0.0.1",
        ALICE,
        &[Ev::Send(0, b"proxyinit -p 9000 -k gedit -m 0\0")],
    );
    assert_eq!(
        d.reply(),
        b"71\0<proxyinit success=\"1\" idekey=\"gedit\" address=\"127.0.0.1\" port=\"9000\"/>\0"
    );
}

/// DBGp's quoting, a CRLF ending, unknown options and data ignored.
#[test]
fn quoted_values_and_line_endings() {
    let mut h = H::new();
    let d = h.conn(
        "127.0.0.1",
        ALICE,
        &[Ev::Send(
            0,
            b"proxyinit -k \"my \\\"key\\\" & co\" -p \"9000\" -f 1 -- eA==\r\n",
        )],
    );
    assert_eq!(
        d.text(),
        String::from_utf8(framed(
            "<proxyinit success=\"1\" idekey=\"my &quot;key&quot; &amp; co\" address=\"127.0.0.1\" port=\"9000\"/>"
        ))
        .unwrap()
    );
    assert_eq!(d.at, 0, "a newline ends a command too");
    assert!(h.reg.lookup(Some("my \"key\" & co")).is_ok());
}
