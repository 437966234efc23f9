//! A CDP client's HTTP request on the proxy's client port: the head parsed
//! with httparse, then what it asks for ([`route`]): discovery (`/json`,
//! `/json/list`, `/json/version`, `/json/protocol`), a WebSocket upgrade on
//! the listed path, or a refusal. The answers are in `discovery.rs`.
//!
//! Node's rules are kept where a client could see them (CDP.md): the path
//! match (`/json` segments in any case, a trailing `/` or more segments
//! after a known one still match, a query does not), GET only, and the Host
//! check, which is node's `IsAllowedHost` to the letter, against DNS
//! rebinding. Two additions: a foreign web site's `Origin` is refused on
//! every request (node checks none), and a listener with a token wants it
//! as the path's first segment (DevTools cannot send headers), on discovery
//! too, so that no `/json` answer carries it to a caller who did not.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::access::token::Secret;

/// A request head longer than this is refused (node's parser allows 80
/// KiB; no CDP client sends more than a few hundred bytes).
pub const MAX_HEAD: usize = 16 * 1024;
const MAX_HEADERS: usize = 64;

/// The parts of a request head the proxy acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The request target as sent (path and query).
    pub path: String,
    pub host: Host,
    pub origin: Option<String>,
    /// `Upgrade: websocket` and `Connection: upgrade`.
    pub upgrade: bool,
    pub ws_key: Option<String>,
    /// Bytes of the head, blank line included; what follows is not HTTP.
    pub head_len: usize,
}

/// The `Host` header(s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Absent,
    One(String),
    Several,
}

/// A head that cannot be answered: the 400 and a close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub String);

/// Parses the request head at the start of `buf`: `Ok(None)` until it is
/// complete (read more), an error once it is malformed or over
/// [`MAX_HEAD`].
pub fn parse_request(buf: &[u8]) -> Result<Option<Request>, Malformed> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) if n <= MAX_HEAD => n,
        Ok(_) if buf.len() > MAX_HEAD => {
            return Err(Malformed(format!("a request head over {MAX_HEAD} bytes")));
        }
        Ok(_) => return Ok(None),
        Err(e) => return Err(Malformed(format!("malformed HTTP request: {e}"))),
    };
    let mut host = Host::Absent;
    let mut origin = None;
    let (mut upgrade, mut connection, mut ws_key) = (false, false, None);
    for h in req.headers.iter() {
        let Ok(value) = std::str::from_utf8(h.value) else {
            return Err(Malformed(format!("header {} is not UTF-8", h.name)));
        };
        let value = value.trim();
        let has = |token: &str| {
            value
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case(token))
        };
        match h.name.to_ascii_lowercase().as_str() {
            "host" => {
                host = match host {
                    Host::Absent => Host::One(value.to_owned()),
                    _ => Host::Several,
                }
            }
            "origin" => origin = Some(value.to_owned()),
            "upgrade" => upgrade |= has("websocket"),
            "connection" => connection |= has("upgrade"),
            "sec-websocket-key" if !value.is_empty() => ws_key = Some(value.to_owned()),
            _ => {}
        }
    }
    Ok(Some(Request {
        // httparse returns Complete only with the method and path parsed.
        method: req.method.unwrap_or_default().to_owned(),
        path: req.path.unwrap_or_default().to_owned(),
        host,
        origin,
        upgrade: upgrade && connection,
        ws_key,
        head_len,
    }))
}

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET /json` or `/json/list`: the targets.
    List,
    Version,
    Protocol,
    /// A WebSocket upgrade on the listed path, with its key.
    Upgrade {
        key: String,
    },
}

/// Why a request is refused; `discovery::refusal` makes the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not something the proxy serves (another method, path or `/json/*`,
    /// a query, an upgrade without a key): node's 400.
    NotServed,
    /// A Host that is not localhost or an IP literal: node's 400.
    Host(String),
    /// An Origin that is a foreign web site: 403.
    Origin(String),
    /// The listener's token is missing or wrong: 403.
    Token,
    /// An upgrade on a path that is not listed: 404.
    NoTarget(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NotServed => f.write_str("not a CDP discovery or WebSocket request"),
            Refusal::Host(h) => write!(f, "Host {h:?} is not localhost or an IP address"),
            Refusal::Origin(o) => write!(f, "Origin {o:?} is a foreign web site"),
            Refusal::Token => f.write_str("the listener's token is missing from the path"),
            Refusal::NoTarget(p) => write!(f, "no target at {p:?}: GET /json/list"),
        }
    }
}

/// Classifies `req`. `target` is the path the list names (`/` and the
/// target's id); with `token`, every path must start with `/<token>`.
pub fn route(req: &Request, target: &str, token: Option<&Secret>) -> Result<Route, Refusal> {
    match &req.host {
        Host::Several => return Err(Refusal::Host("(two Host headers)".into())),
        Host::One(h) if !host_allowed(h) => return Err(Refusal::Host(h.clone())),
        _ => {}
    }
    if let Some(o) = &req.origin
        && !origin_allowed(o)
    {
        return Err(Refusal::Origin(o.clone()));
    }
    let path = strip_token(&req.path, token)?;
    if req.method != "GET" {
        return Err(Refusal::NotServed);
    }
    if req.upgrade {
        return match &req.ws_key {
            None => Err(Refusal::NotServed),
            Some(_) if path != target => Err(Refusal::NoTarget(path.to_owned())),
            Some(key) => Ok(Route::Upgrade { key: key.clone() }),
        };
    }
    let Some(command) = segment(path, "/json") else {
        return Err(Refusal::NotServed);
    };
    if command.is_empty() || segment(command, "list").is_some() {
        Ok(Route::List)
    } else if segment(command, "version").is_some() {
        Ok(Route::Version)
    } else if segment(command, "protocol").is_some() {
        Ok(Route::Protocol)
    } else {
        Err(Refusal::NotServed)
    }
}

/// Node's `MatchPathSegment`: `path` starts with `expected` in any case,
/// followed by `/` (the rest after it is returned) or by nothing.
fn segment<'a>(path: &'a str, expected: &str) -> Option<&'a str> {
    let n = expected.len();
    let head = path.get(..n)?;
    if !head.eq_ignore_ascii_case(expected) {
        return None;
    }
    match path.as_bytes().get(n) {
        None => Some(""),
        Some(b'/') => Some(&path[n + 1..]),
        Some(_) => None,
    }
}

/// `/<token>/rest` → `/rest`. The token is compared as the raw bytes of
/// the path: one meant for URLs should be URL-safe (hex, base64url).
fn strip_token<'a>(path: &'a str, token: Option<&Secret>) -> Result<&'a str, Refusal> {
    let Some(token) = token else {
        return Ok(path);
    };
    let n = token.reveal().len();
    let presented = path.as_bytes().get(1..1 + n).unwrap_or_default();
    match path.get(1 + n..) {
        Some(rest) if rest.starts_with('/') && token.matches(presented) => Ok(rest),
        _ => Err(Refusal::Token),
    }
}

/// Node's `IsAllowedHost` (src/inspector_socket.cc): after cutting a port
/// (after the last `:` not inside brackets), empty, `localhost` in any
/// case, a dotted-quad IPv4 outside 0.0.0.0/8, or a bracketed IPv6 other
/// than `[::]` and without a zone.
pub fn host_allowed(host_with_port: &str) -> bool {
    let host = match (host_with_port.rfind(':'), host_with_port.rfind(']')) {
        (Some(colon), Some(bracket)) if colon < bracket => host_with_port,
        (Some(colon), _) => &host_with_port[..colon],
        (None, _) => host_with_port,
    };
    if host.is_empty() || host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        // Rust's parser takes no zone (`%lo`) and at most 45 characters.
        return inner.parse::<Ipv6Addr>().is_ok_and(|a| !a.is_unspecified());
    }
    // Rust's parser, like inet_pton, takes only four decimal parts without
    // leading zeros (`127.1` and `0177.0.0.1` are names to a resolver).
    host.parse::<Ipv4Addr>().is_ok_and(|a| a.octets()[0] != 0)
}

/// Whether a WebSocket or discovery request from a page at `origin` may
/// go on: DevTools' own origins (`devtools://devtools`, any
/// `chrome-devtools://`), and http(s) pages on this machine
/// (`localhost`, `127.0.0.1`, `[::1]`, any port). Anything else, `null`
/// included (a sandboxed or file page), is a foreign web site.
pub fn origin_allowed(origin: &str) -> bool {
    let lower = origin.to_ascii_lowercase();
    if lower == "devtools://devtools" || lower.starts_with("chrome-devtools://") {
        return true;
    }
    let Some(authority) = lower
        .strip_prefix("http://")
        .or_else(|| lower.strip_prefix("https://"))
    else {
        return false;
    };
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    };
    matches!(host, "localhost" | "127.0.0.1" | "[::1]")
}

#[cfg(test)]
mod tests;
