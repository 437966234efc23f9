//! What a joiner reads before the live stream: the debugger's greeting, then
//! what the debugger said to everyone while no client was connected (the
//! backlog, whole messages, bounded). Used by the sessions that route
//! (GDB/MI, V8); they add the current state after it.
//!
//! When a debugger session ends unheard, its output keeps its own greeting in
//! front of it, and the next session's greeting and output follow it in the
//! backlog, so a client that comes back reads one coherent timeline.

use super::backlog::Backlog;
use super::greeting::Greeting;
use super::{ClientId, Outbox, To};
use crate::framing::{Message, Protocol};

pub struct History {
    greeting: Greeting,
    backlog: Backlog,
    /// The backlog starts with an earlier debugger session: it is the
    /// timeline, and holds the current greeting too.
    earlier: bool,
}

impl History {
    pub fn new(protocol: Protocol, backlog_bytes: usize) -> History {
        History {
            greeting: Greeting::new(protocol),
            backlog: Backlog::new(backlog_bytes, false),
            earlier: false,
        }
    }

    /// Whether `message` belongs to the greeting (and goes to all as it is).
    pub fn greeting(&mut self, message: &Message, nobody_here: bool) -> bool {
        let greeting = self.greeting.collect(message);
        if greeting && nobody_here && self.earlier {
            self.backlog.push(message);
        }
        greeting
    }

    /// Whether the greeting is still being collected.
    pub fn greeting_open(&self) -> bool {
        self.greeting.is_open()
    }

    /// Keeps a message meant for all while nobody is connected.
    pub fn keep(&mut self, message: &Message) {
        self.backlog.push(message);
    }

    /// A message for every client: sent to all, or kept for the next one
    /// while nobody is connected.
    pub fn tell_all(&mut self, message: Message, nobody_here: bool, out: &mut Outbox) {
        if nobody_here {
            self.keep(&message);
        } else {
            out.send(To::All, message);
        }
    }

    /// Bytes the backlog has dropped so far.
    pub fn dropped(&self) -> u64 {
        self.backlog.dropped
    }

    /// Sends a joiner the greeting and the backlog.
    pub fn replay(&mut self, client: ClientId, out: &mut Outbox) {
        if !std::mem::take(&mut self.earlier) {
            self.greeting.replay(client, out);
        }
        self.backlog.replay(client, out);
    }

    /// The debugger session ended: the next one has its own greeting.
    pub fn lost(&mut self) {
        if !self.backlog.is_empty() {
            if !self.earlier {
                self.backlog.prepend(self.greeting.messages());
            }
            self.earlier = true;
        }
        self.greeting.reset();
    }

    pub fn counters(&self, m: &mut serde_json::Map<String, serde_json::Value>) {
        self.backlog.counters(m);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(s: &str) -> Message {
        Message::from_bytes(s.as_bytes())
    }

    fn replayed(h: &mut History) -> String {
        let mut out = Outbox::default();
        h.replay(1, &mut out);
        out.drain()
            .map(|a| match a {
                super::super::Action::Send(_, m) => String::from_utf8(m.to_vec()).unwrap(),
                _ => String::new(),
            })
            .collect()
    }

    #[test]
    fn greeting_then_backlog_and_an_unheard_session_stays_in_order() {
        let mut h = History::new(Protocol::V8, 1 << 10);
        assert!(h.greeting(&msg("G1"), true));
        h.keep(&msg("a"));
        assert_eq!(replayed(&mut h), "G1a");
        assert_eq!(replayed(&mut h), "G1");
        h.keep(&msg("b"));
        h.lost();
        assert!(h.greeting(&msg("G2"), true));
        h.keep(&msg("c"));
        assert_eq!(replayed(&mut h), "G1bG2c");
        assert_eq!(replayed(&mut h), "G2");
    }
}
