//! The event loop: one `mio::Poll`, many clients, one debugger.
//!
//! This is where bytes go. From the debugger (`debugger.rs`): whole messages
//! to the session layer (`session/`), which says who gets each. From a client
//! (`clients.rs`): whole messages to the session layer, which says what goes
//! to the debugger and what it answers itself. The session's actions are
//! carried out here, in order (`apply`): to the debugger's bounded queue, to
//! clients' bounded queues (one shared buffer for many), or closing a client.
//! The loop knows no protocol.
//!
//! Readiness is edge-triggered, so each source has a "ready" flag that stays
//! set until a read or accept says `WouldBlock`. Events only set flags and
//! flush writes; `pump` does the reading, with a budget per source per turn so
//! that one chatty peer cannot starve the rest. Work left over makes the next
//! poll return at once. Two kinds of backpressure: while the queue to the
//! debugger is full, clients are not read; while a client is too far behind,
//! the debugger is not read (for a bounded time: see `clients.rs`).

use std::io;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use mio::event::Event;
use mio::net::{TcpListener, UnixListener};
use mio::{Events, Interest, Poll, Token};
use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;

use crate::accept::Listener;
use crate::backends::{Backend, Link, Progress};
use crate::clients::{self, Clients};
use crate::config::{Config, ListenAddr, Mode};
use crate::control::{self, Request};
use crate::debugger::{Debugger, Output};
use crate::framing::Message;
use crate::lifecycle::{AfterLoss, Lifecycle, Phase};
use crate::net;
use crate::session::{self, Action, Outbox, Session, To};
use crate::status::{Stats, View};
use crate::systemd::PassedListener;
use crate::tuning;

const SIGNALS: Token = Token(1);
// Tokens 2..7 belong to the backends (see `backends::DEBUGGER`), 7..16 to the
// control socket, 16..24 to the client listeners (`accept::FIRST_LISTENER`);
// clients start at `clients::FIRST_CLIENT`.

/// One read buffer, reused for every read: a 256 KiB read moves a bulk
/// transfer in few syscalls, and only what was read is copied out of it.
const READ_BUF: usize = 256 * 1024;
const DEBUGGER_READS_PER_TURN: usize = 16;
const CLIENT_READS_PER_TURN: usize = 4;

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
    clients: Clients,
    debugger: Debugger,
    session: Box<dyn Session>,
    /// The session's actions not carried out yet.
    outbox: Outbox,
    input_paused: bool,
    control: Option<control::Server>,
    started: Instant,
    lifecycle: Lifecycle,
    drain_started: bool,
    failure: Option<anyhow::Error>,
    stats: Stats,
    messages: Vec<Message>,
    buf: Box<[u8]>,
}

impl Proxy {
    fn new(config: Config) -> Result<Proxy> {
        let poll = Poll::new().context("creating the event poller")?;
        let mut passed = crate::systemd::listen_fds();
        let listeners = client_listeners(&config, &mut passed)?;
        // The control socket is named after the client port; with Unix
        // sockets only, after the debug port (see README).
        let control_key = listeners
            .iter()
            .find_map(Listener::tcp_addr)
            .map_or(config.debug_port, |a| a.port());
        let described: Vec<String> = listeners.iter().map(Listener::describe).collect();
        let clients = Clients::new(listeners, poll.registry(), &config)
            .context("registering the client listeners")?;
        // SIGCHLD too: a spawned debugger is reaped from the loop, never waited for.
        let mut signals = Signals::new([SIGTERM, SIGINT, SIGCHLD, SIGHUP])
            .context("installing signal handlers")?;
        poll.registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)
            .context("registering signal handlers")?;
        let debugger_socket = crate::systemd::take_debugger(&mut passed);
        let backend = Backend::new(&config, poll.registry(), debugger_socket)?;
        // The proxy works without its control socket; status/stop then can't reach it.
        let control = control::Server::bind(control_key, poll.registry())
            .map_err(|e| log::warn!("no control socket: {e:#}"))
            .ok();
        log::info!(
            "listening for clients on {} ({} backend, {} protocol, {} mode)",
            described.join(", "),
            config.backend.name(),
            config.protocol.name(),
            format!("{:?}", config.mode).to_lowercase()
        );
        let session = session::new(&session::Settings {
            protocol: config.protocol,
            mode: config.mode,
            last_goodbye: config.last_goodbye,
            backlog_bytes: config.backlog_bytes,
            passthrough: config.passthrough,
        });
        let mut lifecycle = Lifecycle::new(config.mode, config.drain_timeout, config.idle_timeout);
        if let Some(notifier) = crate::systemd::Notifier::from_env() {
            lifecycle.notify_systemd(notifier);
        }
        Ok(Proxy {
            debugger: Debugger::new(backend, &config),
            lifecycle,
            control,
            started: Instant::now(),
            session,
            outbox: Outbox::default(),
            input_paused: false,
            config,
            poll,
            signals,
            clients,
            drain_started: false,
            failure: None,
            stats: Stats::default(),
            messages: Vec::new(),
            buf: vec![0; READ_BUF].into_boxed_slice(),
        })
    }

    fn run(mut self) -> Result<u8> {
        let mut events = Events::with_capacity(1024);
        let now = Instant::now();
        if self.debugger.backend.ready_when_listening() {
            self.lifecycle.ready();
        }
        let progress = self.debugger.backend.start(self.poll.registry(), now);
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
            t if self.clients.acceptor.owns(t) => self.clients.acceptor.set_ready(t),
            SIGNALS => self.on_signals(now),
            t if self.debugger.owns_link(t) => {
                if readable {
                    self.debugger.readable = true;
                }
                if writable {
                    self.flush_debugger(now);
                }
            }
            t if self.control.as_ref().is_some_and(|c| c.owns(t)) => self.on_control(t, now),
            t if self.debugger.backend.owns(t) => {
                let progress = self
                    .debugger
                    .backend
                    .on_event(self.poll.registry(), event, now);
                self.on_progress(progress, now);
            }
            t => {
                let Some(key) = self.clients.key_of(t) else {
                    return;
                };
                if readable {
                    self.clients.set_readable(key);
                }
                if writable {
                    self.clients.flush(key, self.poll.registry(), now);
                    self.apply(now);
                }
            }
        }
    }

    /// Does the reading, accepting and flushing that readiness allows, within
    /// this turn's budget. Returns whether work is left for another turn.
    fn pump(&mut self, now: Instant) -> bool {
        if self.lifecycle.running() {
            self.clients.accept(self.poll.registry(), now);
            self.apply(now);
        }
        if self.debugger.readable {
            self.read_debugger(now, DEBUGGER_READS_PER_TURN, false);
        }
        self.read_clients(now);
        self.clients.flush_dirty(self.poll.registry(), now);
        self.apply(now);
        self.flush_debugger(now);

        let clients_waiting = self.clients.has_readable() && !self.debugger.input_full();
        let debugger_waiting =
            self.debugger.readable && self.debugger.is_up() && !self.clients.holding();
        (self.clients.acceptor.accepting() && self.lifecycle.running())
            || debugger_waiting
            || clients_waiting
    }

    /// Carries out the session's actions, in order, and tells the session of
    /// the clients that joined or left meanwhile, until nothing is left.
    fn apply(&mut self, now: Instant) {
        loop {
            for id in self.clients.take_joined() {
                self.session.client_joined(id, &mut self.outbox);
                self.report_status();
            }
            if self.outbox.is_empty() {
                if !self.clients.has_left() {
                    return;
                }
                for id in self.clients.take_left() {
                    self.report_status();
                    self.session.client_left(id, &mut self.outbox);
                }
                continue;
            }
            let mut batch = std::mem::take(&mut self.outbox);
            for action in batch.drain() {
                match action {
                    Action::Send(To::Debugger, message) => self.debugger.send(&message),
                    Action::Send(to, message) => self.clients.deliver(to, &message, now),
                    Action::Close(id, why) => self.clients.close(id, &why, self.poll.registry()),
                }
            }
            self.outbox = batch;
        }
    }

    fn after_turn(&mut self, now: Instant) {
        if matches!(self.lifecycle.phase(), Phase::Draining { .. }) {
            if !self.drain_started {
                self.begin_drain(now);
            }
            if self.clients.is_empty() {
                self.lifecycle.drained();
            }
        }
        self.lifecycle
            .track_idle(now, self.clients.len(), self.debugger.is_up());
    }

    fn next_deadline(&self) -> Option<Instant> {
        [
            self.debugger.backend.deadline(),
            self.clients.deadline(),
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
        if self.debugger.backend.deadline().is_some_and(|d| d <= now) {
            let progress = self.debugger.backend.on_timer(self.poll.registry(), now);
            self.on_progress(progress, now);
        }
        self.clients.on_timer(self.poll.registry(), now);
        self.apply(now);
        if let Phase::Draining { deadline, .. } = self.lifecycle.phase()
            && now >= deadline
        {
            log::warn!(
                "shutdown: {} client(s) still had {} bytes queued after {}ms; closing them",
                self.clients.len(),
                self.clients.queued_bytes(),
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
                    let progress = self.debugger.backend.on_child_signal();
                    self.on_progress(progress, now);
                }
                SIGTERM => self.lifecycle.on_signal(now, "SIGTERM"),
                SIGHUP => self.on_hangup(),
                _ => self.lifecycle.on_signal(now, "SIGINT"),
            }
        }
    }

    fn view(&self) -> View<'_> {
        View {
            config: &self.config,
            started: self.started,
            clients: &self.clients,
            debugger: &self.debugger,
            session: self.session.as_ref(),
            stats: &self.stats,
        }
    }

    fn on_control(&mut self, token: Token, now: Instant) {
        let Some(control) = self.control.as_mut() else {
            return;
        };
        for (key, request) in control.on_event(token, self.poll.registry(), now) {
            let reply = match request {
                Request::Status => self.view().to_json().to_string(),
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

    /// SIGHUP: reopen the log file (logrotate), then say how things stand.
    fn on_hangup(&mut self) {
        match crate::daemon::reopen_log() {
            Ok(true) => log::info!("SIGHUP: log file reopened"),
            Ok(false) => {}
            Err(e) => log::warn!("SIGHUP: {e:#}"),
        }
        self.clients.reload_token();
        log::info!("status: {}", self.view().line());
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
                self.read_debugger(now, usize::MAX, true);
                self.debugger_lost(&format!("it {why}"), now);
            }
            Progress::Ended { code, why } => {
                log::debug!("debugger session over: it {why}");
                self.session_over(code, now);
            }
        }
    }

    /// Lifecycle lines are `info`, but `debug` while the backend has reported
    /// that the debugger keeps going away at once (one warning, not thousands).
    fn lifecycle_level(&self) -> log::Level {
        if self.debugger.backend.flapping() {
            log::Level::Debug
        } else {
            log::Level::Info
        }
    }

    fn debugger_up(&mut self, link: Link, now: Instant) {
        self.stats.debugger_sessions += 1;
        log::log!(
            self.lifecycle_level(),
            "{} connected (debugger session {})",
            self.debugger.backend.describe(),
            self.stats.debugger_sessions
        );
        self.debugger.up(link, now);
        self.lifecycle.ready();
        self.report_status();
        self.session.debugger_up(&mut self.outbox);
        self.apply(now);
        self.flush_debugger(now);
    }

    fn debugger_lost(&mut self, why: &str, now: Instant) {
        let Some(lasted) = self.debugger.close(self.poll.registry(), now) else {
            return;
        };
        log::log!(
            self.lifecycle_level(),
            "{} disconnected: {why} (session {} lasted {}s)",
            self.debugger.backend.describe(),
            self.stats.debugger_sessions,
            lasted.as_secs()
        );
        self.session.debugger_lost(&mut self.outbox);
        self.apply(now);
        if self.config.hangup_clients && self.config.mode == Mode::Persistent {
            log::info!("closing every client: the debugger went away (--hangup-clients)");
            self.clients.close_all(self.poll.registry(), now);
            self.apply(now);
        }
        self.report_status();
        if let Some(code) = self.debugger.backend.stream_ended(now) {
            self.session_over(code, now);
        }
    }

    /// The debugger session has ended for good (for a child: reaped too).
    fn session_over(&mut self, code: u8, now: Instant) {
        match self.lifecycle.after_loss(now, code) {
            AfterLoss::Reconnect => {
                log::log!(
                    self.lifecycle_level(),
                    "persistent mode: waiting for the next debugger"
                );
                let progress = self.debugger.backend.start(self.poll.registry(), now);
                self.on_progress(progress, now);
            }
            AfterLoss::Drain => log::info!("session mode: the debug session is over"),
        }
    }

    /// Reads the debugger up to `budget` times, handing whole messages to the
    /// session. While a client is too far behind the debugger waits, unless
    /// `exiting` (its last words are in a pipe that is about to go).
    fn read_debugger(&mut self, now: Instant, budget: usize, exiting: bool) {
        for _ in 0..budget {
            if !self.debugger.is_up() || (self.clients.holding() && !exiting) {
                return;
            }
            let mut messages = std::mem::take(&mut self.messages);
            let (output, n) = self.debugger.read(&mut self.buf, &mut messages);
            self.stats.bytes_from_debugger += n as u64;
            for message in messages.drain(..) {
                self.session.from_debugger(message, &mut self.outbox);
            }
            self.messages = messages;
            self.apply(now);
            match output {
                Output::Data => {}
                Output::WouldBlock => return,
                Output::Ended(why) => return self.debugger_lost(&why, now),
            }
        }
    }

    fn flush_debugger(&mut self, now: Instant) {
        match self.debugger.flush(self.poll.registry()) {
            Ok(n) => self.stats.bytes_to_debugger += n as u64,
            Err(e) => self.debugger_lost(&format!("write failed: {e}"), now),
        }
    }

    // ----- the client side -----

    fn read_clients(&mut self, now: Instant) {
        if !self.clients.has_readable() {
            return;
        }
        let draining = !self.lifecycle.running();
        for key in self.clients.take_readable() {
            for _ in 0..CLIENT_READS_PER_TURN {
                if !draining && self.debugger.input_full() {
                    if !self.input_paused {
                        self.input_paused = true;
                        self.stats.input_pauses += 1;
                        log::debug!(
                            "{} bytes queued for the debugger: not reading clients until it catches up",
                            self.debugger.queued()
                        );
                    }
                    break;
                }
                let mut messages = std::mem::take(&mut self.messages);
                let (id, read) = self.clients.read(
                    key,
                    &mut self.buf,
                    &mut messages,
                    draining,
                    self.poll.registry(),
                );
                if let Some(id) = id {
                    for message in messages.drain(..) {
                        self.session.from_client(id, message, &mut self.outbox);
                    }
                }
                messages.clear();
                self.messages = messages;
                self.apply(now);
                if matches!(read, clients::Read::Done) {
                    break;
                }
            }
            self.clients.still_readable(key);
        }
        if self.input_paused && !self.debugger.input_full() {
            self.input_paused = false;
            log::debug!("reading clients again");
        }
    }

    /// Tells systemd how things stand (`systemctl status` shows it).
    fn report_status(&self) {
        self.lifecycle
            .status(self.debugger.is_up(), self.clients.len());
    }

    // ----- shutdown -----

    /// Stops accepting and reading; what is queued for clients still goes out
    /// until the lifecycle's drain deadline.
    fn begin_drain(&mut self, now: Instant) {
        self.drain_started = true;
        self.clients.acceptor.stop(self.poll.registry());
        // One last non-blocking try, so input already accepted is not lost.
        self.stats.bytes_to_debugger += self.debugger.flush_and_close(self.poll.registry()) as u64;
        self.clients.close_all(self.poll.registry(), now);
        self.apply(now);
    }

    fn finish(&mut self) {
        self.clients.close_now(self.poll.registry());
        self.debugger.flush_and_close(self.poll.registry());
        log::info!("exiting: {}", self.view().line());
    }
}

/// The client listeners: those systemd passed, if any (then the command
/// line's `--listen` is not bound), else one per `--listen`.
fn client_listeners(
    config: &Config,
    passed: &mut Vec<crate::systemd::Passed>,
) -> Result<Vec<Listener>> {
    let from_systemd = crate::systemd::take_clients(passed);
    if !from_systemd.is_empty() {
        return from_systemd
            .into_iter()
            .map(|p| {
                let listener = match p {
                    PassedListener::Tcp(l) => {
                        l.set_nonblocking(true)?;
                        Listener::Tcp(TcpListener::from_std(l))
                    }
                    PassedListener::Unix(l) => {
                        l.set_nonblocking(true)?;
                        let path = l
                            .local_addr()?
                            .as_pathname()
                            .map(std::path::Path::to_path_buf)
                            .unwrap_or_default();
                        Listener::Unix {
                            listener: UnixListener::from_std(l),
                            path,
                            created: None,
                        }
                    }
                };
                log::info!(
                    "using the client socket passed by systemd: {}",
                    listener.describe()
                );
                Ok(listener)
            })
            .collect::<std::io::Result<Vec<_>>>()
            .context("preparing the client sockets passed by systemd");
    }
    let hint = format!(
        "is another dbgproxy running for port {}?",
        config.debug_port
    );
    config
        .listen
        .iter()
        .map(|addr| match addr {
            ListenAddr::Tcp(a) => Ok(Listener::Tcp(net::listen(*a, "clients", &hint)?)),
            ListenAddr::Unix(path) => {
                let (listener, file) = net::listen_unix(path)?;
                Ok(Listener::Unix {
                    listener,
                    path: path.clone(),
                    created: Some(file),
                })
            }
        })
        .collect()
}
