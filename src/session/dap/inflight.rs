//! Requests in flight to the debugger, keyed by the proxy-wide `seq` they
//! were given, so that a response's `request_seq` finds the client and the
//! `seq` it chose. Keyed on the proxy's id, never on the client's: two
//! clients may both send request 3.
//!
//! A client that leaves leaves its entries behind, departed, so that the
//! answer still updates the session's state (a `continue` that succeeded)
//! before it is dropped and counted. Departed entries are bounded apart.
//! Here too: the per-client bound (`admit`) and the requests the proxy
//! writes itself (`request`).

use serde_json::{Value, json};

use super::Dap;
use super::ids::Layout;
use crate::session::ClientId;
use crate::session::kit::content_length::framed;
use crate::session::kit::inflight::Entry;
use crate::session::kit::{InFlight, Waiter, WarnOnce};
use crate::session::{Outbox, To};

/// Requests one client may have in flight; past it the proxy answers.
pub const MAX_PER_CLIENT: usize = 4096;
/// Departed clients' entries kept for answers that may never come.
const MAX_ORPHANS: usize = 16 * 1024;

#[derive(Debug)]
pub enum Kind {
    /// Answered to the client with `request_seq` spliced.
    Plain,
    /// The handshake's `initialize`: its answer is cached for later clients.
    Initialize,
    /// A breakpoints request sent as the union: the client's answer is the
    /// debugger's `body.breakpoints` at its positions, and every client's
    /// ids are bound to the debugger's new ones.
    Split(Box<Layout>),
    /// The proxy's own request: the answer is swallowed.
    Internal,
    /// The proxy's own breakpoints request: the answer binds the ids of
    /// the clients in the union, then is swallowed.
    Resync(Box<Layout>),
}

impl Kind {
    /// Whether the proxy itself asked, and no client is answered.
    pub fn internal(&self) -> bool {
        matches!(self, Kind::Internal | Kind::Resync(_))
    }
}

/// What is kept of a request; who waits is the entry's [`Waiter`].
#[derive(Debug)]
pub struct Pending {
    pub client_seq: i64,
    pub command: Box<str>,
    pub kind: Kind,
}

pub struct Requests {
    /// Ordered so that failing them all answers in the order asked. The
    /// bound is per client (`admit`) and on departed entries (`depart`), so
    /// the table's own is never reached.
    table: InFlight<i64, Pending>,
    next: i64,
}

impl Default for Requests {
    fn default() -> Self {
        Requests {
            table: InFlight::new(usize::MAX),
            next: 0,
        }
    }
}

impl Requests {
    /// The next proxy-wide `seq`, for anything the proxy sends the debugger.
    pub fn next_seq(&mut self) -> i64 {
        self.next += 1;
        self.next
    }

    pub fn count(&self, client: ClientId) -> usize {
        self.table.count(client)
    }

    /// `client` None: the proxy's own request.
    pub fn insert(&mut self, seq: i64, client: Option<ClientId>, pending: Pending) {
        let waiter = client.map_or(Waiter::Proxy(()), Waiter::Client);
        self.table.insert(seq, waiter, pending);
    }

    pub fn take(&mut self, seq: i64) -> Option<Entry<Pending, ()>> {
        self.table.take(seq)
    }

    /// The proxy `seq` of `client`'s request `client_seq`, if in flight.
    pub fn find(&self, client: ClientId, client_seq: i64) -> Option<i64> {
        self.table
            .iter()
            .find(|(_, e)| e.waiter.client() == Some(client) && e.job.client_seq == client_seq)
            .map(|(seq, _)| seq)
    }

    /// Whether a breakpoints request is in flight: its answer will bind
    /// debugger ids that an event may already name.
    pub fn binding(&self) -> bool {
        self.table
            .iter()
            .any(|(_, e)| matches!(e.job.kind, Kind::Split(_) | Kind::Resync(_)))
    }

    /// The commands `client` has in flight, oldest first, at most `max`.
    pub fn commands(&self, client: ClientId, max: usize) -> Vec<String> {
        self.table
            .iter()
            .filter(|(_, e)| e.waiter.client() == Some(client))
            .take(max)
            .map(|(_, e)| e.job.command.to_string())
            .collect()
    }

    /// `client` left: its requests' answers will be dropped when they come.
    /// Past the bound on those, they are forgotten but the first
    /// `initialize`, whose answer others wait for.
    pub fn depart(&mut self, client: ClientId, warned: &mut WarnOnce) {
        self.table.depart(client);
        if self.table.departed() > MAX_ORPHANS {
            self.table
                .forget_departed(|p| !matches!(p.kind, Kind::Initialize));
            if warned.first("orphans") {
                log::warn!(
                    "over {MAX_ORPHANS} requests of departed clients still unanswered by the debugger: forgetting them"
                );
            }
        }
    }

    pub fn orphans_forgotten(&self) -> u64 {
        self.table.forgotten
    }

    /// Everything in flight, in the order sent, leaving none.
    pub fn drain(&mut self) -> Vec<Entry<Pending, ()>> {
        self.table.drain()
    }
}

impl Dap {
    /// Whether `client` may send one more request; answers it if not.
    pub(super) fn admit(
        &mut self,
        client: ClientId,
        seq: i64,
        command: &str,
        out: &mut Outbox,
    ) -> bool {
        if self.in_flight.count(client) < MAX_PER_CLIENT {
            return true;
        }
        self.counts.refused_in_flight_bound += 1;
        if let Some(c) = self.clients.get_mut(client)
            && c.warned.first("bound")
        {
            log::warn!(
                "client #{client}: over {} requests in flight: answering more with an error",
                MAX_PER_CLIENT
            );
        }
        let why = "too many requests in flight through the proxy";
        self.refuse(client, seq.into(), command, why, out);
        false
    }

    /// Sends the debugger a request the proxy wrote on `client`'s behalf
    /// (`None`: its own, whose answer is swallowed).
    pub(super) fn request(
        &mut self,
        client: Option<(ClientId, i64)>,
        command: &str,
        arguments: Value,
        kind: Kind,
        out: &mut Outbox,
    ) {
        if let Some((c, seq)) = client
            && !self.admit(c, seq, command, out)
        {
            return;
        }
        let proxy_seq = self.in_flight.next_seq();
        let (owner, seq) = match client {
            Some((c, s)) => (Some(c), s),
            None => {
                self.counts.internal_requests += 1;
                (None, 0)
            }
        };
        self.in_flight
            .insert(proxy_seq, owner, pending(seq, command, kind));
        let m = json!({"seq": proxy_seq, "type": "request", "command": command, "arguments": arguments});
        out.send(To::Debugger, framed(&m));
    }
}

pub fn pending(client_seq: i64, command: &str, kind: Kind) -> Pending {
    Pending {
        client_seq,
        command: command.into(),
        kind,
    }
}
