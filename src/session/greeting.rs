//! The debugger's greeting: what it says first on every new debugger session
//! (V8's `Type: connect`, DBGp's `<init>`, gdb's records through its first
//! `(gdb) ` prompt), kept as whole messages so that every client that joins
//! later reads it first, as if it had been there. Shared by every session
//! module; bounded.

use super::{ClientId, Outbox, To};
use crate::framing::{Message, Protocol};
use crate::protocol::{greeting_ends, has_greeting};

/// A greeting that has not ended by this size stops being collected.
const MAX_GREETING: usize = 1 << 20;

pub struct Greeting {
    protocol: Protocol,
    messages: Vec<Message>,
    len: usize,
    open: bool,
}

impl Greeting {
    pub fn new(protocol: Protocol) -> Greeting {
        Greeting {
            protocol,
            messages: Vec::new(),
            len: 0,
            open: has_greeting(protocol),
        }
    }

    /// Keeps `message` as part of the greeting while the greeting is open;
    /// returns whether it was.
    pub fn collect(&mut self, message: &Message) -> bool {
        if !self.open {
            return false;
        }
        self.messages.push(message.clone());
        self.len += message.len;
        let complete = greeting_ends(self.protocol, message);
        if complete || self.len > MAX_GREETING {
            self.open = false;
            if !complete {
                log::warn!(
                    "the debugger's greeting ran past {MAX_GREETING} bytes: not keeping more of it"
                );
            }
            log::debug!(
                "greeting: {} bytes, replayed to every client that connects later",
                self.len
            );
        }
        true
    }

    /// Sends what has been kept so far to `client`.
    pub fn replay(&self, client: ClientId, out: &mut Outbox) {
        if self.messages.is_empty() {
            return;
        }
        log::debug!(
            "client #{client}: replaying the debugger's greeting ({} bytes)",
            self.len
        );
        for m in &self.messages {
            out.send(To::Client(client), m.clone());
        }
    }

    pub fn messages(&self) -> &[Message] {
        &self.messages
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// Whether the greeting is still being collected (the debugger has not
    /// finished it, or has not started).
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// Forgets the greeting: the next debugger session says its own.
    pub fn reset(&mut self) {
        self.messages.clear();
        self.len = 0;
        self.open = has_greeting(self.protocol);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(s: &str, prompt: bool) -> Message {
        let mut m = Message::from_bytes(s.as_bytes());
        m.prompt = prompt;
        m
    }

    #[test]
    fn gdb_greeting_ends_at_the_first_prompt_and_starts_anew_after_reset() {
        let mut g = Greeting::new(Protocol::GdbMi);
        assert!(g.collect(&line("=thread-group-added,id=\"i1\"\n", false)));
        assert!(g.collect(&line("(gdb) \n", true)));
        assert!(!g.collect(&line("~\"later\"\n", false)));
        assert_eq!(g.messages().len(), 2);
        g.reset();
        assert!(g.is_open() && g.is_empty());
    }

    #[test]
    fn dap_has_no_greeting() {
        let mut g = Greeting::new(Protocol::Dap);
        assert!(!g.collect(&line("x", false)));
    }
}
