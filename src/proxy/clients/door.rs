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
}

/// The door for `config`'s protocol, if it has one. `backend` is the
/// command line's row's (what it learns, the door may tell).
pub fn for_config(config: &Config, backend: &Backend) -> Option<Box<dyn Door>> {
    match config.protocol {
        Protocol::Cdp => {
            let known = backend.known().cloned().unwrap_or_default();
            Some(Box::new(super::cdp_door::CdpDoor::new(config, known)))
        }
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

    /// Clients that entered, with their rows to make (`enter` each, or `drop_entering`).
    pub fn take_entering(&mut self) -> Vec<(usize, Joiner)> {
        std::mem::take(&mut self.entering)
    }

    /// The client at `key` joins `row`, made for it.
    pub fn enter(&mut self, key: usize, row: RowId, registry: &Registry) {
        let place = move |_: &super::client::Client| Some(row);
        self.join(key, registry, &place);
        self.readable.push(key);
    }

    /// The row for the client at `key` could not be made.
    pub fn drop_entering(&mut self, key: usize, why: &str, registry: &Registry) {
        if let Some(c) = self.table.get(key) {
            log::warn!("{}: no session for it: {why}", c.name());
        }
        if let Some(client) = self.table.try_remove(key) {
            self.waiting -= 1;
            client.refuse(None, registry);
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
        match client.read(buf) {
            (n, SocketResult::Continue) => client.handshake.extend_from_slice(&buf[..n]),
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
                self.entering.push((key, joiner));
                (None, SocketResult::Continue)
            }
        }
    }
}
