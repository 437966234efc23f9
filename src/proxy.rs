//! The event loop: one `mio::Poll`, many clients, one debugger.
//!
//! This is where bytes go. From the debugger: cut into whole messages (with a
//! framed `--protocol`; raw bytes pass as they come), each to every open
//! client's bounded out-queue as slices of one shared read, or into the
//! backlog while no client is connected. The debugger's greeting is kept and
//! replayed first to every client that connects later. From clients: each
//! client's input is cut into whole messages, and only whole messages go into
//! the one bounded queue to the debugger, so two clients never interleave
//! inside a message. That queue holds input until the debugger is reachable;
//! when it is full, clients are not read until it drains.
//!
//! Readiness is edge-triggered, so each source has a "ready" flag that stays
//! set until a read or accept says `WouldBlock`. Events only set flags and
//! flush writes; `pump` does the reading, with a budget per source per turn so
//! that one chatty peer cannot starve the rest. Work left over makes the next
//! poll return at once.

use std::collections::VecDeque;
use std::io::{self, Read};
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use mio::event::Event;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;
use slab::Slab;

use crate::backends::{Backend, Link, Progress};
use crate::client::{self, Client, Input};
use crate::config::Config;
use crate::control::{self, Request};
use crate::framing::{Assembler, Direction, Message, Protocol};
use crate::lifecycle::{AfterLoss, Lifecycle, Phase};
use crate::net;
use crate::queue::{Chunk, ChunkQueue, Flush};
use crate::tuning;

const LISTENER: Token = Token(0);
const SIGNALS: Token = Token(1);
// Tokens 2..16 belong to the backends (see `backends::DEBUGGER`).
const FIRST_CLIENT: usize = 16;

/// One read buffer, reused for every read: a 256 KiB read moves a bulk
/// transfer in few syscalls, and only what was read is copied out of it.
const READ_BUF: usize = 256 * 1024;
const DEBUGGER_READS_PER_TURN: usize = 16;
const CLIENT_READS_PER_TURN: usize = 4;
const ACCEPTS_PER_TURN: usize = 256;
/// How long accepting pauses when the process is out of descriptors.
const ACCEPT_PAUSE: Duration = Duration::from_millis(500);
/// A greeting that has not ended by this size stops being collected.
const MAX_GREETING: usize = 1 << 20;

/// What the proxy has done, for the closing log line (and later `status`).
#[derive(Default, Debug)]
pub struct Stats {
    pub bytes_from_debugger: u64,
    pub bytes_to_debugger: u64,
    pub backlog_bytes_dropped: u64,
    pub clients_served: u64,
    pub clients_dropped_slow: u64,
    pub clients_refused: u64,
    pub debugger_sessions: u64,
    pub accept_pauses: u64,
    pub input_pauses: u64,
    pub clients_dropped_bad_framing: u64,
    pub empty_v8_messages_dropped: u64,
}

/// Runs a proxy for `config` until it is told to stop or its debugger session
/// ends; returns the process exit code.
pub fn run(config: Config) -> Result<u8> {
    tuning::raise_fd_limit();
    let mut proxy = Proxy::new(config)?;
    // Listeners are bound: a port clash has been reported on the terminal.
    if let Some(options) = proxy.config.daemon.clone() {
        let sink = crate::daemon::detach(&options)?;
        proxy.lifecycle.send_marker_to(sink);
    }
    // After the read buffer exists: allocated under glibc's default rules it
    // is a lazily-zeroed mmap, so an idle proxy does not carry it in memory.
    tuning::keep_freed_memory();
    proxy.run()
}

struct Proxy {
    config: Config,
    poll: Poll,
    signals: Signals,
    /// `None` once the proxy stops accepting (shutting down).
    listener: Option<TcpListener>,
    listener_ready: bool,
    accept_paused_until: Option<Instant>,
    accept_trouble_logged: bool,

    clients: Slab<Client>,
    next_client_id: u64,
    /// Clients whose readiness is not drained yet (may hold stale keys: harmless).
    readable_clients: Vec<usize>,
    /// Clients with output queued since their last flush.
    dirty_clients: Vec<usize>,

    backend: Backend,
    link: Option<Link>,
    link_readable: bool,
    link_since: Instant,
    /// Client input on its way to the debugger, or waiting for it.
    to_debugger: ChunkQueue,
    input_paused: bool,
    /// Cuts the debugger's output into whole messages (one per debugger session).
    output: Assembler,
    /// The current debugger session's greeting, replayed to later clients.
    greeting: ChunkQueue,
    greeting_lens: Vec<usize>,
    greeting_open: bool,
    /// Debugger output kept while no client is connected, in whole messages.
    backlog: ChunkQueue,
    backlog_lens: VecDeque<usize>,
    backlog_overflowing: bool,
    messages: Vec<Message>,

    control: Option<control::Server>,
    started: Instant,
    lifecycle: Lifecycle,
    drain_started: bool,
    failure: Option<anyhow::Error>,
    stats: Stats,
    buf: Box<[u8]>,
}

impl Proxy {
    fn new(config: Config) -> Result<Proxy> {
        let poll = Poll::new().context("creating the event poller")?;
        let mut passed = crate::systemd::listen_fds();
        let mut listener = match crate::systemd::take(&mut passed, "clients") {
            Some(listener) => {
                listener
                    .set_nonblocking(true)
                    .context("preparing the passed client socket")?;
                log::info!("using the client socket passed by systemd");
                TcpListener::from_std(listener)
            }
            None => {
                let hint = format!(
                    "is another dbgproxy running for port {}?",
                    config.debug_port
                );
                net::listen(config.client_addr, "clients", &hint)?
            }
        };
        let client_addr = listener
            .local_addr()
            .context("reading the client address")?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)
            .context("registering the client listener")?;
        // SIGCHLD too: a spawned debugger is reaped from the loop, never waited for.
        let mut signals = Signals::new([SIGTERM, SIGINT, SIGCHLD, SIGHUP])
            .context("installing signal handlers")?;
        poll.registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)
            .context("registering signal handlers")?;
        let debugger_socket = crate::systemd::take(&mut passed, "debugger");
        let backend = Backend::new(&config, poll.registry(), debugger_socket)?;
        // The proxy works without its control socket; status/stop then can't reach it.
        let control = control::Server::bind(client_addr.port(), poll.registry())
            .map_err(|e| log::warn!("no control socket: {e:#}"))
            .ok();
        log::info!(
            "listening for clients on {} ({} backend, {} protocol, {} mode)",
            client_addr,
            config.backend.name(),
            config.protocol.name(),
            format!("{:?}", config.mode).to_lowercase()
        );
        let output = Assembler::new(config.protocol, Direction::FromDebugger, config.max_message);
        let mut lifecycle = Lifecycle::new(config.mode, config.drain_timeout, config.idle_timeout);
        if let Some(notifier) = crate::systemd::Notifier::from_env() {
            lifecycle.notify_systemd(notifier);
        }
        Ok(Proxy {
            lifecycle,
            control,
            started: Instant::now(),
            output,
            greeting_open: has_greeting(config.protocol),
            config,
            poll,
            signals,
            listener: Some(listener),
            listener_ready: true,
            accept_paused_until: None,
            accept_trouble_logged: false,
            clients: Slab::new(),
            next_client_id: 1,
            readable_clients: Vec::new(),
            dirty_clients: Vec::new(),
            backend,
            link: None,
            link_readable: false,
            link_since: Instant::now(),
            to_debugger: ChunkQueue::new(),
            input_paused: false,
            greeting: ChunkQueue::new(),
            greeting_lens: Vec::new(),
            backlog: ChunkQueue::new(),
            backlog_lens: VecDeque::new(),
            backlog_overflowing: false,
            messages: Vec::new(),
            drain_started: false,
            failure: None,
            stats: Stats::default(),
            buf: vec![0; READ_BUF].into_boxed_slice(),
        })
    }

    fn run(mut self) -> Result<u8> {
        let mut events = Events::with_capacity(1024);
        let now = Instant::now();
        if self.backend.ready_when_listening() {
            self.lifecycle.ready();
        }
        let progress = self.backend.start(self.poll.registry(), now);
        self.on_progress(progress, now);
        let mut more = true;
        let mut last_event = now;
        loop {
            if let Some(e) = self.failure.take() {
                return Err(e);
            }
            if let Phase::Done { code } = self.lifecycle.phase() {
                self.finish();
                return Ok(code);
            }
            let now = Instant::now();
            // Briefly after activity, poll without sleeping: a reply that comes
            // within the window is forwarded without a sleep and wake-up, which
            // costs tens of microseconds on a virtual machine.
            let spinning = now.duration_since(last_event) < self.config.busy_poll;
            let timeout = if more || spinning {
                Some(Duration::ZERO)
            } else {
                self.next_deadline()
                    .map(|d| d.saturating_duration_since(now))
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e).context("waiting for events");
            }
            let now = Instant::now();
            if !events.is_empty() {
                last_event = now;
            }
            for event in events.iter() {
                self.dispatch(event, now);
            }
            self.on_timers(now);
            more = self.pump(now);
            self.after_turn(now);
        }
    }

    fn dispatch(&mut self, event: &Event, now: Instant) {
        let token = event.token();
        let readable = event.is_readable() || event.is_read_closed() || event.is_error();
        let writable = event.is_writable() || event.is_write_closed() || event.is_error();
        match token {
            LISTENER => self.listener_ready = true,
            SIGNALS => self.on_signals(now),
            t if self.link.as_ref().is_some_and(|l| l.owns(t)) => {
                if readable {
                    self.link_readable = true;
                }
                if writable {
                    self.flush_debugger(now);
                }
            }
            t if self.control.as_ref().is_some_and(|c| c.owns(t)) => self.on_control(t, now),
            t if self.backend.owns(t) => {
                let progress = self.backend.on_event(self.poll.registry(), event, now);
                self.on_progress(progress, now);
            }
            Token(t) if t >= FIRST_CLIENT => {
                let key = t - FIRST_CLIENT;
                let Some(client) = self.clients.get_mut(key) else {
                    return;
                };
                if readable && !client.readable {
                    client.readable = true;
                    self.readable_clients.push(key);
                }
                if writable {
                    self.flush_client(key);
                }
            }
            _ => {}
        }
    }

    /// Does the reading, accepting and flushing that readiness allows, within
    /// this turn's budget. Returns whether work is left for another turn.
    fn pump(&mut self, now: Instant) -> bool {
        if self.lifecycle.running() {
            self.accept(now);
        }
        if self.link_readable {
            self.read_debugger(now, DEBUGGER_READS_PER_TURN);
        }
        self.read_clients();
        for key in std::mem::take(&mut self.dirty_clients) {
            self.flush_client(key);
        }
        self.flush_debugger(now);

        let accepting = self.listener_ready && self.accept_paused_until.is_none();
        let clients_waiting = !self.readable_clients.is_empty()
            && !input_full(&self.to_debugger, self.config.backlog_bytes);
        (accepting && self.lifecycle.running())
            || (self.link_readable && self.link.is_some())
            || clients_waiting
    }

    fn after_turn(&mut self, now: Instant) {
        if matches!(self.lifecycle.phase(), Phase::Draining { .. }) {
            if !self.drain_started {
                self.begin_drain();
            }
            if self.clients.is_empty() {
                self.lifecycle.drained();
            }
        }
        self.lifecycle
            .track_idle(now, self.clients.len(), self.link.is_some());
    }

    fn next_deadline(&self) -> Option<Instant> {
        [
            self.backend.deadline(),
            self.accept_paused_until,
            self.lifecycle.deadline(),
            self.control.as_ref().and_then(control::Server::deadline),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn on_timers(&mut self, now: Instant) {
        if let Some(control) = self.control.as_mut() {
            control.on_timer(self.poll.registry(), now);
        }
        if self.backend.deadline().is_some_and(|d| d <= now) {
            let progress = self.backend.on_timer(self.poll.registry(), now);
            self.on_progress(progress, now);
        }
        if self.accept_paused_until.is_some_and(|d| d <= now) {
            self.accept_paused_until = None;
            if let Some(listener) = self.listener.as_mut() {
                match self
                    .poll
                    .registry()
                    .register(listener, LISTENER, Interest::READABLE)
                {
                    Ok(()) => self.listener_ready = true,
                    Err(e) => {
                        log::warn!("cannot resume accepting clients: {e}; retrying");
                        self.accept_paused_until = Some(now + ACCEPT_PAUSE);
                    }
                }
            }
        }
        if let Phase::Draining { deadline, .. } = self.lifecycle.phase()
            && now >= deadline
        {
            let queued: usize = self.clients.iter().map(|(_, c)| c.out.len()).sum();
            log::warn!(
                "shutdown: {} client(s) still had {queued} bytes queued after {}ms; closing them",
                self.clients.len(),
                self.config.drain_timeout.as_millis()
            );
            self.lifecycle.drained();
        }
    }

    fn on_signals(&mut self, now: Instant) {
        let pending: Vec<i32> = self.signals.pending().collect();
        for signal in pending {
            match signal {
                SIGCHLD => {
                    let progress = self.backend.on_child_signal();
                    self.on_progress(progress, now);
                }
                SIGTERM => self.lifecycle.on_signal(now, "SIGTERM"),
                SIGHUP => self.on_hangup(),
                _ => self.lifecycle.on_signal(now, "SIGINT"),
            }
        }
    }

    fn on_control(&mut self, token: Token, now: Instant) {
        let Some(control) = self.control.as_mut() else {
            return;
        };
        for (key, request) in control.on_event(token, self.poll.registry(), now) {
            let reply = match request {
                Request::Status => self.status().to_string(),
                Request::Stop => {
                    self.lifecycle.on_signal(now, "stop request");
                    serde_json::json!({"stopping": true, "pid": std::process::id()}).to_string()
                }
            };
            if let Some(control) = self.control.as_mut() {
                control.reply(key, reply, self.poll.registry());
            }
        }
    }

    /// What `dbgproxy status` prints.
    fn status(&self) -> serde_json::Value {
        let now = SystemTime::now();
        let epoch = |ago: Duration| {
            now.checked_sub(ago)
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs())
        };
        let kind = self.config.backend.name();
        let state = match (self.link.is_some(), self.config.backend) {
            (true, _) => "connected",
            (false, crate::config::BackendKind::Connect) => "connecting",
            (false, crate::config::BackendKind::Listen) => "waiting",
            (false, crate::config::BackendKind::Spawn) => "starting",
        };
        let clients: Vec<serde_json::Value> = self
            .clients
            .iter()
            .map(|(_, c)| {
                serde_json::json!({
                    "id": c.id,
                    "peer": c.peer.to_string(),
                    "connected_at": epoch(c.since.elapsed()),
                    "connected_secs": c.since.elapsed().as_secs(),
                    "bytes_in": c.bytes_in,
                    "bytes_out": c.bytes_out,
                    "queued_bytes": c.out.len(),
                })
            })
            .collect();
        let s = &self.stats;
        serde_json::json!({
            "pid": std::process::id(),
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_secs": self.started.elapsed().as_secs(),
            "started_at": epoch(self.started.elapsed()),
            "mode": format!("{:?}", self.config.mode).to_lowercase(),
            "protocol": self.config.protocol.name(),
            "debug_port": self.config.debug_port,
            "client_addr": self.config.client_addr.to_string(),
            "backend": {
                "kind": kind,
                "state": state,
                "address": (self.config.backend != crate::config::BackendKind::Spawn)
                    .then(|| self.config.debugger_addr.to_string()),
                "pid": self.backend.child_pid(),
                "command": (!self.config.command.is_empty()).then(|| self.config.command.clone()),
            },
            "clients": clients,
            "counters": {
                "bytes_from_debugger": s.bytes_from_debugger,
                "bytes_to_debugger": s.bytes_to_debugger,
                "backlog_bytes": self.backlog.len(),
                "backlog_bytes_dropped": s.backlog_bytes_dropped,
                "clients_served": s.clients_served,
                "clients_dropped_slow": s.clients_dropped_slow,
                "clients_dropped_bad_framing": s.clients_dropped_bad_framing,
                "clients_refused": s.clients_refused,
                "debugger_sessions": s.debugger_sessions,
            },
        })
    }

    /// SIGHUP: reopen the log file (logrotate), then say how things stand.
    fn on_hangup(&mut self) {
        match crate::daemon::reopen_log() {
            Ok(true) => log::info!("SIGHUP: log file reopened"),
            Ok(false) => {}
            Err(e) => log::warn!("SIGHUP: {e:#}"),
        }
        let s = &self.stats;
        log::info!(
            "status: {}, {} client(s); {} debugger session(s), {} bytes from the debugger, {} to it",
            if self.link.is_some() {
                "debugger connected"
            } else {
                "no debugger"
            },
            self.clients.len(),
            s.debugger_sessions,
            s.bytes_from_debugger,
            s.bytes_to_debugger
        );
    }

    // ----- the debugger side -----

    fn on_progress(&mut self, progress: Progress, now: Instant) {
        match progress {
            Progress::Pending => {}
            Progress::Failed(e) => self.failure = Some(e),
            Progress::Up(link) => self.debugger_up(link, now),
            Progress::Exited { why } => {
                // All it wrote before exiting is in the pipe already: take it
                // now, whatever the per-turn budget, then end the stream.
                self.read_debugger(now, usize::MAX);
                self.debugger_lost(&format!("it {why}"), now);
            }
            Progress::Ended { code, why } => {
                log::debug!("debugger session over: it {why}");
                self.session_over(code, now);
            }
        }
    }

    fn debugger_up(&mut self, link: Link, now: Instant) {
        self.stats.debugger_sessions += 1;
        log::info!(
            "{} connected (debugger session {})",
            self.backend.describe(),
            self.stats.debugger_sessions
        );
        self.link = Some(link);
        // The debugger may have spoken already: its edge can come with the connect.
        self.link_readable = true;
        self.link_since = now;
        self.lifecycle.ready();
        self.report_status();
        if !self.to_debugger.is_empty() {
            log::debug!(
                "delivering {} bytes of client input held for the debugger",
                self.to_debugger.len()
            );
        }
        self.flush_debugger(now);
    }

    fn debugger_lost(&mut self, why: &str, now: Instant) {
        let Some(link) = self.link.take() else { return };
        link.close(self.poll.registry());
        self.link_readable = false;
        log::info!(
            "{} disconnected: {why} (session {} lasted {}s)",
            self.backend.describe(),
            self.stats.debugger_sessions,
            now.duration_since(self.link_since).as_secs()
        );
        self.end_output_session();
        if !self.to_debugger.is_empty() {
            // It was addressed to the session that just ended.
            log::debug!(
                "dropping {} bytes of client input the lost debugger never read",
                self.to_debugger.len()
            );
            self.to_debugger.clear();
        }
        self.report_status();
        if let Some(code) = self.backend.stream_ended(now) {
            self.session_over(code, now);
        }
    }

    /// The debugger session has ended for good (for a child: reaped too).
    fn session_over(&mut self, code: u8, now: Instant) {
        match self.lifecycle.after_loss(now, code) {
            AfterLoss::Reconnect => {
                log::info!("persistent mode: waiting for the next debugger");
                let progress = self.backend.start(self.poll.registry(), now);
                self.on_progress(progress, now);
            }
            AfterLoss::Drain => log::info!("session mode: the debug session is over"),
        }
    }

    fn read_debugger(&mut self, now: Instant, budget: usize) {
        for _ in 0..budget {
            let Some(link) = self.link.as_mut() else {
                return;
            };
            match link.read(&mut self.buf) {
                Ok(0) => return self.debugger_lost("end of its output", now),
                Ok(n) => {
                    let chunk = Chunk::copy_from(&self.buf[..n]);
                    if let Err(why) = self.take_output(chunk) {
                        return self.debugger_lost(&why, now);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.link_readable = false;
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.debugger_lost(&format!("read failed: {e}"), now),
            }
        }
    }

    /// Cuts a read from the debugger into whole messages and delivers them.
    /// Malformed output ends the session: whatever came before the fault was
    /// delivered, the broken message never is.
    fn take_output(&mut self, chunk: Chunk) -> Result<(), String> {
        let mut messages = std::mem::take(&mut self.messages);
        let result = self.output.feed(chunk, |m| messages.push(m));
        for message in messages.drain(..) {
            self.on_debugger_message(message);
        }
        self.messages = messages;
        if self.output.pending() > 0 {
            log::trace!(
                "debugger: {} bytes of an incomplete message held",
                self.output.pending()
            );
        }
        result.map_err(|bad| {
            log::warn!(
                "{}: malformed {} output, ending this debugger session: {bad}",
                self.backend.describe(),
                self.config.protocol.name()
            );
            format!("malformed output ({})", bad.what)
        })
    }

    fn on_debugger_message(&mut self, message: Message) {
        let greeting = self.greeting_open;
        if greeting {
            for part in message.parts() {
                self.greeting.push(part.clone());
            }
            self.greeting_lens.push(message.len);
            let complete = match self.config.protocol {
                Protocol::GdbMi => message.prompt,
                _ => true,
            };
            if complete || self.greeting.len() > MAX_GREETING {
                self.greeting_open = false;
                if !complete {
                    log::warn!(
                        "the debugger's greeting ran past {MAX_GREETING} bytes: not keeping more of it"
                    );
                }
                log::debug!(
                    "greeting: {} bytes, replayed to every client that connects later",
                    self.greeting.len()
                );
            }
        }
        self.deliver(message, greeting);
    }

    /// Fans one message out to every open client, or keeps it in the backlog
    /// when none is there to take it (the greeting is kept apart, not there).
    fn deliver(&mut self, message: Message, greeting: bool) {
        self.stats.bytes_from_debugger += message.len as u64;
        let limit = self.config.client_buffer;
        let registry = self.poll.registry();
        let mut taken = false;
        let mut too_slow = Vec::new();
        let mut broken = Vec::new();
        for (key, client) in self.clients.iter_mut() {
            if !client.is_open() {
                continue;
            }
            // Flushes are batched per turn; before calling a client slow, see
            // whether its socket takes what is queued now.
            if client.out.len() + message.len > limit {
                if let Err(e) = client.flush(registry) {
                    broken.push((key, e));
                    continue;
                }
                if client.out.len() + message.len > limit {
                    too_slow.push(key);
                    continue;
                }
            }
            if client.out.is_empty() {
                self.dirty_clients.push(key);
            }
            for part in message.parts() {
                client.out.push(part.clone());
            }
            taken = true;
        }
        for key in too_slow {
            self.stats.clients_dropped_slow += 1;
            let why = format!("too slow: over {limit} bytes queued (--client-buffer)");
            self.drop_client(key, &why, log::Level::Warn);
        }
        for (key, e) in broken {
            self.drop_client(key, &format!("write failed: {e}"), log::Level::Info);
        }
        if !taken && !greeting {
            self.keep_in_backlog(message);
        }
    }

    fn keep_in_backlog(&mut self, message: Message) {
        for part in message.parts() {
            self.backlog.push(part.clone());
        }
        self.backlog_lens.push_back(message.len);
        let bound = self.config.backlog_bytes;
        let raw = self.config.protocol == Protocol::Raw;
        let mut dropped = 0;
        if raw {
            dropped = self.backlog.trim_to(bound);
        } else {
            while self.backlog.len() > bound {
                let Some(len) = self.backlog_lens.pop_front() else {
                    break;
                };
                self.backlog.consume(len);
                dropped += len;
            }
        }
        if dropped > 0 {
            self.stats.backlog_bytes_dropped += dropped as u64;
            if !self.backlog_overflowing {
                self.backlog_overflowing = true;
                log::warn!(
                    "no client connected and over {bound} bytes of debugger output kept (--backlog-bytes): dropping the oldest{}",
                    if raw { "" } else { " whole messages" }
                );
            }
        }
    }

    /// Resets the framing state at the end of a debugger session. Output that
    /// nobody saw keeps its session's greeting in front of it, so that a client
    /// that comes back later reads a coherent transcript.
    fn end_output_session(&mut self) {
        let fresh = Assembler::new(
            self.config.protocol,
            Direction::FromDebugger,
            self.config.max_message,
        );
        let old = std::mem::replace(&mut self.output, fresh);
        if old.pending() > 0 {
            log::debug!(
                "dropping {} bytes of an incomplete debugger message",
                old.pending()
            );
        }
        if !self.backlog.is_empty() && !self.greeting.is_empty() {
            let mut kept = std::mem::take(&mut self.greeting);
            kept.append(&mut self.backlog);
            self.backlog = kept;
            for len in self.greeting_lens.drain(..).rev() {
                self.backlog_lens.push_front(len);
            }
        }
        self.greeting.clear();
        self.greeting_lens.clear();
        self.greeting_open = has_greeting(self.config.protocol);
    }

    fn flush_debugger(&mut self, now: Instant) {
        let Some(link) = self.link.as_mut() else {
            return;
        };
        let result = self.to_debugger.flush_to(link).and_then(|(outcome, n)| {
            self.stats.bytes_to_debugger += n as u64;
            link.want_write(self.poll.registry(), outcome == Flush::Blocked)
        });
        if let Err(e) = result {
            self.debugger_lost(&format!("write failed: {e}"), now);
        }
    }

    // ----- the client side -----

    fn accept(&mut self, now: Instant) {
        for _ in 0..ACCEPTS_PER_TURN {
            if !self.listener_ready {
                return;
            }
            let Some(listener) = self.listener.as_ref() else {
                return;
            };
            match listener.accept() {
                Ok((stream, peer)) => {
                    self.accept_trouble_logged = false;
                    self.admit(stream, peer);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.listener_ready = false,
                Err(e) if net::accept_error_is_transient(&e) => {}
                Err(e) => return self.pause_accepting(&e, now),
            }
        }
    }

    /// Out of descriptors (or another accept failure that would repeat): stop
    /// watching the listener for a moment instead of spinning on it.
    fn pause_accepting(&mut self, e: &io::Error, now: Instant) {
        self.stats.accept_pauses += 1;
        let level = if self.accept_trouble_logged {
            log::Level::Debug
        } else {
            log::Level::Warn
        };
        let why = if net::out_of_resources(e) {
            " (raise `ulimit -n`?)"
        } else {
            ""
        };
        log::log!(
            level,
            "cannot accept clients: {e}{why}; pausing accepts for {}ms",
            ACCEPT_PAUSE.as_millis()
        );
        self.accept_trouble_logged = true;
        if let Some(listener) = self.listener.as_mut() {
            let _ = self.poll.registry().deregister(listener);
        }
        self.listener_ready = false;
        self.accept_paused_until = Some(now + ACCEPT_PAUSE);
    }

    fn admit(&mut self, stream: TcpStream, peer: SocketAddr) {
        if self.clients.len() >= self.config.max_clients {
            self.stats.clients_refused += 1;
            log::warn!(
                "refusing client from {peer}: {} clients already connected (--max-clients)",
                self.clients.len()
            );
            return; // dropping the stream closes it at once
        }
        net::tune(&stream);
        let id = self.next_client_id;
        let key = self.clients.vacant_key();
        let token = Token(FIRST_CLIENT + key);
        let connected = self.clients.len() + 1;
        let entry = self.clients.vacant_entry();
        let framing = (self.config.protocol, self.config.max_message);
        let client = match Client::new(id, stream, peer, token, self.poll.registry(), framing) {
            Ok(client) => entry.insert(client),
            Err(e) => {
                log::warn!("cannot register client from {peer}: {e}");
                return;
            }
        };
        self.next_client_id += 1;
        self.stats.clients_served += 1;
        self.readable_clients.push(key);
        log::info!("{} connected ({connected} connected)", client.name());
        self.lifecycle.status(self.link.is_some(), connected);
        if !self.greeting.is_empty() {
            log::debug!(
                "{}: replaying the debugger's greeting ({} bytes)",
                client.name(),
                self.greeting.len()
            );
            for chunk in self.greeting.chunks() {
                client.out.push(chunk.clone());
            }
            self.dirty_clients.push(key);
        }
        if !self.backlog.is_empty() {
            log::info!(
                "{}: delivering {} bytes the debugger said while no client was connected",
                client.name(),
                self.backlog.len()
            );
            client.out.append(&mut self.backlog);
            self.backlog_lens.clear();
            self.backlog_overflowing = false;
            self.dirty_clients.push(key);
        }
    }

    fn read_clients(&mut self) {
        if self.readable_clients.is_empty() {
            return;
        }
        let draining = !self.lifecycle.running();
        let v8 = self.config.protocol == Protocol::V8;
        let mut ended: Vec<(usize, String, log::Level)> = Vec::new();
        for key in std::mem::take(&mut self.readable_clients) {
            let Some(client) = self.clients.get_mut(key) else {
                continue;
            };
            if !client.readable {
                continue;
            }
            for _ in 0..CLIENT_READS_PER_TURN {
                if !draining && input_full(&self.to_debugger, self.config.backlog_bytes) {
                    if !self.input_paused {
                        self.input_paused = true;
                        self.stats.input_pauses += 1;
                        log::debug!(
                            "{} bytes queued for the debugger: not reading clients until it catches up",
                            self.to_debugger.len()
                        );
                    }
                    break;
                }
                match client.read(&mut self.buf) {
                    Input::Data(n) if draining => {
                        log::trace!("{}: {n} bytes ignored while shutting down", client.name())
                    }
                    Input::Data(n) => {
                        log::trace!("{}: {n} bytes for the debugger", client.name());
                        let chunk = Chunk::copy_from(&self.buf[..n]);
                        let (to_debugger, stats) = (&mut self.to_debugger, &mut self.stats);
                        let id = client.id;
                        let fed = client.input.feed(chunk, |m| {
                            if v8 && m.empty_body {
                                // Cloud9's IDE sends this on reconnect; V8 would
                                // take it for a lost connection and drop all
                                // breakpoints.
                                log::debug!(
                                    "client #{id}: dropping an empty V8 message (Content-Length: 0)"
                                );
                                stats.empty_v8_messages_dropped += 1;
                                return;
                            }
                            for part in m.parts() {
                                to_debugger.push(part.clone());
                            }
                        });
                        if let Err(bad) = fed {
                            client.readable = false;
                            self.stats.clients_dropped_bad_framing += 1;
                            ended.push((key, format!("bad framing: {bad}"), log::Level::Warn));
                            break;
                        }
                    }
                    Input::WouldBlock => {
                        client.readable = false;
                        break;
                    }
                    Input::Eof => {
                        client.readable = false;
                        client.state = client::State::Closing;
                        if client.out.is_empty() {
                            ended.push((key, "it closed the connection".into(), log::Level::Info));
                        } else {
                            self.dirty_clients.push(key);
                        }
                        break;
                    }
                    Input::Failed(e) => {
                        client.readable = false;
                        ended.push((key, format!("read failed: {e}"), log::Level::Info));
                        break;
                    }
                }
            }
            if client.readable {
                self.readable_clients.push(key);
            }
        }
        if self.input_paused && !input_full(&self.to_debugger, self.config.backlog_bytes) {
            self.input_paused = false;
            log::debug!("reading clients again");
        }
        for (key, why, level) in ended {
            self.drop_client(key, &why, level);
        }
    }

    fn flush_client(&mut self, key: usize) {
        let Some(client) = self.clients.get_mut(key) else {
            return;
        };
        match client.flush(self.poll.registry()) {
            Ok(Flush::Done) if client.state == client::State::Closing => {
                self.drop_client(key, "done", log::Level::Info);
            }
            Ok(_) => {}
            Err(e) => self.drop_client(key, &format!("write failed: {e}"), log::Level::Info),
        }
    }

    fn drop_client(&mut self, key: usize, why: &str, level: log::Level) {
        let Some(client) = self.clients.try_remove(key) else {
            return;
        };
        if client.input.pending() > 0 {
            log::debug!(
                "{}: dropping {} bytes of an incomplete message, never forwarded",
                client.name(),
                client.input.pending()
            );
        }
        log::log!(
            level,
            "{} left after {}s: {why} ({} bytes in, {} out, {} connected)",
            client.name(),
            client.since.elapsed().as_secs(),
            client.bytes_in,
            client.bytes_out,
            self.clients.len()
        );
        client.close(self.poll.registry());
        self.report_status();
    }

    /// Tells systemd how things stand (`systemctl status` shows it).
    fn report_status(&self) {
        self.lifecycle
            .status(self.link.is_some(), self.clients.len());
    }

    // ----- shutdown -----

    /// Stops accepting and reading; what is queued for clients still goes out
    /// until the lifecycle's drain deadline.
    fn begin_drain(&mut self) {
        self.drain_started = true;
        if let Some(mut listener) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        self.listener_ready = false;
        if let Some(mut link) = self.link.take() {
            // One last non-blocking try, so input already accepted is not lost.
            if let Ok((_, n)) = self.to_debugger.flush_to(&mut link) {
                self.stats.bytes_to_debugger += n as u64;
            }
            link.close(self.poll.registry());
        }
        let keys: Vec<usize> = self.clients.iter().map(|(key, _)| key).collect();
        for key in keys {
            if let Some(client) = self.clients.get_mut(key) {
                client.state = client::State::Closing;
            }
            self.flush_client(key);
        }
    }

    fn finish(&mut self) {
        for (_, client) in std::mem::take(&mut self.clients) {
            client.close(self.poll.registry());
        }
        if let Some(link) = self.link.take() {
            link.close(self.poll.registry());
        }
        let s = &self.stats;
        log::info!(
            "exiting: {} debugger session(s), {} client(s) served, {} bytes from the debugger, {} to it, \
             {} backlog bytes dropped, {} slow client(s) dropped, {} refused",
            s.debugger_sessions,
            s.clients_served,
            s.bytes_from_debugger,
            s.bytes_to_debugger,
            s.backlog_bytes_dropped,
            s.clients_dropped_slow,
            s.clients_refused
        );
    }
}

/// Whether the protocol's debugger opens with a greeting worth replaying:
/// V8's `Type: connect`, DBGp's `<init>`, gdb's records through its first
/// prompt. DAP clients open the conversation themselves.
fn has_greeting(protocol: Protocol) -> bool {
    matches!(protocol, Protocol::V8 | Protocol::Dbgp | Protocol::GdbMi)
}

/// Whether the queue to the debugger is at its bound, so clients are not
/// read until it drains. A free function: it is asked while a client is borrowed.
fn input_full(to_debugger: &ChunkQueue, bound: usize) -> bool {
    to_debugger.len() >= bound
}
