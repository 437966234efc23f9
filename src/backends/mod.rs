//! How the proxy reaches its one debugger.
//!
//! A `Backend` knows how to obtain a `Link` — a live byte stream to the
//! debugger — and how to obtain the next one after it is lost. One module per
//! kind: `connect` (TCP connect with retries). The proxy owns the `Link` once
//! it is up and moves the bytes; a backend never touches client data.

mod connect;

use std::io::{self, Read, Write};
use std::time::Instant;

use anyhow::Result;
use mio::event::Event;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use crate::config::{BackendKind, Config};
pub use connect::Connector;

/// Tokens the backends use. The proxy's own singletons and clients use others.
pub const DEBUGGER: Token = Token(2);

/// The outcome of an event or timer handled by a backend.
pub enum Progress {
    /// Nothing for the proxy to do.
    Pending,
    /// The debugger is reachable: here is the stream to it.
    Up(Link),
    /// The backend gave up; the proxy exits with this error.
    Failed(anyhow::Error),
}

pub enum Backend {
    Connect(Connector),
}

impl Backend {
    pub fn new(config: &Config) -> Result<Backend> {
        match config.backend {
            BackendKind::Connect => Ok(Backend::Connect(Connector::new(config))),
            other => anyhow::bail!("--backend {} is not built yet", other.name()),
        }
    }

    /// Starts obtaining a link: the first time, or again after one was lost.
    pub fn start(&mut self, registry: &Registry, now: Instant) -> Progress {
        match self {
            Backend::Connect(c) => c.start(registry, now),
        }
    }

    pub fn on_event(&mut self, registry: &Registry, event: &Event, now: Instant) -> Progress {
        match self {
            Backend::Connect(c) => c.on_event(registry, event, now),
        }
    }

    pub fn on_timer(&mut self, registry: &Registry, now: Instant) -> Progress {
        match self {
            Backend::Connect(c) => c.on_timer(registry, now),
        }
    }

    /// When `on_timer` wants to be called next.
    pub fn deadline(&self) -> Option<Instant> {
        match self {
            Backend::Connect(c) => c.deadline(),
        }
    }

    /// Whether `token` is one of the backend's own (not the link's).
    pub fn owns(&self, token: Token) -> bool {
        match self {
            Backend::Connect(_) => token == DEBUGGER,
        }
    }

    /// Names the debugger for logs and errors.
    pub fn describe(&self) -> String {
        match self {
            Backend::Connect(c) => c.describe(),
        }
    }
}

/// A live byte stream to the debugger.
pub enum Link {
    Tcp {
        stream: TcpStream,
        wants_write: bool,
    },
}

impl Link {
    fn tcp(stream: TcpStream) -> Link {
        Link::Tcp {
            stream,
            wants_write: true,
        }
    }

    /// Whether events for `token` are about this link.
    pub fn owns(&self, token: Token) -> bool {
        match self {
            Link::Tcp { .. } => token == DEBUGGER,
        }
    }

    /// Asks for WRITABLE only while the proxy has something queued for the debugger.
    pub fn want_write(&mut self, registry: &Registry, yes: bool) -> io::Result<()> {
        match self {
            Link::Tcp {
                stream,
                wants_write,
            } => {
                if *wants_write != yes {
                    let interest = if yes {
                        Interest::READABLE | Interest::WRITABLE
                    } else {
                        Interest::READABLE
                    };
                    registry.reregister(stream, DEBUGGER, interest)?;
                    *wants_write = yes;
                }
            }
        }
        Ok(())
    }

    pub fn close(self, registry: &Registry) {
        match self {
            Link::Tcp { mut stream, .. } => {
                let _ = registry.deregister(&mut stream);
            }
        }
    }
}

impl Read for Link {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Link::Tcp { stream, .. } => stream.read(buf),
        }
    }
}

impl Write for Link {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Link::Tcp { stream, .. } => stream.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Link::Tcp { stream, .. } => stream.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
