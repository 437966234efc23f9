//! Who may reach the debugger. A debugger runs whatever its client asks, as
//! the debuggee's user, so a connection is judged when it is accepted, before
//! it joins the session:
//!
//! 1. A local client (TCP from this host, or a Unix socket) whose socket
//!    belongs to the proxy's own uid, or to one `--allow-users` lists, is let
//!    in. TCP peers are looked up in the kernel's socket table (`diag.rs`,
//!    else `proc_net.rs`); Unix peers by `SO_PEERCRED`.
//! 2. Anyone else must send the token first, if there is a `--token-file`
//!    (`token.rs`).
//! 3. Without a token, a remote client is let in only with `--insecure-open`;
//!    a local one of another uid, or one whose socket is already closed so
//!    that its owner cannot be told, is refused.
//!
//! `--allow-users any` without a token skips the lookup: everyone who can
//! reach the listener is let in. The event loop never sees any of this: the
//! client table (`proxy/clients/admit.rs`) asks `Policy::decide` and acts on it.

pub mod diag;
mod peer;
pub mod proc_net;
pub mod token;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub use peer::{Lookup, own_uid, unix_peer};
use token::Secret;

/// Whose socket is at the other end of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// A local socket of this uid.
    Uid(u32),
    /// A local socket already closed by its owner: whose it was cannot be told.
    Gone,
    /// No such socket on this host.
    Remote,
}

/// One accepted TCP connection, both ends canonical (IPv4-mapped as IPv4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Query {
    pub ours: SocketAddr,
    pub peer: SocketAddr,
}

impl Query {
    pub fn new(ours: SocketAddr, peer: SocketAddr) -> Query {
        let canonical = |a: SocketAddr| SocketAddr::new(a.ip().to_canonical(), a.port());
        Query {
            ours: canonical(ours),
            peer: canonical(peer),
        }
    }
}

/// `--allow-users`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Allowed {
    Any,
    /// These, besides the proxy's own uid.
    Uids(Vec<u32>),
    /// No uid, not even the proxy's own: everyone sends the token (for
    /// hosts where everything runs as one user, e.g. root in a container).
    Nobody,
}

/// Everything the command line says about access.
#[derive(Clone, Debug)]
pub struct Policy {
    pub allowed: Allowed,
    pub own_uid: u32,
    pub token: Option<Secret>,
    /// Re-read on SIGHUP, so a token can be replaced without a restart.
    pub token_file: Option<PathBuf>,
    pub token_timeout: Duration,
    pub insecure_open: bool,
}

/// How a client got in (`status` shows it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// Its uid is allowed.
    Uid,
    /// It sent the token.
    Token,
    /// A remote client under `--insecure-open`.
    Open,
    /// `--allow-users any`: not looked up.
    Unchecked,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Admit(Via),
    AskToken,
    Refuse(Refusal),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    OtherUid(u32),
    Unidentified,
    Remote,
    NoToken,
    BadToken,
    TokenTimeout,
    /// More clients waiting to send the token than `--max-clients`.
    TooManyWaiting,
}

impl Policy {
    /// Whether TCP peers must be looked up at all.
    pub fn needs_lookup(&self) -> bool {
        self.allowed != Allowed::Any || self.token.is_some()
    }

    pub fn allows(&self, uid: u32) -> bool {
        match &self.allowed {
            Allowed::Any => true,
            Allowed::Uids(uids) => uid == self.own_uid || uids.contains(&uid),
            Allowed::Nobody => false,
        }
    }

    /// What to do with a client whose socket's owner is `owner` (`None`: not
    /// looked up, see `needs_lookup`).
    pub fn decide(&self, owner: Option<Owner>) -> Verdict {
        match owner {
            None => Verdict::Admit(Via::Unchecked),
            Some(Owner::Uid(uid)) if self.allows(uid) => Verdict::Admit(Via::Uid),
            Some(_) if self.token.is_some() => Verdict::AskToken,
            Some(Owner::Remote) if self.insecure_open => Verdict::Admit(Via::Open),
            Some(Owner::Uid(uid)) => Verdict::Refuse(Refusal::OtherUid(uid)),
            Some(Owner::Gone) => Verdict::Refuse(Refusal::Unidentified),
            Some(Owner::Remote) => Verdict::Refuse(Refusal::Remote),
        }
    }
}

impl Refusal {
    /// Why, for the log line; says what would let the client in.
    pub fn describe(self, policy: &Policy) -> String {
        match self {
            Refusal::OtherUid(uid) => format!(
                "its socket belongs to uid {uid}, not to this proxy's user ({}); \
                 `--allow-users {uid}` would let it in",
                policy.own_uid
            ),
            Refusal::Unidentified => "its socket was closed before its owner could be told \
                (a local client must be identifiable)"
                .into(),
            Refusal::Remote => {
                "it is not on this host, and there is no --token-file for remote clients".into()
            }
            Refusal::NoToken => "it did not send `dbgproxy-token <token>` first".into(),
            Refusal::BadToken => "wrong token".into(),
            Refusal::TokenTimeout => format!(
                "no token within {}ms (--token-timeout)",
                policy.token_timeout.as_millis()
            ),
            Refusal::TooManyWaiting => {
                "too many clients waiting to send the token (--max-clients)".into()
            }
        }
    }

    /// The line a client refused during the handshake is sent; others are
    /// closed without a word.
    pub fn reply(self, policy: &Policy) -> Option<String> {
        let why = match self {
            Refusal::NoToken => {
                "send `dbgproxy-token <token>` and a newline before anything else".to_string()
            }
            Refusal::BadToken => "wrong token".into(),
            Refusal::TokenTimeout => {
                format!("no token within {}ms", policy.token_timeout.as_millis())
            }
            _ => return None,
        };
        Some(format!("dbgproxy: access refused: {why}\n"))
    }
}

/// Refusals by reason, for `status`.
#[derive(Default, Debug)]
pub struct Counters {
    pub other_uid: u64,
    pub unidentified: u64,
    pub remote: u64,
    pub no_token: u64,
    pub bad_token: u64,
    pub token_timeout: u64,
    pub too_many_waiting: u64,
    pub admitted_by_token: u64,
}

impl Counters {
    pub fn count(&mut self, refusal: Refusal) {
        *match refusal {
            Refusal::OtherUid(_) => &mut self.other_uid,
            Refusal::Unidentified => &mut self.unidentified,
            Refusal::Remote => &mut self.remote,
            Refusal::NoToken => &mut self.no_token,
            Refusal::BadToken => &mut self.bad_token,
            Refusal::TokenTimeout => &mut self.token_timeout,
            Refusal::TooManyWaiting => &mut self.too_many_waiting,
        } += 1;
    }

    pub fn total(&self) -> u64 {
        self.other_uid
            + self.unidentified
            + self.remote
            + self.no_token
            + self.bad_token
            + self.token_timeout
            + self.too_many_waiting
    }
}

/// Keeps a flood of refused connections from flooding the log: at most
/// `BURST` lines per `WINDOW`, the rest at debug level, and the next line
/// says how many were not shown.
pub struct RefusalLog {
    window_start: Option<Instant>,
    shown: u32,
    hidden: u64,
}

impl RefusalLog {
    const BURST: u32 = 10;
    const WINDOW: Duration = Duration::from_secs(10);

    pub fn new() -> RefusalLog {
        RefusalLog {
            window_start: None,
            shown: 0,
            hidden: 0,
        }
    }

    pub fn log(&mut self, now: Instant, level: log::Level, line: &str) {
        if self.window_start.is_none_or(|s| now >= s + Self::WINDOW) {
            self.window_start = Some(now);
            self.shown = 0;
        }
        if self.shown >= Self::BURST {
            self.hidden += 1;
            log::debug!("{line}");
            return;
        }
        self.shown += 1;
        if self.hidden > 0 {
            log::log!(
                level,
                "{line} ({} more refusals before this one were logged at debug level)",
                std::mem::take(&mut self.hidden)
            );
        } else {
            log::log!(level, "{line}");
        }
    }
}

impl Default for RefusalLog {
    fn default() -> Self {
        Self::new()
    }
}

/// Parses `--allow-users` values: `any`, `none`, or uids and user names.
pub fn parse_users(values: &[String]) -> Result<Allowed, String> {
    let items: Vec<&str> = values
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|i| !i.is_empty())
        .collect();
    for word in ["any", "none"] {
        if items.contains(&word) && items.len() > 1 {
            return Err(format!("--allow-users {word} stands alone"));
        }
    }
    let mut uids = Vec::new();
    for item in items {
        match item {
            "any" => return Ok(Allowed::Any),
            "none" => return Ok(Allowed::Nobody),
            _ => {}
        }
        let uid = match item.parse::<u32>() {
            Ok(uid) => uid,
            Err(_) => uid_of(item).ok_or_else(|| {
                format!("--allow-users: no user named {item:?} (give a uid, a name, or `any`)")
            })?,
        };
        uids.push(uid);
    }
    Ok(Allowed::Uids(uids))
}

fn uid_of(name: &str) -> Option<u32> {
    let name = std::ffi::CString::new(name).ok()?;
    // SAFETY: a zeroed passwd is a valid out-parameter for getpwnam_r.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; `buf` outlives it and its
    // length is passed.
    let rc = unsafe {
        libc::getpwnam_r(
            name.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    (rc == 0 && !result.is_null()).then_some(pwd.pw_uid)
}

#[cfg(test)]
mod tests;
