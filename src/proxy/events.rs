//! The loop's business other than moving bytes: timers (each row's backend
//! and session among them), signals, control requests, shutdown, and binding
//! the client listeners at start. Where bytes go is in `debugger_side.rs`
//! (and the debugger coming and going) and `client_side.rs`.

use std::time::Instant;

use anyhow::{Context, Result};
use mio::Token;
use mio::net::{TcpListener, UnixListener};
use signal_hook::consts::{SIGCHLD, SIGHUP, SIGTERM};

use super::Proxy;
use crate::config::{Config, ListenAddr};
use crate::control::{self, Request};
use crate::net;
use crate::process::systemd::PassedListener;
use crate::proxy::accept::Listener;
use crate::proxy::lifecycle::{Phase, StopBy};
use crate::proxy::status::View;

impl Proxy {
    pub(super) fn after_turn(&mut self, now: Instant) {
        for row in self.rows.ids() {
            let Some(r) = self.rows.get_mut(row) else {
                continue;
            };
            r.session.tick(now, &mut r.outbox);
            if !r.outbox.is_empty() {
                self.apply(now);
                self.flush_debugger(row, now);
            }
        }
        if matches!(self.lifecycle.phase(), Phase::Draining { .. }) {
            if !self.drain_started {
                self.begin_drain(now);
            }
            if self.clients.is_empty() {
                self.lifecycle.drained();
            }
        }
        if self.dbgp.is_some() {
            self.dbgp_tidy(now);
        }
        // Idle means no client and no debugger in any row.
        self.lifecycle
            .track_idle(now, self.clients.len(), self.rows.any_debugger_up());
    }

    pub(super) fn next_deadline(&self) -> Option<Instant> {
        let rows = self
            .rows
            .iter()
            .flat_map(|r| [r.debugger.backend.deadline(), r.session.deadline()]);
        [
            self.clients.deadline(),
            self.lifecycle.deadline(),
            self.control.as_ref().and_then(control::Server::deadline),
            self.dbgp.as_ref().and_then(super::dbgp::Mode::deadline),
        ]
        .into_iter()
        .chain(rows)
        .flatten()
        .min()
    }

    pub(super) fn on_timers(&mut self, now: Instant) {
        if let Some(control) = self.control.as_mut() {
            control.on_timer(self.poll.registry(), now);
        }
        for row in self.rows.ids() {
            let Some(r) = self.rows.get_mut(row) else {
                continue;
            };
            if r.debugger.backend.deadline().is_some_and(|d| d <= now) {
                let progress = r.debugger.backend.on_timer(self.poll.registry(), now);
                self.on_progress(row, progress, now);
            }
        }
        self.clients.on_timer(self.poll.registry(), now);
        self.apply(now);
        self.dbgp_on_timers(now);
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

    pub(super) fn on_signals(&mut self, now: Instant) {
        let pending: Vec<i32> = self.signals.pending().collect();
        for signal in pending {
            match signal {
                SIGCHLD => {
                    for row in self.rows.ids() {
                        if let Some(r) = self.rows.get_mut(row) {
                            let progress = r.debugger.backend.on_child_signal();
                            self.on_progress(row, progress, now);
                        }
                    }
                }
                SIGTERM => self.lifecycle.on_signal(now, StopBy::Signal("SIGTERM")),
                SIGHUP => self.on_hangup(),
                _ => self.lifecycle.on_signal(now, StopBy::Signal("SIGINT")),
            }
        }
    }

    pub(super) fn view(&self) -> View<'_> {
        View {
            config: &self.config,
            started: self.started,
            clients: &self.clients,
            rows: self.rows.iter().map(super::rows::Row::view).collect(),
        }
    }

    pub(super) fn on_control(&mut self, token: Token, now: Instant) {
        let Some(control) = self.control.as_mut() else {
            return;
        };
        for (key, request) in control.on_event(token, self.poll.registry(), now) {
            let reply = match request {
                Request::Status => {
                    let mut status = self.view().to_json();
                    if let Some(dbgp) = &self.dbgp {
                        let clients = &self.clients;
                        status["dbgp_proxy"] = dbgp.to_json(now, |row| clients.open_in(row));
                    }
                    status.to_string()
                }
                Request::Stop => {
                    self.lifecycle.on_signal(now, StopBy::Request);
                    serde_json::json!({"stopping": true, "pid": std::process::id()}).to_string()
                }
            };
            if let Some(control) = self.control.as_mut() {
                control.reply(key, reply, self.poll.registry());
            }
        }
    }

    /// SIGHUP: reopen the log file (logrotate), then say how things stand.
    pub(super) fn on_hangup(&mut self) {
        match crate::process::daemon::reopen_log() {
            Ok(true) => log::info!("SIGHUP: log file reopened"),
            Ok(false) => {}
            Err(e) => log::warn!("SIGHUP: {e:#}"),
        }
        self.clients.reload_token();
        log::info!("status: {}", self.view().line());
    }

    /// Tells systemd how things stand (`systemctl status` shows it).
    pub(super) fn report_status(&self) {
        self.lifecycle
            .status(self.rows.any_debugger_up(), self.clients.len());
    }

    /// Stops accepting and reading; what is queued for clients still goes out
    /// until the lifecycle's drain deadline.
    pub(super) fn begin_drain(&mut self, now: Instant) {
        self.drain_started = true;
        self.at_shutdown = Some(self.view().who());
        self.clients.acceptor.stop(self.poll.registry());
        // One last non-blocking try, so input already accepted is not lost.
        for r in self.rows.iter_mut() {
            r.stats.bytes_to_debugger += r.debugger.flush_and_close(self.poll.registry()) as u64;
        }
        self.clients.close_all(self.poll.registry(), now);
        self.apply(now);
    }

    /// Closes what is left and says what the proxy did. Who was there is
    /// told as it was when the shutdown began: by now everyone is gone.
    pub(super) fn finish(&mut self) {
        let who = self.at_shutdown.take().unwrap_or_else(|| self.view().who());
        self.clients.close_now(self.poll.registry());
        for r in self.rows.iter_mut() {
            r.debugger.flush_and_close(self.poll.registry());
        }
        log::info!("exiting: {who} at shutdown; {}", self.view().totals());
    }
}

/// The client listeners: those systemd passed, if any (then the command
/// line's `--listen` is not bound), else one per `--listen`.
pub(super) fn client_listeners(
    config: &Config,
    passed: &mut Vec<crate::process::systemd::Passed>,
) -> Result<Vec<Listener>> {
    let from_systemd = crate::process::systemd::take_clients(passed);
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
