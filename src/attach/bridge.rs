//! The bridge: the IDE's stdin/stdout on one side, the proxy's client
//! connection on the other, in one thread around one `mio::Poll`.
//!
//! Both directions are cut into whole messages (`framing::Assembler`): stdout
//! only ever receives whole messages, and what the IDE sends reaches the
//! proxy a whole message at a time, so that a connection that drops never
//! leaves half a message behind: the message being written when it dropped
//! is sent again, whole, on the next connection. Both ways are bounded: the
//! proxy is not read while `OUTPUT_LIMIT` waits for stdout, and stdin is not
//! read while `HOLD_LIMIT` waits for the proxy. While the proxy is away, the
//! IDE's input is held; past `HOLD_LIMIT`, attach gives up with a message
//! rather than drop any of it. The protocol's rules for rejoining (`dialect`)
//! see every message that passes.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use mio::{Events, Interest, Poll};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;

use self::outgoing::Outgoing;
use super::cli::Options;
use super::dialect::Dialect;
use super::launch::Joined;
use super::link::{self, Away, Conn, Link};
use super::out::Out;
use super::stdio::{self, End};
use super::stream::Target;
use crate::framing::{Assembler, Direction, Message, Protocol};
use crate::net::queue::{Chunk, ChunkQueue};
use crate::tokens::attach::PROXY;

use crate::tokens::attach::{SIGNALS, STDIN, STDOUT};
const READ_BUF: usize = 64 * 1024;
/// IDE input queued for the proxy, or held while it is away.
pub const HOLD_LIMIT: usize = 1 << 20;
/// Proxy output waiting for stdout before the proxy is no longer read.
const OUTPUT_LIMIT: usize = 8 << 20;
/// Reads per source per turn, so that one side cannot starve the other.
const READS_PER_TURN: usize = 16;
/// How long output still gets to reach the IDE at the end.
const EXIT_FLUSH: Duration = Duration::from_secs(2);

/// Bridges until the IDE leaves or the proxy is gone for good; returns the
/// exit code.
pub fn run(options: &Options, joined: Joined) -> Result<u8> {
    Bridge::new(options, joined)?.run()
}

/// How the bridge is ending: the code, and until when output may flush.
struct Ending {
    code: u8,
    deadline: Instant,
}

struct Bridge {
    poll: Poll,
    signals: Signals,
    stdin: End,
    stdout: End,
    stdin_ready: bool,
    stdout_ready: bool,
    stdin_eof: bool,
    /// Where the proxy serves clients, as told to the user.
    addr: Target,
    link: Link,
    away: Option<Away>,
    reconnect_timeout: Option<Duration>,
    protocol: Protocol,
    max_message: usize,
    ide_frames: Assembler,
    proxy_frames: Assembler,
    /// Whole IDE messages not yet queued for the proxy.
    held: VecDeque<Message>,
    held_bytes: usize,
    outgoing: Outgoing,
    to_ide: ChunkQueue,
    dialect: Dialect,
    out: Out,
    /// `dbgproxy-token …`, sent first on every connection when needed.
    token_line: Option<Message>,
    ending: Option<Ending>,
    /// stdin ended while connected: flush, half-close, wait for the proxy's close.
    closing_until: Option<Instant>,
    buf: Box<[u8]>,
}

impl Bridge {
    fn new(options: &Options, joined: Joined) -> Result<Bridge> {
        let poll = Poll::new().context("creating the event poller")?;
        let registry = poll.registry();
        // Both read before either changes: they may be one terminal.
        let (in_flags, out_flags) = (stdio::flags(stdio::STDIN), stdio::flags(stdio::STDOUT));
        let stdin = End::new(stdio::STDIN, in_flags, registry, STDIN, Interest::READABLE)
            .context("polling stdin")?;
        let stdout = End::new(
            stdio::STDOUT,
            out_flags,
            registry,
            STDOUT,
            Interest::WRITABLE,
        )
        .context("polling stdout")?;
        let mut signals =
            Signals::new([SIGTERM, SIGINT, SIGHUP]).context("installing signal handlers")?;
        registry
            .register(&mut signals, SIGNALS, Interest::READABLE)
            .context("registering signal handlers")?;
        let now = Instant::now();
        let (link, away) = match joined.stream {
            Some(stream) => {
                let mut stream = stream
                    .into_mio()
                    .context("preparing the proxy connection")?;
                registry
                    .register(&mut stream, PROXY, Interest::READABLE | Interest::WRITABLE)
                    .context("registering the proxy connection")?;
                (Link::Up(Conn::new(stream, now, true)), None)
            }
            None => {
                crate::process::logging::line(&format!(
                    "dbgproxy attach: waiting for a proxy on {} (--no-start)",
                    options.target
                ));
                let away = Away::waiting(now);
                (
                    Link::Away {
                        next_try: away.first_try(),
                    },
                    Some(away),
                )
            }
        };
        let protocol = joined.protocol;
        let proxy = &options.proxy;
        log::debug!(
            "bridging stdin/stdout to the dbgproxy pid {} on {} ({} protocol)",
            joined.pid,
            options.target,
            protocol.name()
        );
        let up = matches!(link, Link::Up(_));
        let mut bridge = Bridge {
            poll,
            signals,
            stdin_ready: true,
            stdout_ready: true,
            stdin_eof: !stdin.open,
            stdin,
            stdout,
            addr: options.target.clone(),
            link,
            away,
            reconnect_timeout: options.reconnect_timeout,
            protocol,
            max_message: proxy.max_message,
            ide_frames: Assembler::new(protocol, Direction::ToDebugger, proxy.max_client_message),
            proxy_frames: Assembler::new(protocol, Direction::FromDebugger, proxy.max_message),
            held: VecDeque::new(),
            held_bytes: 0,
            outgoing: Outgoing::default(),
            to_ide: ChunkQueue::new(),
            dialect: Dialect::new(protocol),
            out: Out::default(),
            token_line: joined.token_line.map(|l| Message::from_bytes(&l)),
            ending: None,
            closing_until: None,
            buf: vec![0; READ_BUF].into_boxed_slice(),
        };
        if up {
            bridge.on_connected(now);
        }
        Ok(bridge)
    }

    /// A connection is up: the token first if the proxy asks for it, then
    /// what the protocol needs to rejoin.
    fn on_connected(&mut self, now: Instant) {
        if let Some(line) = &self.token_line {
            self.outgoing.push(line.clone(), false);
        }
        self.dialect.connected(now, &mut self.out);
        self.take_out();
    }

    fn run(mut self) -> Result<u8> {
        let mut events = Events::with_capacity(64);
        loop {
            while self.turn(Instant::now()) {}
            let now = Instant::now();
            if let Some(code) = self.finished(now) {
                return Ok(code);
            }
            let timeout = self.deadline().map(|d| d.saturating_duration_since(now));
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e).context("waiting for events");
            }
            for event in events.iter() {
                match event.token() {
                    STDIN => self.stdin_ready = true,
                    STDOUT => self.stdout_ready = true,
                    PROXY => match &mut self.link {
                        Link::Up(conn) => {
                            conn.readable |= event.is_readable() || event.is_read_closed();
                            conn.writable |= event.is_writable() || event.is_error();
                        }
                        Link::Connecting { .. } | Link::Away { .. } => {}
                    },
                    SIGNALS if self.signals.pending().next().is_some() => {
                        log::debug!("signalled: ending");
                        self.end(0, None, Instant::now());
                    }
                    _ => {}
                }
            }
        }
    }

    /// Does what can be done now; returns whether anything moved.
    fn turn(&mut self, now: Instant) -> bool {
        let mut moved = self.tend_link(now);
        if let Some(d) = self.dialect.deadline()
            && now >= d
        {
            self.dialect.on_timer(now, &mut self.out);
            moved |= self.take_out();
        }
        if self.ending.is_none() {
            moved |= self.read_stdin(now);
            moved |= self.admit_held(now);
            moved |= self.write_proxy(now);
            moved |= self.read_proxy(now);
            moved |= self.close_when_flushed(now);
        }
        moved | self.write_stdout()
    }

    /// Whether attach is done, and with which code.
    fn finished(&mut self, now: Instant) -> Option<u8> {
        let ending = self.ending.as_ref()?;
        (self.to_ide.is_empty() || now >= ending.deadline || !self.stdout.open)
            .then_some(ending.code)
    }

    /// The earliest time something is due without an event.
    fn deadline(&self) -> Option<Instant> {
        if let Some(ending) = &self.ending {
            return Some(ending.deadline);
        }
        let link = match &self.link {
            Link::Away { next_try } => Some(*next_try),
            Link::Connecting { since, .. } => Some(link::connect_deadline(*since)),
            Link::Up(conn) if !conn.settled => Some(conn.since + link::SETTLE),
            Link::Up(_) => None,
        };
        let give_up = self
            .away
            .as_ref()
            .zip(self.reconnect_timeout)
            .map(|(a, t)| a.since + t);
        [link, give_up, self.dialect.deadline(), self.closing_until]
            .into_iter()
            .flatten()
            .min()
    }

    /// Says `message` (if any) on stderr and starts ending with `code`.
    fn end(&mut self, code: u8, message: Option<String>, now: Instant) {
        if self.ending.is_some() {
            return;
        }
        if let Some(m) = message {
            crate::process::logging::line(&format!("dbgproxy attach: {m}"));
        }
        self.ending = Some(Ending {
            code,
            deadline: now + EXIT_FLUSH,
        });
    }

    // ----- the proxy's side -----

    fn admit_held(&mut self, now: Instant) -> bool {
        let mut moved = false;
        while matches!(self.link, Link::Up(_))
            && self.dialect.ready()
            && self.outgoing.bytes < HOLD_LIMIT
            && let Some(m) = self.held.pop_front()
        {
            self.held_bytes -= m.len;
            self.dialect.sending(&m, now);
            self.outgoing.push(m, true);
            moved = true;
        }
        moved
    }

    fn write_proxy(&mut self, now: Instant) -> bool {
        let Link::Up(conn) = &mut self.link else {
            return false;
        };
        let mut moved = false;
        while conn.writable && !self.outgoing.is_empty() {
            let result = {
                let iov = self.outgoing.iov();
                conn.stream.write_vectored(&iov)
            };
            match result {
                Ok(0) => return self.lost("the proxy takes no more input".into(), now),
                Ok(n) => {
                    moved = true;
                    self.outgoing.consume(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => conn.writable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.lost(link::describe(&e), now),
            }
        }
        moved
    }

    fn read_proxy(&mut self, now: Instant) -> bool {
        let mut moved = false;
        for _ in 0..READS_PER_TURN {
            let Link::Up(conn) = &mut self.link else {
                break;
            };
            if !conn.readable || self.to_ide.len() >= OUTPUT_LIMIT {
                break;
            }
            let n = match conn.stream.read(&mut self.buf) {
                Ok(0) => return self.lost("it closed the connection".into(), now),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    conn.readable = false;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return self.lost(link::describe(&e), now),
            };
            moved = true;
            if !conn.heard {
                conn.heard = true;
                const REFUSED: &[u8] = b"dbgproxy: access refused";
                if self.buf[..n].starts_with(REFUSED) {
                    let line = String::from_utf8_lossy(&self.buf[..n]);
                    let line = line.lines().next().unwrap_or_default().to_string();
                    self.end(1, Some(format!("{} says: {line}", self.addr)), now);
                    return true;
                }
            }
            if !conn.settled {
                conn.settled = true;
                self.back(now);
            }
            let chunk = Chunk::copy_from(&self.buf[..n]);
            let mut messages = Vec::new();
            if let Err(e) = self.proxy_frames.feed(chunk, |m| messages.push(m)) {
                let what = format!(
                    "the proxy on {} sent malformed {} (max message {} bytes): {e}",
                    self.addr,
                    self.protocol.name(),
                    self.max_message
                );
                self.end(1, Some(what), now);
                return true;
            }
            for m in messages {
                self.dialect.proxy_message(m, &mut self.out);
            }
            self.take_out();
        }
        moved
    }

    /// stdin has ended: once everything went to the proxy, half-close, and
    /// end when the proxy closes (it delivers what it has queued first) or
    /// the flush time is up.
    fn close_when_flushed(&mut self, now: Instant) -> bool {
        let Some(until) = self.closing_until else {
            return false;
        };
        if now >= until {
            self.end(0, None, now);
            return true;
        }
        let Link::Up(conn) = &mut self.link else {
            return false;
        };
        if conn.write_shut || !self.held.is_empty() || !self.outgoing.is_empty() {
            return false;
        }
        conn.write_shut = true;
        if let Err(e) = conn.stream.shutdown(std::net::Shutdown::Write) {
            log::debug!("half-closing the proxy connection: {e}");
        }
        true
    }
}

mod ide;
mod outgoing;
mod reconnect;
