//! A CDP client's row as the loop sees it: the [`Session`] over one
//! [`CdpClient`]. Each CDP client is a row of its own whose debugger link is
//! its own upstream inspector session (node shares the debuggee among
//! sessions), so the row has one client, and this adapter maps the
//! machine's actions onto the loop's: text to the client or upstream, framed
//! here as WebSocket text frames (`protocol::cdp::ws`, the right role each
//! way); `CloseUpstream` as `CloseDebugger`; `CloseClient` as a close frame
//! and `Close`. The WebSocket control events the framing hands up
//! (`framing::Control`) are answered here too: a ping gets its pong, a
//! client's close gets a close back, a bad frame gets its RFC 6455 code.
//!
//! Client rows share a release gate (`gate.rs`): after a restart the
//! process waiting for a debugger is let run only once every client's setup
//! is in, so the adapter keeps its client's readiness there and sends the
//! release when the gate opens (on its own events, or on `tick`).
//!
//! The row the command line makes has an adapter without a client
//! ([`CdpSession::own`]): the proxy's own inspector session, which keeps
//! discovery current and lets node exit at the program's end like any other.

use std::time::Instant;

use serde_json::{Map, Value, json};

use super::gate::{Readiness, SharedGate};
use super::{Action, CdpClient, Outbox, Settings};
use crate::config::Mode;
use crate::framing::{Control, Message};
use crate::protocol::cdp::known::Shared;
use crate::protocol::cdp::ws::{self, Role, code};
use crate::session::{self, ClientId, Session, To};

/// What a client's HTTP request said of it, for `status`.
#[derive(Debug, Clone, Default)]
pub struct Kind {
    pub user_agent: Option<String>,
    pub origin: Option<String>,
}

pub struct CdpSession {
    machine: CdpClient,
    client: Option<ClientId>,
    kind: Kind,
    known: Option<Shared>,
    /// The release gate and this client's place in it (client rows only).
    gate: Option<(SharedGate, u64)>,
    out: Outbox,
    /// The client is leaving: what the machine says of the upstream then is
    /// moot (the row goes with its client).
    leaving: bool,
}

impl CdpSession {
    /// The session of one CDP client's row.
    pub fn client(mode: Mode, kind: Kind, known: Shared, gate: SharedGate) -> CdpSession {
        let mut machine = CdpClient::new(Settings {
            mode,
            gated_release: true,
            ..Settings::default()
        });
        machine.description = kind.user_agent.clone().unwrap_or_default();
        let member = gate.borrow_mut().join(&machine.description);
        CdpSession {
            machine,
            client: None,
            kind,
            known: Some(known),
            gate: Some((gate, member)),
            out: Outbox::default(),
            leaving: false,
        }
    }

    /// The proxy's own session (the command line's row), which no client joins.
    pub fn own() -> CdpSession {
        let mut machine = CdpClient::new(Settings {
            mode: Mode::Persistent,
            ..Settings::default()
        });
        machine.description = "(dbgproxy's own session)".into();
        CdpSession {
            machine,
            client: None,
            kind: Kind::default(),
            known: None,
            gate: None,
            out: Outbox::default(),
            leaving: false,
        }
    }

    /// Carries out what the machine asked for, then tells the gate where
    /// the client stands and releases the process if the gate is open.
    fn carry(&mut self, out: &mut session::Outbox) {
        self.carry_actions(out);
        let Some((gate, member)) = &self.gate else {
            return;
        };
        let readiness = self.machine.readiness();
        gate.borrow_mut().set(*member, readiness);
        if readiness == Readiness::Ready && gate.borrow().open() {
            self.machine.release(&mut self.out);
            gate.borrow_mut().set(*member, self.machine.readiness());
            self.carry_actions(out);
        }
    }

    fn carry_actions(&mut self, out: &mut session::Outbox) {
        // A row's upstream session goes with its client; closed by itself
        // it would read to the loop as the debug session's end, which in
        // session mode closes every other client too.
        let closing_client = self
            .out
            .actions()
            .iter()
            .any(|a| matches!(a, Action::CloseClient(_)));
        let leaving = self.leaving || closing_client;
        for action in self.out.drain() {
            match action {
                Action::ToClient(text) => {
                    if let Some(id) = self.client {
                        out.send(To::Client(id), ws::text_frame(Role::Server, &[text]));
                    }
                }
                Action::ToUpstream(text) => {
                    out.send(To::Debugger, ws::text_frame(Role::Client, &[text]));
                }
                Action::CloseUpstream(why) if !leaving => out.close_debugger(why),
                Action::CloseUpstream(_) => {}
                Action::CloseClient(why) => {
                    if let Some(id) = self.client {
                        // The machine closes for a message it cannot take, or
                        // because the debuggee went (session mode).
                        let code = if why.starts_with("a message") {
                            code::INVALID_DATA
                        } else {
                            code::GOING_AWAY
                        };
                        close(out, id, code, &why);
                    }
                }
            }
        }
    }
}

/// A close frame to the client, then its close.
fn close(out: &mut session::Outbox, id: ClientId, code: u16, why: &str) {
    let frame = ws::close_frame(Role::Server, Some(code), why);
    out.send(To::Client(id), Message::from_parts(vec![frame]));
    out.close(id, why.to_owned());
}

impl Drop for CdpSession {
    fn drop(&mut self) {
        if let Some((gate, member)) = &self.gate {
            gate.borrow_mut().leave(*member);
        }
    }
}

impl Session for CdpSession {
    fn client_joined(&mut self, client: ClientId, _out: &mut session::Outbox) {
        self.client = Some(client);
        self.machine.description = format!("#{client} {}", self.machine.description)
            .trim_end()
            .to_owned();
        if let Some((gate, member)) = &self.gate {
            gate.borrow_mut().rename(*member, &self.machine.description);
        }
    }

    fn from_client(&mut self, client: ClientId, message: Message, out: &mut session::Outbox) {
        match &message.control {
            None => {
                self.machine.from_client(message.one_chunk(), &mut self.out);
                self.carry(out);
            }
            Some(Control::Ping) => {
                out.send(
                    To::Client(client),
                    Message::from_parts(message.parts().to_vec()),
                );
            }
            Some(Control::Closed { code, .. }) => {
                let frame = ws::close_frame(Role::Server, *code, "");
                out.send(To::Client(client), Message::from_parts(vec![frame]));
                let code = code.map_or("no code".into(), |c| c.to_string());
                out.close(client, format!("it closed the WebSocket ({code})"));
            }
            Some(Control::Fault { code, what }) => {
                log::warn!(
                    "CDP client #{client}: bad WebSocket input: {what} (closing with {code})"
                );
                close(out, client, *code, what);
            }
        }
    }

    fn client_left(&mut self, _client: ClientId, out: &mut session::Outbox) {
        self.leaving = true;
        self.machine.client_left(&mut self.out);
        self.client = None;
        self.carry(out);
        if let Some((gate, member)) = &self.gate {
            // The others no longer wait for it.
            gate.borrow_mut().leave(*member);
        }
    }

    fn debugger_up(&mut self, out: &mut session::Outbox) {
        self.machine.upstream_up(&mut self.out);
        self.carry(out);
    }

    fn from_debugger(&mut self, message: Message, out: &mut session::Outbox) {
        match &message.control {
            None => {
                self.machine
                    .from_upstream(message.one_chunk(), &mut self.out);
                self.carry(out);
            }
            // Node never pings; a pong would make it drop the session.
            Some(Control::Ping) => {}
            Some(Control::Closed { .. }) => {
                out.close_debugger("the inspector closed the session");
            }
            Some(Control::Fault { what, .. }) => {
                log::warn!("inspector: bad WebSocket input: {what}");
                out.close_debugger(format!("bad WebSocket input: {what}"));
            }
        }
    }

    fn debugger_lost(&mut self, out: &mut session::Outbox) {
        self.machine.upstream_lost(&mut self.out);
        let leaving = std::mem::replace(&mut self.leaving, true);
        self.carry(out);
        self.leaving = leaving;
    }

    fn tick(&mut self, now: Instant, out: &mut session::Outbox) {
        if let Some((gate, _)) = &self.gate {
            gate.borrow_mut().tick(now);
            self.carry(out);
        }
    }

    fn deadline(&self) -> Option<Instant> {
        let (gate, _) = self.gate.as_ref()?;
        (self.machine.readiness() == Readiness::Ready)
            .then(|| gate.borrow().deadline())
            .flatten()
    }

    fn client_status(&self, _client: ClientId) -> Map<String, Value> {
        let mut m = self.machine.status();
        m.insert(
            "kind".into(),
            json!({"user_agent": self.kind.user_agent, "origin": self.kind.origin}),
        );
        if let Some(known) = &self.known {
            let known = known.borrow();
            if let Some(t) = &known.target {
                m.insert(
                    "target".into(),
                    json!({"id": t.id, "url": t.url, "title": t.title}),
                );
            }
        }
        if let Some((gate, _)) = &self.gate {
            let forced = gate.borrow().forced_releases();
            m.insert("releases_forced".into(), forced.into());
        }
        m
    }
}
