//! The proxy as node's (or Chromium's) CDP client, sans I/O: the
//! `GET /json/list` to send, node's reply read as it arrives (HTTP/1.0,
//! framed by `Content-Length`, the socket possibly left open), the choice
//! of target, and the WebSocket upgrade to it. Each HTTP request is a TCP
//! connection of its own, as node wants. The errors are one line each,
//! saying what answered and what was expected.

use std::net::SocketAddr;
use std::ops::Range;

use serde_json::Value;
use tungstenite::handshake::derive_accept_key;

use super::discovery::Listing;

/// A reply head longer than this is not node's.
const MAX_HEAD: usize = 16 * 1024;
const MAX_HEADERS: usize = 32;

/// A GET for `path` (`/json/list`, `/json/version`, `/json/protocol`) to
/// the debugger at `addr`, whose Host is that IP literal and port: node
/// refuses any other name.
pub fn get_request(addr: SocketAddr, path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\n\r\n").into_bytes()
}

/// A whole HTTP reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    /// Where the body lies in the buffer given to [`parse_reply`].
    pub body: Range<usize>,
}

/// What is wrong with a debugger's reply, or with the lack of one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyError {
    /// Not HTTP: the excerpt of what came instead.
    NotHttp(String),
    /// HTTP, but a body over the bound.
    TooBig(usize),
}

/// Reads the reply at the start of `buf`. `Ok(None)`: read more. `eof`:
/// the debugger closed its end, so a body without `Content-Length` ends
/// here. A reply that is not a 200 is whole once its head is: its body is
/// not needed.
pub fn parse_reply(buf: &[u8], eof: bool, max_body: usize) -> Result<Option<Reply>, ReplyError> {
    let not_http = || ReplyError::NotHttp(excerpt(buf));
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if !eof && buf.len() <= MAX_HEAD => return Ok(None),
        Ok(httparse::Status::Partial) | Err(_) => return Err(not_http()),
    };
    let status = resp.code.unwrap_or_default();
    if status != 200 {
        return Ok(Some(Reply {
            status,
            body: head_len..head_len,
        }));
    }
    let length = resp
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .map(|h| {
            std::str::from_utf8(h.value)
                .ok()?
                .trim()
                .parse::<usize>()
                .ok()
        });
    let end = match length {
        Some(None) => return Err(not_http()),
        Some(Some(n)) if n > max_body => return Err(ReplyError::TooBig(n)),
        Some(Some(n)) if buf.len() - head_len >= n => head_len + n,
        None if buf.len() - head_len > max_body => return Err(ReplyError::TooBig(buf.len())),
        None if eof => buf.len(),
        _ if eof => return Err(not_http()),
        _ => return Ok(None),
    };
    Ok(Some(Reply {
        status,
        body: head_len..end,
    }))
}

/// The log line for a discovery that failed: `reply` is what the GET for
/// `path` got (`Err` also when the debugger closed before answering).
pub fn describe(addr: SocketAddr, path: &str, reply: &Result<Reply, ReplyError>) -> String {
    match reply {
        Ok(r) => format!(
            "{addr} answered HTTP but not {path} ({}): is it node --inspect or chromium \
             --remote-debugging-port?",
            r.status
        ),
        Err(ReplyError::NotHttp(got)) => {
            format!("{addr} did not answer HTTP (got \"{got}\"): expected node --inspect")
        }
        Err(ReplyError::TooBig(n)) => format!("{addr} answered {path} with {n} bytes: too many"),
    }
}

fn excerpt(buf: &[u8]) -> String {
    if buf.is_empty() {
        return "nothing: the connection closed".into();
    }
    crate::framing::escape(&buf[..buf.len().min(48)], 64)
}

/// One entry of `/json/list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub id: String,
    /// `type`: `node`, `page`, `service_worker`, …
    pub kind: String,
    pub title: String,
    pub url: String,
    pub description: String,
    pub favicon_url: Option<String>,
    /// `webSocketDebuggerUrl`: absent when Chromium has the target
    /// attached to a client already.
    pub ws_url: Option<String>,
}

impl Target {
    /// The path of its WebSocket: what follows `ws://host:port`. The proxy
    /// connects to the address it asked, whatever host the URL names.
    pub fn ws_path(&self) -> Option<&str> {
        let rest = self.ws_url.as_deref()?.strip_prefix("ws://")?;
        let path = &rest[rest.find('/')?..];
        Some(path)
    }

    /// How the proxy lists this target to its clients, at its own `path`.
    pub fn listing(&self, path: String) -> Listing {
        Listing {
            path,
            title: self.title.clone(),
            url: self.url.clone(),
            kind: self.kind.clone(),
            description: self.description.clone(),
            favicon_url: self.favicon_url.clone(),
        }
    }
}

/// The targets in a `/json/list` body.
pub fn targets(addr: SocketAddr, body: &[u8]) -> Result<Vec<Target>, String> {
    let bad = |why: String| {
        format!("{addr} answered /json/list with something that is not a target list: {why}")
    };
    let list = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(list)) => list,
        Ok(_) => return Err(bad("not an array".into())),
        Err(e) => return Err(bad(e.to_string())),
    };
    list.iter()
        .map(|t| {
            let field = |k: &str| t.get(k).and_then(Value::as_str).map(str::to_owned);
            Ok(Target {
                id: field("id").ok_or_else(|| bad("a target without an id".into()))?,
                kind: field("type").unwrap_or_default(),
                title: field("title").unwrap_or_default(),
                url: field("url").unwrap_or_default(),
                description: field("description").unwrap_or_default(),
                favicon_url: field("faviconUrl"),
                ws_url: field("webSocketDebuggerUrl"),
            })
        })
        .collect()
}

/// The target to debug. Without `--target`: the first of type `node` or
/// `page` that can be attached (Chromium also lists service workers,
/// iframes, extensions' background pages, which a user rarely means). With
/// it: the target whose id is exactly `wanted`, else the first whose URL
/// contains it, of any type.
pub fn choose<'a>(
    addr: SocketAddr,
    targets: &'a [Target],
    wanted: Option<&str>,
) -> Result<&'a Target, String> {
    let found = match wanted {
        None => targets
            .iter()
            .find(|t| matches!(t.kind.as_str(), "node" | "page") && t.ws_path().is_some()),
        Some(w) => targets
            .iter()
            .find(|t| t.id == w)
            .or_else(|| targets.iter().find(|t| t.url.contains(w))),
    };
    let Some(target) = found else {
        let listed: Vec<String> = targets
            .iter()
            .take(8)
            .map(|t| format!("{} ({}) {}", t.id, t.kind, t.url))
            .collect();
        let what = wanted.map_or("no node or page target".to_owned(), |w| {
            format!("no target matches --target {w}")
        });
        return Err(format!("{addr}: {what}; it lists [{}]", listed.join(", ")));
    };
    if target.ws_path().is_none() {
        return Err(format!(
            "{addr}: target {} has no webSocketDebuggerUrl: another client is attached to it",
            target.id
        ));
    }
    Ok(target)
}

/// A new `Sec-WebSocket-Key` (16 random bytes, base64).
pub fn new_key() -> String {
    tungstenite::handshake::client::generate_key()
}

/// The upgrade to the target at `path`: what node's own client sends.
pub fn upgrade_request(addr: SocketAddr, path: &str, key: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes()
}

/// Reads node's answer to [`upgrade_request`]: `Ok(Some(n))` once a valid
/// 101 arrived, its head `n` bytes long (what follows is WebSocket frames);
/// `Ok(None)`: read more; `Err`: the log line.
pub fn parse_upgrade_reply(
    buf: &[u8],
    eof: bool,
    addr: SocketAddr,
    path: &str,
    key: &str,
) -> Result<Option<usize>, String> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if !eof && buf.len() <= MAX_HEAD => return Ok(None),
        _ => {
            return Err(format!(
                "{addr} did not answer the WebSocket upgrade to {path} with HTTP (got \"{}\")",
                excerpt(buf)
            ));
        }
    };
    let status = resp.code.unwrap_or_default();
    if status != 101 {
        return Err(format!(
            "{addr} listed {path} but refused its WebSocket upgrade ({status}): \
             did the debuggee restart?"
        ));
    }
    let header = |name: &str| {
        resp.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).trim().to_owned())
    };
    let want = derive_accept_key(key.as_bytes());
    match header("Sec-WebSocket-Accept") {
        Some(got) if got == want => Ok(Some(head_len)),
        got => Err(format!(
            "{addr} answered the upgrade to {path} with Sec-WebSocket-Accept {got:?}, \
             not {want:?}"
        )),
    }
}

#[cfg(test)]
mod tests;
