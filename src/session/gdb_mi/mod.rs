//! The GDB/MI session: several MI clients share one gdb (SESSIONS.md,
//! "GDB/MI").
//!
//! gdb answers commands strictly in order, one result record each, so routing
//! needs no rewriting: a FIFO remembers who sent each line, and the result
//! record, the stream records of the command and the `(gdb) ` prompt after
//! the result go to that client only; async records go to everyone. What gdb
//! tells only the channel that made a change (MI-made breakpoints) is
//! announced to the others. Goodbyes are answered here while others remain,
//! and a joiner learns the greeting, the live inferiors, the breakpoints and
//! whether the debuggee is stopped or running.
//!
//! Where each rule lives: `client.rs` (what a client sends), `debugger.rs`
//! (what gdb sends), `inflight.rs` (the FIFO: who reads which answer),
//! `goodbye.rs`, `breakpoints.rs`, `joiners.rs` (what a joiner learns);
//! `mi.rs` reads MI lines.

mod breakpoints;
mod client;
mod debugger;
mod goodbye;
mod inflight;
mod joiners;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use self::breakpoints::Breakpoints;
use self::inflight::{Fifo, Prompt};
use super::history::History;
use super::kit::{Roster, WarnOnce};
use super::{ClientId, Outbox, Session, Settings};
use crate::framing::{Message, Protocol};
use crate::protocol::gdb_mi::mi;

/// Inferiors remembered for joiners.
const MAX_GROUPS: usize = 256;

/// What one client is.
#[derive(Default)]
struct Peer {
    warned: WarnOnce,
}

pub struct GdbMi {
    forwards_last_goodbye: bool,
    /// The greeting and what gdb said to all while nobody was connected.
    history: History,
    clients: Roster<Peer>,
    fifo: Fifo,
    prompt_for: Option<Prompt>,
    run: Run,
    breakpoints: Breakpoints,
    orphan_results: u64,
    departed_answers: u64,
    bad_lines: u64,
    warned: WarnOnce,
}

/// What belongs to one gdb, dropped whole when it goes.
#[derive(Default)]
struct Run {
    /// The backlog's dropped bytes when the stop state went into it: the
    /// joiner reads it there, unless the backlog dropped some since.
    stop_backlogged: Option<u64>,
    /// The last `*running` while running, the last `*stopped` while stopped
    /// (not after the inferior exited).
    running: Option<Message>,
    stopped: Option<Message>,
    /// Live inferiors: id → their `=thread-group-started` record.
    groups: BTreeMap<Vec<u8>, Message>,
}

impl GdbMi {
    pub fn new(settings: &Settings) -> GdbMi {
        GdbMi {
            forwards_last_goodbye: settings.forwards_last_goodbye,
            history: History::new(Protocol::GdbMi, settings.backlog_bytes),
            clients: Roster::default(),
            fifo: Fifo::default(),
            prompt_for: None,
            run: Run::default(),
            breakpoints: Breakpoints::default(),
            orphan_results: 0,
            departed_answers: 0,
            bad_lines: 0,
            warned: WarnOnce::default(),
        }
    }

    /// Sends `m` to every client, or keeps it for the next one.
    fn tell_all(&mut self, m: Message, out: &mut Outbox) {
        self.history.tell_all(m, self.clients.is_empty(), out);
    }
}

impl Session for GdbMi {
    fn client_joined(&mut self, client: ClientId, out: &mut Outbox) {
        self.clients.join(client, Peer::default());
        self.replay(client, out);
    }

    fn from_client(&mut self, client: ClientId, message: Message, out: &mut Outbox) {
        self.client_line(client, message, out);
    }

    fn client_left(&mut self, client: ClientId, _out: &mut Outbox) {
        self.clients.leave(client);
        self.fifo.depart(client);
        if matches!(self.prompt_for, Some(Prompt::Client(c)) if c == client) {
            self.prompt_for = Some(Prompt::Nobody);
        }
    }

    fn debugger_up(&mut self, _out: &mut Outbox) {
        log::debug!("gdb is up: its greeting goes to every client");
    }

    fn from_debugger(&mut self, message: Message, out: &mut Outbox) {
        self.debugger_line(message, out);
    }

    fn debugger_lost(&mut self, out: &mut Outbox) {
        self.lost(out);
    }

    fn client_status(&self, client: ClientId) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert(
            "commands_in_flight".into(),
            self.fifo.sent_by(client).into(),
        );
        m
    }

    fn counters(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("commands_in_flight".into(), self.fifo.len().into());
        m.insert("orphan_results_dropped".into(), self.orphan_results.into());
        m.insert(
            "answers_to_departed_clients_dropped".into(),
            self.departed_answers.into(),
        );
        m.insert("bad_client_lines".into(), self.bad_lines.into());
        m.insert("commands_refused".into(), self.fifo.refused().into());
        m.insert(
            "breakpoints_untracked".into(),
            self.breakpoints.untracked.into(),
        );
        self.history.counters(&mut m);
        m
    }
}
