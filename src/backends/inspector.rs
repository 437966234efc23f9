//! The inspector backend (`--backend inspector`: connect + `--protocol
//! cdp`): node's `--inspect` port, or Chromium's `--remote-debugging-port`.
//! It reaches the port as `connect` does (retrying while refused; in
//! persistent mode for ever), then speaks HTTP as node's clients do, one TCP
//! connection per request: `GET /json/list` to choose the target
//! (`--target`), `/json/version` and `/json/protocol` once for the client
//! port's door, and last a connection upgraded to the target's WebSocket.
//! Only that one is the link handed to the loop: a link is one inspector
//! session. After a loss the next `start` discovers again: a restarted node
//! has a new target id. What it learns is written to the shared `Known`.
//!
//! The link sets `TCP_QUICKACK` after every read (Linux clears it): node
//! leaves Nagle on, and an answer written just after an event waits for the
//! reader's delayed ACK otherwise (CDP.md: 44 ms instead of 0.3 ms).

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use mio::event::Event;
use mio::net::TcpStream;
use mio::{Interest, Registry};

use super::{Connector, Link, Progress};
use crate::config::{Config, Mode};
use crate::net;
use crate::protocol::cdp::backend::{self, ReplyError};
use crate::protocol::cdp::known::Shared;
use crate::tokens::RowTokens;

/// How long one HTTP exchange may stay unanswered.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest discovery body taken (Chromium's schema is about 1 MB).
const MAX_BODY: usize = 16 * 1024 * 1024;

pub struct Inspector {
    connector: Connector,
    addr: SocketAddr,
    wanted: Option<String>,
    mode: Mode,
    retry: Duration,
    known: Shared,
    phase: Phase,
    /// The target of the link being made or up.
    target_id: Option<String>,
    /// Links made so far; a session-mode proxy whose first discovery fails
    /// gives up at once (a wrong port, not a debugger that is starting).
    ups: u64,
    /// A discovery failure was said at `warn`; repeats are `debug` until a link is up.
    warned: bool,
    pub(super) tokens: RowTokens,
}

enum Phase {
    Idle,
    /// The connector is reaching the port.
    Connecting,
    /// After a failed discovery: the next round starts then.
    Waiting {
        until: Instant,
    },
    Http(Exchange),
}

/// One request on its own connection, and its reply as far as read.
struct Exchange {
    stream: TcpStream,
    step: Step,
    connected: bool,
    out: Vec<u8>,
    reply: Vec<u8>,
    gives_up_at: Instant,
}

#[derive(Clone)]
enum Step {
    Get(&'static str),
    Upgrade { path: String, key: String },
}

enum Fail {
    /// The debugger answered, but not as an inspector: the log line.
    Protocol(String),
    /// The connection failed (node went away meanwhile).
    Io(String),
}

impl Inspector {
    pub fn new(config: &Config, tokens: RowTokens, known: Shared) -> Inspector {
        Inspector {
            connector: Connector::new(config, tokens),
            addr: config.debugger_addr,
            wanted: config.target.clone(),
            mode: config.mode,
            retry: config.retry_interval,
            known,
            phase: Phase::Idle,
            target_id: None,
            ups: 0,
            warned: false,
            tokens,
        }
    }

    pub fn known(&self) -> &Shared {
        &self.known
    }

    pub fn describe(&self) -> String {
        match &self.target_id {
            Some(id) => format!("inspector at {} (target {id})", self.addr),
            None => format!("inspector at {}", self.addr),
        }
    }

    pub fn connector(&self) -> &Connector {
        &self.connector
    }

    pub fn connector_mut(&mut self) -> &mut Connector {
        &mut self.connector
    }

    pub fn start(&mut self, registry: &Registry, now: Instant) -> Progress {
        self.phase = Phase::Connecting;
        let progress = self.connector.start(registry, now);
        self.after_connector(progress, registry, now)
    }

    pub fn deadline(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Idle => None,
            Phase::Connecting => self.connector.deadline(),
            Phase::Waiting { until } => Some(*until),
            Phase::Http(x) => Some(x.gives_up_at),
        }
    }

    pub fn on_timer(&mut self, registry: &Registry, now: Instant) -> Progress {
        match &self.phase {
            Phase::Connecting => {
                let progress = self.connector.on_timer(registry, now);
                self.after_connector(progress, registry, now)
            }
            Phase::Waiting { until } if now >= *until => self.start(registry, now),
            Phase::Http(x) if now >= x.gives_up_at => {
                let why = format!("no answer within {}s", EXCHANGE_TIMEOUT.as_secs());
                self.failed(Fail::Io(why), registry, now)
            }
            _ => Progress::Pending,
        }
    }

    pub fn on_event(&mut self, registry: &Registry, event: &Event, now: Instant) -> Progress {
        match &self.phase {
            Phase::Connecting => {
                let progress = self.connector.on_event(registry, event, now);
                self.after_connector(progress, registry, now)
            }
            Phase::Http(_) => self.drive(registry, now),
            Phase::Idle | Phase::Waiting { .. } => Progress::Pending,
        }
    }

    /// The connector reached the port: its connection carries the list.
    fn after_connector(
        &mut self,
        progress: Progress,
        registry: &Registry,
        now: Instant,
    ) -> Progress {
        match progress {
            Progress::Up(Link::Tcp { stream, .. }) => {
                self.exchange(stream, true, Step::Get("/json/list"), now);
                self.drive(registry, now)
            }
            other => other,
        }
    }

    fn exchange(&mut self, stream: TcpStream, connected: bool, step: Step, now: Instant) {
        let out = match &step {
            Step::Get(path) => backend::get_request(self.addr, path),
            Step::Upgrade { path, key } => backend::upgrade_request(self.addr, path, key),
        };
        self.phase = Phase::Http(Exchange {
            stream,
            step,
            connected,
            out,
            reply: Vec::new(),
            gives_up_at: now + EXCHANGE_TIMEOUT,
        });
    }

    /// Moves the exchange on as far as its socket allows.
    fn drive(&mut self, registry: &Registry, now: Instant) -> Progress {
        let Phase::Http(x) = &mut self.phase else {
            return Progress::Pending;
        };
        match x.pump() {
            Ok(None) => Progress::Pending,
            Err(e) => self.failed(Fail::Io(e.to_string()), registry, now),
            Ok(Some(eof)) => self.read_reply(eof, registry, now),
        }
    }

    fn read_reply(&mut self, eof: bool, registry: &Registry, now: Instant) -> Progress {
        let Phase::Http(x) = &mut self.phase else {
            return Progress::Pending;
        };
        let step = x.step.clone();
        match step {
            Step::Upgrade { path, key } => {
                match backend::parse_upgrade_reply(&x.reply, eof, self.addr, &path, &key) {
                    Ok(None) => Progress::Pending,
                    Err(why) => self.failed(Fail::Protocol(why), registry, now),
                    Ok(Some(head)) => {
                        if x.reply.len() > head {
                            log::debug!("{}: bytes after the 101 ignored", self.addr);
                        }
                        let Phase::Http(x) = std::mem::replace(&mut self.phase, Phase::Idle) else {
                            return Progress::Pending;
                        };
                        self.ups += 1;
                        self.warned = false;
                        let _ = socket2::SockRef::from(&x.stream).set_tcp_quickack(true);
                        Progress::Up(Link::Tcp {
                            stream: x.stream,
                            wants_write: true,
                            tokens: self.tokens,
                            quickack: true,
                        })
                    }
                }
            }
            Step::Get(path) => match backend::parse_reply(&x.reply, eof, MAX_BODY) {
                Ok(None) => Progress::Pending,
                Ok(Some(reply)) if reply.status != 200 => {
                    let why = backend::describe(self.addr, path, &Ok(reply));
                    self.failed(Fail::Protocol(why), registry, now)
                }
                Ok(Some(reply)) => {
                    let body = x.reply[reply.body.clone()].to_vec();
                    match self.learn(path, &body) {
                        Ok(next) => self.next(next, registry, now),
                        Err(why) => self.failed(Fail::Protocol(why), registry, now),
                    }
                }
                Err(e @ ReplyError::NotHttp(_)) if path != "/json/list" => {
                    // Version and schema are extras: a debugger without them is served.
                    log::debug!("{}", backend::describe(self.addr, path, &Err(e)));
                    self.next(self.after(path), registry, now)
                }
                Err(e) => {
                    let why = backend::describe(self.addr, path, &Err(e));
                    self.failed(Fail::Protocol(why), registry, now)
                }
            },
        }
    }

    /// Takes in a discovery body; returns the next step.
    fn learn(&mut self, path: &'static str, body: &[u8]) -> Result<Step, String> {
        let mut known = self.known.borrow_mut();
        match path {
            "/json/list" => {
                let targets = backend::targets(self.addr, body)?;
                let target = backend::choose(self.addr, &targets, self.wanted.as_deref())?;
                self.target_id = Some(target.id.clone());
                known.target = Some(target.clone());
                known.discoveries += 1;
            }
            "/json/version" => known.version = Some(body.to_vec()),
            _ => known.protocol = Some(body.to_vec()),
        }
        drop(known);
        Ok(self.after(path))
    }

    /// The step after `path`: what the door still lacks, then the upgrade.
    fn after(&self, path: &'static str) -> Step {
        let known = self.known.borrow();
        if path == "/json/list" && known.version.is_none() {
            return Step::Get("/json/version");
        }
        if path != "/json/protocol" && known.protocol.is_none() {
            return Step::Get("/json/protocol");
        }
        let path = known
            .target
            .as_ref()
            .and_then(|t| t.ws_path())
            .unwrap_or("/")
            .to_owned();
        Step::Upgrade {
            path,
            key: backend::new_key(),
        }
    }

    /// Opens the connection for `step` (each request has its own).
    fn next(&mut self, step: Step, registry: &Registry, now: Instant) -> Progress {
        if let Phase::Http(x) = &mut self.phase {
            let _ = registry.deregister(&mut x.stream);
        }
        let stream = net::connect(self.addr).and_then(|mut stream| {
            registry.register(
                &mut stream,
                self.tokens.link(),
                Interest::READABLE | Interest::WRITABLE,
            )?;
            Ok(stream)
        });
        match stream {
            Ok(stream) => {
                self.exchange(stream, false, step, now);
                Progress::Pending
            }
            Err(e) => self.failed(Fail::Io(format!("{e:#}")), registry, now),
        }
    }

    fn failed(&mut self, fail: Fail, registry: &Registry, now: Instant) -> Progress {
        if let Phase::Http(x) = &mut self.phase {
            let _ = registry.deregister(&mut x.stream);
        }
        self.phase = Phase::Waiting {
            until: now + self.retry,
        };
        match fail {
            Fail::Protocol(why) if self.mode == Mode::OneSession && self.ups == 0 => {
                self.phase = Phase::Idle;
                Progress::Failed(anyhow!(why))
            }
            Fail::Protocol(why) => {
                let level = if std::mem::replace(&mut self.warned, true) {
                    log::Level::Debug
                } else {
                    log::Level::Warn
                };
                log::log!(level, "{why}; retrying");
                Progress::Pending
            }
            Fail::Io(why) => {
                log::debug!("{}: discovery failed: {why}; retrying", self.addr);
                Progress::Pending
            }
        }
    }
}

impl Exchange {
    /// Writes what is left of the request and reads what came: `Ok(None)`
    /// while nothing new can be judged, `Ok(Some(eof))` once bytes came or
    /// the peer closed.
    fn pump(&mut self) -> io::Result<Option<bool>> {
        if !self.connected {
            if !net::connect_finished(&self.stream)? {
                return Ok(None);
            }
            self.connected = true;
            net::tune(&self.stream);
        }
        while !self.out.is_empty() {
            match self.stream.write(&self.out) {
                Ok(n) => drop(self.out.drain(..n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let mut buf = [0u8; 16 * 1024];
        let before = self.reply.len();
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return Ok(Some(true)),
                Ok(n) if self.reply.len() + n > MAX_BODY + 64 * 1024 => {
                    return Err(io::Error::other("a discovery answer over 16 MiB"));
                }
                Ok(n) => self.reply.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok((self.reply.len() > before).then_some(false))
    }
}
