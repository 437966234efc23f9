//! Bad input on the CDP client port (issue #20), against node 20 behind the
//! proxy: each bad frame gets its RFC 6455 close code, a text that is not a
//! command gets CDP's error (with an id) or a close (without), a ping gets
//! its pong; and after each, a client connected all along and a new one are
//! served, so neither the session nor the others felt it.

use std::io::{Read, Write};
use std::net::TcpStream;

use super::cdp::{TICKER, body, get, inspect};
use crate::util::tools::TempDir;
use crate::util::{DEADLINE, cli, free_port_pair, wait_until};

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
const MAX: usize = 4096;

/// A raw WebSocket client of the proxy's listed path.
struct Ws(TcpStream);

impl Ws {
    fn open(port: u16, path: &str) -> Ws {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("client port");
        s.set_read_timeout(Some(DEADLINE)).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        )
        .unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            s.read_exact(&mut byte).expect("the upgrade's answer");
            head.push(byte[0]);
        }
        assert!(
            head.starts_with(b"HTTP/1.1 101"),
            "{}",
            String::from_utf8_lossy(&head)
        );
        Ws(s)
    }

    /// A frame: `first` is FIN, RSV and opcode; masked unless `key` is None.
    fn frame(first: u8, payload: &[u8], key: Option<[u8; 4]>) -> Vec<u8> {
        let n = payload.len();
        let m = if key.is_some() { 0x80 } else { 0 };
        let mut f = vec![first];
        if n < 126 {
            f.push(m | n as u8);
        } else if n < 65536 {
            f.push(m | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        } else {
            f.push(m | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
        match key {
            Some(k) => {
                f.extend_from_slice(&k);
                f.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4]));
            }
            None => f.extend_from_slice(payload),
        }
        f
    }

    fn send(&mut self, bytes: &[u8]) {
        self.0.write_all(bytes).unwrap();
    }

    fn text(&mut self, text: &str) {
        self.send(&Ws::frame(0x81, text.as_bytes(), Some(KEY)));
    }

    /// The next frame from the proxy (never masked): opcode and payload.
    fn next(&mut self) -> (u8, Vec<u8>) {
        let mut h = [0u8; 2];
        self.0.read_exact(&mut h).expect("a frame");
        assert_eq!(h[1] & 0x80, 0, "the proxy does not mask");
        let n = match h[1] & 0x7f {
            126 => {
                let mut l = [0u8; 2];
                self.0.read_exact(&mut l).unwrap();
                u16::from_be_bytes(l) as usize
            }
            127 => {
                let mut l = [0u8; 8];
                self.0.read_exact(&mut l).unwrap();
                u64::from_be_bytes(l) as usize
            }
            n => n as usize,
        };
        let mut p = vec![0u8; n];
        self.0.read_exact(&mut p).unwrap();
        (h[0] & 0x0f, p)
    }

    /// Reads until the proxy's close frame; its code.
    fn close_code(&mut self) -> u16 {
        loop {
            let (op, p) = self.next();
            if op == 8 {
                assert!(p.len() >= 2, "a close with a code");
                return u16::from_be_bytes([p[0], p[1]]);
            }
        }
    }

    /// Reads until the answer to `id`.
    fn answer(&mut self, id: i64) -> serde_json::Value {
        loop {
            let (op, p) = self.next();
            assert_eq!(op, 1, "a text frame: {p:?}");
            let v: serde_json::Value = serde_json::from_slice(&p).unwrap();
            if v["id"] == id {
                return v;
            }
        }
    }

    /// The session still answers: 6 * 7 evaluated by node.
    fn works(&mut self, id: i64) {
        self.text(&format!(
            r#"{{"id":{id},"method":"Runtime.evaluate","params":{{"expression":"6*7"}}}}"#
        ));
        assert_eq!(self.answer(id)["result"]["result"]["value"], 42);
    }
}

#[test]
fn bad_client_input_gets_its_close_code_and_touches_nobody_else() {
    let dir = TempDir::new("cdp-bad");
    let script = dir.write("ticker.js", TICKER);
    let port = free_port_pair();
    let _node = inspect(&dir.0, &script, port, false);
    let max = MAX.to_string();
    let args = [
        "--backend",
        "inspector",
        "--port",
        &port.to_string(),
        "--max-client-message",
        &max,
        "--mode",
        "persistent",
    ];
    let mut proxy = cli::proxy_in(&dir.0, &args);
    proxy.wait_ready();
    let client = port + 1;
    let host = format!("127.0.0.1:{client}");
    let mut path = String::new();
    wait_until("the target listed", || {
        let list = body(&get(client, "/json/list", &host));
        path = list[0]["webSocketDebuggerUrl"]
            .as_str()
            .unwrap_or_default()
            .trim_start_matches(&format!("ws://{host}"))
            .to_owned();
        list[0]["url"]
            .as_str()
            .is_some_and(|u| u.ends_with("ticker.js"))
    });
    let mut bystander = Ws::open(client, &path);
    bystander.works(1);

    let cmd = br#"{"id":1,"method":"Runtime.enable"}"#;
    let cases: [(&str, Vec<u8>, u16); 5] = [
        ("unmasked", Ws::frame(0x81, cmd, None), 1002),
        ("reserved bits", Ws::frame(0xC1, cmd, Some(KEY)), 1002),
        (
            "long control",
            Ws::frame(0x89, &[b'x'; 126], Some(KEY)),
            1002,
        ),
        (
            "invalid UTF-8",
            Ws::frame(0x81, b"{\"id\":1,\xff}", Some(KEY)),
            1007,
        ),
        (
            "too big",
            Ws::frame(0x81, &vec![b' '; MAX + 1], Some(KEY)),
            1009,
        ),
    ];
    let mut id = 2;
    for (what, frame, code) in cases {
        let mut bad = Ws::open(client, &path);
        bad.send(&frame);
        assert_eq!(bad.close_code(), code, "{what}");
        bystander.works(id);
        Ws::open(client, &path).works(id + 1);
        id += 2;
    }

    // Not a command: with an id, CDP's error and the client stays; without,
    // a close (1007).
    let mut odd = Ws::open(client, &path);
    odd.text(r#"{"id":5}"#);
    let answer = odd.answer(5);
    assert_eq!(answer["error"]["code"], -32600, "{answer}");
    odd.works(6);
    odd.text("[1,2]");
    assert_eq!(odd.close_code(), 1007);
    // A ping: its pong, with the same payload.
    let mut pinger = Ws::open(client, &path);
    pinger.send(&Ws::frame(0x89, b"are you there", Some(KEY)));
    assert_eq!(pinger.next(), (0xA, b"are you there".to_vec()));
    pinger.works(7);
    bystander.works(id);
    let st = cli::status(&dir.0, port);
    // The bystander and the pinger; every bad one is gone.
    let clients = st["clients"].as_array().map_or(0, Vec::len);
    assert_eq!(clients, 2, "{st:#}");
    proxy.wait_log("bad WebSocket input");
}

/// In session mode too (the default): a client closed for a text it cannot
/// send takes only its own row, not the debug session of the others.
#[test]
fn a_client_closed_for_bad_text_in_session_mode_ends_only_itself() {
    let dir = TempDir::new("cdp-bad-session");
    let script = dir.write("ticker.js", TICKER);
    let port = free_port_pair();
    let _node = inspect(&dir.0, &script, port, false);
    let args = ["--backend", "inspector", "--port", &port.to_string()];
    let mut proxy = cli::proxy_in(&dir.0, &args);
    proxy.wait_ready();
    let client = port + 1;
    let host = format!("127.0.0.1:{client}");
    wait_until("the target listed", || {
        body(&get(client, "/json/list", &host))[0]["url"]
            .as_str()
            .is_some_and(|u| u.ends_with("ticker.js"))
    });
    let path = format!("/0db9c0de-0000-4000-8000-{client:012}");
    let mut bystander = Ws::open(client, &path);
    bystander.works(1);
    let mut odd = Ws::open(client, &path);
    odd.works(1);
    odd.text("[1,2]");
    assert_eq!(odd.close_code(), 1007);
    bystander.works(2);
    assert!(proxy.try_status().is_none(), "{}", proxy.stderr());
}
