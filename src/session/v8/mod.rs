//! The legacy V8 session (node ≤ 7 `--debug`): several clients share one
//! debugger connection (SESSIONS.md, "Legacy V8").
//!
//! Each client request gets a proxy-wide `seq`, spliced into its body (and
//! the `Content-Length` re-framed); the response's `request_seq` is mapped
//! back to the client's own, so that clients whose seqs collide (node 6's own
//! client restarts at 1 after every message it receives) get only their
//! answers. Events go to all. A joiner gets the `Type: connect` greeting and,
//! while the debuggee is stopped, the last `break`/`exception` event. A
//! `disconnect` is personal while others remain; the last one is forwarded
//! (V8 then deactivates its breakpoints and resumes) or, in a kept session,
//! answered here after clearing the leaver's breakpoints and resuming.

mod hooks;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use super::ClientId;
use super::history::History;
use super::{Outbox, Settings, To};
use crate::framing::{Message, Protocol};
use crate::protocol::json::{self, Until};
use crate::queue::Chunk;

/// Requests sent to V8 and not yet answered; past this the oldest is forgotten.
const MAX_IN_FLIGHT: usize = 4096;
/// Breakpoint owners remembered.
const MAX_BREAKPOINTS: usize = 4096;
/// A client's `seq` longer than this is not a number it needs echoed.
const MAX_SEQ: usize = 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum From {
    /// `here` turns false when the client leaves: its answers are dropped.
    Client { id: ClientId, here: bool },
    /// The proxy's own request: its answer is swallowed.
    Proxy,
}

struct Pending {
    from: From,
    /// The client's `seq`, as it wrote it.
    seq: Vec<u8>,
    /// The command, as a JSON string (quotes included).
    command: Vec<u8>,
}

#[derive(Default)]
struct Peer {
    leaving: bool,
}

pub struct V8 {
    forward_last: bool,
    /// The greeting and the events nobody was connected to hear.
    history: History,
    /// The backlog's dropped bytes when the last break went into it: the
    /// joiner reads it there, unless the backlog dropped some since.
    break_backlogged: Option<u64>,
    clients: BTreeMap<ClientId, Peer>,
    next_seq: u64,
    pending: BTreeMap<u64, Pending>,
    /// V8 says `"running"` in every response: the truth about the debuggee.
    stopped: bool,
    /// The event that stopped it, for joiners.
    last_break: Option<Message>,
    /// Engine breakpoint number → the client whose `setbreakpoint` made it.
    breakpoints: BTreeMap<u64, ClientId>,
    empty_dropped: u64,
    orphans: u64,
    departed_answers: u64,
    bad_messages: u64,
    forgotten: u64,
    warned_orphan: bool,
    warned_full: bool,
}

/// `Content-Length: N\r\n\r\n` followed by `body_parts`.
fn framed(body_parts: Vec<Chunk>) -> Message {
    let len: usize = body_parts.iter().map(|c| c.len()).sum();
    let mut parts = vec![Chunk::copy_from(
        format!("Content-Length: {len}\r\n\r\n").as_bytes(),
    )];
    parts.extend(body_parts.into_iter().filter(|c| !c.is_empty()));
    Message::from_parts(parts)
}

/// The message as one chunk, and where its body starts (after the first
/// empty header line; framing accepts `\n` as well as `\r\n`).
fn split(m: &Message) -> Option<(Chunk, usize)> {
    let chunk = m.one_chunk();
    let mut at = 0;
    loop {
        let newline = at + chunk[at..].iter().position(|&b| b == b'\n')?;
        let line = &chunk[at..newline];
        at = newline + 1;
        if line.is_empty() || line == b"\r" {
            return Some((chunk, at));
        }
    }
}

/// `body` with the value at `range` replaced by `value`.
fn spliced(chunk: &Chunk, body_at: usize, range: std::ops::Range<usize>, value: &[u8]) -> Message {
    framed(vec![
        chunk.slice(body_at, body_at + range.start),
        Chunk::copy_from(value),
        chunk.slice(body_at + range.end, chunk.len()),
    ])
}

impl V8 {
    pub fn new(settings: &Settings) -> V8 {
        V8 {
            forward_last: settings.forwards_last_goodbye,
            history: History::new(Protocol::V8, settings.backlog_bytes),
            break_backlogged: None,
            clients: BTreeMap::new(),
            next_seq: 1,
            pending: BTreeMap::new(),
            stopped: false,
            last_break: None,
            breakpoints: BTreeMap::new(),
            empty_dropped: 0,
            orphans: 0,
            departed_answers: 0,
            bad_messages: 0,
            forgotten: 0,
            warned_orphan: false,
            warned_full: false,
        }
    }

    /// Sends `m` to every client, or keeps it for the next one.
    fn tell_all(&mut self, m: Message, out: &mut Outbox) {
        self.history.tell_all(m, self.clients.is_empty(), out);
    }

    /// A response of the proxy's own to one of `client`'s requests.
    fn respond(
        &self,
        client: ClientId,
        seq: &[u8],
        command: &[u8],
        error: Option<&str>,
        out: &mut Outbox,
    ) {
        let command = if command.is_empty() {
            &b"\"\""[..]
        } else {
            command
        };
        let outcome = match error {
            None => "\"success\":true".to_string(),
            Some(why) => format!(
                "\"success\":false,\"message\":{}",
                serde_json::Value::from(why)
            ),
        };
        let body = [
            &b"{\"seq\":0,\"request_seq\":"[..],
            seq,
            b",\"type\":\"response\",\"command\":",
            command,
            b",",
            outcome.as_bytes(),
            format!(",\"running\":{}}}", !self.stopped).as_bytes(),
        ]
        .concat();
        out.send(To::Client(client), framed(vec![Chunk::copy_from(&body)]));
    }

    /// Sends `body` (a request whose `seq` is at `seq`) to V8 with the next
    /// proxy seq, remembering whom the answer is for.
    fn send(
        &mut self,
        chunk: &Chunk,
        body_at: usize,
        seq: std::ops::Range<usize>,
        pending: Pending,
        out: &mut Outbox,
    ) {
        if self.pending.len() >= MAX_IN_FLIGHT
            && let Some((&oldest, _)) = self.pending.first_key_value()
        {
            self.pending.remove(&oldest);
            self.forgotten += 1;
            if !std::mem::replace(&mut self.warned_full, true) {
                log::warn!("over {MAX_IN_FLIGHT} V8 requests unanswered: forgetting the oldest");
            }
        }
        let n = self.next_seq;
        self.next_seq += 1;
        out.send(
            To::Debugger,
            spliced(chunk, body_at, seq, n.to_string().as_bytes()),
        );
        self.pending.insert(n, pending);
    }

    /// A request of the proxy's own (`body` with `"seq":0` first).
    fn ask(&mut self, body: &str, out: &mut Outbox) {
        let chunk = Chunk::copy_from(body.as_bytes());
        let Ok([seq]) = json::fields(&chunk, ["seq"], Until::Found) else {
            return;
        };
        let Some(seq) = seq else {
            return;
        };
        log::debug!("to V8, for the proxy: {body}");
        let pending = Pending {
            from: From::Proxy,
            seq: Vec::new(),
            command: Vec::new(),
        };
        self.send(&chunk, 0, seq, pending, out);
    }

    /// A `disconnect` from `client`, whose seq and command are given.
    fn goodbye(&mut self, client: ClientId, seq: &[u8], command: &[u8], out: &mut Outbox) -> bool {
        let others = self
            .clients
            .iter()
            .any(|(&id, p)| id != client && !p.leaving);
        if !others && self.forward_last {
            log::info!("client #{client}: the last client's disconnect goes to V8");
            return false;
        }
        self.respond(client, seq, command, None, out);
        if let Some(p) = self.clients.get_mut(&client) {
            p.leaving = true;
        }
        out.close(client, "said goodbye (disconnect)");
        if others {
            log::info!("client #{client}: disconnect answered by the proxy (other clients remain)");
            return true;
        }
        log::info!(
            "client #{client}: the last client disconnected: the debuggee is kept for the next one"
        );
        let mine: Vec<u64> = self
            .breakpoints
            .iter()
            .filter(|&(_, &c)| c == client)
            .map(|(&n, _)| n)
            .collect();
        for n in mine {
            self.ask(
                &format!("{{\"seq\":0,\"type\":\"request\",\"command\":\"clearbreakpoint\",\"arguments\":{{\"breakpoint\":{n}}}}}"),
                out,
            );
        }
        if self.stopped {
            self.ask(
                "{\"seq\":0,\"type\":\"request\",\"command\":\"continue\"}",
                out,
            );
        }
        true
    }

    /// Keeps who made which breakpoint, from `setbreakpoint` and
    /// `clearbreakpoint` responses.
    fn track_breakpoint(&mut self, body: &[u8], command: &[u8], owner: Option<ClientId>) {
        let set = command == b"\"setbreakpoint\"";
        if !set && command != b"\"clearbreakpoint\"" {
            return;
        }
        let Ok([success, inner]) = json::fields(body, ["success", "body"], Until::Found) else {
            return;
        };
        let Some(inner) = inner.filter(|_| json::boolean(body, &success) == Some(true)) else {
            return;
        };
        let inner = &body[inner];
        let Ok([number]) = json::fields(inner, ["breakpoint"], Until::Found) else {
            return;
        };
        let Some(n) = json::unsigned(inner, &number) else {
            return;
        };
        match owner {
            Some(c) if set && (self.breakpoints.len() < MAX_BREAKPOINTS) => {
                self.breakpoints.insert(n, c);
            }
            _ if !set => {
                self.breakpoints.remove(&n);
            }
            _ => {}
        }
    }
}

/// `"running"` of a V8 response: V8 writes it last, so the end of the body
/// usually tells without reading the rest.
fn running(body: &[u8]) -> Option<bool> {
    let t = body.trim_ascii_end();
    if t.ends_with(b",\"running\":true}") {
        return Some(true);
    }
    if t.ends_with(b",\"running\":false}") {
        return Some(false);
    }
    let [r] = json::fields(body, ["running"], Until::Found).ok()?;
    json::boolean(body, &r)
}
