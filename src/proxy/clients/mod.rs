//! The client table: the listener, every connected client, and the rules of
//! fan-out — who gets a message, what happens when a client falls behind,
//! and how much unfinished input all clients together may hold.
//!
//! A client that falls more than `--client-buffer` behind is not dropped at
//! once: its row's debugger is made to wait (the loop stops reading it
//! while `holding(row)`), and the client is dropped only when it takes nothing for
//! `--stall-timeout`, or stays behind for ten times that. A message always
//! goes to a client whose queue is empty, whatever its size, so one large
//! message can never be lost for want of room.
//!
//! Each client belongs to one row of the session table (`proxy/rows.rs`),
//! chosen when it joins; the table keeps each row's members, so that fan-out
//! to a row costs what its members do, and a client behind holds only its
//! own row's debugger (`holding(row)`). Clients enter and leave their row's
//! session through `take_joined` and `take_left`, which the loop hands to
//! that row's session layer. Fan-out is in
//! `clients/deliver.rs`; the rules themselves (who is behind, who stalled,
//! the input caps, and their counters) in `clients/backpressure.rs`, which
//! holds no socket: this table tells it what its sockets did and carries
//! out what it decides. Who may enter at all is
//! decided when a client is accepted (`clients/admit.rs`): a refused
//! client never joins, and one asked for the token joins only once it has
//! sent it.

mod admit;
mod backpressure;
mod cdp_door;
pub mod client;
mod dbgp_door;
mod deliver;
mod dial;
pub mod door;
mod leave;

use std::collections::HashMap;
use std::io;
use std::time::Instant;

use mio::{Registry, Token};
use slab::Slab;

use crate::access::{self, Lookup, Policy, RefusalLog};
use crate::config::Config;
use crate::framing::{Message, Protocol};
use crate::net::queue::Chunk;
use crate::net::result::SocketResult;
use crate::proxy::accept::{Acceptor, Listener};
use crate::proxy::clients::client::Client;
use crate::session::ClientId;
use crate::tokens::RowId;
use backpressure::{Backpressure, Limits};

/// Chooses the row a joining client goes to (`Rows::row_for_new_client`);
/// `None` refuses it: there is no session to join.
pub type Place<'a> = &'a dyn Fn(&Client) -> Option<RowId>;

/// What `status` counts of clients.
#[derive(Default, Debug, Clone, Copy)]
pub struct Counters {
    pub served: u64,
    pub refused: u64,
    pub dropped_slow: u64,
    pub dropped_bad_framing: u64,
    pub dropped_input_cap: u64,
    /// Times the debugger was made to wait for a client that fell behind.
    pub debugger_waits: u64,
}

/// Clients let in and turned away for want of room (`--max-clients`).
#[derive(Default, Debug)]
struct Tally {
    served: u64,
    refused: u64,
}

pub struct Clients {
    pub acceptor: Acceptor,
    table: Slab<Client>,
    ids: HashMap<ClientId, usize>,
    next_id: u64,
    /// Clients whose readiness is not drained yet (may hold stale keys).
    readable: Vec<usize>,
    /// Clients with output queued since their last flush.
    dirty: Vec<usize>,
    joined: Vec<(RowId, ClientId)>,
    left: Vec<(RowId, ClientId)>,
    /// Each row's clients, by key in table order.
    members: HashMap<RowId, Vec<usize>>,
    /// The no-loss rules and their counters.
    flow: Backpressure,
    protocol: Protocol,
    max_clients: usize,
    tally: Tally,
    /// Refusals by reason (`status`).
    pub refusals: access::Counters,
    policy: Policy,
    /// `None` when no TCP peer needs looking up (`--allow-users any`).
    lookup: Option<Lookup>,
    refusal_log: RefusalLog,
    /// Clients in the table still asked for the token (not in the session).
    waiting: usize,
    /// The protocol's door for first requests (CDP's HTTP), if it has one.
    door: Option<Box<dyn door::Door>>,
    /// Clients the door let in, whose rows the loop makes.
    entering: Vec<(usize, door::Entry)>,
}

impl Clients {
    pub fn new(listeners: Vec<Listener>, registry: &Registry, config: &Config) -> io::Result<Self> {
        let lookup = config.access.needs_lookup().then(Lookup::new);
        if let Some(lookup) = &lookup {
            log::debug!("identifying local TCP clients by {}", lookup.method());
        }
        Ok(Clients {
            acceptor: Acceptor::new(listeners, registry)?,
            table: Slab::new(),
            ids: HashMap::new(),
            next_id: 1,
            readable: Vec::new(),
            dirty: Vec::new(),
            joined: Vec::new(),
            left: Vec::new(),
            members: HashMap::new(),
            flow: Backpressure::new(Limits::of(config)),
            protocol: config.protocol,
            max_clients: config.max_clients,
            tally: Tally::default(),
            refusals: access::Counters::default(),
            policy: config.access.clone(),
            lookup,
            refusal_log: RefusalLog::new(),
            waiting: 0,
            door: None,
            entering: Vec::new(),
        })
    }

    /// Clients in the session (not those still asked for the token).
    pub fn len(&self) -> usize {
        self.table.len() - self.waiting
    }

    /// No connection at all, admitted or not.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Every connection, including those still asked for the token.
    pub fn iter(&self) -> impl Iterator<Item = &Client> {
        self.table.iter().map(|(_, c)| c)
    }

    /// The slab key behind a client token, if it is one of ours.
    pub fn key_of(&self, token: Token) -> Option<usize> {
        let key = crate::tokens::client_key(token)?;
        self.table.contains(key).then_some(key)
    }

    /// Whether `row`'s debugger must wait: one of its clients is too far behind.
    pub fn holding(&self, row: RowId) -> bool {
        self.flow.holding() && self.flow.behind().any(|key| self.row_of(key) == Some(row))
    }

    /// The row of the client at `key`, once it has joined.
    pub fn row_of(&self, key: usize) -> Option<RowId> {
        self.table.get(key).and_then(|c| c.row)
    }

    /// The keys of `row`'s clients.
    pub fn members(&self, row: RowId) -> &[usize] {
        self.members.get(&row).map_or(&[], Vec::as_slice)
    }

    /// The clients of `row` in its session (`status`).
    pub fn ids_in(&self, row: RowId) -> Vec<ClientId> {
        self.members(row)
            .iter()
            .filter_map(|&k| self.table.get(k))
            .filter(|c| !c.is_waiting())
            .map(|c| c.id)
            .collect()
    }

    pub fn counters(&self) -> Counters {
        let flow = self.flow.counters;
        Counters {
            served: self.tally.served,
            refused: self.tally.refused,
            dropped_slow: flow.dropped_slow,
            dropped_bad_framing: flow.dropped_bad_framing,
            dropped_input_cap: flow.dropped_input_cap,
            debugger_waits: flow.debugger_waits,
        }
    }

    pub fn take_joined(&mut self) -> Vec<(RowId, ClientId)> {
        std::mem::take(&mut self.joined)
    }

    pub fn take_left(&mut self) -> Vec<(RowId, ClientId)> {
        std::mem::take(&mut self.left)
    }

    pub fn has_left(&self) -> bool {
        !self.left.is_empty()
    }

    // ----- reading -----

    /// The clients whose readiness is not drained yet, for this turn.
    pub fn take_readable(&mut self) -> Vec<usize> {
        std::mem::take(&mut self.readable)
    }

    pub fn has_readable(&self) -> bool {
        !self.readable.is_empty()
    }

    /// The rows of the clients not drained yet (`None`: not joined yet).
    pub fn readable_rows(&self) -> impl Iterator<Item = Option<RowId>> + '_ {
        self.readable.iter().map(|&k| self.row_of(k))
    }

    /// Marks a client readable after a readiness event.
    pub fn set_readable(&mut self, key: usize) {
        if let Some(client) = self.table.get_mut(key)
            && !client.readable
        {
            client.readable = true;
            self.readable.push(key);
        }
    }

    /// Keeps `key` for the next turn if its readiness is not drained.
    pub fn still_readable(&mut self, key: usize) {
        if self.table.get(key).is_some_and(|c| c.readable) {
            self.readable.push(key);
        }
    }

    /// Reads `key` once; appends the whole messages it completed, with the
    /// client's id. While `ignore` (shutting down), what is read is dropped.
    /// `Continue` means more may be there; anything else, that this client
    /// is done for this turn (a failure was handled here: it is gone). A
    /// client that sends the token now joins the row `place` chooses.
    pub fn read(
        &mut self,
        key: usize,
        buf: &mut [u8],
        messages: &mut Vec<Message>,
        ignore: bool,
        (registry, place): (&Registry, Place),
    ) -> (Option<ClientId>, SocketResult) {
        let Some(client) = self.table.get_mut(key) else {
            return (None, SocketResult::Closed);
        };
        if client.is_waiting() {
            if client.at_door {
                return self.read_door(key, buf, registry);
            }
            return self.read_handshake(key, buf, registry, place);
        }
        if let Some(held) = client.held.take() {
            // What followed the token line, now that the client has joined.
            let id = client.id;
            if ignore || !client.is_open() {
                return (Some(id), SocketResult::Continue);
            }
            return self.feed(key, held, messages, registry);
        }
        if !client.readable {
            return (None, SocketResult::WouldBlock);
        }
        let id = client.id;
        let (n, result) = client.read(buf);
        match result {
            SocketResult::Continue if ignore || !client.is_open() => {
                log::trace!("{}: {n} bytes ignored", client.name());
                (Some(id), SocketResult::Continue)
            }
            SocketResult::Continue => {
                log::trace!("{}: {n} bytes for the debugger", client.name());
                self.feed(key, Chunk::copy_from(&buf[..n]), messages, registry)
            }
            SocketResult::WouldBlock => {
                client.readable = false;
                (Some(id), SocketResult::WouldBlock)
            }
            SocketResult::Closed => {
                client.readable = false;
                if client.out.is_empty() {
                    self.drop_client(key, "it closed the connection", log::Level::Info, registry);
                } else {
                    // Half-closed: it still gets what is queued, then the end.
                    self.leave(key);
                    self.dirty.push(key);
                }
                (Some(id), SocketResult::Closed)
            }
            SocketResult::Error(e) => {
                client.readable = false;
                self.drop_client(
                    key,
                    &format!("read failed: {e}"),
                    log::Level::Info,
                    registry,
                );
                (Some(id), SocketResult::Closed)
            }
        }
    }

    /// Cuts a client's input into whole messages for the debugger.
    fn feed(
        &mut self,
        key: usize,
        chunk: Chunk,
        messages: &mut Vec<Message>,
        registry: &Registry,
    ) -> (Option<ClientId>, SocketResult) {
        let Some(client) = self.table.get_mut(key) else {
            return (None, SocketResult::Closed);
        };
        let id = client.id;
        if let Err(bad) = client.input.feed(chunk, |m| messages.push(m)) {
            client.readable = false;
            self.flow.bad_framing();
            self.drop_client(
                key,
                &format!("bad framing: {bad}"),
                log::Level::Warn,
                registry,
            );
            return (Some(id), SocketResult::Closed);
        }
        if let Some(evict) = self.flow.input(key, client.input.pending()) {
            let why = evict.why.to_string();
            self.drop_client(evict.key, &why, log::Level::Warn, registry);
        }
        (Some(id), SocketResult::Continue)
    }

    pub fn on_timer(&mut self, registry: &Registry, now: Instant) {
        self.acceptor.on_timer(registry, now);
        self.drop_stalled(registry, now);
        self.expire_waiting(registry, now);
    }
}

#[cfg(test)]
mod tests;
