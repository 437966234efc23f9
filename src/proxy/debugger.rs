//! The proxy's side of one debugger (one row of the session table,
//! `proxy/rows.rs`): the backend that reaches it, the live link once it is
//! up, the bounded queue of input on its way to it, and the assembler that
//! cuts its output into whole messages.
//!
//! Bytes from the debugger leave here as whole messages for its row's session
//! layer (`proxy/debugger_side.rs` hands them over); bytes to it arrive here as whole messages the
//! session layer addressed `To::Debugger`. Input queued while no debugger is
//! up is held for the next one, and dropped when a debugger goes: it was
//! addressed to that debugger session.

use std::io;
use std::time::Instant;

use mio::Registry;

use crate::backends::{Backend, Link};
use crate::config::Config;
use crate::framing::{Assembler, Direction, Message, Protocol};
use crate::net::queue::{Chunk, ChunkQueue};
use crate::net::result::{self, SocketResult};

/// The kind of the `Error` a read gives for output that breaks the
/// protocol's framing; no read or write of a socket or pipe gives it.
const MALFORMED: io::ErrorKind = io::ErrorKind::InvalidData;

/// Why the link ended, for the log, from what a read (`reading`) or a
/// write came to; `None` while it goes on.
pub fn ended(result: SocketResult, reading: bool) -> Option<String> {
    match result {
        SocketResult::Continue | SocketResult::WouldBlock => None,
        SocketResult::Closed => Some("end of its output".into()),
        SocketResult::Error(e) if e.kind() == MALFORMED => Some(e.to_string()),
        SocketResult::Error(e) if reading => Some(format!("read failed: {e}")),
        SocketResult::Error(e) => Some(format!("write failed: {e}")),
    }
}

pub struct Debugger {
    pub backend: Backend,
    link: Option<Link>,
    /// Edge-triggered readiness not yet drained.
    pub readable: bool,
    since: Instant,
    /// Client input on its way to the debugger, or waiting for it.
    queue: ChunkQueue,
    /// Past this, clients are not read until the debugger catches up.
    bound: usize,
    output: Assembler,
    protocol: Protocol,
    max_message: usize,
}

impl Debugger {
    pub fn new(backend: Backend, config: &Config) -> Debugger {
        Debugger {
            backend,
            link: None,
            readable: false,
            since: Instant::now(),
            queue: ChunkQueue::new(),
            bound: config.backlog_bytes,
            output: Assembler::new(config.protocol, Direction::FromDebugger, config.max_message),
            protocol: config.protocol,
            max_message: config.max_message,
        }
    }

    pub fn is_up(&self) -> bool {
        self.link.is_some()
    }

    /// Whether events for `token` are about the live link.
    pub fn owns_link(&self, token: mio::Token) -> bool {
        self.link.as_ref().is_some_and(|l| l.owns(token))
    }

    pub fn up(&mut self, link: Link, now: Instant) {
        self.link = Some(link);
        // The debugger may have spoken already: its edge can come with the connect.
        self.readable = true;
        self.since = now;
        if !self.queue.is_empty() {
            log::debug!(
                "delivering {} bytes of client input held for the debugger",
                self.queue.len()
            );
        }
    }

    /// Drops the link and what belonged to its session; returns how long it
    /// lasted, or `None` when no link was up.
    pub fn close(&mut self, registry: &Registry, now: Instant) -> Option<std::time::Duration> {
        let link = self.link.take()?;
        link.close(registry);
        self.readable = false;
        let fresh = Assembler::new(self.protocol, Direction::FromDebugger, self.max_message);
        let old = std::mem::replace(&mut self.output, fresh);
        if old.pending() > 0 {
            log::debug!(
                "dropping {} bytes of an incomplete debugger message",
                old.pending()
            );
        }
        if !self.queue.is_empty() {
            log::debug!(
                "dropping {} bytes of client input the lost debugger never read",
                self.queue.len()
            );
            self.queue.clear();
        }
        Some(now.duration_since(self.since))
    }

    /// Queues a whole message for the debugger.
    pub fn send(&mut self, message: &Message) {
        for part in message.parts() {
            self.queue.push(part.clone());
        }
    }

    /// Whether the queue to the debugger is at its bound, so that clients are
    /// not read until it drains.
    pub fn input_full(&self) -> bool {
        self.queue.len() >= self.bound
    }

    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Reads once; the whole messages completed are appended to `messages`.
    /// Malformed output ends the session: messages before the fault are
    /// delivered, the broken one never is, and the result is an `Error` of
    /// kind `InvalidData` whose text says why (see `ended`).
    pub fn read(&mut self, buf: &mut [u8], messages: &mut Vec<Message>) -> (usize, SocketResult) {
        let Some(link) = self.link.as_mut() else {
            return (0, SocketResult::WouldBlock);
        };
        let (n, result) = result::read_once(link, buf);
        match result {
            SocketResult::Continue => {}
            SocketResult::WouldBlock => {
                self.readable = false;
                return (n, result);
            }
            SocketResult::Closed | SocketResult::Error(_) => return (n, result),
        }
        let chunk = Chunk::copy_from(&buf[..n]);
        if let Err(bad) = self.output.feed(chunk, |m| messages.push(m)) {
            log::warn!(
                "{}: malformed {} output, ending this debugger session: {bad}",
                self.backend.describe(),
                self.protocol.name()
            );
            let why = format!("malformed output ({})", bad.what);
            return (n, SocketResult::Error(io::Error::new(MALFORMED, why)));
        }
        if self.output.pending() > 0 {
            log::trace!(
                "debugger: {} bytes of an incomplete message held",
                self.output.pending()
            );
        }
        (n, SocketResult::Continue)
    }

    /// Writes what is queued; asks for WRITABLE only while something is left.
    /// Returns the bytes written, whatever the outcome.
    pub fn flush(&mut self, registry: &Registry) -> (usize, SocketResult) {
        let Some(link) = self.link.as_mut() else {
            return (0, SocketResult::Continue);
        };
        let flushed = self.queue.flush_to(link);
        result::follow_flush(flushed, |yes| link.want_write(registry, yes))
    }

    /// One last non-blocking try to deliver input already accepted, then
    /// close (shutdown).
    pub fn flush_and_close(&mut self, registry: &Registry) -> usize {
        let Some(mut link) = self.link.take() else {
            return 0;
        };
        let (n, _) = self.queue.flush_to(&mut link);
        link.close(registry);
        n
    }
}
