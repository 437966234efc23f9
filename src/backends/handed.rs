//! The handed backend (DBGp proxy mode, `proxy/dbgp/`): it never reaches a
//! debugger by itself. The loop's shared engine port reads each engine's
//! `<init>`, picks the row by its idekey and hands the engine's connection
//! to that row's backend, which makes it the row's link under the row's
//! tokens. A row whose engine goes waits for the next one handed to it.

use std::net::SocketAddr;

use mio::net::TcpStream;
use mio::{Interest, Registry};

use super::{Link, Progress};
use crate::tokens::RowTokens;

pub struct Handed {
    /// The row's name (its idekey), for the logs.
    name: String,
    /// An engine handed over, not taken yet.
    next: Option<(TcpStream, SocketAddr)>,
    /// The engine now or last up.
    peer: Option<SocketAddr>,
    wanted: bool,
    pub(super) tokens: RowTokens,
}

impl Handed {
    pub fn new(name: String, tokens: RowTokens) -> Handed {
        Handed {
            name,
            next: None,
            peer: None,
            wanted: false,
            tokens,
        }
    }

    /// The row wants its next engine.
    pub fn start(&mut self, registry: &Registry) -> Progress {
        self.wanted = true;
        self.next(registry)
    }

    /// An engine for this row (the stream deregistered from its old token).
    pub fn hand(&mut self, stream: TcpStream, peer: SocketAddr, registry: &Registry) -> Progress {
        if let Some((_, old)) = self.next.replace((stream, peer)) {
            log::warn!("{}: engine from {old} dropped for a newer one", self.name);
        }
        self.next(registry)
    }

    fn next(&mut self, registry: &Registry) -> Progress {
        if !self.wanted {
            return Progress::Pending;
        }
        let Some((mut stream, peer)) = self.next.take() else {
            return Progress::Pending;
        };
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(e) = registry.register(&mut stream, self.tokens.link(), interest) {
            log::warn!("{}: cannot register the engine from {peer}: {e}", self.name);
            return Progress::Pending;
        }
        self.wanted = false;
        self.peer = Some(peer);
        Progress::Up(Link::tcp(stream, self.tokens))
    }

    /// The engine's address, for `status`.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }

    pub fn describe(&self) -> String {
        match self.peer {
            Some(peer) => format!("engine '{}' from {peer}", self.name),
            None => format!("engine '{}'", self.name),
        }
    }
}
