//! Bad input on the registration port, owners, the table's bounds, and
//! where engines go.

use super::*;
use crate::protocol::dbgp_proxy::command::MAX_COMMAND;
use crate::protocol::dbgp_proxy::registry::{NoIde, Registered};

fn one(h: &mut H, bytes: &[u8]) -> Done {
    h.conn("127.0.0.1", ALICE, &[Ev::Send(0, bytes)])
}

fn register(h: &mut H, peer: &str, owner: Owner, key: &str, port: u16) -> Done {
    let cmd = format!("proxyinit -k {key} -p {port} -m 0\0");
    h.conn(peer, owner, &[Ev::Send(0, cmd.as_bytes())])
}

#[test]
fn garbage_and_unknown_commands() {
    let mut h = H::new();
    // A TLS ClientHello: its first NUL ends it.
    let d = one(&mut h, b"\x16\x03\x01\x02\x00\x01\x00");
    let xml = "<proxyerror success=\"0\"><error id=\"1\"><message>not a DBGp proxy command: &quot;\\x16\\x03\\x01\\x02&quot;</message></error></proxyerror>";
    assert_eq!(d.reply(), framed(xml));
    assert_eq!(d.answer.level, log::Level::Warn);
    assert_eq!(
        d.answer.note,
        "registration port: 127.0.0.1: not a DBGp proxy command: \"\\x16\\x03\\x01\\x02\""
    );
    let d = one(&mut h, b"GET / HTTP/1.1\r\n");
    assert!(
        d.text()
            .contains("<error id=\"4\"><message>unknown command &quot;GET&quot;")
    );
    let d = one(&mut h, b"proxylist -k x\0");
    let xml = "<proxyerror success=\"0\"><error id=\"4\"><message>unknown command &quot;proxylist&quot;: this port serves proxyinit and proxystop</message></error></proxyerror>";
    assert_eq!(d.reply(), framed(xml));
    assert!(h.reg.is_empty());
}

#[test]
fn missing_and_malformed_options() {
    let mut h = H::new();
    let d = one(&mut h, b"proxyinit -p 9000 -m 1\0");
    let xml = "<proxyinit success=\"0\"><error id=\"3\"><message>proxyinit without an idekey (-k)</message></error></proxyinit>";
    assert_eq!(d.reply(), framed(xml));
    let d = one(&mut h, b"proxyinit -k k\0");
    let xml = "<proxyinit success=\"0\" idekey=\"k\"><error id=\"3\"><message>proxyinit without the IDE&apos;s port (-p)</message></error></proxyinit>";
    assert_eq!(d.reply(), framed(xml));
    let d = one(&mut h, b"proxystop\0");
    assert!(d.text().contains("<proxystop success=\"0\"><error id=\"3\"><message>proxystop without an idekey (-k)</message>"));
    for port in ["65536", "0", "-1", "+80", "9x", "\"\"", "123456"] {
        let d = one(&mut h, format!("proxyinit -k k -p {port}\0").as_bytes());
        assert!(
            d.text()
                .contains("<error id=\"3\"><message>proxyinit: the port (-p) &quot;"),
            "{port}: {}",
            d.text()
        );
    }
    for (cmd, what) in [
        ("proxyinit -k a -k b -p 1", "-k given twice"),
        (
            "proxyinit -k a -p 1 -m 2",
            "-m is 0 or 1, not &quot;2&quot;",
        ),
        ("proxyinit -k \"\" -p 1", "an empty idekey (-k)"),
        ("proxyinit -k \"a\x01\" -p 1", "control characters"),
        ("proxyinit -k \"open -p 1", "an unterminated quote"),
        ("proxyinit k -p 1", "expected an option at byte 10"),
    ] {
        let d = one(&mut h, format!("{cmd}\0").as_bytes());
        assert!(d.text().contains("<error id=\"3\">"), "{cmd}: {}", d.text());
        assert!(d.text().contains(what), "{cmd}: {}", d.text());
    }
    let long_key = format!("proxyinit -k {} -p 1\0", "k".repeat(256));
    assert!(
        one(&mut h, long_key.as_bytes())
            .text()
            .contains("longer than 255 bytes")
    );
    assert!(h.reg.is_empty());
}

#[test]
fn an_over_long_line_is_refused_as_soon_as_it_is() {
    let mut h = H::new();
    let long = vec![b'a'; MAX_COMMAND];
    let d = h.conn(
        "127.0.0.1",
        ALICE,
        &[Ev::Send(0, &long), Ev::Send(10, b"x"), Ev::Send(20, b"\0")],
    );
    let xml = format!(
        "<proxyerror success=\"0\"><error id=\"1\"><message>a command longer than {MAX_COMMAND} bytes</message></error></proxyerror>"
    );
    assert_eq!(d.reply(), framed(&xml));
    assert_eq!(d.at, 10);
    // Exactly the limit is a command.
    let cmd = format!("proxyinit -p 1 -k {}", "k".repeat(MAX_COMMAND - 18));
    assert_eq!(cmd.len(), MAX_COMMAND);
    let d = one(&mut h, format!("{cmd}\0").as_bytes());
    assert!(d.text().contains("success=\"0\""), "a key over MAX_KEY");
    assert!(d.text().contains("longer than 255 bytes"));
}

#[test]
fn silence_and_trickles_end_within_the_bound() {
    let mut h = H::new();
    let d = h.conn("127.0.0.1", ALICE, &[]);
    let xml = "<proxyerror success=\"0\"><error id=\"600\"><message>no whole command within 5.0 s (0 bytes)</message></error></proxyerror>";
    assert_eq!(d.reply(), framed(xml));
    assert_eq!(d.at, 5000);
    assert_eq!(d.answer.level, log::Level::Info);
    // A byte every 200 ms never pauses long enough to end a command.
    let trickle: Vec<Ev> = (0..100).map(|i| Ev::Send(i * 200, b"p")).collect();
    let d = h.conn("127.0.0.1", ALICE, &trickle);
    assert_eq!(d.at, 5000);
    assert!(d.text().contains("(25 bytes)"), "{}", d.text());
}

#[test]
fn another_owner_is_refused_naming_the_holder() {
    let mut h = H::new();
    register(&mut h, "127.0.0.1", ALICE, "alice", 9003);
    h.wait(125_000);
    let d = register(&mut h, "127.0.0.1", BOB, "alice", 9100);
    let xml = "<proxyinit success=\"0\" idekey=\"alice\"><error id=\"601\"><message>idekey &apos;alice&apos; is registered by uid 1000 (for 2m05s); unregister it there or pick another key</message></error></proxyinit>";
    assert_eq!(d.reply(), framed(xml));
    assert_eq!(
        d.answer.note,
        "proxyinit from 127.0.0.1 refused: idekey 'alice' is registered by uid 1000 (for 2m05s); unregister it there or pick another key"
    );
    let d = register(&mut h, "203.0.113.1", Owner::Token, "alice", 9100);
    assert!(d.text().contains("error id=\"601\""));
    // Nor may another owner unregister it.
    let d = h.conn("127.0.0.1", BOB, &[Ev::Send(0, b"proxystop -k alice\0")]);
    assert!(
        d.text()
            .starts_with("196\0<proxystop success=\"0\" idekey=\"alice\"><error id=\"601\">"),
        "{}",
        d.text()
    );
    assert_eq!(
        h.reg.lookup(Some("alice")).unwrap().ide.to_string(),
        "127.0.0.1:9003"
    );
    assert_eq!(h.reg.counters().refused_taken, 3);
    let d = h.conn("127.0.0.1", ALICE, &[Ev::Send(0, b"proxystop -k nobody\0")]);
    let xml = "<proxystop success=\"0\" idekey=\"nobody\"><error id=\"603\"><message>idekey &apos;nobody&apos; is not registered</message></error></proxystop>";
    assert_eq!(d.reply(), framed(xml));
}

/// The stale-key complaint: an IDE that crashed without `proxystop`
/// registers again, from elsewhere, and gets the key.
#[test]
fn the_same_owner_registering_again_replaces() {
    let mut h = H::new();
    register(&mut h, "127.0.0.1", ALICE, "alice", 9003);
    let old = h.reg.lookup(Some("alice")).unwrap().serial;
    h.wait(3000);
    let d = register(&mut h, "10.0.0.7", ALICE, "alice", 9004);
    assert!(
        d.text()
            .contains("success=\"1\" idekey=\"alice\" address=\"10.0.0.7\" port=\"9004\"")
    );
    assert_eq!(
        d.answer.note,
        "proxyinit: idekey 'alice' -> 10.0.0.7:9004 (uid 1000), replacing 127.0.0.1:9003 (registered 3s ago)"
    );
    assert_eq!(
        h.reg.lookup(Some("alice")).unwrap().ide.to_string(),
        "10.0.0.7:9004"
    );
    assert_eq!((h.reg.len(), h.reg.counters().replaced), (1, 1));
    // A refused connect-back to the old IDE must not drop the new one.
    assert_eq!(h.reg.drop_registration("alice", old), None);
    let new = h.reg.lookup(Some("alice")).unwrap().serial;
    assert!(h.reg.drop_registration("alice", new).is_some());
    assert!(h.reg.is_empty());
    assert_eq!(h.reg.counters().dropped, 1);
}

#[test]
fn the_table_is_bounded() {
    let mut h = H::new();
    for k in 0..MAX {
        register(&mut h, "127.0.0.1", ALICE, &format!("k{k}"), 9000);
    }
    let d = register(&mut h, "127.0.0.1", ALICE, "one-more", 9000);
    let xml = "<proxyinit success=\"0\" idekey=\"one-more\"><error id=\"602\"><message>the proxy holds 4 registrations, its limit; unregister one first</message></error></proxyinit>";
    assert_eq!(d.reply(), framed(xml));
    assert_eq!(h.reg.counters().refused_full, 1);
    // Replacing needs no room.
    let d = register(&mut h, "127.0.0.2", ALICE, "k0", 9001);
    assert!(d.text().contains("success=\"1\""));
    let rows: Vec<String> = h
        .reg
        .rows()
        .map(|r| format!("{} {} {}", r.key, r.owner, r.ide))
        .collect();
    assert_eq!(
        rows,
        [
            "k0 uid 1000 127.0.0.2:9001",
            "k1 uid 1000 127.0.0.1:9000",
            "k2 uid 1000 127.0.0.1:9000",
            "k3 uid 1000 127.0.0.1:9000"
        ]
    );
}

#[test]
fn engines_find_their_own_key_or_the_default_for_none() {
    let mut reg = Registry::new(MAX, Some("shared".into()));
    let now = Instant::now();
    let ide = "127.0.0.1:9003".parse().unwrap();
    assert_eq!(
        reg.lookup(None),
        Err(NoIde::Keyless {
            default: Some("shared".into())
        })
    );
    assert_eq!(
        reg.register("shared", ALICE, ide, false, now),
        Ok(Registered::New)
    );
    assert_eq!(reg.lookup(None).unwrap().key, "shared");
    // An unknown key never falls back to someone else's IDE.
    let err = reg.lookup(Some("carol")).unwrap_err();
    assert_eq!(err.to_string(), "no IDE is registered for idekey 'carol'");
    let no_default = Registry::new(MAX, None);
    assert!(
        no_default
            .lookup(None)
            .unwrap_err()
            .to_string()
            .contains("sent no idekey")
    );
}
