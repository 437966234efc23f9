//! The bridge's IDE side: stdin cut into whole messages and held or
//! queued for the proxy, stdout fed whole messages.

use std::io;
use std::time::Instant;

use super::{Bridge, EXIT_FLUSH, HOLD_LIMIT, READS_PER_TURN};
use crate::attach::link::Link;
use crate::framing::Message;
use crate::net::queue::Chunk;
use crate::net::result::SocketResult;

impl Bridge {
    pub(super) fn read_stdin(&mut self, now: Instant) -> bool {
        let mut moved = false;
        for _ in 0..READS_PER_TURN {
            let up = matches!(self.link, Link::Up(_));
            let room = !up || self.held_bytes + self.outgoing.bytes < HOLD_LIMIT;
            if self.stdin_eof || !self.stdin_ready || !room || self.ending.is_some() {
                break;
            }
            let n = match self.stdin.read(&mut self.buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.stdin_ready = false;
                    break;
                }
                Err(e) => {
                    log::debug!("stdin: {e}: taken as its end");
                    0
                }
            };
            moved = true;
            if n == 0 {
                self.stdin_ended(now);
                break;
            }
            let chunk = Chunk::copy_from(&self.buf[..n]);
            let mut messages = Vec::new();
            if let Err(e) = self.ide_frames.feed(chunk, |m| messages.push(m)) {
                let what = format!("the IDE's input is not {}: {e}", self.protocol.name());
                self.end(1, Some(what), now);
                break;
            }
            for m in messages {
                self.ide_message(m, now);
            }
        }
        moved
    }

    fn ide_message(&mut self, message: Message, now: Instant) {
        if !matches!(self.link, Link::Up(_))
            && self.dialect.goodbye_while_away(&message, &mut self.out)
        {
            self.take_out();
            let what = "the IDE said goodbye while the proxy was away".to_string();
            return self.end(0, Some(what), now);
        }
        self.held_bytes += message.len;
        self.held.push_back(message);
        // While connected, stdin is simply not read past the bound.
        if !matches!(self.link, Link::Up(_)) && self.held_bytes > HOLD_LIMIT {
            let what = format!(
                "the proxy on {} is away and the IDE sent more than {} KiB meanwhile; \
                 giving up rather than dropping any of it",
                self.addr,
                HOLD_LIMIT >> 10
            );
            self.end(1, Some(what), now);
        }
    }

    fn stdin_ended(&mut self, now: Instant) {
        self.stdin_eof = true;
        if self.ide_frames.pending() > 0 {
            log::debug!(
                "stdin ended inside a message: {} bytes not sent",
                self.ide_frames.pending()
            );
        }
        match &self.link {
            Link::Up(_) => self.closing_until = Some(now + EXIT_FLUSH),
            Link::Connecting { .. } | Link::Away { .. } => {
                if self.held_bytes > 0 {
                    log::info!(
                        "stdin ended while the proxy was away: {} bytes of input not delivered",
                        self.held_bytes
                    );
                }
                self.end(0, None, now);
            }
        }
    }

    pub(super) fn write_stdout(&mut self) -> bool {
        if self.to_ide.is_empty() || !self.stdout_ready {
            return false;
        }
        match self.to_ide.flush_to(&mut self.stdout) {
            (n, SocketResult::Continue) => n > 0,
            (n, SocketResult::WouldBlock) => {
                self.stdout_ready = false;
                n > 0
            }
            (_, stop @ (SocketResult::Closed | SocketResult::Error(_))) => {
                log::debug!("stdout: {stop}: the IDE is gone");
                self.stdout.open = false;
                self.to_ide.clear();
                self.end(0, None, Instant::now());
                true
            }
        }
    }

    /// Moves what the dialect produced to the queues.
    pub(super) fn take_out(&mut self) -> bool {
        let moved = !self.out.to_ide.is_empty() || !self.out.to_proxy.is_empty();
        for m in self.out.to_ide.drain(..) {
            for part in m.parts() {
                self.to_ide.push(part.clone());
            }
        }
        for m in self.out.to_proxy.drain(..) {
            self.outgoing.push(m, false);
        }
        moved
    }
}
