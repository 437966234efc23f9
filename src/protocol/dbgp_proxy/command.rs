//! One registration connection's command, read as the IDEs send it: each
//! connection carries one `proxyinit` or `proxystop` (DBGp draft 22, 5.3),
//! and the clients disagree on how it ends (see shared/DBGP-PROXY.md):
//! Xdebug's dbgpClient and gedit end it with a NUL, NetBeans and Eclipse
//! send none and wait for EOF (or half-close), VS Code php-debug sends its
//! NUL 500 ms late. So a command ends at a NUL or newline, at EOF, or after
//! a short idle pause once bytes have come; the pause (300 ms) answers
//! php-debug before its late NUL, which then meets a closed socket.
//!
//! A NUL (or blank) before any command is no command: php-debug's timer can
//! write proxyinit's stale NUL into the next connection, its `proxystop`.
//!
//! Sans-I/O: the loop calls `feed`, `half_closed` and, at `deadline()`,
//! `on_timer`; the first `Some` is the connection's one result, and after
//! it the reader says nothing more.

use std::fmt;
use std::time::{Duration, Instant};

use crate::framing::escape;
use crate::protocol::dbgp::command::parse_args;

/// After the last byte of a command with no NUL: long enough for a client
/// that writes one command in a few segments, shorter than php-debug's
/// 500 ms late NUL.
pub const IDLE_PAUSE: Duration = Duration::from_millis(300);
/// Far more than `proxyinit -p 65535 -k KEY -m 1` with any sane key.
pub const MAX_COMMAND: usize = 1024;
/// Longer keys are refused: they end up in logs, replies and status rows.
pub const MAX_KEY: usize = 255;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of one command, its terminator excluded.
    pub max_command: usize,
    /// A command without a NUL ends this long after its last byte.
    pub idle: Duration,
    /// A connection gives up this long after it opened without a whole
    /// command (like `--token-timeout`).
    pub silent: Duration,
}

impl Limits {
    pub fn new(silent: Duration) -> Limits {
        Limits {
            max_command: MAX_COMMAND,
            idle: IDLE_PAUSE,
            silent,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Init,
    Stop,
}

impl Verb {
    pub fn name(self) -> &'static str {
        match self {
            Verb::Init => "proxyinit",
            Verb::Stop => "proxystop",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `proxyinit -p PORT -k KEY [-m 0|1] [-t TOKEN]`: the IDE listens on
    /// PORT of the registering connection's peer address.
    Init {
        port: u16,
        key: String,
        multi: bool,
        token: Option<Presented>,
    },
    /// `proxystop -k KEY [-t TOKEN]`.
    Stop {
        key: String,
        token: Option<Presented>,
    },
}

impl Request {
    pub fn verb(&self) -> Verb {
        match self {
            Request::Init { .. } => Verb::Init,
            Request::Stop { .. } => Verb::Stop,
        }
    }

    pub fn key(&self) -> &str {
        match self {
            Request::Init { key, .. } | Request::Stop { key, .. } => key,
        }
    }

    /// The `-t` given, if any.
    pub fn token(&self) -> Option<&Presented> {
        match self {
            Request::Init { token, .. } | Request::Stop { token, .. } => token.as_ref(),
        }
    }
}

/// The `-t TOKEN` a peer not let in by its uid passes (the extra option
/// stock IDEs can be made to send, see `dbgp_proxy::answer`). Kept out of
/// `Debug` output, hence out of logs, like `access::token::Secret`.
#[derive(Clone, PartialEq, Eq)]
pub struct Presented(pub Box<[u8]>);

impl fmt::Debug for Presented {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Presented(<redacted>)")
    }
}

/// Why a connection brought no usable command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bad {
    /// Closed (or half-closed) before any command: nothing to answer.
    Nothing,
    /// Not a command at all; the bytes, escaped for a log.
    Garbage(String),
    /// A command this port does not serve.
    Unknown(String),
    MissingKey(Verb),
    MissingPort {
        key: String,
    },
    BadPort {
        key: String,
        value: String,
    },
    /// Any other fault in a known command's options.
    BadOption {
        verb: Verb,
        key: Option<String>,
        what: String,
    },
    TooLong {
        limit: usize,
    },
    /// No whole command within `Limits::silent`.
    Silent {
        received: usize,
        waited: Duration,
    },
}

impl Bad {
    /// The command the answer is about, when it was one this port serves.
    pub fn verb(&self) -> Option<Verb> {
        match self {
            Bad::MissingKey(v) | Bad::BadOption { verb: v, .. } => Some(*v),
            Bad::MissingPort { .. } | Bad::BadPort { .. } => Some(Verb::Init),
            _ => None,
        }
    }

    pub fn key(&self) -> Option<&str> {
        match self {
            Bad::MissingPort { key } | Bad::BadPort { key, .. } => Some(key),
            Bad::BadOption { key, .. } => key.as_deref(),
            _ => None,
        }
    }
}

impl fmt::Display for Bad {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bad::Nothing => write!(f, "closed without a command"),
            Bad::Garbage(text) => write!(f, "not a DBGp proxy command: \"{text}\""),
            Bad::Unknown(name) => write!(
                f,
                "unknown command \"{name}\": this port serves proxyinit and proxystop"
            ),
            Bad::MissingKey(v) => write!(f, "{} without an idekey (-k)", v.name()),
            Bad::MissingPort { .. } => write!(f, "proxyinit without the IDE's port (-p)"),
            Bad::BadPort { value, .. } => {
                write!(f, "proxyinit: the port (-p) \"{value}\" is not 1 to 65535")
            }
            Bad::BadOption { verb, what, .. } => write!(f, "{}: {what}", verb.name()),
            Bad::TooLong { limit } => write!(f, "a command longer than {limit} bytes"),
            Bad::Silent { received, waited } => write!(
                f,
                "no whole command within {:.1} s ({received} bytes)",
                waited.as_secs_f64()
            ),
        }
    }
}

pub type Read = Result<Request, Bad>;

#[derive(Debug)]
pub struct Reader {
    limits: Limits,
    opened: Instant,
    buf: Vec<u8>,
    /// When the last byte of the command so far came.
    last: Option<Instant>,
    done: bool,
}

impl Reader {
    pub fn new(limits: Limits, now: Instant) -> Reader {
        Reader {
            limits,
            opened: now,
            buf: Vec::new(),
            last: None,
            done: false,
        }
    }

    pub fn feed(&mut self, bytes: &[u8], now: Instant) -> Option<Read> {
        if self.done {
            return None;
        }
        let before = self.buf.len();
        for &b in bytes {
            match b {
                0 | b'\n' | b'\r' | b' ' | b'\t' if self.buf.is_empty() => {}
                0 | b'\n' => return self.finish(parse(&self.buf)),
                _ if self.buf.len() >= self.limits.max_command => {
                    let limit = self.limits.max_command;
                    return self.finish(Err(Bad::TooLong { limit }));
                }
                _ => self.buf.push(b),
            }
        }
        if self.buf.len() > before {
            self.last = Some(now);
        }
        None
    }

    /// EOF, or the peer shut down its writing side: what came is the command.
    pub fn half_closed(&mut self, _now: Instant) -> Option<Read> {
        if self.done {
            return None;
        }
        if self.buf.is_empty() {
            return self.finish(Err(Bad::Nothing));
        }
        self.finish(parse(&self.buf))
    }

    /// When `on_timer` has something to do; `None` once the reader is done.
    pub fn deadline(&self) -> Option<Instant> {
        if self.done {
            return None;
        }
        let overall = self.opened + self.limits.silent;
        Some(match self.last {
            Some(t) => (t + self.limits.idle).min(overall),
            None => overall,
        })
    }

    pub fn on_timer(&mut self, now: Instant) -> Option<Read> {
        if self.done {
            return None;
        }
        if self.last.is_some_and(|t| now >= t + self.limits.idle) {
            return self.finish(parse(&self.buf));
        }
        if now >= self.opened + self.limits.silent {
            return self.finish(Err(Bad::Silent {
                received: self.buf.len(),
                waited: now.saturating_duration_since(self.opened),
            }));
        }
        None
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    fn finish(&mut self, read: Read) -> Option<Read> {
        self.done = true;
        self.buf = Vec::new();
        Some(read)
    }
}

/// One command, its terminator gone; options in any order, values quoted or
/// not, as DBGp's own commands (`protocol::dbgp::command`). No message built
/// here quotes a `-t` value.
pub fn parse(text: &[u8]) -> Read {
    let text = text.trim_ascii();
    let name_end = text.iter().position(|&b| b == b' ').unwrap_or(text.len());
    let name = &text[..name_end];
    if name.is_empty() || !name.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'_') {
        // Its first word only: whatever follows may hold a `-t` token.
        let word = text.split(u8::is_ascii_whitespace).next().unwrap_or(text);
        return Err(Bad::Garbage(escape(word, 48)));
    }
    let verb = match name {
        b"proxyinit" => Verb::Init,
        b"proxystop" => Verb::Stop,
        _ => return Err(Bad::Unknown(escape(name, 32))),
    };
    let bad = |key: Option<&str>, what: String| Bad::BadOption {
        verb,
        key: key.map(str::to_owned),
        what,
    };
    // Data after `--` and options this port does not use are ignored.
    let (args, _data) = parse_args(text, name_end).map_err(|what| bad(None, what))?;
    let one = |opt: u8| -> Result<Option<&[u8]>, Bad> {
        let mut values = args.iter().filter(|a| a.opt == opt);
        let first = values.next().map(|a| &a.value[..]);
        match values.next() {
            Some(_) => Err(bad(None, format!("-{} given twice", opt as char))),
            None => Ok(first),
        }
    };
    let key = one(b'k')?;
    let port = one(b'p')?;
    let multi = one(b'm')?;
    let token = one(b't')?.map(|t| Presented(t.into()));
    let key = match key {
        None => return Err(Bad::MissingKey(verb)),
        Some(k) => idekey(k).map_err(|what| bad(None, what))?,
    };
    if verb == Verb::Stop {
        return Ok(Request::Stop { key, token });
    }
    let multi = match multi {
        None | Some(b"0") => false,
        Some(b"1") => true,
        Some(v) => {
            let what = format!("-m is 0 or 1, not \"{}\"", escape(v, 16));
            return Err(bad(Some(&key), what));
        }
    };
    let Some(port) = port else {
        return Err(Bad::MissingPort { key });
    };
    match std::str::from_utf8(port).ok().and_then(port_number) {
        Some(port) => Ok(Request::Init {
            port,
            key,
            multi,
            token,
        }),
        None => Err(Bad::BadPort {
            key,
            value: escape(port, 16),
        }),
    }
}

fn port_number(s: &str) -> Option<u16> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|&p| p != 0)
}

/// A key goes into XML, logs and status rows: UTF-8, no control characters.
fn idekey(k: &[u8]) -> Result<String, String> {
    if k.is_empty() {
        return Err("an empty idekey (-k)".into());
    }
    if k.len() > MAX_KEY {
        return Err(format!("an idekey (-k) longer than {MAX_KEY} bytes"));
    }
    match std::str::from_utf8(k) {
        Ok(s) if !s.chars().any(char::is_control) => Ok(s.to_owned()),
        _ => Err(format!(
            "an idekey (-k) with control characters or not UTF-8: \"{}\"",
            escape(k, 32)
        )),
    }
}
