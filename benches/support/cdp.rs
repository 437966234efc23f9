//! CDP round trips (issue #20): a client's command and its answer over a
//! WebSocket, straight to an inspector-like backend, through dbgproxy's CDP
//! side (`--backend inspector`), and through dbgproxy in raw mode relaying
//! the same bytes, in alternating rounds of one run.
//!
//! The backend in this process does what node's inspector does where a
//! client can tell: `GET /json/list` over HTTP/1.0, then a WebSocket upgrade
//! on the target's path, then an answer by id to every command (the
//! command's `expression` echoed as the result's value, so a 1 MiB request
//! gets a 1 MiB answer). The client masks its frames as every client must;
//! the backend's frames are unmasked. Nothing here asserts a timing; a wrong
//! answer fails the run loudly.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::Instant;

use super::{Row, free_port, median, note};

const TARGET: &str = "0f1e2d3c-bench-4b5a-9c8d-cdp000000001";

/// The inspector-like backend: serves connections until the process ends.
fn backend() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the CDP backend");
    let port = listener.local_addr().expect("local addr").port();
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            thread::spawn(move || serve(conn, port));
        }
    });
    port
}

/// Reads an HTTP head; `None` at EOF before one came.
fn read_head(r: &mut BufReader<TcpStream>) -> Option<Vec<String>> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end().to_string();
        if line.is_empty() {
            return Some(lines);
        }
        lines.push(line);
    }
}

fn header<'a>(head: &'a [String], name: &str) -> Option<&'a str> {
    head.iter().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn serve(conn: TcpStream, port: u16) {
    conn.set_nodelay(true).expect("nodelay");
    let mut r = BufReader::with_capacity(1 << 20, conn.try_clone().expect("clone"));
    let mut w = conn;
    let Some(head) = read_head(&mut r) else {
        return;
    };
    if head[0].starts_with("GET /json") {
        let body = format!(
            "[{{\"description\":\"node.js instance\",\"id\":\"{TARGET}\",\"title\":\"bench.js\",\"type\":\"node\",\"url\":\"file:///bench.js\",\"webSocketDebuggerUrl\":\"ws://127.0.0.1:{port}/{TARGET}\"}}]"
        );
        let reply = format!(
            "HTTP/1.0 200 OK\r\nContent-Type: application/json; charset=UTF-8\r\nCache-Control: no-cache\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let _ = w.write_all(reply.as_bytes());
        return;
    }
    let key = header(&head, "Sec-WebSocket-Key").expect("an upgrade");
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let reply = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    w.write_all(reply.as_bytes()).expect("101");
    while let Some(text) = read_frame(&mut r) {
        let id = id_of(&text).expect("a command with an id");
        let value = expression_of(&text);
        let answer = match value {
            Some(v) => format!(
                "{{\"id\":{id},\"result\":{{\"result\":{{\"type\":\"string\",\"value\":\"{v}\"}}}}}}"
            ),
            None => format!("{{\"id\":{id},\"result\":{{}}}}"),
        };
        if w.write_all(&frame(answer.as_bytes(), false)).is_err() {
            return;
        }
    }
}

fn id_of(text: &str) -> Option<u64> {
    let at = text.find("\"id\":")? + 5;
    let rest = &text[at..];
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

fn expression_of(text: &str) -> Option<&str> {
    let at = text.find("\"expression\":\"")? + 14;
    let rest = &text[at..];
    Some(&rest[..rest.find('"')?])
}

/// A text frame, masked (client) or not (server).
fn frame(payload: &[u8], masked: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 14);
    out.push(0x81);
    let mask_bit = if masked { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(mask_bit | n as u8),
        n if n <= 0xffff => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if masked {
        let key = [0x12, 0x34, 0x56, 0x78];
        out.extend_from_slice(&key);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

/// The next text message; control frames are skipped. `None` at EOF.
fn read_frame(r: &mut impl Read) -> Option<String> {
    loop {
        let mut h = [0u8; 2];
        r.read_exact(&mut h).ok()?;
        let opcode = h[0] & 0x0f;
        let masked = h[1] & 0x80 != 0;
        let len = match h[1] & 0x7f {
            126 => {
                let mut b = [0u8; 2];
                r.read_exact(&mut b).ok()?;
                u16::from_be_bytes(b) as usize
            }
            127 => {
                let mut b = [0u8; 8];
                r.read_exact(&mut b).ok()?;
                u64::from_be_bytes(b) as usize
            }
            n => n as usize,
        };
        let mut key = [0u8; 4];
        if masked {
            r.read_exact(&mut key).ok()?;
        }
        let mut payload = vec![0u8; len];
        r.read_exact(&mut payload).ok()?;
        if masked {
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= key[i % 4];
            }
        }
        match opcode {
            0x1 => return String::from_utf8(payload).ok(),
            0x8 => return None,
            _ => continue,
        }
    }
}

/// A CDP client over a WebSocket to `port` at `path`.
struct Client {
    r: BufReader<TcpStream>,
    w: TcpStream,
    next_id: u64,
}

impl Client {
    fn connect(port: u16, path: &str) -> Client {
        let conn = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        conn.set_nodelay(true).expect("nodelay");
        let mut w = conn.try_clone().expect("clone");
        let mut r = BufReader::with_capacity(1 << 20, conn);
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        w.write_all(request.as_bytes()).expect("upgrade request");
        let head = read_head(&mut r).expect("an answer to the upgrade");
        assert!(head[0].contains(" 101 "), "no upgrade: {head:?}");
        Client { r, w, next_id: 1 }
    }

    /// One command and its answer (events in between are skipped).
    fn trip(&mut self, pad: &str) {
        let id = self.next_id;
        self.next_id += 1;
        let command = format!(
            "{{\"id\":{id},\"method\":\"Runtime.evaluate\",\"params\":{{\"expression\":\"{pad}\"}}}}"
        );
        self.w
            .write_all(&frame(command.as_bytes(), true))
            .expect("send");
        loop {
            let text = read_frame(&mut self.r).expect("an answer");
            if id_of(&text) == Some(id) {
                assert!(
                    text.len() > pad.len() && expression_value_is(&text, pad),
                    "a wrong answer to {id}: {}",
                    &text[..text.len().min(200)]
                );
                return;
            }
        }
    }
}

fn expression_value_is(text: &str, pad: &str) -> bool {
    text.contains(&format!("\"value\":\"{pad}\""))
}

/// The proxy's listed WebSocket path, from its `/json/list`.
fn listed_path(port: u16) -> String {
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Ok(mut conn) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = conn.write_all(b"GET /json/list HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
            let mut body = String::new();
            let _ = conn.read_to_string(&mut body);
            if let Some(at) = body.find("\"webSocketDebuggerUrl\":\"ws://") {
                let rest = &body[at + 29..];
                let path_at = rest.find('/').expect("a path");
                let end = rest.find('"').expect("the url's end");
                return rest[path_at..end].to_string();
            }
        }
        assert!(Instant::now() < deadline, "the proxy never listed a target");
        thread::sleep(std::time::Duration::from_millis(10));
    }
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

fn p50(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    v[v.len() / 2]
}

pub fn rows() -> Vec<Row> {
    let backend_port = backend();
    let cdp_port = free_port();
    let raw_port = free_port();
    let port_args = |client: u16, extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = vec![
            "--port".into(),
            backend_port.to_string(),
            "--client-port".into(),
            client.to_string(),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let mut cdp = start_proxy(&port_args(cdp_port, &["--backend", "inspector"]));
    let mut raw = start_proxy(&port_args(raw_port, &["--mode", "persistent"]));
    let path = listed_path(cdp_port);
    let mut direct_client = Client::connect(backend_port, &format!("/{TARGET}"));
    let mut cdp_client = Client::connect(cdp_port, &path);
    let mut raw_client = Client::connect(raw_port, &format!("/{TARGET}"));

    let mut rows = Vec::new();
    let rounds = super::rounds().max(9);
    for (label, size, iters) in [("64 B", 64, 2000), ("1 MiB", 1 << 20, 60)] {
        let pad: String = super::pattern(size).into_iter().map(char::from).collect();
        // Warm each path: the proxy's first command opens its upstream.
        for c in [&mut direct_client, &mut cdp_client, &mut raw_client] {
            for _ in 0..5 {
                c.trip(&pad);
            }
        }
        let (mut direct, mut proxied, mut relayed) = (Vec::new(), Vec::new(), Vec::new());
        let (mut vs_direct, mut vs_raw) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            let measure = |c: &mut Client| {
                let mut t = Vec::with_capacity(iters);
                for _ in 0..iters {
                    let start = Instant::now();
                    c.trip(&pad);
                    t.push(start.elapsed().as_secs_f64() * 1e6);
                }
                p50(t)
            };
            let d = measure(&mut direct_client);
            let p = measure(&mut cdp_client);
            let r = measure(&mut raw_client);
            direct.push(d);
            proxied.push(p);
            relayed.push(r);
            vs_direct.push(p / d);
            vs_raw.push(p / r);
        }
        let (d, p, r) = (median(&direct), median(&proxied), median(&relayed));
        let ratio_direct = median(&vs_direct);
        let ratio_raw = median(&vs_raw);
        note(format!(
            "CDP RTT {label}: direct p50 {d:.1} µs, through dbgproxy (cdp) {p:.1} µs, through dbgproxy (raw relay) {r:.1} µs; {rounds} rounds of {iters} trips; ratios are medians of the rounds' ratios"
        ));
        let mut row = Row::compare(
            format!("CDP RTT {label} p50 (cdp; socat column: dbgproxy raw relay)"),
            "µs",
            &[super::Path::Direct, super::Path::Proxy, super::Path::Socat],
            &[vec![d], vec![p], vec![r]],
            "p50 ≤ 1.3× direct",
            super::Goal::AtMost(1.3),
        );
        row.ratio = Some(ratio_direct);
        row.met = Some(ratio_direct <= 1.3);
        rows.push(row);
        rows.push(Row::single(
            format!("CDP RTT {label} p50 through dbgproxy: cdp ÷ raw relay"),
            "×",
            ratio_raw,
            "≤ 1.15",
            ratio_raw <= 1.15,
        ));
    }
    for child in [&mut cdp, &mut raw] {
        let _ = child.kill();
        let _ = child.wait();
    }
    rows
}
