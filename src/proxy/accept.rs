//! Accepting clients without ever stalling: the client listeners (TCP and
//! Unix, one or several), and what happens when the process runs out of file
//! descriptors.
//!
//! Out of descriptors, a waiting client cannot even be accepted to be told
//! no, so it sits in the kernel's queue — and with it every client that gave
//! up meanwhile. The acceptor keeps one spare descriptor (as nginx and sozu
//! do): it closes the spare, accepts the waiting client, closes it at once,
//! and takes the spare back. The queue drains, and accepting goes on the
//! moment a descriptor frees. Only when no spare can be had does it stop
//! watching the listeners, briefly, instead of spinning on them.

use std::fs::File;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, UnixListener};
use mio::{Interest, Registry, Token};

use crate::net;
use crate::proxy::clients::client::{Peer, Stream};

// Listener tokens: `FIRST_LISTENER..FIRST_LISTENER + MAX_LISTENERS` (`tokens.rs`).
use crate::tokens::FIRST_LISTENER;
pub use crate::tokens::MAX_LISTENERS;
/// How long accepting pauses when descriptors run out and no spare is left.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// A socket clients connect to.
pub enum Listener {
    Tcp(TcpListener),
    /// `created`: the socket file this process bound, removed when the
    /// listener goes; `None` for one systemd passed (systemd owns its file).
    Unix {
        listener: UnixListener,
        path: PathBuf,
        created: Option<net::SocketFile>,
    },
}

impl Listener {
    /// How logs and `status` name it: `127.0.0.1:5859`, `unix:/run/…/dbg.sock`.
    pub fn describe(&self) -> String {
        match self {
            Listener::Tcp(l) => l
                .local_addr()
                .map_or_else(|_| "tcp:?".into(), |a| a.to_string()),
            Listener::Unix { path, .. } => format!("unix:{}", path.display()),
        }
    }

    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        match self {
            Listener::Tcp(l) => l.local_addr().ok(),
            Listener::Unix { .. } => None,
        }
    }

    fn source(&mut self) -> &mut dyn mio::event::Source {
        match self {
            Listener::Tcp(l) => l,
            Listener::Unix { listener, .. } => listener,
        }
    }

    fn accept(&self, local: Option<SocketAddr>) -> io::Result<Accepted> {
        match self {
            Listener::Tcp(l) => {
                let (stream, peer) = l.accept()?;
                Ok(Accepted {
                    stream: Stream::Tcp(stream),
                    peer: Peer::Tcp(peer),
                    local,
                })
            }
            Listener::Unix { listener, .. } => {
                let (stream, _) = listener.accept()?;
                // Whoever connected, as the kernel recorded it at connect();
                // unknown credentials show as uid u32::MAX and are refused.
                let (uid, pid) = crate::access::unix_peer(stream.as_raw_fd()).unwrap_or_else(|e| {
                    log::debug!("SO_PEERCRED: {e}");
                    (u32::MAX, 0)
                });
                Ok(Accepted {
                    stream: Stream::Unix(stream),
                    peer: Peer::Unix { uid, pid },
                    local: None,
                })
            }
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Listener::Unix {
            created: Some(file),
            ..
        } = self
        {
            file.remove();
        }
    }
}

/// A client just accepted, not judged yet.
pub struct Accepted {
    pub stream: Stream,
    pub peer: Peer,
    /// Our end of a TCP connection, when the listener's address says it
    /// (not a wildcard): one `getsockname` fewer per client.
    pub local: Option<SocketAddr>,
}

struct Slot {
    listener: Listener,
    /// The listener's address when every connection to it has that local
    /// address (not 0.0.0.0 or ::).
    local: Option<SocketAddr>,
    /// Edge-triggered readiness not yet drained.
    ready: bool,
}

pub struct Acceptor {
    /// Empty once the proxy stops accepting (shutting down).
    slots: Vec<Slot>,
    /// Where the next accept starts, so one busy listener cannot starve another.
    next: usize,
    paused_until: Option<Instant>,
    out_of_descriptors: bool,
    reserve: Option<File>,
    pub refused_no_descriptors: u64,
    pub pauses: u64,
}

impl Acceptor {
    pub fn new(listeners: Vec<Listener>, registry: &Registry) -> io::Result<Acceptor> {
        assert!(
            listeners.len() <= MAX_LISTENERS,
            "config allows at most {MAX_LISTENERS} listeners"
        );
        let mut slots = Vec::with_capacity(listeners.len());
        for (i, mut listener) in listeners.into_iter().enumerate() {
            registry.register(
                listener.source(),
                Token(FIRST_LISTENER + i),
                Interest::READABLE,
            )?;
            let local = listener.tcp_addr().filter(|a| !a.ip().is_unspecified());
            slots.push(Slot {
                listener,
                local,
                ready: true,
            });
        }
        Ok(Acceptor {
            slots,
            next: 0,
            paused_until: None,
            out_of_descriptors: false,
            reserve: spare(),
            refused_no_descriptors: 0,
            pauses: 0,
        })
    }

    pub fn owns(&self, token: Token) -> bool {
        (FIRST_LISTENER..FIRST_LISTENER + MAX_LISTENERS).contains(&token.0)
    }

    /// Readiness on a listener's token.
    pub fn set_ready(&mut self, token: Token) {
        if let Some(slot) = self.slots.get_mut(token.0 - FIRST_LISTENER) {
            slot.ready = true;
        }
    }

    /// The listeners, as `status` shows them.
    pub fn describe(&self) -> Vec<String> {
        self.slots.iter().map(|s| s.listener.describe()).collect()
    }

    /// Whether an accept may find a client now.
    pub fn accepting(&self) -> bool {
        self.paused_until.is_none() && self.slots.iter().any(|s| s.ready)
    }

    /// The next client waiting on any listener, if any; errors are dealt with
    /// here. With `holding` (the caller holds clients accepted but not yet
    /// registered), running out of descriptors returns `None` at once, so
    /// that those clients are taken in before the queue is refused.
    pub fn accept(&mut self, registry: &Registry, now: Instant, holding: bool) -> Option<Accepted> {
        if self.paused_until.is_some() {
            return None;
        }
        let n = self.slots.len();
        for k in 0..n {
            let i = (self.next + k) % n;
            while self.slots[i].ready {
                match self.slots[i].listener.accept(self.slots[i].local) {
                    Ok(client) => {
                        if self.out_of_descriptors {
                            self.out_of_descriptors = false;
                            log::info!("descriptors available again: accepting clients");
                        }
                        self.next = (i + 1) % n;
                        return Some(client);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.slots[i].ready = false,
                    Err(e) if net::accept_error_is_transient(&e) => {}
                    Err(e) if net::out_of_resources(&e) && holding => return None,
                    Err(e) if net::out_of_resources(&e) && self.refuse_with_spare(i) => {}
                    Err(e) => {
                        self.pause(&e, registry, now);
                        return None;
                    }
                }
            }
        }
        None
    }

    /// Gives up the spare descriptor to accept the client waiting on
    /// listener `i` and close it at once, then takes the spare back. False
    /// without a spare.
    fn refuse_with_spare(&mut self, i: usize) -> bool {
        if self.reserve.take().is_none() {
            return false;
        }
        if !self.out_of_descriptors {
            self.out_of_descriptors = true;
            log::warn!(
                "out of file descriptors: refusing new clients until some close (raise `ulimit -n`?)"
            );
        }
        match self.slots[i].listener.accept(None) {
            Ok(accepted) => {
                drop(accepted);
                self.refused_no_descriptors += 1;
                log::debug!(
                    "refusing a client on {}: out of file descriptors",
                    self.slots[i].listener.describe()
                );
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.slots[i].ready = false,
            Err(_) => {}
        }
        // Free again now that the refused client is closed.
        self.reserve = spare();
        self.reserve.is_some()
    }

    /// An accept failure that would repeat: stop watching the listeners
    /// briefly instead of spinning on them.
    fn pause(&mut self, e: &io::Error, registry: &Registry, now: Instant) {
        self.pauses += 1;
        let level = if self.out_of_descriptors {
            log::Level::Debug
        } else {
            log::Level::Warn
        };
        self.out_of_descriptors = true;
        log::log!(
            level,
            "cannot accept clients: {e}; pausing accepts for {}ms",
            ACCEPT_PAUSE.as_millis()
        );
        for slot in &mut self.slots {
            let _ = registry.deregister(slot.listener.source());
            slot.ready = false;
        }
        self.paused_until = Some(now + ACCEPT_PAUSE);
    }

    pub fn deadline(&self) -> Option<Instant> {
        self.paused_until
    }

    pub fn on_timer(&mut self, registry: &Registry, now: Instant) {
        if self.paused_until.is_none_or(|d| d > now) {
            return;
        }
        self.paused_until = None;
        if self.reserve.is_none() {
            self.reserve = spare();
        }
        for (i, slot) in self.slots.iter_mut().enumerate() {
            let token = Token(FIRST_LISTENER + i);
            match registry.register(slot.listener.source(), token, Interest::READABLE) {
                Ok(()) => slot.ready = true,
                Err(e) => {
                    log::warn!("cannot resume accepting clients: {e}; retrying");
                    self.paused_until = Some(now + ACCEPT_PAUSE);
                }
            }
        }
    }

    /// Stops accepting for good (shutdown); Unix sockets this process made
    /// are removed, so new clients find nothing rather than a dead socket.
    pub fn stop(&mut self, registry: &Registry) {
        for mut slot in std::mem::take(&mut self.slots) {
            let _ = registry.deregister(slot.listener.source());
        }
    }
}

fn spare() -> Option<File> {
    File::open("/dev/null").ok()
}
