//! The spawn backend (gdb-style): start the debugger command and talk to it
//! over its stdin and stdout; its stderr is logged, never mixed in.
//!
//! A debug session ends when the child has exited *and* its stdout is read to
//! the end, in whichever order the two arrive: the exit status decides the
//! proxy's own exit code in session mode, and nothing the debugger wrote
//! before exiting is lost. A child that closes its stdout but does not exit
//! is stopped (SIGTERM, then SIGKILL). Whenever the backend is dropped — a
//! clean exit, an error, a panic — the child is stopped and reaped. Stopping
//! always means the child's whole process group (`group`): what the debugger
//! started goes with it, also when the debugger exits by itself.
//!
//! In persistent mode a child that exits within `backoff::STABLE` of starting
//! is restarted after a growing pause (1 s, doubling up to 5 s), reported
//! once; a child that ran longer is restarted at once, and so is one the
//! proxy stopped to start a new debug session (`restart`).

use std::io;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::anyhow;
use mio::unix::pipe::{Receiver, Sender};
use mio::{Interest, Registry};

use super::backoff::{self, Backoff, human};
use super::child::Running;
use super::group::{self, Leftovers};
use super::{Link, Progress};
use crate::config::Config;
use crate::tokens::RowTokens;

/// The first pause before restarting a command that exited (or failed to
/// start) right away; it doubles with each repetition.
const RESTART_INTERVAL: Duration = Duration::from_secs(1);
/// How long a child may stay alive after closing its stdout, or after SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(2);

pub struct Spawner {
    command: Vec<String>,
    cwd: std::path::PathBuf,
    started: u32,
    backoff: Backoff,
    /// Starting the command failed last time (warned once per streak).
    failing: bool,
    child: Option<Running>,
    /// Process groups of debuggers that are gone, told to go too.
    leftovers: Leftovers,
    /// When to (re)start the command, in persistent mode.
    start_at: Option<Instant>,
    /// The proxy stopped the child to start it again: no backing off, and
    /// its end is no warning.
    restarting: bool,
    pub(super) tokens: RowTokens,
}

impl Spawner {
    pub fn new(config: &Config, tokens: RowTokens) -> Spawner {
        Spawner {
            command: config.command.clone(),
            cwd: config.cwd.clone(),
            started: 0,
            backoff: Backoff::new(RESTART_INTERVAL),
            failing: false,
            child: None,
            leftovers: Leftovers::default(),
            start_at: None,
            restarting: false,
            tokens,
        }
    }

    pub fn describe(&self) -> String {
        match &self.child {
            Some(r) => format!("debugger {:?} (pid {})", self.command[0], r.child.id()),
            None => format!("debugger {:?}", self.command[0]),
        }
    }

    /// The running debugger's pid.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|r| r.child.id())
    }

    pub fn start(&mut self, registry: &Registry, now: Instant) -> Progress {
        if std::mem::take(&mut self.restarting) {
            return self.spawn(registry, now);
        }
        match self.backoff.lost(now) {
            None => self.spawn(registry, now),
            Some(wait) => {
                self.report_quick_exit(wait);
                self.start_at = Some(now + wait);
                Progress::Pending
            }
        }
    }

    /// Whether the debugger keeps exiting right after it starts (reported
    /// once already): each repetition is worth a debug line only.
    pub fn flapping(&self) -> bool {
        self.backoff.flapping()
    }

    fn report_quick_exit(&self, wait: Duration) {
        let quick = self.backoff.quick();
        if quick == backoff::REPEATED {
            log::warn!(
                "debugger {:?} exits right after starting ({quick} times in a row); \
                 backing off, restarting it every {}, doubling up to {}",
                self.command[0],
                human(wait),
                human(self.backoff.cap())
            );
        } else {
            log::debug!(
                "debugger {:?} exited right after starting ({quick} in a row): restarting in {}",
                self.command[0],
                human(wait)
            );
        }
    }

    fn spawn(&mut self, registry: &Registry, now: Instant) -> Progress {
        self.start_at = None;
        self.started += 1;
        match self.try_spawn(registry) {
            Ok(link) => {
                self.failing = false;
                self.backoff.up(now);
                link
            }
            Err(e) if self.started == 1 => Progress::Failed(e),
            Err(e) => {
                let wait = self.backoff.quick_loss();
                let level = if self.failing {
                    log::Level::Debug
                } else {
                    log::Level::Warn
                };
                log::log!(level, "{e:#}; trying again in {}", human(wait));
                self.failing = true;
                self.start_at = Some(now + wait);
                Progress::Pending
            }
        }
    }

    fn try_spawn(&mut self, registry: &Registry) -> anyhow::Result<Progress> {
        let program = &self.command[0];
        let mut cmd = Command::new(program);
        cmd.args(&self.command[1..])
            .current_dir(&self.cwd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group: a Ctrl-C at the terminal reaches the
            // proxy, which then stops the debugger in order.
            .process_group(0);
        // SAFETY: prctl is async-signal-safe and touches no memory of ours.
        // If the proxy is killed outright, the debugger goes too: no orphans.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| anyhow!("cannot start debugger {program:?}: {}", plain(&e)))?;
        let pipes = (|| -> io::Result<_> {
            let stdin = Sender::from(child.stdin.take().expect("stdin was piped"));
            let mut stdout = Receiver::from(child.stdout.take().expect("stdout was piped"));
            let mut stderr = Receiver::from(child.stderr.take().expect("stderr was piped"));
            stdin.set_nonblocking(true)?;
            stdout.set_nonblocking(true)?;
            stderr.set_nonblocking(true)?;
            registry.register(&mut stdout, self.tokens.child_stdout(), Interest::READABLE)?;
            registry.register(&mut stderr, self.tokens.child_stderr(), Interest::READABLE)?;
            Ok((stdin, stdout, stderr))
        })();
        let mut running = Running::new(child);
        let (stdin, stdout, stderr) = match pipes {
            Ok(p) => p,
            Err(e) => {
                running.stop_now();
                return Err(anyhow!("cannot set up pipes to debugger {program:?}: {e}"));
            }
        };
        let level = if self.flapping() {
            log::Level::Debug
        } else {
            log::Level::Info
        };
        log::log!(
            level,
            "started debugger {:?} (pid {})",
            self.command.join(" "),
            running.child.id()
        );
        running.stderr = Some(stderr);
        self.child = Some(running);
        Ok(Progress::Up(Link::pipes(stdin, stdout, self.tokens)))
    }

    /// Stops the child (SIGTERM to its group now, SIGKILL after the grace)
    /// so that `start` runs it again at once.
    pub fn restart(&mut self, now: Instant) {
        let Some(running) = self.child.as_mut() else {
            return;
        };
        self.restarting = true;
        running.terminate();
        running.stop_at = Some(now + STOP_GRACE);
    }

    /// The proxy read its stdout to the end: the session is over once the child exits.
    pub fn stream_ended(&mut self, now: Instant) -> Option<u8> {
        let running = self.child.as_mut()?;
        running.stream_ended = true;
        // It may be gone already, its SIGCHLD not yet handled.
        running.reap();
        if running.status.is_none() {
            running.stop_at = Some(now + STOP_GRACE);
            return None;
        }
        self.session_over()
    }

    /// SIGCHLD: reap without blocking.
    pub fn on_child_signal(&mut self) -> Progress {
        let Some(running) = self.child.as_mut() else {
            return Progress::Pending;
        };
        running.reap();
        match running.status {
            Some(status) if running.stream_ended => {
                let why = describe_status(status);
                let code = self.session_over().unwrap_or(1);
                Progress::Ended { code, why }
            }
            // It exited with its stdout still open to us: the proxy reads what
            // is left, then reports the stream's end.
            Some(status) => Progress::Exited {
                why: describe_status(status),
            },
            None => Progress::Pending,
        }
    }

    pub fn on_stderr(&mut self) {
        if let Some(running) = self.child.as_mut() {
            running.log_stderr(&self.command[0]);
        }
    }

    pub fn deadline(&self) -> Option<Instant> {
        let stop = self.child.as_ref().and_then(|r| r.stop_at);
        [
            stop,
            self.start_at,
            self.backoff.deadline(),
            self.leftovers.deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    pub fn on_timer(&mut self, registry: &Registry, now: Instant) -> Progress {
        self.leftovers.on_timer(now);
        if let Some(quick) = self.backoff.on_timer(now)
            && quick >= backoff::REPEATED
        {
            log::info!(
                "debugger {:?} kept running: no longer backing off (after {quick} quick restarts)",
                self.command[0]
            );
        }
        if self.start_at.is_some_and(|t| t <= now) {
            return self.spawn(registry, now);
        }
        let Some(running) = self.child.as_mut() else {
            return Progress::Pending;
        };
        if running.stop_at.is_some_and(|t| t <= now) {
            if running.sent_term {
                log::warn!(
                    "debugger pid {} ignored SIGTERM: killing it",
                    running.child.id()
                );
                running.stop_now();
            } else {
                log::info!(
                    "debugger pid {} closed its output but is still running: sending SIGTERM",
                    running.child.id()
                );
                running.terminate();
                running.stop_at = Some(now + STOP_GRACE);
            }
            return self.on_child_signal();
        }
        Progress::Pending
    }

    /// Exit code for session mode, once the child is reaped and read out.
    fn session_over(&mut self) -> Option<u8> {
        let mut running = self.child.take()?;
        let status = running.status?;
        // Reaping it sent its group SIGTERM: see that nothing stays behind.
        self.leftovers
            .watch(running.pgid(), Instant::now(), STOP_GRACE);
        running.log_stderr(&self.command[0]);
        running.flush_stderr(&self.command[0]);
        // A crash loop is reported once by `report_quick_exit`, not per exit.
        let (code, level) = match (status.success(), self.flapping()) {
            _ if self.restarting => (0, log::Level::Info),
            (_, true) => (u8::from(!status.success()), log::Level::Debug),
            (true, false) => (0, log::Level::Info),
            (false, false) => (1, log::Level::Warn),
        };
        log::log!(
            level,
            "debugger {:?} {}",
            self.command[0],
            describe_status(status)
        );
        Some(code)
    }
}

impl Drop for Spawner {
    /// Stops the debugger and its process group, and any group a previous
    /// debugger left: SIGTERM, up to `STOP_GRACE` for them to go, SIGKILL.
    fn drop(&mut self) {
        let mut groups: Vec<libc::pid_t> = self.leftovers.pgids().collect();
        if let Some(running) = self.child.as_mut() {
            running.reap();
            if running.status.is_none() {
                log::info!(
                    "stopping debugger pid {} and its process group",
                    running.pid()
                );
                running.terminate();
            }
            groups.push(running.pgid());
        }
        let deadline = Instant::now() + STOP_GRACE;
        loop {
            if let Some(running) = self.child.as_mut() {
                running.reap();
            }
            groups.retain(|&g| group::alive(g));
            let leader = self.child.as_mut().filter(|r| r.status.is_none());
            if leader.is_none() && groups.is_empty() {
                return;
            }
            if Instant::now() >= deadline {
                if let Some(running) = leader {
                    log::warn!("debugger pid {} ignored SIGTERM: killing it", running.pid());
                    running.stop_now();
                    let pgid = running.pgid();
                    groups.retain(|&g| g != pgid);
                }
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        for pgid in groups {
            log::warn!(
                "processes the debugger started (group {pgid}) ignored SIGTERM: killing them"
            );
            group::signal(pgid, libc::SIGKILL);
        }
    }
}

/// "exited with status 3" / "was killed by signal 9".
fn describe_status(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(sig)) => format!("was killed by signal {sig}"),
        _ => format!("ended ({status})"),
    }
}

/// An OS error as a person reads it: "No such file or directory", without
/// Rust's "(os error 2)" suffix.
fn plain(e: &io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}
