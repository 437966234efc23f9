//! Letting clients in. Each accepted connection is judged by the access
//! rules (`access/`) before it can join the session: let in, refused
//! (closed at once, one throttled `warn` line, counted by reason), or asked
//! for the token. A client asked for the token sits in the table as
//! `Waiting`: what it sends is read into its handshake buffer, never
//! forwarded, and it joins the session only once the line is right — what
//! came after the line is held and fed to the debugger after the session
//! has heard that it joined.
//!
//! The owners of a burst of TCP clients are looked up together, after the
//! burst is accepted: one `sock_diag` exchange, or one read of
//! `/proc/net/tcp`, for up to `ACCEPTS_PER_TURN` clients.

use std::time::Instant;

use mio::{Registry, Token};

use super::{Clients, Place};
use crate::access::token::{self, Handshake};
use crate::access::{Owner, Query, Refusal, Verdict, Via};
use crate::net;
use crate::net::queue::Chunk;
use crate::net::result::SocketResult;
use crate::proxy::accept::Accepted;
use crate::proxy::clients::client::{Admission, Client, Peer, State, Stream};
use crate::session::ClientId;
use crate::tokens::FIRST_CLIENT;

const ACCEPTS_PER_TURN: usize = 256;

impl Clients {
    /// Accepts what the listeners have; a client let in joins the row `place` chooses.
    pub fn accept(&mut self, registry: &Registry, now: Instant, place: Place) {
        let mut taken = 0;
        while taken < ACCEPTS_PER_TURN {
            let mut batch = Vec::new();
            while taken + batch.len() < ACCEPTS_PER_TURN {
                match self.acceptor.accept(registry, now, !batch.is_empty()) {
                    Some(accepted) => batch.push(accepted),
                    None => break,
                }
            }
            if batch.is_empty() {
                return;
            }
            taken += batch.len();
            let owners = self.owners(&batch);
            for (accepted, owner) in batch.into_iter().zip(owners) {
                self.admit(accepted, owner, (registry, place), now);
            }
        }
    }

    /// Whose socket is at the other end of each: `SO_PEERCRED` for Unix
    /// clients, one lookup for all TCP ones; `None` when not looked up.
    fn owners(&mut self, batch: &[Accepted]) -> Vec<Option<Owner>> {
        let mut owners: Vec<Option<Owner>> = batch
            .iter()
            .map(|a| match a.peer {
                Peer::Unix { uid: u32::MAX, .. } => Some(Owner::Gone),
                Peer::Unix { uid, .. } => Some(Owner::Uid(uid)),
                Peer::Tcp(_) => None,
            })
            .collect();
        let Some(lookup) = self.lookup.as_mut() else {
            return owners;
        };
        let mut queries = Vec::new();
        let mut positions = Vec::new();
        for (i, accepted) in batch.iter().enumerate() {
            if let (Stream::Tcp(stream), Peer::Tcp(peer)) = (&accepted.stream, accepted.peer) {
                match accepted.local.map_or_else(|| stream.local_addr(), Ok) {
                    Ok(ours) => {
                        queries.push(Query::new(ours, peer));
                        positions.push(i);
                    }
                    Err(_) => owners[i] = Some(Owner::Gone),
                }
            }
        }
        if !queries.is_empty() {
            for (i, owner) in positions.into_iter().zip(lookup.owners(&queries)) {
                owners[i] = Some(owner);
            }
        }
        owners
    }

    pub(super) fn admit(
        &mut self,
        accepted: Accepted,
        owner: Option<Owner>,
        (registry, place): (&Registry, Place),
        now: Instant,
    ) {
        let Accepted { stream, peer, .. } = accepted;
        // Every accepted connection is numbered, refused or not, so that the
        // log names each one the same way throughout.
        let id = self.next_id;
        self.next_id += 1;
        let uid = match owner {
            Some(Owner::Uid(uid)) => Some(uid),
            _ => None,
        };
        // Dropping `stream` on a refusal closes it at once.
        let (state, via) = match self.policy.decide(owner) {
            Verdict::Refuse(refusal) => {
                return self.refused(&format!("client #{id} ({peer})"), refusal, now);
            }
            Verdict::AskToken if self.waiting >= self.max_clients => {
                let who = format!("client #{id} ({peer})");
                return self.refused(&who, Refusal::TooManyWaiting, now);
            }
            Verdict::AskToken => (
                State::Waiting {
                    deadline: now + self.policy.token_timeout,
                },
                Via::Token,
            ),
            Verdict::Admit(_) if self.len() >= self.max_clients => {
                self.tally.refused += 1;
                log::warn!(
                    "refusing client #{id} ({peer}): {} clients already connected (--max-clients)",
                    self.len()
                );
                return;
            }
            // A protocol with a door judges the client's first request first.
            Verdict::Admit(via) if self.door_first() => (
                State::Waiting {
                    deadline: now + self.policy.token_timeout,
                },
                via,
            ),
            Verdict::Admit(via) => (State::Open, via),
        };
        if let Stream::Tcp(tcp) = &stream {
            net::tune(tcp);
        }
        let key = self.table.vacant_key();
        let token = Token(FIRST_CLIENT + key);
        let framing = (self.protocol, self.flow.max_client_message());
        let admission = Admission { uid, via };
        let client = match Client::new(
            id,
            (stream, peer),
            (state, admission),
            token,
            registry,
            framing,
        ) {
            Ok(client) => client,
            Err(e) => {
                log::warn!("cannot register client from {peer}: {e}");
                return;
            }
        };
        let mut client = client;
        let waiting = client.is_waiting();
        // A door that sees every client reads the token where its protocol
        // carries it (CDP: the path); otherwise the token line comes first.
        client.at_door = waiting && self.door_first();
        if waiting && via == Via::Token {
            log::debug!("{}: asked for the token", client.name());
        }
        self.table.insert(client);
        self.readable.push(key);
        if waiting {
            self.waiting += 1;
        } else {
            self.join(key, registry, place);
        }
    }

    /// Takes a client into the session of the row `place` chooses.
    pub(super) fn join(&mut self, key: usize, registry: &Registry, place: Place) {
        let Some(row) = self.table.get(key).and_then(place) else {
            // Not exactly one row to join: a door may ask the client which.
            if self.send_to_door(key, std::time::Instant::now()) {
                return;
            }
            if let Some(client) = self.table.get(key) {
                log::warn!("refusing {}: no debug session to join", client.name());
            }
            if self.table.get(key).is_some_and(Client::is_waiting) {
                self.drop_waiting_one(key, None, registry);
            } else if let Some(client) = self.table.try_remove(key) {
                client.refuse(None, registry);
            }
            return;
        };
        let Some(client) = self.table.get_mut(key) else {
            return;
        };
        client.row = Some(row);
        if client.is_waiting() {
            self.waiting -= 1;
            client.state = State::Open;
        }
        let id = client.id;
        let how = if client.admission.via == Via::Token {
            ", with the token"
        } else {
            ""
        };
        let name = client.name();
        self.ids.insert(id, key);
        let members = self.members.entry(row).or_default();
        if let Err(at) = members.binary_search(&key) {
            members.insert(at, key);
        }
        self.joined.push((row, id));
        self.tally.served += 1;
        log::info!("{name} connected{how} ({} connected)", self.len());
    }

    fn refused(&mut self, who: &str, refusal: Refusal, now: Instant) {
        self.refusals.count(refusal);
        let line = format!("refusing {who}: {}", refusal.describe(&self.policy));
        // A client already gone when looked up is most often a port probe.
        let level = match refusal {
            Refusal::Unidentified => log::Level::Info,
            _ => log::Level::Warn,
        };
        self.refusal_log.log(now, level, &line);
    }

    /// Reads a client asked for the token; nothing it sends is forwarded
    /// before the line is right.
    pub(super) fn read_handshake(
        &mut self,
        key: usize,
        buf: &mut [u8],
        registry: &Registry,
        place: Place,
    ) -> (Option<ClientId>, SocketResult) {
        let full = self.len() >= self.max_clients;
        let connected = self.len();
        let Some(client) = self.table.get_mut(key) else {
            return (None, SocketResult::Closed);
        };
        if !client.readable {
            return (None, SocketResult::WouldBlock);
        }
        let n = match client.read(buf) {
            (n, SocketResult::Continue) => n,
            (_, SocketResult::WouldBlock) => {
                client.readable = false;
                return (None, SocketResult::WouldBlock);
            }
            (_, SocketResult::Closed | SocketResult::Error(_)) => {
                client.readable = false;
                log::debug!("{}: gone before sending the token", client.name());
                self.drop_waiting_one(key, None, registry);
                return (None, SocketResult::Closed);
            }
        };
        client.handshake.extend_from_slice(&buf[..n]);
        let verdict = match self.policy.token.as_ref() {
            Some(secret) => token::check(&client.handshake, secret),
            None => Handshake::Absent,
        };
        let refusal = match verdict {
            Handshake::More => return (None, SocketResult::Continue),
            Handshake::Absent => Refusal::NoToken,
            Handshake::Wrong => Refusal::BadToken,
            Handshake::Accepted { consumed } => {
                let rest = client.handshake.split_off(consumed);
                client.handshake = Vec::new();
                if !rest.is_empty() {
                    client.held = Some(Chunk::copy_from(&rest));
                }
                if full {
                    self.tally.refused += 1;
                    log::warn!(
                        "refusing {}: {connected} clients already connected (--max-clients)",
                        client.name(),
                    );
                    let line = "dbgproxy: access refused: too many clients\n";
                    self.drop_waiting_one(key, Some(line), registry);
                    return (None, SocketResult::Closed);
                }
                self.refusals.admitted_by_token += 1;
                self.join(key, registry, place);
                // The session hears of the join before this client's input.
                return (None, SocketResult::Continue);
            }
        };
        self.refuse_waiting(key, refusal, registry, std::time::Instant::now());
        (None, SocketResult::Closed)
    }

    fn refuse_waiting(&mut self, key: usize, refusal: Refusal, registry: &Registry, now: Instant) {
        let Some(name) = self.table.get(key).map(Client::name) else {
            return;
        };
        self.refused(&name, refusal, now);
        let reply = refusal.reply(&self.policy);
        self.drop_waiting_one(key, reply.as_deref(), registry);
    }

    pub(super) fn drop_waiting_one(&mut self, key: usize, line: Option<&str>, registry: &Registry) {
        if let Some(client) = self.table.try_remove(key) {
            self.waiting -= 1;
            client.refuse(line, registry);
        }
    }

    /// Closes the clients that did not send the token in time.
    pub(super) fn expire_waiting(&mut self, registry: &Registry, now: Instant) {
        if self.waiting == 0 {
            return;
        }
        let late: Vec<usize> = self
            .table
            .iter()
            .filter(|(_, c)| matches!(c.state, State::Waiting { deadline } if deadline <= now))
            .map(|(k, _)| k)
            .collect();
        for key in late {
            match (self.table.get(key), self.door_timeout_reply()) {
                (Some(c), Some(reply)) if c.at_door => {
                    log::info!(
                        "{}: closed: said nothing the door understood in time",
                        c.name()
                    );
                    self.drop_waiting_one(key, Some(reply), registry);
                }
                _ => self.refuse_waiting(key, Refusal::TokenTimeout, registry, now),
            }
        }
    }

    pub(super) fn waiting_deadline(&self) -> Option<Instant> {
        if self.waiting == 0 {
            return None;
        }
        self.table
            .iter()
            .filter_map(|(_, c)| match c.state {
                State::Waiting { deadline } => Some(deadline),
                _ => None,
            })
            .min()
    }

    /// Shutting down: clients still asked for the token just go.
    pub(super) fn drop_waiting(&mut self, registry: &Registry) {
        let keys: Vec<usize> = self
            .table
            .iter()
            .filter(|(_, c)| c.is_waiting())
            .map(|(k, _)| k)
            .collect();
        for key in keys {
            self.drop_waiting_one(key, None, registry);
        }
    }

    /// SIGHUP: reads `--token-file` again, so a token can be replaced without
    /// a restart; a file that became unusable keeps the old token.
    pub fn reload_token(&mut self) {
        let Some(path) = self.policy.token_file.clone() else {
            return;
        };
        match token::load(&path) {
            Ok(secret) => {
                self.policy.token = Some(secret);
                log::info!("SIGHUP: token re-read from {}", path.display());
            }
            Err(e) => log::warn!("SIGHUP: {e}; keeping the token in use"),
        }
    }

    /// The access rules in force, for `status`.
    pub fn policy(&self) -> &crate::access::Policy {
        &self.policy
    }
}
