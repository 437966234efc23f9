//! The spawn backend (gdb-style): start the debugger command and talk to it
//! over its stdin and stdout; its stderr is logged, never mixed in.
//!
//! A debug session ends when the child has exited *and* its stdout is read to
//! the end, in whichever order the two arrive: the exit status decides the
//! proxy's own exit code in session mode, and nothing the debugger wrote
//! before exiting is lost. A child that closes its stdout but does not exit
//! is stopped (SIGTERM, then SIGKILL). Whenever the backend is dropped — a
//! clean exit, an error, a panic — the child is stopped and reaped.
//!
//! In persistent mode a child that exits within `backoff::STABLE` of starting
//! is restarted after a growing pause (1 s, doubling up to 5 s), reported
//! once; a child that ran longer is restarted at once.

use std::io::{self, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::anyhow;
use mio::unix::pipe::{Receiver, Sender};
use mio::{Interest, Registry};

use super::backoff::{self, Backoff, human};
use super::{CHILD_STDERR, CHILD_STDOUT, Link, Progress};
use crate::config::Config;

/// The first pause before restarting a command that exited (or failed to
/// start) right away; it doubles with each repetition.
const RESTART_INTERVAL: Duration = Duration::from_secs(1);
/// How long a child may stay alive after closing its stdout, or after SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(2);
/// A stderr line longer than this is logged in pieces rather than buffered.
const MAX_STDERR_LINE: usize = 8 * 1024;

pub struct Spawner {
    command: Vec<String>,
    cwd: std::path::PathBuf,
    started: u32,
    backoff: Backoff,
    /// Starting the command failed last time (warned once per streak).
    failing: bool,
    child: Option<Running>,
    /// When to (re)start the command, in persistent mode.
    start_at: Option<Instant>,
}

struct Running {
    child: Child,
    stderr: Option<Receiver>,
    stderr_line: Vec<u8>,
    /// The exit status, once reaped.
    status: Option<ExitStatus>,
    /// Its stdout reached the end: the proxy dropped the link.
    stream_ended: bool,
    /// When to escalate against a child that will not go.
    stop_at: Option<Instant>,
    sent_term: bool,
}

impl Spawner {
    pub fn new(config: &Config) -> Spawner {
        Spawner {
            command: config.command.clone(),
            cwd: config.cwd.clone(),
            started: 0,
            backoff: Backoff::new(RESTART_INTERVAL),
            failing: false,
            child: None,
            start_at: None,
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
            registry.register(&mut stdout, CHILD_STDOUT, Interest::READABLE)?;
            registry.register(&mut stderr, CHILD_STDERR, Interest::READABLE)?;
            Ok((stdin, stdout, stderr))
        })();
        let mut running = Running {
            child,
            stderr: None,
            stderr_line: Vec::new(),
            status: None,
            stream_ended: false,
            stop_at: None,
            sent_term: false,
        };
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
        Ok(Progress::Up(Link::pipes(stdin, stdout)))
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
        [stop, self.start_at, self.backoff.deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    pub fn on_timer(&mut self, registry: &Registry, now: Instant) -> Progress {
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
        running.log_stderr(&self.command[0]);
        running.flush_stderr(&self.command[0]);
        // A crash loop is reported once by `report_quick_exit`, not per exit.
        let (code, level) = match (status.success(), self.flapping()) {
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

impl Running {
    fn reap(&mut self) {
        if self.status.is_some() {
            return;
        }
        match self.child.try_wait() {
            Ok(status) => self.status = status,
            Err(e) => log::warn!("cannot check on debugger pid {}: {e}", self.child.id()),
        }
    }

    fn terminate(&mut self) {
        self.sent_term = true;
        // SAFETY: kill(2) on our own child's pid, which is not reaped yet (so
        // it cannot have been reused).
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
    }

    /// SIGKILL and reap; blocks only for the kernel to finish the kill.
    fn stop_now(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
    }

    /// Logs complete stderr lines; a very long line is logged in pieces.
    fn log_stderr(&mut self, program: &str) {
        let Some(mut stderr) = self.stderr.take() else {
            return;
        };
        let mut buf = [0u8; 4096];
        let open = loop {
            match stderr.read(&mut buf) {
                Ok(0) => break false,
                Ok(n) => self.stderr_line.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break true,
                Err(e) => {
                    log::debug!("debugger stderr: {e}");
                    break false;
                }
            }
            while let Some(end) = self.stderr_line.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.stderr_line.drain(..=end).collect();
                log::info!(
                    "{program} stderr: {}",
                    String::from_utf8_lossy(&line).trim_end()
                );
            }
            if self.stderr_line.len() > MAX_STDERR_LINE {
                self.flush_stderr(program);
            }
        };
        if open {
            self.stderr = Some(stderr);
        }
    }

    fn flush_stderr(&mut self, program: &str) {
        if !self.stderr_line.is_empty() {
            let text = String::from_utf8_lossy(&self.stderr_line).into_owned();
            log::info!("{program} stderr: {}", text.trim_end());
            self.stderr_line.clear();
        }
    }
}

impl Drop for Spawner {
    fn drop(&mut self) {
        let Some(running) = self.child.as_mut() else {
            return;
        };
        running.reap();
        if running.status.is_some() {
            return;
        }
        let pid = running.child.id();
        log::info!("stopping debugger pid {pid}");
        running.terminate();
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            running.reap();
            if running.status.is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        log::warn!("debugger pid {pid} ignored SIGTERM: killing it");
        running.stop_now();
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
