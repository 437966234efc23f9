//! The proxy's side of its one debugger: the backend that reaches it, the
//! live link once it is up, the bounded queue of input on its way to it, and
//! the assembler that cuts its output into whole messages.
//!
//! Bytes from the debugger leave here as whole messages for the session layer
//! (`proxy.rs` hands them over); bytes to it arrive here as whole messages the
//! session layer addressed `To::Debugger`. Input queued while no debugger is
//! up is held for the next one, and dropped when a debugger goes: it was
//! addressed to that debugger session.

use std::io::{self, Read};
use std::time::Instant;

use mio::Registry;

use crate::backends::{Backend, Link};
use crate::config::Config;
use crate::framing::{Assembler, Direction, Message, Protocol};
use crate::queue::{Chunk, ChunkQueue, Flush};

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

/// What one read from the debugger gave.
pub enum Output {
    /// Bytes were read; the whole messages they completed were appended.
    Data,
    WouldBlock,
    /// The stream ended or broke, or the debugger broke its framing: why.
    Ended(String),
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
    /// delivered, the broken one never is.
    pub fn read(&mut self, buf: &mut [u8], messages: &mut Vec<Message>) -> (Output, usize) {
        let Some(link) = self.link.as_mut() else {
            return (Output::WouldBlock, 0);
        };
        loop {
            return match link.read(buf) {
                Ok(0) => (Output::Ended("end of its output".into()), 0),
                Ok(n) => {
                    let chunk = Chunk::copy_from(&buf[..n]);
                    match self.output.feed(chunk, |m| messages.push(m)) {
                        Ok(()) => {
                            if self.output.pending() > 0 {
                                log::trace!(
                                    "debugger: {} bytes of an incomplete message held",
                                    self.output.pending()
                                );
                            }
                            (Output::Data, n)
                        }
                        Err(bad) => {
                            log::warn!(
                                "{}: malformed {} output, ending this debugger session: {bad}",
                                self.backend.describe(),
                                self.protocol.name()
                            );
                            (Output::Ended(format!("malformed output ({})", bad.what)), n)
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.readable = false;
                    (Output::WouldBlock, 0)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => (Output::Ended(format!("read failed: {e}")), 0),
            };
        }
    }

    /// Writes what is queued; asks for WRITABLE only while something is left.
    /// Returns the bytes written.
    pub fn flush(&mut self, registry: &Registry) -> io::Result<usize> {
        let Some(link) = self.link.as_mut() else {
            return Ok(0);
        };
        let (outcome, n) = self.queue.flush_to(link)?;
        link.want_write(registry, outcome == Flush::Blocked)?;
        Ok(n)
    }

    /// One last non-blocking try to deliver input already accepted, then
    /// close (shutdown).
    pub fn flush_and_close(&mut self, registry: &Registry) -> usize {
        let Some(mut link) = self.link.take() else {
            return 0;
        };
        let n = self.queue.flush_to(&mut link).map_or(0, |(_, n)| n);
        link.close(registry);
        n
    }
}
