//! How the proxy reaches a debugger (one backend per row of the session
//! table, `proxy/rows.rs`).
//!
//! A `Backend` knows how to obtain a `Link` — a live byte stream to the
//! debugger — and how to obtain the next one after it is lost. One module per
//! kind: `connect` (TCP connect with retries), `listen` (the debugger connects
//! in), `spawn` (a child process's stdin/stdout). The proxy owns the `Link`
//! once it is up and moves the bytes; a backend never touches client data.

mod backoff;
mod child;
mod connect;
mod group;
mod handed;
mod inspector;
mod listen;
mod spawn;

use std::io::{self, Read, Write};
use std::time::Instant;

use anyhow::Result;
use mio::event::Event;
use mio::net::TcpStream;
use mio::unix::pipe::{Receiver, Sender};
use mio::{Interest, Registry, Token};

use crate::config::{BackendKind, Config};
use crate::tokens::RowTokens;
pub use backoff::human;
pub use connect::Connector;
pub use handed::Handed;
pub use inspector::Inspector;
pub use listen::EngineListener;
pub use spawn::Spawner;

/// The outcome of an event or timer handled by a backend.
pub enum Progress {
    /// Nothing for the proxy to do.
    Pending,
    /// The debugger is reachable: here is the stream to it.
    Up(Link),
    /// The backend gave up; the proxy exits with this error.
    Failed(anyhow::Error),
    /// The debugger process exited while its stream was still open: read what
    /// it left, then drop the link.
    Exited { why: String },
    /// The debug session is over (stream read out, process reaped); `code` is
    /// what a session-mode proxy exits with.
    Ended { code: u8, why: String },
}

pub enum Backend {
    Connect(Connector),
    /// Connect, then CDP discovery and a WebSocket upgrade (`--protocol cdp`).
    Inspector(Box<Inspector>),
    Listen(EngineListener),
    Spawn(Spawner),
    /// DBGp proxy mode: engines are handed to it (`handed.rs`).
    Handed(Handed),
}

impl Backend {
    /// Builds the backend; `listen` binds its port here, so that a port clash
    /// is reported before the proxy says it is ready.
    /// `passed` is a debugger listener systemd handed over (socket activation).
    /// `tokens` are its row's (`tokens.rs`): the backend and its links use no others.
    pub fn new(
        config: &Config,
        registry: &Registry,
        passed: Option<std::net::TcpListener>,
        tokens: RowTokens,
    ) -> Result<Backend> {
        Ok(match config.backend {
            BackendKind::Connect if config.protocol == crate::framing::Protocol::Cdp => {
                Backend::Inspector(Box::new(Inspector::new(config, tokens, Default::default())))
            }
            BackendKind::Connect => Backend::Connect(Connector::new(config, tokens)),
            BackendKind::Listen => {
                Backend::Listen(EngineListener::bind(config, registry, passed, tokens)?)
            }
            BackendKind::Spawn => Backend::Spawn(Spawner::new(config, tokens)),
        })
    }

    /// Whether the proxy is ready (for the marker) before any debugger is
    /// there: a listening proxy is, since the debugger comes to it; so is a
    /// persistent connecting one, whose clients may come first.
    pub fn ready_when_listening(&self) -> bool {
        match self {
            Backend::Listen(_) => true,
            Backend::Connect(c) => c.ready_without_debugger(),
            Backend::Inspector(i) => i.connector().ready_without_debugger(),
            Backend::Spawn(_) | Backend::Handed(_) => false,
        }
    }

    /// How long the debugger that just came was waited for, when that wait
    /// was logged (once per wait).
    pub fn waited(&mut self, now: Instant) -> Option<std::time::Duration> {
        match self {
            Backend::Connect(c) => c.waited(now),
            Backend::Inspector(i) => i.connector_mut().waited(now),
            Backend::Listen(_) | Backend::Spawn(_) | Backend::Handed(_) => None,
        }
    }

    /// Starts obtaining a link: the first time, or again after one was lost.
    pub fn start(&mut self, registry: &Registry, now: Instant) -> Progress {
        match self {
            Backend::Connect(c) => c.start(registry, now),
            Backend::Inspector(i) => i.start(registry, now),
            Backend::Listen(l) => l.start(registry),
            Backend::Spawn(s) => s.start(registry, now),
            Backend::Handed(h) => h.start(registry),
        }
    }

    pub fn on_event(&mut self, registry: &Registry, event: &Event, now: Instant) -> Progress {
        match self {
            Backend::Connect(c) => c.on_event(registry, event, now),
            Backend::Inspector(i) => i.on_event(registry, event, now),
            Backend::Listen(l) => l.on_event(registry),
            Backend::Spawn(s) => {
                s.on_stderr();
                Progress::Pending
            }
            Backend::Handed(_) => Progress::Pending,
        }
    }

    /// The proxy ends the debugger session to start the next at once: a
    /// child is stopped, and started again without backing off. (A link the
    /// proxy closes needs nothing more: the next connection comes as usual.)
    pub fn restart(&mut self, now: Instant) {
        if let Backend::Spawn(s) = self {
            s.restart(now);
        }
    }

    /// SIGCHLD arrived.
    pub fn on_child_signal(&mut self) -> Progress {
        match self {
            Backend::Spawn(s) => s.on_child_signal(),
            Backend::Connect(_)
            | Backend::Inspector(_)
            | Backend::Listen(_)
            | Backend::Handed(_) => Progress::Pending,
        }
    }

    /// The proxy read the link to its end (or it failed) and dropped it.
    /// Returns the session's exit code, or `None` when the session ends later
    /// with `Progress::Ended` (a child process that has not exited yet).
    pub fn stream_ended(&mut self, now: Instant) -> Option<u8> {
        match self {
            Backend::Spawn(s) => s.stream_ended(now),
            Backend::Connect(_)
            | Backend::Inspector(_)
            | Backend::Listen(_)
            | Backend::Handed(_) => Some(0),
        }
    }

    pub fn on_timer(&mut self, registry: &Registry, now: Instant) -> Progress {
        match self {
            Backend::Connect(c) => c.on_timer(registry, now),
            Backend::Inspector(i) => i.on_timer(registry, now),
            Backend::Spawn(s) => s.on_timer(registry, now),
            Backend::Listen(_) | Backend::Handed(_) => Progress::Pending,
        }
    }

    /// When `on_timer` wants to be called next.
    pub fn deadline(&self) -> Option<Instant> {
        match self {
            Backend::Connect(c) => c.deadline(),
            Backend::Inspector(i) => i.deadline(),
            Backend::Spawn(s) => s.deadline(),
            Backend::Listen(_) | Backend::Handed(_) => None,
        }
    }

    /// Whether `token` is one of the backend's own (not the link's).
    pub fn owns(&self, token: Token) -> bool {
        match self {
            Backend::Connect(c) => token == c.tokens.link(),
            Backend::Inspector(i) => token == i.tokens.link(),
            Backend::Listen(l) => token == l.tokens.debugger_listener(),
            Backend::Spawn(s) => token == s.tokens.child_stderr(),
            // Its only token is its link's.
            Backend::Handed(_) => false,
        }
    }

    /// Whether the debugger keeps going away as soon as it is reached (a
    /// crash loop, reported once by the backend): the proxy then logs each
    /// session's start and end at debug rather than info.
    pub fn flapping(&self) -> bool {
        match self {
            Backend::Connect(c) => c.flapping(),
            Backend::Inspector(i) => i.connector().flapping(),
            Backend::Listen(l) => l.flapping(),
            Backend::Spawn(s) => s.flapping(),
            Backend::Handed(_) => false,
        }
    }

    /// A spawned debugger's pid, while it runs.
    pub fn child_pid(&self) -> Option<u32> {
        match self {
            Backend::Spawn(s) => s.pid(),
            Backend::Connect(_)
            | Backend::Inspector(_)
            | Backend::Listen(_)
            | Backend::Handed(_) => None,
        }
    }

    /// What an inspector backend learns by discovery, shared with the
    /// client port's door and the CDP sessions.
    pub fn known(&self) -> Option<&crate::protocol::cdp::known::Shared> {
        match self {
            Backend::Inspector(i) => Some(i.known()),
            _ => None,
        }
    }

    /// Names the debugger for logs and errors.
    pub fn describe(&self) -> String {
        match self {
            Backend::Connect(c) => c.describe(),
            Backend::Inspector(i) => i.describe(),
            Backend::Listen(l) => l.describe(),
            Backend::Spawn(s) => s.describe(),
            Backend::Handed(h) => h.describe(),
        }
    }
}

/// A live byte stream to the debugger.
pub enum Link {
    Tcp {
        stream: TcpStream,
        wants_write: bool,
        tokens: RowTokens,
        /// Set `TCP_QUICKACK` again after each read (Linux clears it).
        quickack: bool,
    },
    /// A child's stdin and stdout. The stdin pipe can only be registered for
    /// WRITABLE, so it is registered only while there is something to write.
    Pipes {
        stdin: Sender,
        stdout: Receiver,
        wants_write: bool,
        tokens: RowTokens,
    },
}

impl Link {
    /// A connected stream, registered READABLE | WRITABLE by the backend.
    fn tcp(stream: TcpStream, tokens: RowTokens) -> Link {
        Link::Tcp {
            stream,
            wants_write: true,
            tokens,
            quickack: false,
        }
    }

    /// A child's pipes, stdout registered READABLE by the backend.
    fn pipes(stdin: Sender, stdout: Receiver, tokens: RowTokens) -> Link {
        Link::Pipes {
            stdin,
            stdout,
            wants_write: false,
            tokens,
        }
    }

    /// Whether events for `token` are about this link.
    pub fn owns(&self, token: Token) -> bool {
        match self {
            Link::Tcp { tokens, .. } => token == tokens.link(),
            Link::Pipes { tokens, .. } => {
                token == tokens.child_stdin() || token == tokens.child_stdout()
            }
        }
    }

    /// Asks for WRITABLE only while the proxy has something queued for the debugger.
    pub fn want_write(&mut self, registry: &Registry, yes: bool) -> io::Result<()> {
        match self {
            Link::Tcp {
                stream,
                wants_write,
                tokens,
                ..
            } if *wants_write != yes => {
                let interest = if yes {
                    Interest::READABLE | Interest::WRITABLE
                } else {
                    Interest::READABLE
                };
                registry.reregister(stream, tokens.link(), interest)?;
                *wants_write = yes;
            }
            Link::Pipes {
                stdin,
                wants_write,
                tokens,
                ..
            } if *wants_write != yes => {
                if yes {
                    registry.register(stdin, tokens.child_stdin(), Interest::WRITABLE)?;
                } else {
                    registry.deregister(stdin)?;
                }
                *wants_write = yes;
            }
            _ => {}
        }
        Ok(())
    }

    /// Deregisters and closes the stream. For a child, closing its stdin is
    /// how it learns that nobody will talk to it any more.
    pub fn close(self, registry: &Registry) {
        match self {
            Link::Tcp { mut stream, .. } => {
                let _ = registry.deregister(&mut stream);
            }
            Link::Pipes {
                mut stdin,
                mut stdout,
                wants_write,
                ..
            } => {
                if wants_write {
                    let _ = registry.deregister(&mut stdin);
                }
                let _ = registry.deregister(&mut stdout);
            }
        }
    }
}

impl Read for Link {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Link::Tcp {
                stream, quickack, ..
            } => {
                let n = stream.read(buf)?;
                if *quickack && n > 0 {
                    let _ = socket2::SockRef::from(&*stream).set_tcp_quickack(true);
                }
                Ok(n)
            }
            Link::Pipes { stdout, .. } => stdout.read(buf),
        }
    }
}

impl Write for Link {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Link::Tcp { stream, .. } => stream.write(buf),
            Link::Pipes { stdin, .. } => stdin.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Link::Tcp { stream, .. } => stream.write_vectored(bufs),
            Link::Pipes { stdin, .. } => stdin.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
