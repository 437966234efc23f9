//! Accepting clients without ever stalling: the listener, and what happens
//! when the process runs out of file descriptors.
//!
//! Out of descriptors, a waiting client cannot even be accepted to be told
//! no, so it sits in the kernel's queue — and with it every client that gave
//! up meanwhile. The acceptor keeps one spare descriptor (as nginx and sozu
//! do): it closes the spare, accepts the waiting client, closes it at once,
//! and takes the spare back. The queue drains, and accepting goes on the
//! moment a descriptor frees. Only when no spare can be had does it stop
//! watching the listener, briefly, instead of spinning on it.

use std::fs::File;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};

use crate::net;

pub const LISTENER: Token = Token(0);
/// How long accepting pauses when descriptors run out and no spare is left.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

pub struct Acceptor {
    /// `None` once the proxy stops accepting (shutting down).
    listener: Option<TcpListener>,
    /// Edge-triggered readiness not yet drained.
    pub ready: bool,
    paused_until: Option<Instant>,
    out_of_descriptors: bool,
    reserve: Option<File>,
    pub refused_no_descriptors: u64,
    pub pauses: u64,
}

impl Acceptor {
    pub fn new(mut listener: TcpListener, registry: &Registry) -> io::Result<Acceptor> {
        registry.register(&mut listener, LISTENER, Interest::READABLE)?;
        Ok(Acceptor {
            listener: Some(listener),
            ready: true,
            paused_until: None,
            out_of_descriptors: false,
            reserve: spare(),
            refused_no_descriptors: 0,
            pauses: 0,
        })
    }

    /// Whether an accept may find a client now.
    pub fn accepting(&self) -> bool {
        self.ready && self.paused_until.is_none() && self.listener.is_some()
    }

    /// The next client waiting, if any; errors are dealt with here.
    pub fn accept(&mut self, registry: &Registry, now: Instant) -> Option<(TcpStream, SocketAddr)> {
        loop {
            if !self.ready {
                return None;
            }
            let listener = self.listener.as_ref()?;
            match listener.accept() {
                Ok(client) => {
                    if self.out_of_descriptors {
                        self.out_of_descriptors = false;
                        log::info!("descriptors available again: accepting clients");
                    }
                    return Some(client);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.ready = false,
                Err(e) if net::accept_error_is_transient(&e) => {}
                Err(e) if net::out_of_resources(&e) && self.refuse_with_spare() => {}
                Err(e) => {
                    self.pause(&e, registry, now);
                    return None;
                }
            }
        }
    }

    /// Gives up the spare descriptor to accept the waiting client and close
    /// it at once, then takes the spare back. False without a spare.
    fn refuse_with_spare(&mut self) -> bool {
        if self.reserve.take().is_none() {
            return false;
        }
        if !self.out_of_descriptors {
            self.out_of_descriptors = true;
            log::warn!(
                "out of file descriptors: refusing new clients until some close (raise `ulimit -n`?)"
            );
        }
        match self.listener.as_ref().map(TcpListener::accept) {
            Some(Ok((stream, peer))) => {
                drop(stream);
                self.refused_no_descriptors += 1;
                log::debug!("refusing client from {peer}: out of file descriptors");
            }
            Some(Err(e)) if e.kind() == io::ErrorKind::WouldBlock => self.ready = false,
            _ => {}
        }
        // Free again now that the refused client is closed.
        self.reserve = spare();
        self.reserve.is_some()
    }

    /// An accept failure that would repeat: stop watching the listener
    /// briefly instead of spinning on it.
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
        if let Some(listener) = self.listener.as_mut() {
            let _ = registry.deregister(listener);
        }
        self.ready = false;
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
        if let Some(listener) = self.listener.as_mut() {
            match registry.register(listener, LISTENER, Interest::READABLE) {
                Ok(()) => self.ready = true,
                Err(e) => {
                    log::warn!("cannot resume accepting clients: {e}; retrying");
                    self.paused_until = Some(now + ACCEPT_PAUSE);
                }
            }
        }
    }

    /// Stops accepting for good (shutdown).
    pub fn stop(&mut self, registry: &Registry) {
        if let Some(mut listener) = self.listener.take() {
            let _ = registry.deregister(&mut listener);
        }
        self.ready = false;
    }
}

fn spare() -> Option<File> {
    File::open("/dev/null").ok()
}
