//! Who waits for which V8 answer: each request V8 gets carries a proxy-wide
//! `seq`; the entry under it says whose it was, the client's own `seq` (as
//! written, to be spliced back) and the command (for the proxy's answers and
//! for breakpoint owners). At the bound the oldest entry is forgotten: V8
//! may never answer some requests, and a client must not be refused for it.

use std::ops::Range;

use super::V8;
use crate::session::kit::content_length::Frame;
use crate::session::kit::inflight::Entry;
use crate::session::kit::{InFlight, Waiter};
use crate::session::{ClientId, Outbox, To};

/// Requests sent to V8 and not yet answered; past this the oldest is forgotten.
const MAX_IN_FLIGHT: usize = 4096;

pub struct Request {
    /// The client's `seq`, as it wrote it.
    pub seq: Vec<u8>,
    /// The command, as a JSON string (quotes included).
    pub command: Vec<u8>,
}

pub struct Requests {
    table: InFlight<u64, Request>,
    next_seq: u64,
}

impl Default for Requests {
    fn default() -> Self {
        Requests {
            table: InFlight::new(MAX_IN_FLIGHT),
            next_seq: 1,
        }
    }
}

impl Requests {
    pub fn count(&self, client: ClientId) -> usize {
        self.table.count(client)
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn forgotten(&self) -> u64 {
        self.table.forgotten
    }

    pub fn depart(&mut self, client: ClientId) {
        self.table.depart(client);
    }

    pub fn take(&mut self, seq: u64) -> Option<Entry<Request, ()>> {
        self.table.take(seq)
    }

    pub fn drain(&mut self) -> Vec<Entry<Request, ()>> {
        self.table.drain()
    }
}

impl V8 {
    /// Sends `frame` (a request whose `seq` is at `seq`) to V8 with the next
    /// proxy seq, remembering who waits for the answer.
    pub(super) fn send(
        &mut self,
        frame: &Frame,
        seq: Range<usize>,
        waiter: Waiter<()>,
        request: Request,
        out: &mut Outbox,
    ) {
        let r = &mut self.requests;
        let n = r.next_seq;
        r.next_seq += 1;
        if r.table.insert_forgetting_oldest(n, waiter, request) && self.warned.first("full") {
            log::warn!("over {MAX_IN_FLIGHT} V8 requests unanswered: forgetting the oldest");
        }
        out.send(To::Debugger, frame.replace(seq, n.to_string().as_bytes()));
    }

    /// A request of the proxy's own (`body` with `"seq":0` first).
    pub(super) fn ask(&mut self, body: &str, out: &mut Outbox) {
        let message = crate::session::kit::content_length::framed_parts(vec![
            crate::net::queue::Chunk::copy_from(body.as_bytes()),
        ]);
        let Some(frame) = Frame::of(&message) else {
            return;
        };
        let Ok([Some(seq)]) = crate::protocol::json::fields(
            frame.body(),
            ["seq"],
            crate::protocol::json::Until::Found,
        ) else {
            return;
        };
        log::debug!("to V8, for the proxy: {body}");
        let request = Request {
            seq: Vec::new(),
            command: Vec::new(),
        };
        self.send(&frame, seq, Waiter::Proxy(()), request, out);
    }
}
