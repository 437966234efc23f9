//! The door: for a protocol whose clients open with a request of their own
//! (CDP's HTTP), what an admitted client sends first is judged here before
//! it joins anything. It generalises the token handshake (`admit.rs`): the
//! client waits in the table (`State::Waiting`, its bytes in `handshake`,
//! never forwarded) until the protocol's [`Door`] says: read more, answer
//! and close (discovery, a refusal), or enter. A client that enters gets a
//! row of its own, which the door describes (a [`Joiner`]: its session and
//! how to reach its debugger) and the loop makes (`Proxy::add_row`); it
//! joins that row (`enter`), and what followed its request is fed after.
//!
//! The access rules are applied before, as to every client; a token, if
//! this client needs one, is given to the door to find where the protocol
//! carries it (for CDP, the path's first segment).

use std::net::SocketAddr;

use mio::Registry;

use super::Clients;
use crate::access::Via;
use crate::access::token::Secret;
use crate::backends::Backend;
use crate::config::Config;
use crate::framing::Protocol;
use crate::net::queue::Chunk;
use crate::net::result::SocketResult;
use crate::proxy::clients::client::State;
use crate::session::{ClientId, Session};
use crate::tokens::{RowId, RowTokens};

/// Makes a row's backend for its tokens.
pub type MakeBackend = Box<dyn FnOnce(&Registry, RowTokens) -> anyhow::Result<Backend>>;

/// A row for a client that enters.
pub struct Joiner {
    /// The row's name, for logs and `status`.
    pub name: String,
    pub session: Box<dyn Session>,
    pub backend: MakeBackend,
}

/// What a client's first bytes come to.
pub enum Judged {
    More,
    /// Write `bytes`, then close; `why` is logged at `level`.
    Answer {
        bytes: Vec<u8>,
        why: String,
        level: log::Level,
    },
    /// Write `reply`, then the client enters its own row; its input after
    /// the first `consumed` bytes is for the session.
    Enter {
        reply: Vec<u8>,
        consumed: usize,
        joiner: Joiner,
    },
    /// The client joins the live row called `name` (the loop looks it up);
    /// its input after the first `consumed` bytes is for that session.
    Join {
        consumed: usize,
        name: String,
    },
}

/// Where a client the door let in goes: a row made for it, or one by name.
pub enum Entry {
    New(Joiner),
    Named(String),
}

/// One client at the door.
pub struct Visitor<'a> {
    pub id: ClientId,
    pub head: &'a [u8],
    /// The listener's token, when this client must present it.
    pub token: Option<&'a Secret>,
    /// The address the client connected to (`None`: a Unix socket).
    pub local: Option<SocketAddr>,
}

pub trait Door {
    fn judge(&mut self, visitor: Visitor<'_>) -> Judged;

    /// Whether every client is judged here (CDP: each opens with its
    /// request), or only one the loop cannot place at once (the DBGp proxy:
    /// when not exactly one session is live).
    fn always(&self) -> bool {
        true
    }

    /// What a client at the door that said nothing it understood within
    /// `--token-timeout` is told before the close (empty: the token
    /// handshake's refusal line).
    fn timeout_reply(&self) -> &'static str {
        ""
    }
}

/// The door for `config`'s protocol, if it has one. `backend` is the
/// command line's row's, if it has one (what it learns, the door may tell).
pub fn for_config(config: &Config, backend: Option<&Backend>) -> Option<Box<dyn Door>> {
    match config.protocol {
        Protocol::Cdp => {
            let known = backend
                .and_then(Backend::known)
                .cloned()
                .unwrap_or_default();
            Some(Box::new(super::cdp_door::CdpDoor::new(config, known)))
        }
        Protocol::Dbgp if config.dbgp_proxy.is_some() => Some(Box::new(super::dbgp_door::DbgpDoor)),
        _ => None,
    }
}

impl Clients {
    pub fn set_door(&mut self, door: Option<Box<dyn Door>>) {
        self.door = door;
    }

    pub fn has_door(&self) -> bool {
        self.door.is_some()
    }

    /// Whether every admitted client goes to the door first.
    pub(super) fn door_first(&self) -> bool {
        self.door.as_ref().is_some_and(|d| d.always())
    }

    /// A client the loop could not place at once waits at the door, if
    /// there is one (the DBGp proxy's, to name a session); what it sent
    /// after its token line is what the door reads first.
    pub(super) fn send_to_door(&mut self, key: usize, now: std::time::Instant) -> bool {
        if self.door.is_none() {
            return false;
        }
        let deadline = now + self.policy.token_timeout;
        let Some(client) = self.table.get_mut(key) else {
            return false;
        };
        if !client.is_waiting() {
            self.waiting += 1;
        }
        client.state = State::Waiting { deadline };
        client.handshake_open = true;
        client.at_door = true;
        if let Some(held) = client.held.take() {
            client.handshake = held.to_vec();
        }
        log::debug!("{}: asked to name a session", client.name());
        if !client.handshake.is_empty() {
            // What came with the token line is judged now, not at the next read.
            self.readable.push(key);
            client.readable = true;
        }
        true
    }

    /// What a client asked to name a session and silent until the deadline is told.
    pub(super) fn door_timeout_reply(&self) -> Option<&'static str> {
        self.door
            .as_ref()
            .map(|d| d.timeout_reply())
            .filter(|r| !r.is_empty())
    }

    /// Clients that entered, with their rows to make (`enter` each, or `drop_entering`).
    pub fn take_entering(&mut self) -> Vec<(usize, Entry)> {
        std::mem::take(&mut self.entering)
    }

    /// The client at `key` joins `row`, made for it.
    pub fn enter(&mut self, key: usize, row: RowId, registry: &Registry) {
        let place = move |_: &super::client::Client| Some(row);
        self.join(key, registry, &place);
        self.readable.push(key);
    }

    /// The row for the client at `key` could not be made, or found; `line`
    /// tells the client why.
    pub fn drop_entering(
        &mut self,
        key: usize,
        why: &str,
        line: Option<&str>,
        registry: &Registry,
    ) {
        if let Some(c) = self.table.get(key) {
            log::warn!("{}: no session for it: {why}", c.name());
        }
        if let Some(client) = self.table.try_remove(key) {
            self.waiting -= 1;
            client.refuse(line, registry);
        }
    }

    /// Reads a client at the door.
    pub(super) fn read_door(
        &mut self,
        key: usize,
        buf: &mut [u8],
        registry: &Registry,
    ) -> (Option<ClientId>, SocketResult) {
        let Some(client) = self.table.get_mut(key) else {
            return (None, SocketResult::Closed);
        };
        if !client.readable || !client.handshake_open {
            return (None, SocketResult::WouldBlock);
        }
        let mut drained = false;
        match client.read(buf) {
            (n, SocketResult::Continue) => client.handshake.extend_from_slice(&buf[..n]),
            // What came before (after a token line) is judged all the same.
            (_, SocketResult::WouldBlock) if !client.handshake.is_empty() => {
                client.readable = false;
                drained = true;
            }
            (_, SocketResult::WouldBlock) => {
                client.readable = false;
                return (None, SocketResult::WouldBlock);
            }
            (_, SocketResult::Closed | SocketResult::Error(_)) => {
                client.readable = false;
                log::debug!("{}: gone before its request", client.name());
                self.drop_waiting_one(key, None, registry);
                return (None, SocketResult::Closed);
            }
        }
        let token = (client.admission.via == Via::Token)
            .then_some(self.policy.token.as_ref())
            .flatten();
        let Some(door) = self.door.as_mut() else {
            return (None, SocketResult::Closed);
        };
        let judged = door.judge(Visitor {
            id: client.id,
            head: &client.handshake,
            token,
            local: client.local_addr(),
        });
        match judged {
            Judged::More if drained => (None, SocketResult::WouldBlock),
            Judged::More => (None, SocketResult::Continue),
            Judged::Answer { bytes, why, level } => {
                log::log!(level, "{}: {why}", client.name());
                client.handshake_open = false;
                client.out.push(Chunk::copy_from(&bytes));
                // Answered, it leaves once the answer is written (never in a row).
                client.state = State::Closing;
                self.waiting -= 1;
                self.dirty.push(key);
                (None, SocketResult::Closed)
            }
            Judged::Enter {
                reply,
                consumed,
                joiner,
            } => {
                client.handshake_open = false;
                client.out.push(Chunk::copy_from(&reply));
                self.dirty.push(key);
                let rest = client
                    .handshake
                    .split_off(consumed.min(client.handshake.len()));
                client.handshake = Vec::new();
                if !rest.is_empty() {
                    client.held = Some(Chunk::copy_from(&rest));
                }
                self.entering.push((key, Entry::New(joiner)));
                (None, SocketResult::Continue)
            }
            Judged::Join { consumed, name } => {
                client.handshake_open = false;
                let rest = client
                    .handshake
                    .split_off(consumed.min(client.handshake.len()));
                client.handshake = Vec::new();
                if !rest.is_empty() {
                    client.held = Some(Chunk::copy_from(&rest));
                }
                self.entering.push((key, Entry::Named(name)));
                (None, SocketResult::Continue)
            }
        }
    }
}
