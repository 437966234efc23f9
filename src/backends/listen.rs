//! The listen backend (xdebug-style): the debugger connects in to the proxy.
//!
//! The debugger listener is bound when the proxy starts, so the ready marker
//! can be printed at once: the IDE starts PHP only after the marker, and Xdebug
//! never retries a connection. Each debugger connection (each PHP request) is
//! one debug session. A debugger that connects while another session is live
//! is accepted and queued, in arrival order, and becomes the backend when the
//! sessions before it end; Xdebug blocks on its connection meanwhile, so no
//! request runs undebugged. Past `MAX_WAITING` queued debuggers, further ones
//! are closed at once (the script then runs without a debugger), with one
//! warning per episode.
//!
//! Each debugger connection is the debugger's doing, so there is no backing
//! off; but one that connects and closes in a loop must not fill the log:
//! past `STORM` connections a second, the proxy logs each at debug only.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Result;
use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry};

use super::{Link, Progress};
use crate::config::Config;
use crate::net;
use crate::tokens::RowTokens;

/// Debugger connections waiting for their turn.
const MAX_WAITING: usize = 16;
/// More debugger sessions than this within a second is a loop, not debugging.
const STORM: u32 = 10;
const STORM_WINDOW: Duration = Duration::from_secs(1);

/// The `--backend listen` socket, where debuggers (engines) connect in.
/// (Not the clients' acceptor, `accept::Acceptor`.)
pub struct EngineListener {
    addr: SocketAddr,
    listener: TcpListener,
    waiting: VecDeque<(TcpStream, SocketAddr)>,
    /// Whether a session is live (the proxy holds its link).
    busy: bool,
    /// Whether the proxy is waiting for a link.
    wanted: bool,
    /// Refusals since the queue was last below its bound (warned at the first).
    refusing: u64,
    sessions: Rate,
    pub(super) tokens: RowTokens,
}

/// Debugger sessions per `STORM_WINDOW`, to tell a connect-and-close loop
/// from debugging.
struct Rate {
    window_start: Instant,
    in_window: u32,
    storm: bool,
    /// Sessions logged at debug only during this storm.
    quiet: u64,
}

impl EngineListener {
    /// Binds `--host:--port`, or takes the socket systemd passed.
    pub fn bind(
        config: &Config,
        registry: &Registry,
        passed: Option<std::net::TcpListener>,
        tokens: RowTokens,
    ) -> Result<EngineListener> {
        let mut listener = match passed {
            Some(listener) => {
                listener.set_nonblocking(true)?;
                TcpListener::from_std(listener)
            }
            None => {
                let hint = format!(
                    "is another dbgproxy or debug client listening for the debugger on port {}?",
                    config.debugger_addr.port()
                );
                net::listen(config.debugger_addr, "the debugger", &hint)?
            }
        };
        let addr = listener.local_addr()?;
        registry.register(
            &mut listener,
            tokens.debugger_listener(),
            Interest::READABLE,
        )?;
        log::info!("listening for the debugger on {addr}");
        Ok(EngineListener {
            addr,
            listener,
            waiting: VecDeque::new(),
            busy: false,
            wanted: false,
            refusing: 0,
            sessions: Rate {
                window_start: Instant::now(),
                in_window: 0,
                storm: false,
                quiet: 0,
            },
            tokens,
        })
    }

    pub fn describe(&self) -> String {
        format!("debugger on {}", self.addr)
    }

    /// The proxy wants the next debugger: the first in the queue, or the next
    /// to connect.
    pub fn start(&mut self, registry: &Registry) -> Progress {
        self.busy = false;
        self.wanted = true;
        self.accept_all();
        self.next(registry)
    }

    pub fn on_event(&mut self, registry: &Registry) -> Progress {
        self.accept_all();
        self.next(registry)
    }

    fn next(&mut self, registry: &Registry) -> Progress {
        while self.wanted {
            let Some((mut stream, peer)) = self.waiting.pop_front() else {
                break;
            };
            if let Err(e) = registry.register(
                &mut stream,
                self.tokens.link(),
                Interest::READABLE | Interest::WRITABLE,
            ) {
                log::warn!("cannot register debugger connection from {peer}: {e}");
                continue;
            }
            self.wanted = false;
            self.busy = true;
            self.count_session(Instant::now());
            // The proxy logs the session at info; the peer is detail.
            log::debug!("debugger connected from {peer}");
            return Progress::Up(Link::tcp(stream, self.tokens));
        }
        Progress::Pending
    }

    /// Whether debugger sessions come and go in a loop (reported once): the
    /// proxy then logs each at debug rather than info.
    pub fn flapping(&self) -> bool {
        self.sessions.storm
    }

    fn count_session(&mut self, now: Instant) {
        let rate = &mut self.sessions;
        if now.duration_since(rate.window_start) >= STORM_WINDOW {
            if rate.storm && rate.in_window <= STORM {
                log::info!(
                    "debugger connections on {} are back to a normal rate ({} came and went meanwhile)",
                    self.addr,
                    rate.quiet
                );
                rate.storm = false;
                rate.quiet = 0;
            }
            rate.window_start = now;
            rate.in_window = 0;
        }
        rate.in_window += 1;
        if rate.storm {
            rate.quiet += 1;
        } else if rate.in_window > STORM {
            rate.storm = true;
            log::warn!(
                "more than {STORM} debugger sessions a second on {}: a debugger that connects \
                 and closes in a loop? Logging each one at debug from now on",
                self.addr
            );
        }
    }

    fn accept_all(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((stream, peer)) => {
                    if self.waiting.len() >= MAX_WAITING {
                        let level = if self.refusing == 0 {
                            log::Level::Warn
                        } else {
                            log::Level::Debug
                        };
                        self.refusing += 1;
                        log::log!(
                            level,
                            "refusing debugger from {peer}: {MAX_WAITING} debuggers already wait for their turn"
                        );
                        continue;
                    }
                    if self.refusing > 1 {
                        log::info!(
                            "debugger queue has room again ({} debugger connections refused)",
                            self.refusing
                        );
                    }
                    self.refusing = 0;
                    net::tune(&stream);
                    if self.busy {
                        let level = if self.sessions.storm {
                            log::Level::Debug
                        } else {
                            log::Level::Info
                        };
                        log::log!(
                            level,
                            "debugger from {peer} waits for the current session to end ({} waiting)",
                            self.waiting.len() + 1
                        );
                    }
                    self.waiting.push_back((stream, peer));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if net::accept_error_is_transient(&e) => {}
                Err(e) => {
                    // Out of descriptors: the connection stays in the kernel's
                    // queue and is taken when a session ends and frees one.
                    log::warn!("cannot accept a debugger connection: {e}");
                    return;
                }
            }
        }
    }
}
