//! What the debugger said while no client was there to hear it, kept for the
//! next client that connects: bounded, oldest dropped first — whole messages
//! with a framed protocol, bytes with raw — warned once per episode, counted.

use serde_json::{Map, Value};

use super::{ClientId, Outbox, To};
use crate::framing::Message;
use crate::net::queue::ChunkQueue;

pub struct Backlog {
    bound: usize,
    /// Raw bytes have no message boundaries to keep.
    raw: bool,
    bytes: ChunkQueue,
    lens: std::collections::VecDeque<usize>,
    overflowing: bool,
    pub dropped: u64,
}

impl Backlog {
    pub fn new(bound: usize, raw: bool) -> Backlog {
        Backlog {
            bound,
            raw,
            bytes: ChunkQueue::new(),
            lens: Default::default(),
            overflowing: false,
            dropped: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub fn push(&mut self, message: &Message) {
        for part in message.parts() {
            self.bytes.push(part.clone());
        }
        self.lens.push_back(message.len);
        let mut dropped = 0;
        if self.raw {
            dropped = self.bytes.trim_to(self.bound);
        } else {
            // The newest message stays whatever its size (it is within
            // --max-message): a message larger than the bound must still
            // reach the next client whole.
            while self.bytes.len() > self.bound && self.lens.len() > 1 {
                let Some(len) = self.lens.pop_front() else {
                    break;
                };
                self.bytes.consume(len);
                dropped += len;
            }
        }
        if dropped > 0 {
            self.dropped += dropped as u64;
            if !self.overflowing {
                self.overflowing = true;
                log::warn!(
                    "no client connected and over {} bytes of debugger output kept (--backlog-bytes): dropping the oldest{}",
                    self.bound,
                    if self.raw { "" } else { " whole messages" }
                );
            }
        }
    }

    /// Puts `messages` (a greeting) in front of what is kept, whatever the bound.
    pub fn prepend(&mut self, messages: &[Message]) {
        let mut front = ChunkQueue::new();
        for m in messages {
            for part in m.parts() {
                front.push(part.clone());
            }
        }
        front.append(&mut self.bytes);
        self.bytes = front;
        for m in messages.iter().rev() {
            self.lens.push_front(m.len);
        }
    }

    /// Everything kept, as one message, leaving the backlog empty.
    pub fn take(&mut self) -> Option<Message> {
        if self.bytes.is_empty() {
            return None;
        }
        let parts = self.bytes.chunks().cloned().collect();
        self.bytes.clear();
        self.lens.clear();
        self.overflowing = false;
        Some(Message::from_parts(parts))
    }

    /// Sends a joiner everything kept, leaving the backlog empty.
    pub fn replay(&mut self, client: ClientId, out: &mut Outbox) {
        if let Some(kept) = self.take() {
            log::info!(
                "client #{client}: delivering {} bytes the debugger said while no client was connected",
                kept.len
            );
            out.send(To::Client(client), kept);
        }
    }

    pub fn counters(&self, m: &mut Map<String, Value>) {
        m.insert("backlog_bytes".into(), self.len().into());
        m.insert("backlog_bytes_dropped".into(), self.dropped.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(s: &str) -> Message {
        Message::from_bytes(s.as_bytes())
    }

    #[test]
    fn framed_backlog_drops_whole_messages_oldest_first() {
        let mut b = Backlog::new(10, false);
        b.push(&msg("aaaa"));
        b.push(&msg("bbbb"));
        b.push(&msg("cccc"));
        assert_eq!(b.dropped, 4);
        b.prepend(&[msg("G")]);
        assert_eq!(b.take().unwrap().to_vec(), b"Gbbbbcccc");
        assert!(b.take().is_none());
    }

    #[test]
    fn a_message_larger_than_the_bound_is_kept_whole() {
        let mut b = Backlog::new(4, false);
        b.push(&msg("aa"));
        b.push(&msg("0123456789"));
        assert_eq!(b.dropped, 2);
        assert_eq!(b.take().unwrap().to_vec(), b"0123456789");
    }

    #[test]
    fn raw_backlog_keeps_the_newest_bytes() {
        let mut b = Backlog::new(5, true);
        b.push(&msg("0123456789"));
        assert_eq!(b.dropped, 5);
        assert_eq!(b.take().unwrap().to_vec(), b"56789");
    }
}
