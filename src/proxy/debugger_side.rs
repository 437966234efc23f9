//! The loop's debugger side, per row of the session table: where bytes from
//! a backend go (whole messages to the row's session layer), writing the
//! row's queue to its debugger, and the debugger coming, going and being
//! restarted. Every function here is about one row, named by its `RowId`.

use std::time::Instant;

use mio::event::Event;

use super::Proxy;
use crate::backends::{Link, Progress};
use crate::config::Mode;
use crate::proxy::debugger;
use crate::proxy::lifecycle::AfterLoss;
use crate::proxy::rows::Row;
use crate::tokens::{RowId, Which};

impl Proxy {
    /// An event on one of `row`'s tokens: its live link, or its backend's own.
    pub(super) fn on_debugger_event(
        &mut self,
        row: RowId,
        which: Which,
        event: &Event,
        now: Instant,
    ) {
        let Some(r) = self.rows.get_mut(row) else {
            return;
        };
        let token = event.token();
        if r.debugger.owns_link(token) {
            if event.is_readable() || event.is_read_closed() || event.is_error() {
                r.debugger.readable = true;
            }
            if event.is_writable() || event.is_write_closed() || event.is_error() {
                self.flush_debugger(row, now);
            }
        } else if r.debugger.backend.owns(token) {
            let progress = r
                .debugger
                .backend
                .on_event(self.poll.registry(), event, now);
            self.on_progress(row, progress, now);
        } else {
            log::trace!("row {row}: stale event for {which:?}");
        }
    }

    /// `row`'s backend starts obtaining a link: the first, or the next.
    pub(super) fn start_backend(&mut self, row: RowId, now: Instant) {
        let Some(r) = self.rows.get_mut(row) else {
            return;
        };
        let progress = r.debugger.backend.start(self.poll.registry(), now);
        self.on_progress(row, progress, now);
    }

    /// Reads `row`'s debugger up to `budget` times, handing whole messages
    /// to its session. While one of its clients is too far behind the
    /// debugger waits, unless `exiting` (its last words are in a pipe that
    /// is about to go).
    pub(super) fn read_debugger(&mut self, row: RowId, now: Instant, budget: usize, exiting: bool) {
        for _ in 0..budget {
            let holding = self.clients.holding(row);
            let Some(r) = self.rows.get_mut(row) else {
                return;
            };
            if !r.debugger.is_up() || (holding && !exiting) {
                return;
            }
            let mut messages = std::mem::take(&mut self.messages);
            let (n, result) = r.debugger.read(&mut self.buf, &mut messages);
            r.stats.bytes_from_debugger += n as u64;
            for message in messages.drain(..) {
                r.session.from_debugger(message, &mut r.outbox);
            }
            self.messages = messages;
            self.apply(now);
            if !result.is_continue() {
                if let Some(why) = debugger::ended(result, true) {
                    self.debugger_lost(row, &why, now);
                }
                return;
            }
        }
    }

    pub(super) fn flush_debugger(&mut self, row: RowId, now: Instant) {
        let Some(r) = self.rows.get_mut(row) else {
            return;
        };
        let (n, result) = r.debugger.flush(self.poll.registry());
        r.stats.bytes_to_debugger += n as u64;
        if let Some(why) = debugger::ended(result, false) {
            self.debugger_lost(row, &why, now);
        }
    }

    pub(super) fn on_progress(&mut self, row: RowId, progress: Progress, now: Instant) {
        match progress {
            Progress::Pending => {}
            Progress::Failed(e) => self.failure = Some(e),
            Progress::Up(link) => self.debugger_up(row, link, now),
            Progress::Exited { why } => {
                // All it wrote before exiting is in the pipe already: take it
                // now, whatever the per-turn budget, then end the stream.
                self.read_debugger(row, now, usize::MAX, true);
                self.debugger_lost(row, &format!("it {why}"), now);
            }
            Progress::Ended { code, why } => {
                log::debug!("debugger session over: it {why}");
                self.session_over(row, code, now);
            }
        }
    }

    /// Lifecycle lines are `info`, but `debug` while the backend has reported
    /// that the debugger keeps going away at once (one warning, not thousands).
    fn lifecycle_level(&self, row: RowId) -> log::Level {
        if self
            .rows
            .get(row)
            .is_some_and(|r| r.debugger.backend.flapping())
        {
            log::Level::Debug
        } else {
            log::Level::Info
        }
    }

    fn debugger_up(&mut self, row: RowId, link: Link, now: Instant) {
        let level = self.lifecycle_level(row);
        let Some(r) = self.rows.get_mut(row) else {
            return;
        };
        r.stats.debugger_sessions += 1;
        let waited = r.debugger.backend.waited(now).map_or(String::new(), |d| {
            format!(" after {}", crate::backends::human(d))
        });
        log::log!(
            level,
            "{} connected{waited} (debugger session {})",
            r.debugger.backend.describe(),
            r.stats.debugger_sessions
        );
        r.debugger.up(link, now);
        self.lifecycle.ready();
        self.report_status();
        if let Some(r) = self.rows.get_mut(row) {
            r.session.debugger_up(&mut r.outbox);
        }
        self.apply(now);
        self.flush_debugger(row, now);
    }

    pub(super) fn debugger_lost(&mut self, row: RowId, why: &str, now: Instant) {
        self.end_debugger_session(row, why, now, false);
    }

    /// `row`'s session asked for a new debugger session (its debugger is
    /// done but stays up): this one ends now, and the next is reached
    /// without backing off. What the session queued for the debugger after
    /// asking is for the next one (`Debugger::close` drops only what came
    /// before).
    pub(super) fn restart_debugger(&mut self, row: RowId, why: &str, now: Instant) {
        let Some(r) = self.rows.get_mut(row) else {
            return;
        };
        if !r.debugger.is_up() {
            log::debug!("no debugger up to restart ({why})");
            return;
        }
        log::info!("restarting {}: {why}", r.debugger.backend.describe());
        r.debugger.backend.restart(now);
        self.end_debugger_session(row, "restarted for a new run", now, true);
    }

    /// `row`'s session asked to close its debugger link (a CDP session
    /// letting node exit): the session ends as if lost, and the backend
    /// reaches the next one (persistent mode) or the proxy ends (session).
    pub(super) fn close_debugger(&mut self, row: RowId, why: &str, now: Instant) {
        if let Some(r) = self.rows.get(row)
            && r.debugger.is_up()
        {
            log::debug!("closing {}: {why}", r.debugger.backend.describe());
            self.end_debugger_session(row, why, now, true);
        }
    }

    fn end_debugger_session(&mut self, row: RowId, why: &str, now: Instant, asked: bool) {
        let level = self.lifecycle_level(row);
        let Some(r) = self.rows.get_mut(row) else {
            return;
        };
        let Some(lasted) = r.debugger.close(self.poll.registry(), now) else {
            return;
        };
        // In session mode this is the end: one line says so.
        let end = if self.config.mode == Mode::OneSession && self.lifecycle.running() {
            "; session mode: shutting down"
        } else {
            ""
        };
        log::log!(
            level,
            "{} disconnected: {why} (session {} lasted {}s){end}",
            r.debugger.backend.describe(),
            r.stats.debugger_sessions,
            lasted.as_secs()
        );
        r.session.debugger_lost(&mut r.outbox);
        self.apply(now);
        if self.config.hangup_clients && self.config.mode == Mode::Persistent && !asked {
            log::info!("closing every client: the debugger went away (--hangup-clients)");
            self.clients
                .close_row(row, "the debugger went away", self.poll.registry(), now);
            self.apply(now);
        }
        self.report_status();
        let ended = self
            .rows
            .get_mut(row)
            .and_then(|r| r.debugger.backend.stream_ended(now));
        if let Some(code) = ended {
            self.session_over(row, code, now);
        }
    }

    /// `row`'s debugger session has ended for good (for a child: reaped too).
    /// Session mode ends with it: with one row, the proxy's debug session is
    /// that row's. (With several, this is where a rule would choose: a row
    /// could go, and the proxy end with its last one.)
    pub(super) fn session_over(&mut self, row: RowId, code: u8, now: Instant) {
        // DBGp proxy mode: a row per engine key, which the mode keeps.
        if self.dbgp.is_some() {
            return self.dbgp_engine_over(row, now);
        }
        match self.lifecycle.after_loss(now, code) {
            AfterLoss::Reconnect => {
                log::log!(
                    self.lifecycle_level(row),
                    "persistent mode: waiting for the next debugger"
                );
                self.start_backend(row, now);
            }
            // The disconnect line said it.
            AfterLoss::Drain => log::debug!("session mode: the debug session is over"),
        }
    }

    /// Adds a row made while the proxy runs, built by `make` for the id it
    /// will have (its tokens derive from it), and starts its backend.
    pub(super) fn add_row(
        &mut self,
        make: impl FnOnce(RowId, &mio::Registry) -> anyhow::Result<Row>,
        now: Instant,
    ) -> anyhow::Result<RowId> {
        let id = self.rows.vacant();
        let row = make(id, self.poll.registry())?;
        log::debug!("row {id} added ({})", row.name);
        self.rows.insert(row);
        self.start_backend(id, now);
        self.report_status();
        Ok(id)
    }

    /// Takes `row` out of the table: its clients get what is queued for them
    /// and are closed with `why`, its link is closed (deregistered), and its
    /// backend dropped (a listener closed, a child stopped), so that none of
    /// its tokens is registered any more.
    pub(super) fn remove_row(&mut self, row: RowId, why: &str, now: Instant) {
        self.clients.close_row(row, why, self.poll.registry(), now);
        self.apply(now);
        self.clients.forget_row(row);
        if let Some(mut r) = self.rows.remove(row) {
            log::info!("{}: session removed: {why}", r.debugger.backend.describe());
            r.debugger.flush_and_close(self.poll.registry());
        }
        self.report_status();
    }
}
