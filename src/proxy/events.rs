//! The loop's business other than moving bytes: timers, signals, control
//! requests, the debugger coming and going, shutdown, and binding the client
//! listeners at start. `mod.rs` holds where bytes go.

use std::time::Instant;

use anyhow::{Context, Result};
use mio::Token;
use mio::net::{TcpListener, UnixListener};
use signal_hook::consts::{SIGCHLD, SIGHUP, SIGTERM};

use super::Proxy;
use crate::accept::Listener;
use crate::backends::{Link, Progress};
use crate::config::{Config, ListenAddr, Mode};
use crate::control::{self, Request};
use crate::lifecycle::{AfterLoss, Phase, StopBy};
use crate::net;
use crate::process::systemd::PassedListener;
use crate::status::View;

impl Proxy {
    pub(super) fn after_turn(&mut self, now: Instant) {
        self.session.tick(now, &mut self.outbox);
        if !self.outbox.is_empty() {
            self.apply(now);
            self.flush_debugger(now);
        }
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

    pub(super) fn next_deadline(&self) -> Option<Instant> {
        [
            self.debugger.backend.deadline(),
            self.clients.deadline(),
            self.lifecycle.deadline(),
            self.session.deadline(),
            self.control.as_ref().and_then(control::Server::deadline),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    pub(super) fn on_timers(&mut self, now: Instant) {
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

    pub(super) fn on_signals(&mut self, now: Instant) {
        let pending: Vec<i32> = self.signals.pending().collect();
        for signal in pending {
            match signal {
                SIGCHLD => {
                    let progress = self.debugger.backend.on_child_signal();
                    self.on_progress(progress, now);
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
            debugger: &self.debugger,
            session: self.session.as_ref(),
            stats: &self.stats,
        }
    }

    pub(super) fn on_control(&mut self, token: Token, now: Instant) {
        let Some(control) = self.control.as_mut() else {
            return;
        };
        for (key, request) in control.on_event(token, self.poll.registry(), now) {
            let reply = match request {
                Request::Status => self.view().to_json().to_string(),
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

    pub(super) fn on_progress(&mut self, progress: Progress, now: Instant) {
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
    pub(super) fn lifecycle_level(&self) -> log::Level {
        if self.debugger.backend.flapping() {
            log::Level::Debug
        } else {
            log::Level::Info
        }
    }

    pub(super) fn debugger_up(&mut self, link: Link, now: Instant) {
        self.stats.debugger_sessions += 1;
        let waited = self
            .debugger
            .backend
            .waited(now)
            .map_or(String::new(), |d| {
                format!(" after {}", crate::backends::human(d))
            });
        log::log!(
            self.lifecycle_level(),
            "{} connected{waited} (debugger session {})",
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

    pub(super) fn debugger_lost(&mut self, why: &str, now: Instant) {
        self.end_debugger_session(why, now, false);
    }

    /// The session asked for a new debugger session (its debugger is done
    /// but stays up): this one ends now, and the next is reached without
    /// backing off. What the session queued for the debugger after asking is
    /// for the next one (`Debugger::close` drops only what came before).
    pub(super) fn restart_debugger(&mut self, why: &str, now: Instant) {
        if !self.debugger.is_up() {
            log::debug!("no debugger up to restart ({why})");
            return;
        }
        log::info!("restarting {}: {why}", self.debugger.backend.describe());
        self.debugger.backend.restart(now);
        self.end_debugger_session("restarted for a new run", now, true);
    }

    fn end_debugger_session(&mut self, why: &str, now: Instant, asked: bool) {
        let Some(lasted) = self.debugger.close(self.poll.registry(), now) else {
            return;
        };
        // In session mode this is the end: one line says so.
        let end = if self.config.mode == Mode::OneSession && self.lifecycle.running() {
            "; session mode: shutting down"
        } else {
            ""
        };
        log::log!(
            self.lifecycle_level(),
            "{} disconnected: {why} (session {} lasted {}s){end}",
            self.debugger.backend.describe(),
            self.stats.debugger_sessions,
            lasted.as_secs()
        );
        self.session.debugger_lost(&mut self.outbox);
        self.apply(now);
        if self.config.hangup_clients && self.config.mode == Mode::Persistent && !asked {
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
    pub(super) fn session_over(&mut self, code: u8, now: Instant) {
        match self.lifecycle.after_loss(now, code) {
            AfterLoss::Reconnect => {
                log::log!(
                    self.lifecycle_level(),
                    "persistent mode: waiting for the next debugger"
                );
                let progress = self.debugger.backend.start(self.poll.registry(), now);
                self.on_progress(progress, now);
            }
            // The disconnect line said it.
            AfterLoss::Drain => log::debug!("session mode: the debug session is over"),
        }
    }

    /// Tells systemd how things stand (`systemctl status` shows it).
    pub(super) fn report_status(&self) {
        self.lifecycle
            .status(self.debugger.is_up(), self.clients.len());
    }

    /// Stops accepting and reading; what is queued for clients still goes out
    /// until the lifecycle's drain deadline.
    pub(super) fn begin_drain(&mut self, now: Instant) {
        self.drain_started = true;
        self.at_shutdown = Some(self.view().who());
        self.clients.acceptor.stop(self.poll.registry());
        // One last non-blocking try, so input already accepted is not lost.
        self.stats.bytes_to_debugger += self.debugger.flush_and_close(self.poll.registry()) as u64;
        self.clients.close_all(self.poll.registry(), now);
        self.apply(now);
    }

    /// Closes what is left and says what the proxy did. Who was there is
    /// told as it was when the shutdown began: by now everyone is gone.
    pub(super) fn finish(&mut self) {
        let who = self.at_shutdown.take().unwrap_or_else(|| self.view().who());
        self.clients.close_now(self.poll.registry());
        self.debugger.flush_and_close(self.poll.registry());
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
