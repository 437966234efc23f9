//! The event loop: one `mio::Poll`, many clients, and a table of debugger
//! links (`rows.rs`), each with its clients and its session layer. Today the
//! table has one row.
//!
//! This is where bytes go. From a debugger (`debugger_side.rs`): whole
//! messages to its row's session layer (`session/`), which says who of the
//! row's clients gets each. From a client (`client_side.rs`): whole messages
//! to its row's session layer, which says what goes to the row's debugger and
//! what it answers itself. The sessions' actions are carried out here, in
//! order (`apply`): to the row's debugger's bounded queue, to its clients'
//! bounded queues (one shared buffer for many), or closing a client. The loop
//! knows no protocol; every token says which row it belongs to (`tokens.rs`).
//!
//! Readiness is edge-triggered, so each source has a "ready" flag that stays
//! set until a read or accept says `WouldBlock`. Events only set flags and
//! flush writes; `pump` does the reading, with a budget per source per turn so
//! that one chatty peer cannot starve the rest. Work left over makes the next
//! poll return at once. Two kinds of backpressure, both within a row: while
//! the queue to a debugger is full, its row's clients are not read; while a
//! client is too far behind, its row's debugger is not read (for a bounded
//! time: see `clients/backpressure.rs`).

use std::io;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use mio::event::Event;
use mio::{Events, Interest, Poll};
use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;

use crate::config::Config;
use crate::control;
use crate::framing::Message;
use crate::process::tuning;
use crate::proxy::accept::Listener;
use crate::proxy::clients::Clients;
use crate::proxy::lifecycle::{Lifecycle, Phase};
use crate::session::{Action, To};
use crate::tokens::SIGNALS;
use rows::{Row, Rows};

pub mod accept;
mod client_side;
pub mod clients;
mod dbgp;
pub mod debugger;
mod debugger_side;
mod events;
pub mod lifecycle;
mod rows;
pub mod status;

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
    rows: Rows,
    /// `--dbgp-proxy`: the registration port and the shared engine port.
    dbgp: Option<dbgp::Mode>,
    control: Option<control::Server>,
    started: Instant,
    lifecycle: Lifecycle,
    drain_started: bool,
    /// Who was there when the shutdown began, for the exit line.
    at_shutdown: Option<String>,
    failure: Option<anyhow::Error>,
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
        let mut rows = Rows::default();
        // A protocol whose clients open with a request of their own (CDP)
        // has them judged at a door, which may tell what this row's backend learns.
        let mut clients = clients;
        // DBGp proxy mode makes a row per engine key as engines come;
        // otherwise the one row is the debugger the command line names.
        let dbgp = match &config.dbgp_proxy {
            Some(d) => {
                clients.set_door(crate::proxy::clients::door::for_config(&config, None));
                Some(dbgp::Mode::bind(&config, d, poll.registry())?)
            }
            None => {
                let row = Row::new(
                    rows.vacant(),
                    String::new(),
                    &config,
                    poll.registry(),
                    debugger_socket,
                )?;
                clients.set_door(crate::proxy::clients::door::for_config(
                    &config,
                    Some(&row.debugger.backend),
                ));
                rows.insert(row);
                None
            }
        };
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
        let mut lifecycle = Lifecycle::new(config.mode, config.drain_timeout, config.idle_timeout);
        if let Some(notifier) = crate::process::systemd::Notifier::from_env() {
            lifecycle.notify_systemd(notifier);
        }
        Ok(Proxy {
            listening,
            rows,
            dbgp,
            lifecycle,
            control,
            started: Instant::now(),
            config,
            poll,
            signals,
            clients,
            drain_started: false,
            at_shutdown: None,
            failure: None,
            messages: Vec::new(),
            buf: vec![0; READ_BUF].into_boxed_slice(),
        })
    }

    fn run(mut self) -> Result<u8> {
        let mut events = Events::with_capacity(1024);
        let now = Instant::now();
        // Ready when every row's backend is (one row today).
        if !self.rows.is_empty()
            && self
                .rows
                .iter()
                .all(|r| r.debugger.backend.ready_when_listening())
        {
            self.lifecycle.ready();
        }
        // Both its ports are bound: engines and IDEs may come.
        if self.dbgp.is_some() {
            self.lifecycle.ready();
        }
        for row in self.rows.ids() {
            self.start_backend(row, now);
        }
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
        // The ranges are apart (`tokens.rs`), so the order of the tests is free.
        if let Some((row, which)) = self.rows.by_token(token) {
            return self.on_debugger_event(row, which, event, now);
        }
        let readable = event.is_readable() || event.is_read_closed() || event.is_error();
        let writable = event.is_writable() || event.is_write_closed() || event.is_error();
        match token {
            t if self.clients.acceptor.owns(t) => self.clients.acceptor.set_ready(t),
            SIGNALS => self.on_signals(now),
            t if self.control.as_ref().is_some_and(|c| c.owns(t)) => self.on_control(t, now),
            t if self.dbgp.is_some() && dbgp::Mode::owns(t) => self.on_dbgp_event(t, now),
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
            let rows = &self.rows;
            let place = |_: &crate::proxy::clients::client::Client| rows.row_for_new_client();
            self.clients.accept(self.poll.registry(), now, &place);
            self.apply(now);
        }
        for row in self.rows.ids() {
            if self.rows.get(row).is_some_and(|r| r.debugger.readable) {
                self.read_debugger(row, now, DEBUGGER_READS_PER_TURN, false);
            }
        }
        self.read_clients(now);
        self.clients.flush_dirty(self.poll.registry(), now);
        self.apply(now);
        for row in self.rows.ids() {
            self.flush_debugger(row, now);
        }

        let debugger_waiting = self
            .rows
            .iter()
            .any(|r| r.debugger.readable && r.debugger.is_up() && !self.clients.holding(r.id));
        (self.clients.acceptor.accepting() && self.lifecycle.running())
            || debugger_waiting
            || self.clients_waiting()
    }

    /// Carries out the sessions' actions, each row's in order, and tells
    /// each row's session of its clients that joined or left meanwhile,
    /// until nothing is left. A session's actions concern its own row: its
    /// debugger, and only its clients.
    fn apply(&mut self, now: Instant) {
        loop {
            for (row, id) in self.clients.take_joined() {
                if let Some(r) = self.rows.get_mut(row) {
                    r.session.client_joined(id, &mut r.outbox);
                }
                self.report_status();
            }
            let Some(row) = self.rows.with_actions() else {
                if !self.clients.has_left() {
                    return;
                }
                let mut gone = Vec::new();
                for (row, id) in self.clients.take_left() {
                    self.report_status();
                    if let Some(r) = self.rows.get_mut(row) {
                        r.session.client_left(id, &mut r.outbox);
                        if r.goes_with_client {
                            gone.push(row);
                        }
                    }
                }
                for row in gone {
                    self.remove_row(row, "its client left", now);
                }
                continue;
            };
            let Some(r) = self.rows.get_mut(row) else {
                return;
            };
            let mut batch = std::mem::take(&mut r.outbox);
            for action in batch.drain() {
                match action {
                    Action::Send(To::Debugger, message) => {
                        if let Some(r) = self.rows.get_mut(row) {
                            r.debugger.send(&message);
                        }
                    }
                    Action::Send(to, message) => self.clients.deliver(row, to, &message, now),
                    Action::Close(id, why) => {
                        self.clients.close(row, id, &why, self.poll.registry())
                    }
                    Action::RestartDebugger(why) => self.restart_debugger(row, &why, now),
                    Action::CloseDebugger(why) => self.close_debugger(row, &why, now),
                }
            }
            // Emptied; kept for its capacity (nothing was queued meanwhile:
            // a restart inside the batch applied what it caused).
            if let Some(r) = self.rows.get_mut(row) {
                r.outbox = batch;
            }
        }
    }
}
