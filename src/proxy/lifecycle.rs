//! When the proxy prints its ready marker, and when it stops.
//!
//! The rules live here rather than in the event loop so that they can be read
//! in one place: the marker is printed once per process; losing the debugger
//! ends a `session` proxy and makes a `persistent` one wait for the next;
//! `--idle-timeout` ends any proxy that has had nobody on either side for that
//! long; a first SIGTERM/SIGINT drains, a second one ends at once.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::config::Mode;
use crate::process::daemon::ReadySink;
use crate::process::systemd::Notifier;

/// The bytes the IDE waits for on stdout (Cloud9's convention: "ß\n").
pub const READY_MARKER: &[u8] = "ß\n".as_bytes();

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Running,
    /// Stop accepting and reading; deliver what is queued to clients until the
    /// deadline, then stop with `code`.
    Draining {
        deadline: Instant,
        code: u8,
    },
    Done {
        code: u8,
    },
}

/// What asked the proxy to stop.
#[derive(Debug, Clone, Copy)]
pub enum StopBy {
    /// SIGTERM or SIGINT.
    Signal(&'static str),
    /// `dbgproxy stop`, through the control socket.
    Request,
}

/// What the proxy does after the debugger went away.
#[derive(Debug, PartialEq, Eq)]
pub enum AfterLoss {
    Reconnect,
    Drain,
}

pub struct Lifecycle {
    sink: Option<ReadySink>,
    /// systemd's notification socket, when running as a `Type=notify` service.
    notifier: Option<Notifier>,
    mode: Mode,
    drain_timeout: Duration,
    idle_timeout: Option<Duration>,
    idle_since: Option<Instant>,
    marker_printed: bool,
    phase: Phase,
}

impl Lifecycle {
    pub fn new(mode: Mode, drain_timeout: Duration, idle_timeout: Option<Duration>) -> Self {
        Lifecycle {
            sink: Some(ReadySink::Stdout),
            notifier: None,
            mode,
            drain_timeout,
            idle_timeout,
            idle_since: None,
            marker_printed: false,
            phase: Phase::Running,
        }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn running(&self) -> bool {
        self.phase == Phase::Running
    }

    /// Called whenever the proxy becomes ready (clients can connect and the
    /// debugger is reachable). Prints the marker the first time only.
    pub fn ready(&mut self) {
        if self.marker_printed {
            return;
        }
        self.marker_printed = true;
        let written = match self.sink.take() {
            Some(ReadySink::Stdout) => {
                let mut out = std::io::stdout().lock();
                out.write_all(READY_MARKER).and_then(|()| out.flush())
            }
            // Closing the pipe after the marker lets the parent go.
            Some(ReadySink::Pipe(mut pipe)) => pipe.write_all(READY_MARKER),
            None => Ok(()),
        };
        if let Err(e) = written {
            // The IDE that started us may be gone; the proxy still serves.
            log::warn!("cannot write the ready marker: {e}");
        }
        if let Some(n) = &self.notifier {
            n.send("READY=1");
        }
    }

    /// Tells systemd about readiness, state and shutdown from now on.
    pub fn notify_systemd(&mut self, notifier: Notifier) {
        self.notifier = Some(notifier);
    }

    /// A `STATUS=` line for systemd (`systemctl status` shows it), such as
    /// "debugger connected, 2 clients". Built only when systemd listens: it
    /// is asked on every client connect and leave.
    pub fn status(&self, debugger: bool, clients: usize) {
        if let Some(n) = &self.notifier {
            let debugger = if debugger {
                "debugger connected"
            } else {
                "no debugger"
            };
            let s = if clients == 1 { "" } else { "s" };
            n.send(&format!("STATUS={debugger}, {clients} client{s}"));
        }
    }

    /// Sends the marker somewhere else than stdout (before it is printed).
    pub fn send_marker_to(&mut self, sink: ReadySink) {
        self.sink = Some(sink);
    }

    /// The debugger session ended; `code` is the exit code a session-mode
    /// proxy should end with (a spawned debugger's failure is the proxy's).
    pub fn after_loss(&mut self, now: Instant, code: u8) -> AfterLoss {
        match self.mode {
            Mode::Persistent => AfterLoss::Reconnect,
            Mode::OneSession => {
                self.drain(now, code);
                AfterLoss::Drain
            }
        }
    }

    /// A termination signal (or a `stop` request): the first drains, the
    /// second ends at once.
    pub fn on_signal(&mut self, now: Instant, by: StopBy) {
        match self.phase {
            Phase::Running => {
                match by {
                    StopBy::Signal(name) => {
                        log::info!("{name}: shutting down (send it again to stop at once)")
                    }
                    StopBy::Request => log::info!(
                        "stop request (dbgproxy stop): shutting down (another stop, or SIGTERM, ends it at once)"
                    ),
                }
                self.drain(now, 0);
            }
            Phase::Draining { code, .. } => {
                let name = match by {
                    StopBy::Signal(name) => name,
                    StopBy::Request => "stop request",
                };
                log::info!("{name} again: stopping now");
                self.phase = Phase::Done { code };
            }
            Phase::Done { .. } => {}
        }
    }

    pub fn drain(&mut self, now: Instant, code: u8) {
        if self.phase == Phase::Running {
            self.phase = Phase::Draining {
                deadline: now + self.drain_timeout,
                code,
            };
            if let Some(n) = &self.notifier {
                n.send("STOPPING=1");
            }
        }
    }

    /// Draining is over: everything was delivered, or the deadline passed.
    pub fn drained(&mut self) {
        if let Phase::Draining { code, .. } = self.phase {
            self.phase = Phase::Done { code };
        }
    }

    /// Tracks whether anybody is on either side; ends the proxy when nobody has
    /// been for `--idle-timeout`.
    pub fn track_idle(&mut self, now: Instant, clients: usize, debugger_up: bool) {
        let Some(timeout) = self.idle_timeout else {
            return;
        };
        if clients > 0 || debugger_up || !self.running() {
            self.idle_since = None;
            return;
        }
        let since = *self.idle_since.get_or_insert(now);
        if now >= since + timeout {
            log::info!(
                "no client and no debugger for {}s (--idle-timeout): exiting",
                timeout.as_secs()
            );
            self.phase = Phase::Done { code: 0 };
        }
    }

    /// The earliest moment the lifecycle needs the loop to wake up.
    pub fn deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Draining { deadline, .. } => Some(deadline),
            Phase::Running => Some(self.idle_since? + self.idle_timeout?),
            Phase::Done { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_mode_drains_and_persistent_reconnects() {
        let now = Instant::now();
        let mut s = Lifecycle::new(Mode::OneSession, Duration::from_secs(1), None);
        assert_eq!(s.after_loss(now, 0), AfterLoss::Drain);
        assert!(matches!(s.phase(), Phase::Draining { code: 0, .. }));
        let mut p = Lifecycle::new(Mode::Persistent, Duration::from_secs(1), None);
        assert_eq!(p.after_loss(now, 1), AfterLoss::Reconnect);
        assert!(p.running());
    }

    #[test]
    fn a_second_signal_stops_at_once() {
        let now = Instant::now();
        let mut l = Lifecycle::new(Mode::OneSession, Duration::from_secs(1), None);
        l.on_signal(now, StopBy::Signal("SIGTERM"));
        assert_eq!(l.deadline(), Some(now + Duration::from_secs(1)));
        l.on_signal(now, StopBy::Signal("SIGTERM"));
        assert_eq!(l.phase(), Phase::Done { code: 0 });
    }

    #[test]
    fn idle_counts_only_while_nobody_is_there() {
        let t0 = Instant::now();
        let mut l = Lifecycle::new(
            Mode::Persistent,
            Duration::from_secs(1),
            Some(Duration::from_secs(5)),
        );
        l.track_idle(t0, 0, false);
        assert_eq!(l.deadline(), Some(t0 + Duration::from_secs(5)));
        l.track_idle(t0 + Duration::from_secs(4), 1, false);
        assert_eq!(l.deadline(), None);
        let t1 = t0 + Duration::from_secs(6);
        l.track_idle(t1, 0, false);
        l.track_idle(t1 + Duration::from_secs(4), 0, false);
        assert!(l.running());
        l.track_idle(t1 + Duration::from_secs(5), 0, false);
        assert_eq!(l.phase(), Phase::Done { code: 0 });
    }
}
