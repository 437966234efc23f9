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
//!
//! Where each rule lives: `client.rs` (what a client sends), `debugger.rs`
//! (what V8 sends), `inflight.rs` (who waits for which answer),
//! `goodbye.rs`, `breakpoints.rs`, `joiners.rs` (what a joiner learns).

mod breakpoints;
mod client;
mod debugger;
mod goodbye;
mod inflight;
mod joiners;
#[cfg(test)]
mod tests;

use serde_json::{Map, Value};

use self::breakpoints::Owners;
use self::inflight::Requests;
use super::history::History;
use super::kit::{Roster, WarnOnce};
use super::{ClientId, Outbox, Session, Settings};
use crate::framing::{Message, Protocol};

pub struct V8 {
    forwards_last_goodbye: bool,
    /// The greeting and the events nobody was connected to hear.
    history: History,
    clients: Roster<()>,
    requests: Requests,
    run: Run,
    empty_dropped: u64,
    orphans: u64,
    departed_answers: u64,
    bad_messages: u64,
    warned: WarnOnce,
}

/// What belongs to one V8 connection, dropped whole when it goes.
#[derive(Default)]
struct Run {
    /// V8 says `"running"` in every response: the truth about the debuggee.
    stopped: bool,
    /// The event that stopped it, for joiners.
    last_break: Option<Message>,
    /// The backlog's dropped bytes when the last break went into it: the
    /// joiner reads it there, unless the backlog dropped some since.
    break_backlogged: Option<u64>,
    breakpoints: Owners,
}

impl V8 {
    pub fn new(settings: &Settings) -> V8 {
        V8 {
            forwards_last_goodbye: settings.forwards_last_goodbye,
            history: History::new(Protocol::V8, settings.backlog_bytes),
            clients: Roster::default(),
            requests: Requests::default(),
            run: Run::default(),
            empty_dropped: 0,
            orphans: 0,
            departed_answers: 0,
            bad_messages: 0,
            warned: WarnOnce::default(),
        }
    }

    /// Sends `m` to every client, or keeps it for the next one.
    fn tell_all(&mut self, m: Message, out: &mut Outbox) {
        self.history.tell_all(m, self.clients.is_empty(), out);
    }
}

impl Session for V8 {
    fn client_joined(&mut self, client: ClientId, out: &mut Outbox) {
        self.clients.join(client, ());
        self.replay(client, out);
    }

    fn from_client(&mut self, client: ClientId, message: Message, out: &mut Outbox) {
        self.client_message(client, message, out);
    }

    fn client_left(&mut self, client: ClientId, _out: &mut Outbox) {
        self.clients.leave(client);
        self.requests.depart(client);
    }

    fn debugger_up(&mut self, _out: &mut Outbox) {
        log::debug!("V8 is up: its Type: connect goes to every client");
    }

    fn from_debugger(&mut self, message: Message, out: &mut Outbox) {
        self.debugger_message(message, out);
    }

    fn debugger_lost(&mut self, out: &mut Outbox) {
        self.lost(out);
    }

    fn client_status(&self, client: ClientId) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert(
            "requests_in_flight".into(),
            self.requests.count(client).into(),
        );
        m
    }

    fn counters(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("requests_in_flight".into(), self.requests.len().into());
        m.insert(
            "empty_v8_messages_dropped".into(),
            self.empty_dropped.into(),
        );
        m.insert("orphan_responses_dropped".into(), self.orphans.into());
        m.insert(
            "answers_to_departed_clients_dropped".into(),
            self.departed_answers.into(),
        );
        m.insert("bad_client_messages".into(), self.bad_messages.into());
        m.insert(
            "requests_forgotten".into(),
            self.requests.forgotten().into(),
        );
        self.history.counters(&mut m);
        m
    }
}
