//! Framed protocols through the real binary: whole messages both ways, no
//! interleaving between clients, joining mid-message, bad framing, the V8
//! empty-message rule and the backlog in whole messages. These test framing
//! alone, with bodies that are not protocol messages, so the session layer is
//! off (`--passthrough`); `sessions` tests the sharing.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::{Arc, Barrier};
use std::thread;

use crate::util::wire::Wire;
use crate::util::*;

#[derive(Clone, Copy, Debug)]
enum Proto {
    V8,
    Dap,
    Dbgp,
    GdbMi,
}

impl Proto {
    fn flag(self) -> &'static str {
        match self {
            Proto::V8 => "v8",
            Proto::Dap => "dap",
            Proto::Dbgp => "dbgp",
            Proto::GdbMi => "gdb-mi",
        }
    }

    /// How a client frames `body` for the debugger.
    fn encode(self, body: &[u8]) -> Vec<u8> {
        match self {
            Proto::V8 | Proto::Dap => [
                format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes(),
                body,
            ]
            .concat(),
            Proto::Dbgp => [body, b"\0"].concat(),
            Proto::GdbMi => [body, b"\n"].concat(),
        }
    }

    /// Reads one client message as the debugger receives it; returns its body.
    fn read(self, r: &mut impl BufRead) -> Vec<u8> {
        match self {
            Proto::V8 | Proto::Dap => {
                let mut len = None;
                loop {
                    let mut line = String::new();
                    r.read_line(&mut line).expect("a header line");
                    if line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.strip_prefix("Content-Length: ") {
                        len = Some(v.trim().parse::<usize>().unwrap());
                    }
                }
                let mut body = vec![0; len.expect("a Content-Length")];
                r.read_exact(&mut body).unwrap();
                body
            }
            Proto::Dbgp | Proto::GdbMi => {
                let end = if matches!(self, Proto::Dbgp) {
                    0
                } else {
                    b'\n'
                };
                let mut body = Vec::new();
                r.read_until(end, &mut body).unwrap();
                assert_eq!(body.pop(), Some(end), "a message cut short");
                body
            }
        }
    }
}

/// Sizes from 1 B to 256 KiB, spread evenly on a log scale (xorshift).
fn sizes(seed: u64, n: usize) -> Vec<usize> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let exp = (x % 1800) as f64 / 100.0; // 0 .. 18 → 1 .. 2^18
            (2f64.powf(exp) as usize).clamp(1, 256 << 10)
        })
        .collect()
}

/// Message `seq` of client `who` (0 or 1): letters from the client's own half
/// of the alphabet, in an order that depends on `seq`, so a message cut,
/// merged or misordered shows. Never NUL or newline.
fn body(who: usize, seq: usize, len: usize) -> Vec<u8> {
    let base = if who == 0 { b'a' } else { b'n' };
    (0..len)
        .map(|i| base + ((i * 7 + seq * 3) % 13) as u8)
        .collect()
}

fn interleaving(proto: Proto) {
    const N: usize = 1000;
    let port = free_port_pair();
    let debugger = FakeDebugger::listen(port);
    // Framing alone: the bodies are not protocol messages, so the session
    // layer is off (it would answer them as bad input).
    let mut proxy = Proxy::start(&[
        "--port",
        &port.to_string(),
        "--protocol",
        proto.flag(),
        "--passthrough",
        "--retry-interval",
        "20",
    ]);
    let conn = debugger.accept();
    proxy.wait_ready();

    let plan: Vec<Vec<usize>> = (0..2).map(|who| sizes(who as u64 * 1000 + 17, N)).collect();
    let checker = {
        let plan = plan.clone();
        thread::spawn(move || {
            let mut r = BufReader::with_capacity(1 << 20, conn);
            let mut next = [0usize; 2];
            for _ in 0..2 * N {
                let got = proto.read(&mut r);
                let who = if got[0] < b'n' { 0 } else { 1 };
                let seq = next[who];
                assert!(seq < N, "client {who} sent more than {N}");
                assert!(
                    got == body(who, seq, plan[who][seq]),
                    "{proto:?}: message {seq} of client {who} arrived cut, merged or out of order ({} bytes)",
                    got.len()
                );
                next[who] += 1;
            }
            next
        })
    };
    let barrier = Arc::new(Barrier::new(2));
    let senders: Vec<_> = (0..2)
        .map(|who| {
            let mut client = Client::connect(port + 1);
            let plan = plan[who].clone();
            let barrier = barrier.clone();
            thread::spawn(move || {
                barrier.wait();
                // Several messages per write, cut at odd places: the proxy
                // must find the boundaries itself.
                let stream: Vec<u8> = plan
                    .iter()
                    .enumerate()
                    .flat_map(|(seq, &len)| proto.encode(&body(who, seq, len)))
                    .collect();
                for piece in stream.chunks(100_003) {
                    client.send(piece);
                }
                client
            })
        })
        .collect();
    let _clients: Vec<Client> = senders.into_iter().map(|s| s.join().unwrap()).collect();
    assert_eq!(checker.join().unwrap(), [N, N]);
}

#[test]
fn two_clients_never_interleave_inside_a_v8_message() {
    interleaving(Proto::V8);
}

#[test]
fn two_clients_never_interleave_inside_a_dap_message() {
    interleaving(Proto::Dap);
}

#[test]
fn two_clients_never_interleave_inside_a_dbgp_command() {
    interleaving(Proto::Dbgp);
}

#[test]
fn two_clients_never_interleave_inside_a_gdb_mi_line() {
    interleaving(Proto::GdbMi);
}

fn dap(body: &str) -> Vec<u8> {
    Proto::Dap.encode(body.as_bytes())
}

fn dap_proxy(port: u16, extra: &[&str]) -> (Proxy, TcpStream, FakeDebugger) {
    let debugger = FakeDebugger::listen(port);
    let port_s = port.to_string();
    // Framing alone: these bodies are not DAP messages.
    let mut args = vec![
        "--backend",
        "dap",
        "--passthrough",
        "--port",
        &port_s,
        "--retry-interval",
        "20",
    ];
    args.extend_from_slice(extra);
    let mut proxy = Proxy::start(&args);
    let conn = debugger.accept();
    proxy.wait_ready();
    (proxy, conn, debugger)
}

#[test]
fn a_client_joining_mid_message_starts_at_a_boundary() {
    let port = free_port_pair();
    let debugger = FakeDebugger::listen(port);
    let mut cmd = Proxy::command();
    cmd.args([
        "--backend",
        "dap",
        "--passthrough",
        "--port",
        &port.to_string(),
    ])
    .env("RUST_LOG", "trace");
    let mut proxy = Proxy::spawn(cmd);
    let mut conn = debugger.accept();
    proxy.wait_ready();
    let mut first = Wire::connect(port + 1);
    proxy.wait_log("client #1");

    let big = format!("{{\"big\":\"{}\"}}", "x".repeat(4 << 20));
    let big_msg = dap(&big);
    conn.write_all(&dap("{\"n\":1}")).unwrap();
    conn.write_all(&big_msg[..big_msg.len() / 2]).unwrap();
    proxy.wait_log("bytes of an incomplete message held");
    let mut late = Wire::connect(port + 1);
    proxy.wait_log("client #2");
    conn.write_all(&big_msg[big_msg.len() / 2..]).unwrap();
    conn.write_all(&dap("{\"n\":3}")).unwrap();

    assert_eq!(first.framed().1, "{\"n\":1}");
    assert_eq!(first.framed().1, big);
    assert_eq!(first.framed().1, "{\"n\":3}");
    // Never a tail: the late client's first byte is the start of a message.
    let (head, body) = late.framed();
    assert!(head.starts_with("Content-Length: "), "{head:?}");
    assert_eq!(body, big);
    assert_eq!(late.framed().1, "{\"n\":3}");
}

#[test]
fn bad_framing_from_a_client_closes_that_client_only() {
    let header_too_long = format!("X-Long: {}\r\n", "y".repeat(9000));
    let cases: Vec<(&str, &[&str], Vec<u8>, &str)> = vec![
        (
            "dap",
            &[],
            b"Content-Length: abc\r\n\r\n{}".to_vec(),
            "Content-Length \"abc\" is not a number",
        ),
        (
            "dap",
            &[],
            b"Content-Length: 99999999999\r\n\r\n".to_vec(),
            "over the 1048576 byte limit (--max-client-message)",
        ),
        (
            "v8",
            &[],
            header_too_long.into_bytes(),
            "header line over 8192 bytes",
        ),
        (
            "dap",
            &["--max-client-message", "1000"],
            dap(&"z".repeat(2000)),
            "over the 1000 byte limit",
        ),
        (
            "dap",
            &["--max-client-message", "1KiB"],
            dap(&"z".repeat(2000)),
            "over the 1024 byte limit",
        ),
        (
            "dbgp",
            &["--max-client-message", "1000"],
            vec![b'c'; 1500],
            "command over the 1000 byte limit",
        ),
        (
            "gdb-mi",
            &["--max-client-message", "1000"],
            vec![b'l'; 1500],
            "line over the 1000 byte limit",
        ),
    ];
    for (protocol, extra, garbage, problem) in cases {
        let port = free_port_pair();
        let debugger = FakeDebugger::listen(port);
        let port_s = port.to_string();
        let mut args = vec!["--protocol", protocol, "--passthrough", "--port", &port_s];
        args.extend_from_slice(extra);
        let mut proxy = Proxy::start(&args);
        let mut conn = debugger.accept();
        proxy.wait_ready();
        let mut good = Client::connect(port + 1);
        let mut bad = Client::connect(port + 1);
        proxy.wait_log("client #2");
        bad.send(&garbage);
        assert_eq!(
            bad.read_to_end(),
            b"",
            "{protocol}: the bad client got data"
        );
        proxy.wait_log("left");
        let log = proxy.stderr();
        let line = log
            .lines()
            .find(|l| l.contains("client #2") && l.contains("bad framing"))
            .unwrap_or_else(|| panic!("{log}"));
        assert!(
            line.contains(" WARN ") && line.contains(problem),
            "{protocol}: {line}"
        );

        // The debugger and the other client carry on.
        let msg: Vec<u8> = match protocol {
            "dbgp" => b"status -i 1\0".to_vec(),
            "gdb-mi" => b"1-exec-next\n".to_vec(),
            _ => dap("{\"seq\":1}"),
        };
        good.send(&msg);
        assert_eq!(read_n(&mut conn, msg.len()), msg, "{protocol}");
        let reply: Vec<u8> = match protocol {
            "dbgp" => b"5\0<ok/>\0".to_vec(),
            "gdb-mi" => b"1^running\n".to_vec(),
            _ => dap("{\"ok\":true}"),
        };
        conn.write_all(&reply).unwrap();
        assert_eq!(good.read_n(reply.len()), reply, "{protocol}");
        assert!(proxy.try_status().is_none(), "{protocol}: the proxy died");
    }
}

#[test]
fn a_client_leaving_mid_message_forwards_none_of_it() {
    let port = free_port_pair();
    let (mut proxy, mut conn, _d) = dap_proxy(port, &[]);
    let mut quitter = Client::connect(port + 1);
    let mut stayer = Client::connect(port + 1);
    let whole = dap("{\"seq\":7,\"command\":\"next\"}");
    quitter.send(&whole[..whole.len() - 5]);
    proxy.wait_log("client #2");
    quitter.reset();
    proxy.wait_log("client #1 (");
    stayer.send(&dap("{\"seq\":1}"));
    // The debugger's first bytes are the stayer's message: nothing of the half one.
    assert_eq!(
        Proto::Dap.read(&mut BufReader::new(&mut conn)),
        b"{\"seq\":1}"
    );
}

#[test]
fn an_empty_message_is_never_sent_to_v8() {
    let port = free_port_pair();
    let debugger = FakeDebugger::listen(port);
    let mut proxy = Proxy::start(&["--backend", "v8", "--port", &port.to_string()]);
    let mut conn = debugger.accept();
    proxy.wait_ready();
    conn.write_all(b"Type: connect\r\nV8-Version: 5.1.281.111\r\nProtocol-Version: 1\r\nEmbedding-Host: node v6.17.1\r\nContent-Length: 0\r\n\r\n").unwrap();
    let mut ide = Wire::connect(port + 1);
    assert!(ide.framed().0.starts_with("Type: connect"));
    // What Cloud9's IDE sends on reconnect, then a real request.
    ide.send(b"Content-Length:0\r\n\r\n");
    ide.send(&Proto::V8.encode(b"{\"seq\":1,\"type\":\"request\",\"command\":\"version\"}"));
    let got = Proto::V8.read(&mut BufReader::new(&mut conn));
    assert_eq!(
        got,
        b"{\"seq\":1,\"type\":\"request\",\"command\":\"version\"}"
    );
    proxy.wait_log("dropping an empty V8 message");
}

#[test]
fn malformed_or_cut_debugger_output_ends_that_session_and_is_never_forwarded() {
    let port = free_port_pair();
    let (mut proxy, mut conn, debugger) = dap_proxy(port, &["--mode", "persistent"]);
    let mut ide = Wire::connect(port + 1);
    proxy.wait_log("client #1");

    // Session 1: a good message, then a header that is not a number, in one
    // write so that the excerpt logged (from the read that held the fault)
    // does not depend on how the kernel cut the stream.
    let mut bytes = dap("{\"good\":1}");
    bytes.extend_from_slice(b"Content-Length: nope\r\n\r\n");
    conn.write_all(&bytes).unwrap();
    assert_eq!(ide.framed().1, "{\"good\":1}");
    proxy.wait_log("malformed dap output");
    assert!(
        proxy.stderr().contains(
            "Content-Length \"nope\" is not a number (near \"1}Content-Length: nope\\r\\n\\r\\n\")"
        ),
        "the offending bytes are shown escaped:\n{}",
        proxy.stderr()
    );

    // Session 2: half a message, then the debugger goes.
    let mut conn = debugger.accept();
    proxy.wait_log("debugger session 2");
    conn.write_all(b"Content-Length: 50\r\n\r\n{\"half")
        .unwrap();
    drop(conn);
    proxy.wait_log("dropping 28 bytes of an incomplete debugger message");

    // Session 3: the client saw nothing of either broken session.
    let mut conn = debugger.accept();
    proxy.wait_log("debugger session 3");
    conn.write_all(&dap("{\"good\":3}")).unwrap();
    assert_eq!(ide.framed().1, "{\"good\":3}");
}

#[test]
fn the_backlog_keeps_whole_messages_only() {
    let port = free_port_pair();
    let (mut proxy, mut conn, _d) =
        dap_proxy(port, &["--mode", "persistent", "--backlog-bytes", "1000"]);
    let messages: Vec<Vec<u8>> = (0..10)
        .map(|i| dap(&format!("{{\"n\":{i},\"pad\":\"{}\"}}", "p".repeat(280))))
        .collect();
    for m in &messages {
        conn.write_all(m).unwrap();
    }
    drop(conn);
    proxy.wait_log("disconnected");
    let mut ide = Client::connect(port + 1);
    // Each message is 319 bytes: the newest three fit in 1000, whole.
    let kept: Vec<u8> = messages[7..].concat();
    assert_eq!(ide.read_n(kept.len()), kept);
    assert!(
        proxy
            .stderr()
            .contains("dropping the oldest whole messages")
    );
}
