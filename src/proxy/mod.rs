//! The event loop: one `mio::Poll`, many clients, one debugger.
//!
//! This is where bytes go. From the debugger (`debugger.rs`): whole messages
//! to the session layer (`session/`), which says who gets each. From a client
//! (`clients/`): whole messages to the session layer, which says what goes
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
//! the debugger is not read (for a bounded time: see `clients/backpressure.rs`).

use std::io;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use mio::event::Event;
use mio::{Events, Interest, Poll, Token};
use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;

use crate::accept::Listener;
use crate::backends::Backend;
use crate::clients::Clients;
use crate::config::{self, Config};
use crate::control;
use crate::debugger::{self, Debugger};
use crate::framing::Message;
use crate::lifecycle::{Lifecycle, Phase};
use crate::process::tuning;
use crate::session::{self, Action, Outbox, Session, To};
use crate::status::Stats;

mod events;

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
        let sink = crate::process::daemon::detach(&options)?;
        proxy.lifecycle.send_marker_to(sink);
    }
    log::info!("{}", proxy.listening);
    // After the read buffer exists: allocated under glibc's default rules it
    // is a lazily-zeroed mmap, so an idle proxy does not carry it in memory.
    tuning::keep_freed_memory();
    proxy.run()
}

struct Proxy {
    /// The line that says where clients connect, logged once the process
    /// that serves them runs (after a `--daemon` fork: into its log file).
    listening: String,
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
    /// Who was there when the shutdown began, for the exit line.
    at_shutdown: Option<String>,
    failure: Option<anyhow::Error>,
    stats: Stats,
    messages: Vec<Message>,
    buf: Box<[u8]>,
}

impl Proxy {
    fn new(config: Config) -> Result<Proxy> {
        let poll = Poll::new().context("creating the event poller")?;
        let mut passed = crate::process::systemd::listen_fds();
        let listeners = events::client_listeners(&config, &mut passed)?;
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
        let debugger_socket = crate::process::systemd::take_debugger(&mut passed);
        let backend = Backend::new(&config, poll.registry(), debugger_socket)?;
        // The proxy works without its control socket; status/stop then can't reach it.
        let control = control::Server::bind(control_key, poll.registry())
            .map_err(|e| log::warn!("no control socket: {e:#}"))
            .ok();
        let listening = format!(
            "listening for clients on {} ({} backend, {} protocol, {} mode)",
            described.join(", "),
            config.backend.name(),
            config.protocol.name(),
            config.mode.name()
        );
        let session = session::new(&session::Settings {
            protocol: config.protocol,
            mode: config.mode,
            forwards_last_goodbye: config::forwards_last_goodbye(config.mode, config.last_goodbye),
            backlog_bytes: config.backlog_bytes,
            passthrough: config.passthrough,
            dbgp_hold: config.dbgp_hold,
        });
        let mut lifecycle = Lifecycle::new(config.mode, config.drain_timeout, config.idle_timeout);
        if let Some(notifier) = crate::process::systemd::Notifier::from_env() {
            lifecycle.notify_systemd(notifier);
        }
        Ok(Proxy {
            listening,
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
            at_shutdown: None,
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
                    Action::RestartDebugger(why) => self.restart_debugger(&why, now),
                }
            }
            self.outbox = batch;
        }
    }

    // ----- the debugger side -----

    /// Reads the debugger up to `budget` times, handing whole messages to the
    /// session. While a client is too far behind the debugger waits, unless
    /// `exiting` (its last words are in a pipe that is about to go).
    fn read_debugger(&mut self, now: Instant, budget: usize, exiting: bool) {
        for _ in 0..budget {
            if !self.debugger.is_up() || (self.clients.holding() && !exiting) {
                return;
            }
            let mut messages = std::mem::take(&mut self.messages);
            let (n, result) = self.debugger.read(&mut self.buf, &mut messages);
            self.stats.bytes_from_debugger += n as u64;
            for message in messages.drain(..) {
                self.session.from_debugger(message, &mut self.outbox);
            }
            self.messages = messages;
            self.apply(now);
            if !result.is_continue() {
                if let Some(why) = debugger::ended(result, true) {
                    self.debugger_lost(&why, now);
                }
                return;
            }
        }
    }

    fn flush_debugger(&mut self, now: Instant) {
        let (n, result) = self.debugger.flush(self.poll.registry());
        self.stats.bytes_to_debugger += n as u64;
        if let Some(why) = debugger::ended(result, false) {
            self.debugger_lost(&why, now);
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
                if !read.is_continue() {
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
}
