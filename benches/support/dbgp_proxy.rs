//! DBGp proxy routing (issue #21): from an engine's connect to the first
//! byte at its IDE, straight (the engine dials the IDE, as Xdebug does
//! without a proxy), through dbgproxy's registrar (the engine's `<init>`
//! names a key; the proxy dials the IDE registered for it, with 1 and with
//! 50 keys registered), and through dbgproxy in raw mode relaying the same
//! bytes to an IDE connected beforehand, in alternating rounds of one run.
//!
//! The engine is this process: it connects, sends Xdebug's `<init>` and
//! waits until the IDE side has read it; then it closes, as a PHP request
//! that ends does. Nothing here asserts a timing.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{Row, free_port, median, note};

fn init(key: &str) -> Vec<u8> {
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"iso-8859-1\"?>\n<init xmlns=\"urn:debugger_protocol_v1\" xmlns:xdebug=\"https://xdebug.org/dbgp/xdebug\" fileuri=\"file:///srv/www/index.php\" language=\"PHP\" xdebug:language_version=\"8.2.7\" protocol_version=\"1.0\" appid=\"4242\" idekey=\"{key}\"><engine version=\"3.2.0\"><![CDATA[Xdebug]]></engine></init>"
    );
    let mut packet = format!("{}\0", xml.len()).into_bytes();
    packet.extend_from_slice(xml.as_bytes());
    packet.push(0);
    packet
}

fn register(port: u16, ide_port: u16, key: &str) {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).expect("the registration port");
    conn.write_all(format!("proxyinit -p {ide_port} -k {key} -m 1\0").as_bytes())
        .expect("proxyinit");
    let mut reply = String::new();
    conn.read_to_string(&mut reply)
        .expect("the reply, until close");
    assert!(reply.contains("success=\"1\""), "not registered: {reply}");
}

fn start_proxy(args: &[String]) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dbgproxy"))
        .args(args)
        .arg("-q")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start dbgproxy");
    let mut marker = [0u8; 3];
    child
        .stdout
        .as_mut()
        .expect("stdout")
        .read_exact(&mut marker)
        .expect("the marker");
    assert_eq!(&marker, "ß\n".as_bytes());
    child
}

/// One engine connection: connect → the IDE has the first byte, in µs.
/// `ide` yields the IDE's end of this engine's session.
fn trial(engine_port: u16, packet: &[u8], ide: &mut dyn FnMut() -> TcpStream) -> f64 {
    let start = Instant::now();
    let mut engine = TcpStream::connect(("127.0.0.1", engine_port)).expect("the engine port");
    engine.set_nodelay(true).expect("nodelay");
    engine.write_all(packet).expect("init");
    let mut at_ide = ide();
    let mut first = [0u8; 1];
    at_ide
        .read_exact(&mut first)
        .expect("the first byte at the IDE");
    let took = start.elapsed().as_secs_f64() * 1e6;
    assert_eq!(first[0], packet[0], "the IDE got something else first");
    // The rest of the init, so that the next trial starts clean.
    at_ide
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let mut rest = vec![0u8; packet.len() + 64];
    let _ = at_ide.read(&mut rest);
    drop(engine);
    took
}

pub fn rows() -> Vec<Row> {
    let mut rows = Vec::new();
    let rounds = super::rounds().max(9);
    let iters = 200;
    for keys in [1usize, 50] {
        let ide = TcpListener::bind("127.0.0.1:0").expect("the IDE's listener");
        let ide_port = ide.local_addr().expect("addr").port();
        let (engine_port, registration, client_port) = (free_port(), free_port(), free_port());
        let mut routed = start_proxy(&[
            "--backend".into(),
            "xdebug".into(),
            "--port".into(),
            engine_port.to_string(),
            "--client-port".into(),
            client_port.to_string(),
            "--dbgp-proxy".into(),
            registration.to_string(),
        ]);
        // The other keys' IDEs are never dialled: their ports only need to exist.
        let idle = TcpListener::bind("127.0.0.1:0").expect("idle IDE");
        let idle_port = idle.local_addr().expect("addr").port();
        for k in 1..keys {
            register(registration, idle_port, &format!("other{k}"));
        }
        register(registration, ide_port, "bench");
        // The raw relay: a listen-mode proxy with the IDE connected beforehand.
        let (raw_engine, raw_client) = (free_port(), free_port());
        let mut raw = start_proxy(&[
            "--backend".into(),
            "listen".into(),
            "--mode".into(),
            "persistent".into(),
            "--port".into(),
            raw_engine.to_string(),
            "--client-port".into(),
            raw_client.to_string(),
        ]);
        let raw_ide = TcpStream::connect(("127.0.0.1", raw_client)).expect("raw client");
        raw_ide.set_nodelay(true).expect("nodelay");

        let packet = init("bench");
        let (mut direct, mut proxied, mut relayed) = (Vec::new(), Vec::new(), Vec::new());
        let (mut vs_direct, mut vs_raw) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            let mut d = Vec::with_capacity(iters);
            let mut p = Vec::with_capacity(iters);
            let mut r = Vec::with_capacity(iters);
            for _ in 0..iters {
                let mut accept = || ide.accept().expect("the IDE accepts").0;
                d.push(trial(ide_port, &packet, &mut accept));
                p.push(trial(engine_port, &packet, &mut accept));
                let mut same = || raw_ide.try_clone().expect("clone");
                r.push(trial(raw_engine, &packet, &mut same));
            }
            let (d, p, r) = (median(&d), median(&p), median(&r));
            direct.push(d);
            proxied.push(p);
            relayed.push(r);
            vs_direct.push(p / d);
            vs_raw.push(p / r);
        }
        let (d, p, r) = (median(&direct), median(&proxied), median(&relayed));
        note(format!(
            "DBGp proxy, {keys} key(s) registered: engine connect → first byte at the IDE, p50: direct {d:.1} µs, routed by dbgproxy {p:.1} µs, dbgproxy raw relay to a connected IDE {r:.1} µs; {rounds} rounds of {iters} engines"
        ));
        let ratio_direct = median(&vs_direct);
        let ratio_raw = median(&vs_raw);
        let mut row = Row::compare(
            format!(
                "DBGp proxy: engine connect → IDE first byte p50, {keys} key(s) (socat column: dbgproxy raw relay)"
            ),
            "µs",
            &[super::Path::Direct, super::Path::Proxy, super::Path::Socat],
            &[vec![d], vec![p], vec![r]],
            "",
            super::Goal::None,
        );
        row.ratio = Some(ratio_direct);
        rows.push(row);
        rows.push(Row::single(
            format!("DBGp proxy routing, {keys} key(s): routed ÷ raw relay"),
            "×",
            ratio_raw,
            "≤ 1.15",
            ratio_raw <= 1.15,
        ));
        for child in [&mut routed, &mut raw] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
    rows
}
