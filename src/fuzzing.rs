//! What the fuzz targets check, as plain functions, so that the corpus they
//! grow is replayed by `cargo test` (tests/it/fuzz_corpus.rs) without a fuzzer
//! or a nightly toolchain. Not part of the proxy's behaviour.
//!
//! - `framing`: the same bytes fed whole and fed in two pieces give the same
//!   messages (or the same error), never a panic, never more held than the
//!   bounds allow.
//! - `session`: a script of joins, leaves, client and debugger messages and
//!   debugger comings and goings, played into a session module, never panics,
//!   never names a client that is not there, and never answers one input with
//!   an unbounded burst.
//! - `websocket`: the CDP frame decoder (`protocol::cdp::ws`), in either
//!   role, gives the same events (or the same fault) whole and in two
//!   pieces, never a panic, never holds more than its bound, and every text
//!   it hands out is UTF-8 within the bound.
//! - `json`: the strict check that stands between a client and debugpy
//!   (`protocol::json::check`) judges any bytes as serde_json does, but where
//!   serde_json is stricter than JSON and than Python's `json`.
//! - `dbgp_proxy`: the DBGp proxy's registration reader reads the same
//!   command (or the same error) from bytes fed whole or in two pieces,
//!   ended by a close or by its timer; its answer is one well-framed reply;
//!   and the same bytes as an engine's packet never upset the `<init>` reader.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::config::{self, LastGoodbye, Mode};
use crate::framing::{Assembler, Direction, MAX_HEADERS, Message, Protocol};
use crate::net::queue::Chunk;
use crate::protocol::cdp::ws;
use crate::protocol::dbgp_proxy::command::{Limits, Read, Reader};
use crate::protocol::dbgp_proxy::engine::{EngineInit, detach};
use crate::protocol::dbgp_proxy::registry::{Owner, Registry};
use crate::protocol::dbgp_proxy::{Peer, answer};
use crate::session::{self, Action, ClientId, Outbox, Settings, To};

const MAX_MESSAGE: usize = 4096;

fn assemble(protocol: Protocol, dir: Direction, pieces: &[&[u8]]) -> (Vec<Vec<u8>>, bool) {
    let mut a = Assembler::new(protocol, dir, MAX_MESSAGE);
    let mut out = Vec::new();
    for p in pieces {
        if a.feed(Chunk::copy_from(p), |m| out.push(m.to_vec()))
            .is_err()
        {
            return (out, true);
        }
        assert!(a.pending() <= MAX_MESSAGE + MAX_HEADERS);
    }
    (out, false)
}

/// The first byte says where to cut the rest in two.
pub fn framing(protocol: Protocol, dir: Direction, data: &[u8]) {
    let Some((&cut, rest)) = data.split_first() else {
        return;
    };
    let cut = (cut as usize).min(rest.len());
    let whole = assemble(protocol, dir, &[rest]);
    let split = assemble(protocol, dir, &[&rest[..cut], &rest[cut..]]);
    assert_eq!(whole, split, "chunking changed the messages");
    for m in &whole.0 {
        assert!(m.len() <= MAX_MESSAGE + MAX_HEADERS + 32);
    }
}

/// Wraps a payload in `protocol`'s framing, as the assembler would hand it
/// over: the session layer only ever sees whole, well-framed messages.
fn frame(protocol: Protocol, dir: Direction, payload: &[u8]) -> Message {
    let mut bytes = Vec::with_capacity(payload.len() + 32);
    match (protocol, dir) {
        (Protocol::Dap | Protocol::V8, _) => {
            bytes
                .extend_from_slice(format!("Content-Length: {}\r\n\r\n", payload.len()).as_bytes());
            bytes.extend_from_slice(payload);
        }
        (Protocol::Dbgp, Direction::FromDebugger) => {
            let payload: Vec<u8> = payload.iter().copied().filter(|&b| b != 0).collect();
            bytes.extend_from_slice(format!("{}\0", payload.len()).as_bytes());
            bytes.extend_from_slice(&payload);
            bytes.push(0);
        }
        (Protocol::Dbgp, Direction::ToDebugger) => {
            bytes.extend(payload.iter().copied().filter(|&b| b != 0));
            bytes.push(0);
        }
        (Protocol::GdbMi | Protocol::Raw | Protocol::Cdp, _) => {
            bytes.extend(payload.iter().copied().filter(|&b| b != b'\n'));
            bytes.push(b'\n');
        }
    }
    let mut message = Message::from_bytes(&bytes);
    message.prompt = protocol == Protocol::GdbMi && bytes.starts_with(b"(gdb)");
    message.empty_body = matches!(protocol, Protocol::Dap | Protocol::V8) && payload.is_empty();
    message
}

/// Plays the script in `data` into a session: the first byte picks the
/// protocol and settings, then each step is an opcode byte, a two-byte
/// little-endian length and that many bytes of payload.
pub fn session(data: &[u8]) {
    let Some((&setup, mut script)) = data.split_first() else {
        return;
    };
    let protocol =
        [Protocol::Dap, Protocol::V8, Protocol::Dbgp, Protocol::GdbMi][setup as usize % 4];
    let mode = if setup & 4 == 0 {
        Mode::Persistent
    } else {
        Mode::OneSession
    };
    let last_goodbye = if setup & 8 == 0 {
        LastGoodbye::Keep
    } else {
        LastGoodbye::Forward
    };
    let settings = Settings {
        protocol,
        mode,
        forwards_last_goodbye: config::forwards_last_goodbye(mode, last_goodbye),
        backlog_bytes: 1 << 16,
        passthrough: false,
        dbgp_hold: std::time::Duration::from_secs(2),
    };
    let mut s = session::new(&settings);
    let mut out = Outbox::default();
    let mut present: BTreeSet<ClientId> = BTreeSet::new();
    let mut next: ClientId = 1;
    let mut up = false;
    while let [op, lo, hi, rest @ ..] = script {
        let len = (u16::from_le_bytes([*lo, *hi]) as usize).min(rest.len());
        let (payload, tail) = rest.split_at(len);
        script = tail;
        let nth = |k: u8| {
            present
                .iter()
                .nth(k as usize % present.len().max(1))
                .copied()
        };
        match op % 8 {
            0 => {
                s.client_joined(next, &mut out);
                present.insert(next);
                next += 1;
            }
            1 => {
                if let Some(c) = nth(op / 8) {
                    present.remove(&c);
                    s.client_left(c, &mut out);
                }
            }
            2..=4 => {
                if let Some(c) = nth(op / 8) {
                    s.from_client(c, frame(protocol, Direction::ToDebugger, payload), &mut out);
                }
            }
            5 | 6 => {
                if up {
                    s.from_debugger(frame(protocol, Direction::FromDebugger, payload), &mut out);
                }
            }
            _ => {
                if up {
                    s.debugger_lost(&mut out);
                } else {
                    s.debugger_up(&mut out);
                }
                up = !up;
            }
        }
        check(&mut out, &mut present, &mut *s);
        for c in &present {
            let _ = s.client_status(*c);
        }
        let _ = s.counters();
    }
}

/// The loop's side of the contract, checked on every action.
fn check(out: &mut Outbox, present: &mut BTreeSet<ClientId>, s: &mut dyn session::Session) {
    let mut rounds = 0;
    while !out.is_empty() {
        rounds += 1;
        assert!(rounds < 64, "a session keeps answering its own actions");
        assert!(
            out.actions().len() < 10_000,
            "an unbounded burst of actions"
        );
        let mut closed = Vec::new();
        let mut restarts = 0;
        for action in out.drain() {
            match action {
                Action::Send(To::Client(c), _) | Action::Close(c, _) => {
                    assert!(
                        present.contains(&c),
                        "action for client #{c}, who is not there: {action:?}"
                    );
                    if let Action::Close(c, _) = action {
                        closed.push(c);
                    }
                }
                // "All but a client that has left" is all: well defined.
                Action::Send(To::All | To::AllBut(_) | To::Debugger, _) => {}
                Action::RestartDebugger(_) | Action::CloseDebugger(_) => restarts += 1,
            }
        }
        // The loop ends the debugger session and reaches the next one.
        for _ in 0..restarts {
            s.debugger_lost(out);
            s.debugger_up(out);
        }
        // The loop tells the session of a client it closed.
        for c in closed {
            if present.remove(&c) {
                s.client_left(c, out);
            }
        }
    }
}

/// Panics unless `protocol::json::check` and serde_json agree on `data`,
/// where they should: serde_json alone refuses numbers past f64's range,
/// lone surrogate escapes and nesting past 128 levels, which Python's `json`
/// (debugpy's reader) takes, so the proxy lets those through.
pub fn json(data: &[u8]) {
    let ours = crate::protocol::json::check(data);
    let serde = serde_json::from_slice::<serde_json::Value>(data);
    let serde_only = |e: &serde_json::Error| {
        let e = e.to_string();
        // A high surrogate escape not followed by a low one is "unexpected
        // end of hex escape" or "invalid unicode code point" to serde_json
        // (check has made sure every escape has its four hex digits).
        [
            "out of range",
            "surrogate",
            "hex escape",
            "code point",
            "recursion limit",
        ]
        .iter()
        .any(|what| e.contains(what))
    };
    match (&ours, &serde) {
        (Ok(()), Ok(_)) | (Err(_), Err(_)) => {}
        (Ok(()), Err(e)) if serde_only(e) => {}
        _ => panic!(
            "check says {ours:?}, serde_json says {:?}, on {:?}",
            serde.map(|_| ()),
            String::from_utf8_lossy(data)
        ),
    }
}

fn registration(pieces: &[&[u8]], by_timer: bool, now: Instant) -> Read {
    let mut r = Reader::new(Limits::new(Duration::from_secs(5)), now);
    for p in pieces {
        if let Some(read) = r.feed(p, now) {
            assert!(r.is_done() && r.deadline().is_none());
            return read;
        }
    }
    let read = if by_timer {
        let at = r.deadline().expect("a reader not done has a deadline");
        r.on_timer(at)
    } else {
        r.half_closed(now)
    };
    read.expect("a timer at the deadline, or a close, ends the command")
}

/// The first byte says where to cut the rest in two.
pub fn dbgp_proxy(data: &[u8]) {
    let Some((&cut, rest)) = data.split_first() else {
        return;
    };
    let cut = (cut as usize).min(rest.len());
    let now = Instant::now();
    for by_timer in [false, true] {
        let whole = registration(&[rest], by_timer, now);
        let split = registration(&[&rest[..cut], &rest[cut..]], by_timer, now);
        assert_eq!(whole, split, "chunking changed the command");
        let mut reg = Registry::new(2, Some("dflt".into()));
        let ide = "127.0.0.1:9003".parse().expect("a literal address");
        let _ = reg.register("taken", Owner::Uid(0), ide, false, now);
        let a = answer(whole, ide.ip(), Peer::Owner(Owner::Uid(1)), &mut reg, now);
        if let Some(reply) = a.reply {
            let nul = reply.iter().position(|&b| b == 0).expect("a length");
            let len: usize = std::str::from_utf8(&reply[..nul])
                .ok()
                .and_then(|n| n.parse().ok())
                .expect("a decimal length");
            assert_eq!(nul + 1 + len + 1, reply.len(), "a reply's length prefix");
            assert!(!reply[nul + 1..reply.len() - 1].contains(&0));
        }
        assert!(reg.len() <= 2);
    }
    let packet = frame(Protocol::Dbgp, Direction::FromDebugger, rest);
    if let Some(init) = EngineInit::parse(&packet) {
        let _ = init.idekey();
        let proxied = init.proxied("192.0.2.1".parse().expect("a literal address"));
        assert!(EngineInit::parse(&proxied).is_some());
    }
    let _ = detach(1, &String::from_utf8_lossy(rest));
}

/// What a decoder made of some pieces, for comparison.
fn websocket_events(role: ws::Role, pieces: &[&[u8]]) -> (Vec<String>, Option<ws::Fault>) {
    let mut d = ws::Decoder::new(role, MAX_MESSAGE);
    let mut seen = Vec::new();
    for p in pieces {
        let fed = d.feed(&Chunk::copy_from(p), |e| {
            // A Chunk's Debug shows its whole buffer: compare contents.
            seen.push(match e {
                ws::Event::Text(t) => {
                    assert!(t.len() <= MAX_MESSAGE, "a text over the bound");
                    assert!(std::str::from_utf8(&t).is_ok(), "a text that is not UTF-8");
                    format!("text {:?}", &t[..])
                }
                ws::Event::Reply(r) => format!("reply {:?}", &r[..]),
                close => format!("{close:?}"),
            });
        });
        // The longest header, a message being gathered and a frame of it.
        assert!(d.pending() <= 2 * MAX_MESSAGE + 14, "holds {}", d.pending());
        if let Err(f) = fed {
            return (seen, Some(f));
        }
    }
    (seen, None)
}

/// The first byte picks the role (low bit) and where to cut the rest in two.
pub fn websocket(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let role = if first & 1 == 0 {
        ws::Role::Server
    } else {
        ws::Role::Client
    };
    let cut = ((first >> 1) as usize * 7).min(rest.len());
    let whole = websocket_events(role, &[rest]);
    let split = websocket_events(role, &[&rest[..cut], &rest[cut..]]);
    assert_eq!(whole, split, "chunking changed the events");
    // The same bytes through the loop's framing (`framing::websocket`).
    let direction = match role {
        ws::Role::Server => Direction::ToDebugger,
        ws::Role::Client => Direction::FromDebugger,
    };
    let whole = websocket_messages(direction, &[rest]);
    let split = websocket_messages(direction, &[&rest[..cut], &rest[cut..]]);
    assert_eq!(whole, split, "chunking changed the messages");
}

/// What the CDP framing made of some pieces: a violation is a message (the
/// last), never a failed stream.
fn websocket_messages(direction: Direction, pieces: &[&[u8]]) -> Vec<String> {
    let mut a = Assembler::new(Protocol::Cdp, direction, MAX_MESSAGE);
    let mut seen = Vec::new();
    let mut faulted = false;
    for p in pieces {
        let fed = a.feed(Chunk::copy_from(p), |m| {
            assert!(!faulted, "a message after a violation");
            faulted = matches!(m.control, Some(crate::framing::Control::Fault { .. }));
            seen.push(format!("{:?} {:?}", m.control, m.to_vec()));
        });
        assert!(fed.is_ok(), "the WebSocket framing failed a stream");
    }
    seen
}
