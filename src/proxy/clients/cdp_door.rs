//! CDP's door (`door.rs`): a client's HTTP request on the client port,
//! parsed and routed by `protocol::cdp::http`, answered by
//! `protocol::cdp::discovery`. Discovery (`/json`, `/json/list`,
//! `/json/version`, `/json/protocol`) is answered from what the inspector
//! backends last learned (`Known`) and closed; a refusal (Host, Origin,
//! token, path) gets its HTTP error and a close; a WebSocket upgrade on the
//! listed path gets the 101 and a row of its own: its own upstream inspector
//! session, through a backend like the command line's.
//!
//! The list names the proxy at a stable path, `/<id>` with an id derived
//! from the client port only, so a DevTools "Reconnect" or a saved `ws=` URL
//! works across debuggee and proxy restarts. A token, when the listener
//! wants one, is the path's first segment, and appears in a list only for
//! a caller who presented it.

use std::net::SocketAddr;

use super::door::{Door, Joiner, Judged, Visitor};
use crate::backends::{Backend, Inspector};
use crate::config::Config;
use crate::protocol::cdp::discovery::{self, Listing};
use crate::protocol::cdp::http::{self, Refusal, Route};
use crate::protocol::cdp::known::Shared;
use crate::session::cdp::adapter::{CdpSession, Kind};
use crate::session::cdp::gate::{Gate, RELEASE_WAIT, SharedGate};

pub struct CdpDoor {
    config: Config,
    known: Shared,
    /// The release gate all its clients' rows share (one debuggee).
    gate: SharedGate,
    /// `/` and the id the list names.
    path: String,
}

impl CdpDoor {
    pub fn new(config: &Config, known: Shared) -> CdpDoor {
        CdpDoor {
            path: format!("/{}", stable_id(config.client_port)),
            config: config.clone(),
            known,
            gate: Gate::shared(RELEASE_WAIT),
        }
    }

    fn listing(&self, token: Option<&str>) -> Listing {
        let path = match token {
            Some(t) => format!("/{t}{}", self.path),
            None => self.path.clone(),
        };
        match &self.known.borrow().target {
            Some(target) => target.listing(path),
            None => Listing {
                path,
                title: "dbgproxy: waiting for the debuggee".into(),
                url: String::new(),
                kind: "node".into(),
                description: "node.js instance".into(),
                favicon_url: None,
            },
        }
    }

    fn joiner(&self, id: u64, kind: Kind) -> Joiner {
        let config = self.config.clone();
        let known = self.known.clone();
        Joiner {
            name: format!("CDP client #{id}"),
            session: Box::new(CdpSession::client(
                self.config.mode,
                kind,
                self.known.clone(),
                self.gate.clone(),
            )),
            backend: Box::new(move |_, tokens| {
                Ok(Backend::Inspector(Box::new(Inspector::new(
                    &config, tokens, known,
                ))))
            }),
        }
    }
}

/// The id the proxy lists its target under: a UUID that depends on the
/// client port only, so it outlives the debuggee's and the proxy's restarts.
pub fn stable_id(client_port: u16) -> String {
    format!("0db9c0de-0000-4000-8000-{client_port:012}")
}

fn answer(bytes: Vec<u8>, why: impl Into<String>, level: log::Level) -> Judged {
    Judged::Answer {
        bytes,
        why: why.into(),
        level,
    }
}

/// A header's value, for what `http::Request` does not keep.
fn header(head: &[u8], name: &str) -> Option<String> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    req.parse(head).ok()?;
    req.headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| String::from_utf8_lossy(h.value).trim().to_owned())
}

impl Door for CdpDoor {
    fn judge(&mut self, v: Visitor<'_>) -> Judged {
        let req = match http::parse_request(v.head) {
            Ok(Some(req)) => req,
            Ok(None) => return Judged::More,
            Err(http::Malformed(why)) => {
                return answer(discovery::malformed(), why, log::Level::Warn);
            }
        };
        let local = v
            .local
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], self.config.client_port)));
        let what = format!("{} {}", req.method, req.path);
        match http::route(&req, &self.path, v.token) {
            Ok(Route::List) => {
                let token = v
                    .token
                    .map(|t| String::from_utf8_lossy(t.reveal()).into_owned());
                let listing = self.listing(token.as_deref());
                let host = discovery::url_host(&req, local);
                answer(discovery::list(&host, &[listing]), what, log::Level::Debug)
            }
            Ok(Route::Version) => {
                let known = self.known.borrow();
                let body = discovery::version(known.version.as_deref());
                answer(body, what, log::Level::Debug)
            }
            Ok(Route::Protocol) => match &self.known.borrow().protocol {
                Some(schema) => answer(discovery::protocol(schema), what, log::Level::Debug),
                None => answer(
                    discovery::refusal(&Refusal::NotServed),
                    format!("{what}: no schema known yet (the debuggee was never reached)"),
                    log::Level::Info,
                ),
            },
            Ok(Route::Upgrade { key }) => {
                let kind = Kind {
                    user_agent: header(v.head, "user-agent"),
                    origin: req.origin.clone(),
                };
                Judged::Enter {
                    reply: discovery::upgrade(&key),
                    consumed: req.head_len,
                    joiner: self.joiner(v.id, kind),
                }
            }
            Err(refusal) => {
                let level = match refusal {
                    Refusal::Host(_) | Refusal::Origin(_) | Refusal::Token => log::Level::Warn,
                    Refusal::NotServed | Refusal::NoTarget(_) => log::Level::Info,
                };
                let why = format!("refused {what}: {refusal}");
                answer(discovery::refusal(&refusal), why, level)
            }
        }
    }
}
