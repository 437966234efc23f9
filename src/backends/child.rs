//! One running debugger process of the spawn backend: reaping it without
//! blocking, stopping it with its process group (see `group`), and logging
//! its stderr line by line.

use std::io::{self, Read};
use std::process::{Child, ExitStatus};
use std::time::Instant;

use mio::unix::pipe::Receiver;

use super::group;

/// A stderr line longer than this is logged in pieces rather than buffered.
const MAX_STDERR_LINE: usize = 8 * 1024;

pub(super) struct Running {
    pub child: Child,
    pub stderr: Option<Receiver>,
    stderr_line: Vec<u8>,
    /// The exit status, once reaped.
    pub status: Option<ExitStatus>,
    /// Its stdout reached the end: the proxy dropped the link.
    pub stream_ended: bool,
    /// When to escalate against a child that will not go.
    pub stop_at: Option<Instant>,
    /// Its group was sent SIGTERM.
    pub sent_term: bool,
}

impl Running {
    pub fn new(child: Child) -> Running {
        Running {
            child,
            stderr: None,
            stderr_line: Vec::new(),
            status: None,
            stream_ended: false,
            stop_at: None,
            sent_term: false,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its process group: it leads one of its own (`process_group(0)`).
    pub fn pgid(&self) -> libc::pid_t {
        self.child.id() as libc::pid_t
    }

    /// Reaps it if it has exited. What it left running in its group is told
    /// to go first, while its zombie still reserves the group id.
    pub fn reap(&mut self) {
        if self.status.is_some() {
            return;
        }
        if !self.sent_term && group::exited(self.pid()) {
            self.sent_term = true;
            group::signal(self.pgid(), libc::SIGTERM);
        }
        match self.child.try_wait() {
            Ok(status) => self.status = status,
            Err(e) => log::warn!("cannot check on debugger pid {}: {e}", self.pid()),
        }
    }

    /// SIGTERM to it and its whole group.
    pub fn terminate(&mut self) {
        self.sent_term = true;
        if self.status.is_none() {
            group::signal_leader(self.pid(), libc::SIGTERM);
        }
    }

    /// SIGKILL to it and its group, and reap; blocks only for the kernel to
    /// finish the kill.
    pub fn stop_now(&mut self) {
        if self.status.is_none() {
            group::signal_leader(self.pid(), libc::SIGKILL);
            self.status = self.child.wait().ok();
        }
    }

    /// Logs complete stderr lines; a very long line is logged in pieces.
    pub fn log_stderr(&mut self, program: &str) {
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

    pub fn flush_stderr(&mut self, program: &str) {
        if !self.stderr_line.is_empty() {
            let text = String::from_utf8_lossy(&self.stderr_line).into_owned();
            log::info!("{program} stderr: {}", text.trim_end());
            self.stderr_line.clear();
        }
    }
}
