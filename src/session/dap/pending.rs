//! Requests in flight to the debugger, keyed by the proxy-wide `seq` they
//! were given, so that a response's `request_seq` finds the client and the
//! `seq` it chose. Keyed on the proxy's id, never on the client's: two
//! clients may both send request 3.
//!
//! A client that leaves leaves its entries behind, orphaned (no client), so
//! that the answer still updates the session's state (a `continue` that
//! succeeded) before it is dropped and counted. Orphans are bounded apart.

use std::collections::{BTreeMap, HashMap};

use super::ids::Layout;
use crate::session::ClientId;

/// Requests one client may have in flight; past it the proxy answers.
pub const MAX_PER_CLIENT: usize = 4096;
/// Orphaned entries kept for answers that may never come.
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

#[derive(Debug)]
pub struct Pending {
    /// None for the proxy's own requests and for orphans.
    pub client: Option<ClientId>,
    pub client_seq: i64,
    pub command: Box<str>,
    pub kind: Kind,
}

#[derive(Default)]
pub struct InFlight {
    /// Ordered so that failing them all answers in the order asked.
    map: BTreeMap<i64, Pending>,
    per_client: HashMap<ClientId, usize>,
    orphans: usize,
    next: i64,
    warned_orphans: bool,
    pub orphans_forgotten: u64,
}

impl InFlight {
    /// The next proxy-wide `seq`, for anything the proxy sends the debugger.
    pub fn next_seq(&mut self) -> i64 {
        self.next += 1;
        self.next
    }

    pub fn count(&self, client: ClientId) -> usize {
        self.per_client.get(&client).copied().unwrap_or(0)
    }

    pub fn insert(&mut self, seq: i64, pending: Pending) {
        if let Some(c) = pending.client {
            *self.per_client.entry(c).or_default() += 1;
        }
        self.map.insert(seq, pending);
    }

    pub fn take(&mut self, seq: i64) -> Option<Pending> {
        let p = self.map.remove(&seq)?;
        match p.client {
            Some(c) => self.uncount(c),
            // The proxy's own requests never had a client.
            None if p.kind.internal() => {}
            None => self.orphans = self.orphans.saturating_sub(1),
        }
        Some(p)
    }

    fn uncount(&mut self, client: ClientId) {
        if let Some(n) = self.per_client.get_mut(&client) {
            *n -= 1;
            if *n == 0 {
                self.per_client.remove(&client);
            }
        }
    }

    /// The proxy `seq` of `client`'s request `client_seq`, if in flight.
    pub fn find(&self, client: ClientId, client_seq: i64) -> Option<i64> {
        self.map
            .iter()
            .find(|(_, p)| p.client == Some(client) && p.client_seq == client_seq)
            .map(|(seq, _)| *seq)
    }

    /// The commands `client` has in flight, oldest first, at most `max`.
    pub fn commands(&self, client: ClientId, max: usize) -> Vec<String> {
        self.map
            .values()
            .filter(|p| p.client == Some(client))
            .take(max)
            .map(|p| p.command.to_string())
            .collect()
    }

    /// `client` left: its requests' answers will be dropped when they come.
    pub fn orphan(&mut self, client: ClientId) {
        let Some(n) = self.per_client.remove(&client) else {
            return;
        };
        for p in self.map.values_mut() {
            if p.client == Some(client) {
                p.client = None;
            }
        }
        self.orphans += n;
        if self.orphans > MAX_ORPHANS {
            let before = self.map.len();
            self.map.retain(|_, p| {
                p.client.is_some() || p.kind.internal() || matches!(p.kind, Kind::Initialize)
            });
            self.orphans_forgotten += (before - self.map.len()) as u64;
            self.orphans = 0;
            if !self.warned_orphans {
                self.warned_orphans = true;
                log::warn!(
                    "over {MAX_ORPHANS} requests of departed clients still unanswered by the debugger: forgetting them"
                );
            }
        }
    }

    /// Everything in flight, in the order sent, leaving none.
    pub fn drain(&mut self) -> Vec<Pending> {
        self.per_client.clear();
        self.orphans = 0;
        std::mem::take(&mut self.map).into_values().collect()
    }
}
