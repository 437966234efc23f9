//! The connect backend (v8-style): TCP-connect to a debugger that listens on a
//! port, retrying while it is not up yet.
//!
//! Only "connection refused" is retried: it is what a debugger that has not
//! started listening yet looks like. Any other error (no route, a timeout) is
//! reported at once for the first debugger, since retrying will not fix a
//! wrong address. Reconnects in persistent mode retry everything for ever:
//! there the proxy must outlive whatever happens to the debugger's host.
//!
//! A debugger that accepts and closes at once is reconnected with a growing
//! pause (`backoff`), reported once rather than once per connect.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use mio::event::Event;
use mio::net::TcpStream;
use mio::{Interest, Registry};

use super::backoff::{self, Backoff, human};
use super::{DEBUGGER, Link, Progress};
use crate::config::Config;
use crate::net;

/// How long one connect attempt may stay unanswered (a host that drops SYNs).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Connector {
    addr: SocketAddr,
    interval: Duration,
    first_limit: Option<u32>,
    /// Rounds of attempts started: the first is limited, later ones are not.
    rounds: u32,
    limit: Option<u32>,
    attempts: u32,
    round_started: Instant,
    /// A persistent reconnect warns once per round, then logs at debug.
    warned: bool,
    backoff: Backoff,
    state: State,
}

enum State {
    Idle,
    Waiting {
        until: Instant,
    },
    Connecting {
        stream: TcpStream,
        gives_up_at: Instant,
    },
}

impl Connector {
    pub fn new(config: &Config) -> Connector {
        Connector {
            addr: config.debugger_addr,
            interval: config.retry_interval,
            first_limit: config.retries,
            rounds: 0,
            limit: None,
            attempts: 0,
            round_started: Instant::now(),
            warned: false,
            backoff: Backoff::new(config.retry_interval),
            state: State::Idle,
        }
    }

    pub fn describe(&self) -> String {
        format!("debugger at {}", self.addr)
    }

    pub fn start(&mut self, registry: &Registry, now: Instant) -> Progress {
        self.limit = if self.rounds == 0 {
            self.first_limit
        } else {
            None
        };
        self.rounds += 1;
        self.attempts = 0;
        self.round_started = now;
        self.warned = false;
        match self.backoff.lost(now) {
            None => self.attempt(registry, now),
            Some(wait) => {
                self.report_quick_close(wait);
                self.state = State::Waiting { until: now + wait };
                Progress::Pending
            }
        }
    }

    /// Whether the debugger keeps closing right after connecting (reported
    /// once already): each repetition is worth a debug line only.
    pub fn flapping(&self) -> bool {
        self.backoff.flapping()
    }

    fn report_quick_close(&self, wait: Duration) {
        let quick = self.backoff.quick();
        if quick == backoff::REPEATED {
            log::warn!(
                "debugger at {} closes right after connecting ({quick} times in a row); \
                 backing off, retrying every {}, doubling up to {}",
                self.addr,
                human(wait),
                human(self.backoff.cap())
            );
        } else {
            log::debug!(
                "debugger at {} closed right after connecting ({quick} in a row): next try in {}",
                self.addr,
                human(wait)
            );
        }
    }

    pub fn deadline(&self) -> Option<Instant> {
        let attempt = match self.state {
            State::Idle => None,
            State::Waiting { until } => Some(until),
            State::Connecting { gives_up_at, .. } => Some(gives_up_at),
        };
        match (attempt, self.backoff.deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn on_timer(&mut self, registry: &Registry, now: Instant) -> Progress {
        if let Some(quick) = self.backoff.on_timer(now)
            && quick >= backoff::REPEATED
        {
            log::info!(
                "debugger at {} stayed connected: no longer backing off (after {quick} quick reconnects)",
                self.addr
            );
        }
        match &mut self.state {
            State::Waiting { until } if now >= *until => self.attempt(registry, now),
            State::Connecting {
                stream,
                gives_up_at,
            } if now >= *gives_up_at => {
                let _ = registry.deregister(stream);
                self.state = State::Idle;
                let e = io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no answer within {}s", ATTEMPT_TIMEOUT.as_secs()),
                );
                self.failed(e, now)
            }
            _ => Progress::Pending,
        }
    }

    pub fn on_event(&mut self, registry: &Registry, event: &Event, now: Instant) -> Progress {
        let State::Connecting { stream, .. } = &mut self.state else {
            return Progress::Pending;
        };
        if event.token() != DEBUGGER {
            return Progress::Pending;
        }
        match net::connect_finished(stream) {
            Ok(false) => Progress::Pending,
            Ok(true) => {
                let State::Connecting { stream, .. } =
                    std::mem::replace(&mut self.state, State::Idle)
                else {
                    unreachable!("matched Connecting above");
                };
                net::tune(&stream);
                self.backoff.up(now);
                log::debug!("connected to {} on attempt {}", self.addr, self.attempts);
                Progress::Up(Link::tcp(stream))
            }
            Err(e) => {
                let _ = registry.deregister(stream);
                self.state = State::Idle;
                self.failed(e, now)
            }
        }
    }

    fn attempt(&mut self, registry: &Registry, now: Instant) -> Progress {
        self.attempts += 1;
        let result = net::connect(self.addr).and_then(|mut stream| {
            registry.register(
                &mut stream,
                DEBUGGER,
                Interest::READABLE | Interest::WRITABLE,
            )?;
            Ok(stream)
        });
        match result {
            Ok(stream) => {
                self.state = State::Connecting {
                    stream,
                    gives_up_at: now + ATTEMPT_TIMEOUT,
                };
                Progress::Pending
            }
            Err(e) => {
                let e = e
                    .downcast::<io::Error>()
                    .unwrap_or_else(|e| io::Error::other(format!("{e:#}")));
                self.failed(e, now)
            }
        }
    }

    fn failed(&mut self, e: io::Error, now: Instant) -> Progress {
        let refused = e.kind() == io::ErrorKind::ConnectionRefused;
        if !refused && self.rounds == 1 {
            return Progress::Failed(anyhow!("cannot connect to debugger at {}: {e}", self.addr));
        }
        if self.limit.is_some_and(|limit| self.attempts >= limit) {
            return Progress::Failed(anyhow!(
                "debugger at {} not reachable after {} tries ({}): is it running and listening on port {}?",
                self.addr,
                self.attempts,
                human(now - self.round_started),
                self.addr.port(),
            ));
        }
        if refused {
            log::debug!(
                "{}: connection refused (attempt {})",
                self.addr,
                self.attempts
            );
        } else {
            let level = if self.warned {
                log::Level::Debug
            } else {
                log::Level::Warn
            };
            log::log!(
                level,
                "{}: {e} (attempt {}); retrying",
                self.addr,
                self.attempts
            );
            self.warned = true;
        }
        self.state = State::Waiting {
            until: now + self.interval,
        };
        Progress::Pending
    }
}
