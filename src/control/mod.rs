//! The control endpoint: a Unix socket per proxy, for `status`, `list` and
//! `stop`.
//!
//! The socket lives in a per-user runtime directory (`$XDG_RUNTIME_DIR/dbgproxy/`,
//! else `/tmp/dbgproxy-$UID/`, made 0700), is named after the client port,
//! has mode 0600, and is removed on exit; a stale one left by a crashed proxy
//! (nothing accepts on it) is replaced. A request is one line (`status`,
//! `stop`), the reply one line of JSON, then the connection closes. The
//! endpoint is part of the event loop, so it never blocks it: requests are
//! bounded in size, connections in number and time.
//!
//! Idle connections cannot lock the owner out: one that has not sent a whole
//! request within `REQUEST_DEADLINE` is closed, and when the table is full a
//! new connection takes the place of the oldest idle one. Before choosing,
//! every idle connection is read, so a request already sent is never lost to
//! an eviction.
//!
//! The server side is this file; the client side, what `dbgproxy status`,
//! `list` and `stop` do, is `commands.rs`. (What `status` reports is put
//! together by the loop's `proxy/status.rs`.)

pub mod commands;

use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use mio::net::{UnixListener, UnixStream};
use mio::{Interest, Registry, Token};
use slab::Slab;

// The control endpoint's tokens (`tokens.rs`): the listener, then its
// connections. At most `MAX_CONNS` connections at once: a new one past this
// evicts the oldest idle one; if none is idle (all are being answered), it is
// closed at once.
use crate::tokens::{
    CONTROL_LISTENER as LISTENER, FIRST_CONTROL_CONN as FIRST_CONN, MAX_CONTROL_CONNS as MAX_CONNS,
};
const MAX_REQUEST: usize = 256;
/// A connection must send its whole request this soon (`dbgproxy` sends it
/// right after connecting)...
const REQUEST_DEADLINE: Duration = Duration::from_secs(1);
/// ...and take its reply within this.
const REPLY_DEADLINE: Duration = Duration::from_secs(5);

/// The per-user directory the sockets live in.
pub fn runtime_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir).join("dbgproxy"),
        // SAFETY: getuid cannot fail.
        _ => PathBuf::from(format!("/tmp/dbgproxy-{}", unsafe { libc::getuid() })),
    }
}

/// The socket of the proxy serving clients on `client_port`.
pub fn socket_path(client_port: u16) -> PathBuf {
    runtime_dir().join(format!("{client_port}.sock"))
}

/// A request from a control client.
pub enum Request {
    Status,
    Stop,
}

pub struct Server {
    path: PathBuf,
    listener: UnixListener,
    conns: Slab<Conn>,
}

struct Conn {
    stream: UnixStream,
    opened: Instant,
    /// It sent a whole request: no longer idle, and never read again.
    asked: bool,
    request: Vec<u8>,
    reply: Vec<u8>,
    sent: usize,
    deadline: Instant,
}

impl Server {
    pub fn bind(client_port: u16, registry: &Registry) -> Result<Server> {
        let dir = runtime_dir();
        make_private_dir(&dir)?;
        let path = socket_path(client_port);
        if path.exists() {
            match std::os::unix::net::UnixStream::connect(&path) {
                Ok(_) => bail!(
                    "control socket {} is in use: another dbgproxy serves clients on port {client_port}",
                    path.display()
                ),
                Err(_) => {
                    log::info!("replacing stale control socket {}", path.display());
                    std::fs::remove_file(&path).with_context(|| {
                        format!("removing stale control socket {}", path.display())
                    })?;
                }
            }
        }
        let mut listener = UnixListener::bind(&path)
            .with_context(|| format!("binding control socket {}", path.display()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("restricting control socket {}", path.display()))?;
        registry.register(&mut listener, LISTENER, Interest::READABLE)?;
        log::debug!("control socket {}", path.display());
        Ok(Server {
            path,
            listener,
            conns: Slab::new(),
        })
    }

    pub fn owns(&self, token: Token) -> bool {
        token == LISTENER || (FIRST_CONN..FIRST_CONN + MAX_CONNS).contains(&token.0)
    }

    /// Handles readiness; returns the requests that are complete, each with
    /// the connection to answer.
    pub fn on_event(
        &mut self,
        token: Token,
        registry: &Registry,
        now: Instant,
    ) -> Vec<(usize, Request)> {
        let mut done = Vec::new();
        if token == LISTENER {
            self.accept(registry, now, &mut done);
            return done;
        }
        let key = token.0 - FIRST_CONN;
        let Some(conn) = self.conns.get_mut(key) else {
            return done;
        };
        if !conn.reply.is_empty() {
            if conn.flush() {
                self.close(key, registry);
            }
            return done;
        }
        self.read(key, registry, now, &mut done);
        done
    }

    /// Reads what an idle connection sent; a whole request goes into `done`.
    fn read(
        &mut self,
        key: usize,
        registry: &Registry,
        now: Instant,
        done: &mut Vec<(usize, Request)>,
    ) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if conn.asked {
            // Its answer comes from the proxy in this turn.
            return;
        }
        match conn.read_request() {
            Ok(Some(line)) => {
                conn.asked = true;
                conn.deadline = now + REPLY_DEADLINE;
                match line.trim() {
                    "status" => done.push((key, Request::Status)),
                    "stop" => done.push((key, Request::Stop)),
                    other => {
                        let msg = serde_json::json!({"error": format!("unknown request {other:?}: try status or stop")});
                        self.reply(key, msg.to_string(), registry);
                    }
                }
            }
            Ok(None) => {}
            Err(e) => {
                log::debug!("control connection: {e}");
                self.close(key, registry);
            }
        }
    }

    /// Sends one line and closes once it is written.
    pub fn reply(&mut self, key: usize, line: String, registry: &Registry) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        conn.reply = line.into_bytes();
        conn.reply.push(b'\n');
        // Written at once, or wait for WRITABLE; close when done or broken.
        let token = Token(FIRST_CONN + key);
        let done = conn.flush()
            || registry
                .reregister(&mut conn.stream, token, Interest::WRITABLE)
                .is_err();
        if done {
            self.close(key, registry);
        }
    }

    pub fn deadline(&self) -> Option<Instant> {
        self.conns.iter().map(|(_, c)| c.deadline).min()
    }

    /// Closes connections that took too long (a client that never asks).
    pub fn on_timer(&mut self, registry: &Registry, now: Instant) {
        let late: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| c.deadline <= now)
            .map(|(k, _)| k)
            .collect();
        for key in late {
            log::debug!("control connection timed out");
            self.close(key, registry);
        }
    }

    fn accept(&mut self, registry: &Registry, now: Instant, done: &mut Vec<(usize, Request)>) {
        loop {
            match self.listener.accept() {
                Ok((mut stream, _)) => {
                    if self.conns.len() >= MAX_CONNS && !self.make_room(registry, now, done) {
                        log::warn!(
                            "refusing a control connection: {MAX_CONNS} already open, all being answered"
                        );
                        continue;
                    }
                    let entry = self.conns.vacant_entry();
                    let token = Token(FIRST_CONN + entry.key());
                    if registry
                        .register(&mut stream, token, Interest::READABLE)
                        .is_ok()
                    {
                        entry.insert(Conn {
                            stream,
                            opened: now,
                            asked: false,
                            request: Vec::new(),
                            reply: Vec::new(),
                            sent: 0,
                            deadline: now + REQUEST_DEADLINE,
                        });
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if crate::net::accept_error_is_transient(&e) => {}
                Err(e) => {
                    log::warn!("control socket: {e}");
                    return;
                }
            }
        }
    }

    /// The table is full: takes what the idle connections sent (a request
    /// already there is answered, not lost), then closes the oldest one that
    /// is still idle. Returns whether a place is free.
    fn make_room(
        &mut self,
        registry: &Registry,
        now: Instant,
        done: &mut Vec<(usize, Request)>,
    ) -> bool {
        let idle: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| !c.asked)
            .map(|(k, _)| k)
            .collect();
        for key in idle {
            self.read(key, registry, now, done);
        }
        let oldest = self
            .conns
            .iter()
            .filter(|(_, c)| !c.asked)
            .min_by_key(|(_, c)| c.opened)
            .map(|(k, _)| k);
        if let Some(key) = oldest {
            log::debug!("control connection table full: closing the oldest idle one");
            self.close(key, registry);
        }
        self.conns.len() < MAX_CONNS
    }

    fn close(&mut self, key: usize, registry: &Registry) {
        if let Some(mut conn) = self.conns.try_remove(key) {
            let _ = registry.deregister(&mut conn.stream);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Conn {
    /// Reads until a whole line; errors on EOF before it or an oversized request.
    fn read_request(&mut self) -> io::Result<Option<String>> {
        let mut buf = [0u8; 256];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return Err(io::Error::other("closed before a whole request")),
                Ok(n) => {
                    self.request.extend_from_slice(&buf[..n]);
                    if let Some(end) = self.request.iter().position(|&b| b == b'\n') {
                        return Ok(Some(
                            String::from_utf8_lossy(&self.request[..end]).into_owned(),
                        ));
                    }
                    if self.request.len() > MAX_REQUEST {
                        return Err(io::Error::other("request too long"));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Writes what it can; true once all is written (or the peer is gone).
    fn flush(&mut self) -> bool {
        while self.sent < self.reply.len() {
            match self.stream.write(&self.reply[self.sent..]) {
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return true,
            }
        }
        true
    }
}

/// Makes `dir` (0700), or makes it private if it exists (`dbgproxy attach`
/// puts its daemons' pidfiles and logs there too).
pub fn make_private_dir(dir: &Path) -> Result<()> {
    match std::fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e).with_context(|| format!("creating {}", dir.display())),
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("making {} private", dir.display()))
}
