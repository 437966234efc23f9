//! A session driven by a recorded transcript of a real debugger, around
//! simulated clients named by letters, over a [`Sim`].
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

use super::Sim;
use crate::framing::{Assembler, Direction, Message, Protocol};
use crate::net::queue::Chunk;
use crate::session::{Action, ClientId, Session};

pub struct Run<S> {
    pub sim: Sim<S>,
    protocol: Protocol,
    ids: BTreeMap<String, ClientId>,
    pub expected_to_debugger: Vec<Vec<u8>>,
}

impl<S: Session> Run<S> {
    /// The session, its debugger up.
    pub fn new(session: S, protocol: Protocol) -> Run<S> {
        let mut run = Run {
            sim: Sim::new(session),
            protocol,
            ids: BTreeMap::new(),
            expected_to_debugger: Vec::new(),
        };
        run.up();
        run
    }

    pub fn id(&mut self, name: &str) -> ClientId {
        let next = self.ids.len() as ClientId + 1;
        *self.ids.entry(name.to_string()).or_insert(next)
    }

    pub fn join(&mut self, name: &str) {
        let id = self.id(name);
        no_restart(self.sim.join(id));
    }

    pub fn leave(&mut self, name: &str) {
        let id = self.id(name);
        no_restart(self.sim.leave(id));
    }

    pub fn up(&mut self) {
        no_restart(self.sim.up());
    }

    pub fn lost(&mut self) {
        no_restart(self.sim.lost());
    }

    /// A client's bytes, framed as the event loop frames them: one read.
    pub fn client_sends_bytes(&mut self, name: &str, bytes: &[u8]) {
        let mut messages = Vec::new();
        let mut assembler = Assembler::new(self.protocol, Direction::ToDebugger, 1 << 24);
        assembler
            .feed(Chunk::copy_from(bytes), |m| messages.push(m))
            .expect("the client's message frames");
        let id = self.id(name);
        no_restart(self.sim.read(id, messages));
    }

    pub fn client_sends(&mut self, name: &str, message: Message) {
        let id = self.id(name);
        no_restart(self.sim.from_client(id, message));
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
            no_restart(self.sim.from_debugger(m));
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
                    "up" => self.up(),
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

    /// Checks that what reached the debugger is what the transcript's `>>>`
    /// lines say it got; `debugger` names it in the message.
    pub fn check_forwarded(&self, debugger: &str) {
        let text = |v: &[Vec<u8>]| {
            v.iter()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            text(&self.sim.to_debugger),
            text(&self.expected_to_debugger),
            "what reached {debugger}"
        );
    }

    /// What `name` received, message by message.
    pub fn messages(&self, name: &str) -> &[Vec<u8>] {
        self.ids
            .get(name)
            .and_then(|id| self.sim.got.get(id))
            .map_or(&[], |v| v)
    }

    /// What `name` received, as text.
    pub fn text(&self, name: &str) -> String {
        String::from_utf8_lossy(&self.messages(name).concat()).into_owned()
    }

    /// The clients the session closed, by name, in order.
    pub fn closed(&self) -> Vec<&str> {
        let name = |id: &ClientId| {
            self.ids
                .iter()
                .find(|(_, i)| *i == id)
                .map(|(n, _)| n.as_str())
        };
        self.sim.closed.iter().filter_map(name).collect()
    }

    pub fn counter(&self, name: &str) -> u64 {
        self.sim.counter(name)
    }
}

/// These protocols' sessions never restart their debugger.
fn no_restart(actions: Vec<Action>) {
    for a in actions {
        if let Action::RestartDebugger(why) = a {
            panic!("unexpected restart: {why}");
        }
    }
}

/// How many times `needle` occurs in `hay`.
pub fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}
