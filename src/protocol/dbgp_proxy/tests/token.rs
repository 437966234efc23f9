//! Peers the access rules let in only with the token (a remote IDE on a
//! non-loopback `--dbgp-proxy` with `--token-file`): they pass it as
//! `-t TOKEN`, and it never shows in a reply, a log line or `Debug`.

use super::*;
use crate::access::token::Secret;
use crate::protocol::dbgp_proxy::command::parse;
use crate::protocol::dbgp_proxy::reply;

const TOKEN: &str = "s3cret-token-0123456789";
const REMOTE: &str = "203.0.113.7";

fn send(h: &mut H, who: Peer, cmd: &str) -> Done {
    let cmd = format!("{cmd}\0");
    h.conn_as(REMOTE, who, &[Ev::Send(0, cmd.as_bytes())])
}

/// Nothing the proxy says or logs carries the token.
fn no_leak(d: &Done) {
    let reply = d.answer.reply.as_deref().unwrap_or_default();
    assert!(!String::from_utf8_lossy(reply).contains(TOKEN), "{d:?}");
    assert!(!d.answer.note.contains(TOKEN), "{d:?}");
    assert!(!format!("{d:?}").contains(TOKEN), "{d:?}");
}

#[test]
fn the_right_token_registers_in_any_option_order() {
    let secret = Secret::new(TOKEN.as_bytes());
    let mut h = H::new();
    for (i, cmd) in [
        format!("proxyinit -t {TOKEN} -p 9001 -k k0 -m 1"),
        format!("proxyinit -p 9001 -k k1 -t {TOKEN}"),
        format!("proxyinit -k k2 -t \"{TOKEN}\" -m 0 -p 9001"),
    ]
    .iter()
    .enumerate()
    {
        let d = send(&mut h, Peer::NeedsToken(&secret), cmd);
        let key = format!("k{i}");
        assert_eq!(
            d.reply(),
            framed(&format!(
                "<proxyinit success=\"1\" idekey=\"{key}\" address=\"{REMOTE}\" port=\"9001\"/>"
            )),
            "{cmd}"
        );
        assert_eq!(
            d.answer.note,
            format!(
                "proxyinit: idekey '{key}' -> {REMOTE}:9001 (a token holder{})",
                if i == 0 { ", multi" } else { "" }
            )
        );
        no_leak(&d);
        assert_eq!(h.reg.lookup(Some(&key)).unwrap().owner, Owner::Token);
    }
    // Its proxystop needs the token too.
    let d = send(&mut h, Peer::NeedsToken(&secret), "proxystop -k k0");
    assert!(d.text().contains("error id=\"604\""), "{}", d.text());
    assert!(h.reg.lookup(Some("k0")).is_ok());
    let d = send(
        &mut h,
        Peer::NeedsToken(&secret),
        &format!("proxystop -k k0 -t {TOKEN}"),
    );
    assert_eq!(d.reply(), reply::stop_ok("k0"));
    no_leak(&d);
    assert!(h.reg.lookup(Some("k0")).is_err());
}

#[test]
fn a_missing_or_wrong_token_is_refused_saying_what_to_do() {
    let secret = Secret::new(TOKEN.as_bytes());
    let mut h = H::new();
    let d = send(&mut h, Peer::NeedsToken(&secret), "proxyinit -k k -p 9001");
    let xml = "<proxyinit success=\"0\" idekey=\"k\"><error id=\"604\"><message>access refused: this peer is not a local user the proxy lets in; pass the proxy&apos;s token as `-t TOKEN` (e.g. as the idekey &quot;KEY -t TOKEN&quot;), or register through an SSH tunnel</message></error></proxyinit>";
    assert_eq!(d.reply(), framed(xml));
    assert_eq!(d.answer.level, log::Level::Warn);
    assert_eq!(
        d.answer.note,
        format!("proxyinit from {REMOTE} refused: this peer is not a local user the proxy lets in")
    );
    let longer = format!("{TOKEN}x");
    for wrong in [
        &TOKEN[..TOKEN.len() - 1],
        &longer,
        "\"\"",
        "S3cret-token-0123456789",
    ] {
        let d = send(
            &mut h,
            Peer::NeedsToken(&secret),
            &format!("proxyinit -k k -p 9001 -t {wrong}"),
        );
        assert!(
            d.text()
                .contains("<error id=\"604\"><message>access refused: wrong token (-t); pass"),
            "{wrong}: {}",
            d.text()
        );
        no_leak(&d);
    }
    assert!(h.reg.is_empty());
    assert_eq!(h.reg.counters().refused_access, 5);
    assert_eq!(h.reg.counters().registered, 0);
}

#[test]
fn a_token_holder_cannot_take_a_local_users_key() {
    let secret = Secret::new(TOKEN.as_bytes());
    let mut h = H::new();
    h.conn(
        "127.0.0.1",
        ALICE,
        &[Ev::Send(0, b"proxyinit -k alice -p 9003\0")],
    );
    let d = send(
        &mut h,
        Peer::NeedsToken(&secret),
        &format!("proxyinit -k alice -p 9001 -t {TOKEN}"),
    );
    assert!(
        d.text().contains(
            "<error id=\"601\"><message>idekey &apos;alice&apos; is registered by uid 1000"
        ),
        "{}",
        d.text()
    );
    no_leak(&d);
    // A local user the rules let in owns by its uid, token or not.
    let d = h.conn(
        "127.0.0.1",
        ALICE,
        &[Ev::Send(
            0,
            format!("proxyinit -k alice -p 9004 -t {TOKEN}\0").as_bytes(),
        )],
    );
    assert!(d.text().contains("success=\"1\""), "{}", d.text());
    assert_eq!(h.reg.lookup(Some("alice")).unwrap().owner, ALICE);
}

#[test]
fn a_refused_peer_is_told_why_token_or_not() {
    let mut h = H::new();
    let why = "its socket belongs to uid 65534, not to this proxy's user (0); `--allow-users 65534` would let it in";
    for cmd in [
        "proxyinit -k k -p 9001".to_string(),
        format!("proxystop -k k -t {TOKEN}"),
    ] {
        let d = send(&mut h, Peer::Refused(why), &cmd);
        assert!(
            d.text().contains(
                "<error id=\"604\"><message>access refused: its socket belongs to uid 65534"
            ),
            "{cmd}: {}",
            d.text()
        );
        assert!(d.answer.note.ends_with(why), "{}", d.answer.note);
        no_leak(&d);
    }
    assert!(h.reg.is_empty());
    // Bad input is answered alike, whoever sends it.
    let d = send(&mut h, Peer::Refused(why), "proxyinit -p 9001");
    assert!(d.text().contains("error id=\"3\""), "{}", d.text());
}

#[test]
fn the_token_stays_out_of_garbage_notes_and_debug_output() {
    let mut h = H::new();
    let d = send(
        &mut h,
        Peer::Owner(ALICE),
        &format!("\x01proxyinit -t {TOKEN} -k k -p 1"),
    );
    assert!(
        d.text().contains("not a DBGp proxy command"),
        "{}",
        d.text()
    );
    no_leak(&d);
    let read = parse(format!("proxyinit -k k -p 1 -t {TOKEN}").as_bytes());
    assert!(!format!("{read:?}").contains(TOKEN));
    assert!(format!("{read:?}").contains("Presented(<redacted>)"));
    let d = send(
        &mut h,
        Peer::Owner(ALICE),
        &format!("proxyinit -k k -p 1 -t {TOKEN} -t {TOKEN}"),
    );
    assert!(d.text().contains("-t given twice"), "{}", d.text());
    no_leak(&d);
}
