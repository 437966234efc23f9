//! The session for protocols the proxy does not rewrite: every client's
//! message goes to the debugger, every debugger message to every client.
//!
//! What it adds to plain fan-out is what a client that connects later needs:
//! the debugger's greeting (V8's `Type: connect`, DBGp's `<init>`, gdb's
//! records through its first prompt) replayed first, then whatever the
//! debugger said while nobody was connected (the backlog). With raw bytes
//! there are no messages and no greeting: a "message" is one read.

use serde_json::{Map, Value};

use super::backlog::Backlog;
use super::greeting::Greeting;
use super::{ClientId, Outbox, Session, Settings, To};
use crate::framing::{Message, Protocol};

pub struct Passthrough {
    protocol: Protocol,
    clients: usize,
    /// The current debugger session's greeting, replayed to later clients.
    greeting: Greeting,
    backlog: Backlog,
    empty_v8_messages_dropped: u64,
}

impl Passthrough {
    pub fn new(settings: &Settings) -> Passthrough {
        Passthrough {
            protocol: settings.protocol,
            clients: 0,
            greeting: Greeting::new(settings.protocol),
            backlog: Backlog::new(settings.backlog_bytes, settings.protocol == Protocol::Raw),
            empty_v8_messages_dropped: 0,
        }
    }
}

impl Session for Passthrough {
    fn client_joined(&mut self, client: ClientId, out: &mut Outbox) {
        self.clients += 1;
        self.greeting.replay(client, out);
        self.backlog.replay(client, out);
    }

    fn from_client(&mut self, client: ClientId, message: Message, out: &mut Outbox) {
        if self.protocol == Protocol::V8 && message.empty_body {
            // Cloud9's IDE sends this on reconnect; V8 would take it for a
            // lost connection and drop all breakpoints.
            log::debug!("client #{client}: dropping an empty V8 message (Content-Length: 0)");
            self.empty_v8_messages_dropped += 1;
            return;
        }
        out.send(To::Debugger, message);
    }

    fn client_left(&mut self, _client: ClientId, _out: &mut Outbox) {
        self.clients = self.clients.saturating_sub(1);
    }

    fn debugger_up(&mut self, _out: &mut Outbox) {}

    fn from_debugger(&mut self, message: Message, out: &mut Outbox) {
        let greeting = self.greeting.collect(&message);
        if self.clients > 0 {
            out.send(To::All, message);
        } else if !greeting {
            // The greeting is kept apart: it is replayed, never backlogged.
            self.backlog.push(&message);
        }
    }

    fn debugger_lost(&mut self, _out: &mut Outbox) {
        // Output nobody saw keeps its session's greeting in front of it, so
        // that a client that comes back later reads a coherent transcript.
        if !self.backlog.is_empty() && !self.greeting.is_empty() {
            self.backlog.prepend(self.greeting.messages());
        }
        self.greeting.reset();
    }

    fn counters(&self) -> Map<String, Value> {
        let mut m = Map::new();
        self.backlog.counters(&mut m);
        if self.protocol == Protocol::V8 {
            m.insert(
                "empty_v8_messages_dropped".into(),
                self.empty_v8_messages_dropped.into(),
            );
        }
        m
    }
}
