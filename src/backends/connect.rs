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
//!
//! Waiting without a limit (a persistent proxy, or `--retries 0`), the first
//! `STEADY_TRIES` attempts come every `--retry-interval`; then the pause
//! doubles up to ten intervals, at most `WAIT_CAP`: a debugger that comes in
//! an hour costs a try every 2 s, not thousands of log lines. Waiting for
//! the first debugger is said once at `info`, and so is its arrival.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use mio::event::Event;
use mio::net::TcpStream;
use mio::{Interest, Registry};

use super::backoff::{self, Backoff, human};
use super::{Link, Progress};
use crate::config::{Config, Mode};
use crate::net;
use crate::tokens::RowTokens;

/// How long one connect attempt may stay unanswered (a host that drops SYNs).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// Attempts of an unlimited wait made every `--retry-interval`.
const STEADY_TRIES: u32 = 10;
/// The longest pause of an unlimited wait, unless the interval is longer.
const WAIT_CAP: Duration = Duration::from_secs(2);

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
    /// Persistent mode: clients are served before the debugger is there.
    ready_without_debugger: bool,
    /// Since when the first debugger has been waited for, said at `info`.
    waiting_since: Option<Instant>,
    backoff: Backoff,
    state: State,
    pub(super) tokens: RowTokens,
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
    pub fn new(config: &Config, tokens: RowTokens) -> Connector {
        Connector {
            addr: config.debugger_addr,
            interval: config.retry_interval,
            first_limit: config.retries,
            rounds: 0,
            limit: None,
            attempts: 0,
            round_started: Instant::now(),
            warned: false,
            ready_without_debugger: config.mode == Mode::Persistent,
            waiting_since: None,
            backoff: Backoff::new(config.retry_interval),
            state: State::Idle,
            tokens,
        }
    }

    pub fn describe(&self) -> String {
        format!("debugger at {}", self.addr)
    }

    /// Whether the proxy is ready before the debugger is there: in
    /// persistent mode clients may connect first, and a late debugger must
    /// not hold up whoever waits for the marker (`dbgproxy attach`).
    pub fn ready_without_debugger(&self) -> bool {
        self.ready_without_debugger
    }

    /// How long the debugger that just came was waited for, if that wait
    /// was said at `info` (once).
    pub fn waited(&mut self, now: Instant) -> Option<Duration> {
        self.waiting_since.take().map(|since| now - since)
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
        if event.token() != self.tokens.link() {
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
                Progress::Up(Link::tcp(stream, self.tokens))
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
                self.tokens.link(),
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
            if self.rounds == 1 && self.attempts == 1 {
                self.waiting_since = Some(self.round_started);
                let limit = self
                    .limit
                    .map_or(String::new(), |n| format!(" (giving up after {n} tries)"));
                log::info!(
                    "waiting for the {} (connection refused); clients may connect now{limit}",
                    self.describe()
                );
            }
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
            until: now + self.pause(),
        };
        Progress::Pending
    }

    /// The pause before the next attempt of this round.
    fn pause(&self) -> Duration {
        if self.limit.is_some() || self.attempts <= STEADY_TRIES {
            return self.interval;
        }
        let doublings = (self.attempts - STEADY_TRIES).min(16);
        let cap = self.interval.saturating_mul(10).min(WAIT_CAP);
        self.interval
            .saturating_mul(1 << doublings)
            .min(cap)
            .max(self.interval)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connector(interval_ms: u64, limit: Option<u32>) -> Connector {
        let args = ["--port", "1", "--retry-interval", &interval_ms.to_string()];
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let config = Config::parse_from(&args).expect("valid");
        let mut c = Connector::new(&config, RowTokens::of(crate::tokens::RowId(0)));
        c.limit = limit;
        c
    }

    fn pauses(c: &mut Connector, tries: u32) -> Vec<u128> {
        (1..=tries)
            .map(|n| {
                c.attempts = n;
                c.pause().as_millis()
            })
            .collect()
    }

    #[test]
    fn an_unlimited_wait_slows_down_to_a_cap() {
        let mut c = connector(300, None);
        let p = pauses(&mut c, 16);
        assert_eq!(p[..10], [300; 10], "the first tries every interval");
        assert_eq!(p[10..], [600, 1200, 2000, 2000, 2000, 2000]);
        // A small interval grows to ten times itself.
        let mut c = connector(5, None);
        assert_eq!(pauses(&mut c, 20)[19], 50);
        // A long one never shrinks.
        let mut c = connector(5000, None);
        assert_eq!(pauses(&mut c, 20)[19], 5000);
    }

    #[test]
    fn a_limited_wait_keeps_the_interval() {
        let mut c = connector(300, Some(100));
        assert_eq!(pauses(&mut c, 100), [300; 100]);
    }
}
