//! Test support: a session driven by a recorded transcript of a real
//! debugger, around simulated clients, doing what the event loop would do
//! with the actions (deliver to whoever has joined and not left, call
//! `client_left` after a `Close`).
//!
//! A transcript is the debugger's output, verbatim, with scenario lines:
//! - `### join X`, `### leave X`, `### lost`, `### up`;
//! - `>>> [X] message`: what client `X` sent, which the session must pass to
//!   the debugger (it did reach the real one); `[P]` is a message the
//!   session must send of its own accord;
//! - `>>| [X] message`: what client `X` sent, which the session must answer
//!   itself (the real debugger never saw it).
//!
//! How a message is written on one line depends on the protocol (the test
//! says, with `frame`): gdb lines as they are; V8 bodies, with the seq the
//! debugger got. With Content-Length framing, whose messages do not end in
//! a newline, each scenario line is preceded by a newline of its own.

use std::collections::BTreeMap;

use super::{Action, ClientId, Outbox, Session, To};
use crate::framing::{Assembler, Direction, Message, Protocol};
use crate::net::queue::Chunk;

pub struct Run {
    pub session: Box<dyn Session>,
    protocol: Protocol,
    ids: BTreeMap<String, ClientId>,
    here: BTreeMap<ClientId, String>,
    /// Every byte each client received, and each message separately.
    pub got: BTreeMap<String, Vec<u8>>,
    pub messages: BTreeMap<String, Vec<Vec<u8>>>,
    pub closed: Vec<String>,
    pub to_debugger: Vec<Vec<u8>>,
    pub expected_to_debugger: Vec<Vec<u8>>,
    out: Outbox,
}

impl Run {
    pub fn new(session: Box<dyn Session>, protocol: Protocol) -> Run {
        let mut run = Run {
            session,
            protocol,
            ids: BTreeMap::new(),
            here: BTreeMap::new(),
            got: BTreeMap::new(),
            messages: BTreeMap::new(),
            closed: Vec::new(),
            to_debugger: Vec::new(),
            expected_to_debugger: Vec::new(),
            out: Outbox::default(),
        };
        run.session.debugger_up(&mut run.out);
        run.settle();
        run
    }

    pub fn id(&mut self, name: &str) -> ClientId {
        let next = self.ids.len() as ClientId + 1;
        *self.ids.entry(name.to_string()).or_insert(next)
    }

    pub fn join(&mut self, name: &str) {
        let id = self.id(name);
        self.here.insert(id, name.to_string());
        self.got.entry(name.to_string()).or_default();
        self.session.client_joined(id, &mut self.out);
        self.settle();
    }

    pub fn leave(&mut self, name: &str) {
        let id = self.id(name);
        if self.here.remove(&id).is_some() {
            self.session.client_left(id, &mut self.out);
            self.settle();
        }
    }

    pub fn lost(&mut self) {
        self.session.debugger_lost(&mut self.out);
        self.settle();
    }

    /// A client's bytes, framed as the event loop frames them.
    pub fn client_sends_bytes(&mut self, name: &str, bytes: &[u8]) {
        let mut messages = Vec::new();
        let mut assembler = Assembler::new(self.protocol, Direction::ToDebugger, 1 << 24);
        assembler
            .feed(Chunk::copy_from(bytes), |m| messages.push(m))
            .expect("the client's message frames");
        for m in messages {
            self.client_sends(name, m);
        }
    }

    pub fn client_sends(&mut self, name: &str, message: Message) {
        let id = self.id(name);
        self.session.from_client(id, message, &mut self.out);
        self.settle();
    }

    /// Debugger output, framed as the event loop frames it.
    pub fn debugger_says(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let mut messages = Vec::new();
        let mut assembler = Assembler::new(self.protocol, Direction::FromDebugger, 1 << 24);
        assembler
            .feed(Chunk::copy_from(bytes), |m| messages.push(m))
            .expect("the transcript frames");
        assert!(
            assembler.at_boundary(),
            "a transcript part ends mid-message"
        );
        for m in messages {
            self.session.from_debugger(m, &mut self.out);
            self.settle();
        }
    }

    fn deliver(&mut self, id: ClientId, m: &Message) {
        if let Some(name) = self.here.get(&id) {
            let bytes = m.to_vec();
            self.got
                .entry(name.clone())
                .or_default()
                .extend_from_slice(&bytes);
            self.messages.entry(name.clone()).or_default().push(bytes);
        }
    }

    fn settle(&mut self) {
        loop {
            let actions: Vec<Action> = self.out.drain().collect();
            if actions.is_empty() {
                return;
            }
            for a in actions {
                match a {
                    Action::Send(To::Debugger, m) => self.to_debugger.push(m.to_vec()),
                    Action::Send(To::Client(id), m) => self.deliver(id, &m),
                    Action::Send(To::All, m) => {
                        for id in self.here.keys().copied().collect::<Vec<_>>() {
                            self.deliver(id, &m);
                        }
                    }
                    Action::Send(To::AllBut(x), m) => {
                        for id in self.here.keys().copied().collect::<Vec<_>>() {
                            if id != x {
                                self.deliver(id, &m);
                            }
                        }
                    }
                    Action::RestartDebugger(why) | Action::CloseDebugger(why) => {
                        panic!("unexpected restart: {why}")
                    }
                    Action::Close(id, _) => {
                        if let Some(name) = self.here.remove(&id) {
                            self.closed.push(name);
                            self.session.client_left(id, &mut self.out);
                        }
                    }
                }
            }
        }
    }

    /// Plays a transcript; `frame` turns a scenario line's message into the
    /// bytes the client sends and the bytes the debugger must get.
    pub fn play(&mut self, transcript: &str, frame: impl Fn(&str) -> (Vec<u8>, Vec<u8>)) {
        let own_newline = self.protocol != Protocol::GdbMi;
        let mut pending = String::new();
        for line in transcript.split_inclusive('\n') {
            let scenario =
                line.starts_with("### ") || line.starts_with(">>> [") || line.starts_with(">>| [");
            if !scenario {
                pending.push_str(line);
                continue;
            }
            if own_newline {
                pending.pop();
            }
            self.debugger_says(std::mem::take(&mut pending).as_bytes());
            let line = line.trim_end_matches('\n');
            if let Some(d) = line.strip_prefix("### ") {
                let (what, who) = d.split_once(' ').unwrap_or((d, ""));
                match what {
                    "join" => self.join(who),
                    "leave" => self.leave(who),
                    "lost" => self.lost(),
                    "up" => {
                        self.session.debugger_up(&mut self.out);
                        self.settle();
                    }
                    _ => panic!("unknown directive {d}"),
                }
                continue;
            }
            let forwarded = line.starts_with(">>>");
            let (who, text) = line[5..]
                .split_once("] ")
                .unwrap_or((&line[5..line.len() - 1], ""));
            let (sent, got) = frame(text);
            if forwarded {
                self.expected_to_debugger.push(got);
            }
            if who != "P" {
                self.client_sends_bytes(who, &sent);
            }
        }
        self.debugger_says(pending.as_bytes());
    }

    /// What `name` received, as text.
    pub fn text(&self, name: &str) -> String {
        String::from_utf8_lossy(self.got.get(name).map_or(&[][..], |v| v)).into_owned()
    }

    pub fn counter(&self, name: &str) -> u64 {
        self.session
            .counters()
            .get(name)
            .and_then(|v| v.as_u64())
            .unwrap_or_else(|| panic!("no counter {name}"))
    }
}

/// How many times `needle` occurs in `hay`.
pub fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}
