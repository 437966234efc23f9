//! The proxy's HTTP answers on its client port, byte for byte as node
//! writes them where a client could tell (HTTP/1.0, `Content-Length`, the
//! 400's text, the 101's three headers), with the URLs naming the proxy:
//! formed, like node's, from the `Host` the client sent (verbatim), or from
//! the socket's local address when it sent none. The loop writes the
//! answer and closes, except after a 101.

use std::net::SocketAddr;

use serde_json::{Map, Value, json};
use tungstenite::handshake::derive_accept_key;

use super::http::{Host, Refusal, Request};

/// Node's answer to anything it does not serve, a refused Host included.
pub const NOT_SERVED: &[u8] = b"HTTP/1.0 400 Bad Request\r\n\
Content-Type: text/html; charset=UTF-8\r\n\r\n\
WebSockets request was expected\r\n";

/// What the list says about the one target the proxy serves. The proxy
/// takes `title`, `url`, `kind`, `description` and `favicon_url` from the
/// backend's target (`backend::Target`), so a client sees what it would
/// see from node, and gives its own `path`, stable across restarts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// Where the target is served: `/` and its id (`/<token>/<id>` when
    /// the listener has a token). The id is the last segment.
    pub path: String,
    pub title: String,
    pub url: String,
    /// `type`: `node`, `page`, …
    pub kind: String,
    pub description: String,
    pub favicon_url: Option<String>,
}

/// The authority the URLs name: the request's Host as sent, or the local
/// address the client connected to.
pub fn url_host(req: &Request, local: SocketAddr) -> String {
    match &req.host {
        Host::One(h) if !h.is_empty() => h.clone(),
        _ => local.to_string(),
    }
}

/// `/json` and `/json/list`: the targets, naming the proxy at `host`.
pub fn list(host: &str, targets: &[Listing]) -> Vec<u8> {
    let targets: Vec<Value> = targets
        .iter()
        .map(|t| {
            let id = t.path.rsplit('/').next().unwrap_or_default();
            let ws = format!("{host}{}", t.path);
            let frontend = |page: &str| {
                format!("devtools://devtools/bundled/{page}?experiments=true&v8only=true&ws={ws}")
            };
            let mut v = json!({
                "description": t.description,
                "devtoolsFrontendUrl": frontend("js_app.html"),
                "devtoolsFrontendUrlCompat": frontend("inspector.html"),
                "id": id,
                "title": t.title,
                "type": t.kind,
                "url": t.url,
                "webSocketDebuggerUrl": format!("ws://{ws}"),
            });
            if let (Some(f), Value::Object(m)) = (&t.favicon_url, &mut v) {
                m.insert("faviconUrl".into(), Value::String(f.clone()));
            }
            v
        })
        .collect();
    json_ok(&pretty(&Value::Array(targets)))
}

/// `/json/version`: the backend's own answer without its browser-wide
/// `webSocketDebuggerUrl` (Chrome's browser target, which the proxy does
/// not serve; VS Code would connect there instead of the list's target),
/// or node 20's shape naming the proxy while no backend has answered.
pub fn version(backend: Option<&[u8]>) -> Vec<u8> {
    let parsed = backend.and_then(|b| serde_json::from_slice::<Map<String, Value>>(b).ok());
    let body = match parsed {
        Some(mut m) => {
            m.remove("webSocketDebuggerUrl");
            Value::Object(m)
        }
        None => json!({
            "Browser": concat!("dbgproxy/", env!("CARGO_PKG_VERSION")),
            "Protocol-Version": "1.1",
        }),
    };
    json_ok(&pretty(&body))
}

/// `/json/protocol`: the backend's schema, passed through as it came.
pub fn protocol(backend_body: &[u8]) -> Vec<u8> {
    json_ok(backend_body)
}

/// The 101 for a WebSocket upgrade with `key`: node's three headers only
/// (no subprotocol, no extension).
pub fn upgrade(key: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        derive_accept_key(key.as_bytes())
    )
    .into_bytes()
}

/// The answer to a refused request. Node's 400 where node refuses (a
/// client may know it); a 403 or 404 with one line saying why where the
/// proxy adds a rule or a client would otherwise be left guessing.
pub fn refusal(why: &Refusal) -> Vec<u8> {
    match why {
        Refusal::NotServed | Refusal::Host(_) => NOT_SERVED.to_vec(),
        Refusal::Origin(_) => text(403, "Forbidden", "Origin refused: not a local page\n"),
        Refusal::Token => text(
            403,
            "Forbidden",
            "this listener wants its token in the path\n",
        ),
        Refusal::NoTarget(_) => text(
            404,
            "Not Found",
            "no target at this path: GET /json/list for the current one\n",
        ),
    }
}

/// The answer to a malformed or oversized head: node's 400.
pub fn malformed() -> Vec<u8> {
    NOT_SERVED.to_vec()
}

fn pretty(v: &Value) -> Vec<u8> {
    // Serialising a Value to a Vec cannot fail.
    serde_json::to_vec_pretty(v).unwrap_or_default()
}

fn json_ok(body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.0 200 OK\r\nContent-Type: application/json; charset=UTF-8\r\n\
         Cache-Control: no-cache\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

fn text(status: u16, reason: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.0 {status} {reason}\r\nContent-Type: text/plain; charset=UTF-8\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}
