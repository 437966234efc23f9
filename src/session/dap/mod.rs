//! The Debug Adapter Protocol session: many IDEs sharing one debug adapter
//! (debugpy), per `shared/SESSIONS.md`.
//!
//! It sits between framing (whole `Content-Length` messages) and the fan-out
//! queues. Requests get a proxy-wide `seq` and responses go back to the
//! asking client with its own `request_seq` (`client.rs`, `inflight.rs`,
//! `debugger.rs`);
//! the handshake (`initialize`, `attach`/`launch`, `configurationDone`)
//! happens once per debugger session and later clients are answered from what
//! it left; breakpoints are merged (`breakpoints.rs`); goodbyes are personal
//! except the last (`goodbye.rs`); joiners are told the state they missed
//! (`joiners.rs`); a run that is over makes way for the next (`runs.rs`).
//! The hot path reads a message's few routing fields with the session
//! layer's JSON scanner (`wire.rs`, over `protocol::json`) and splices
//! numbers into the original bytes (`kit::content_length`); only the few
//! messages whose contents matter are parsed.

mod breakpoints;
mod client;
mod debugger;
mod events;
mod goodbye;
mod ids;
mod inflight;
mod joiners;
mod runs;
mod wire;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use self::breakpoints::Breakpoints;
use self::ids::Ids;
use self::inflight::Requests;
use self::joiners::Memory;
use super::{ClientId, Outbox, Session, Settings, To};
use crate::framing::Message;
use crate::protocol::dap::RESUMING;
use crate::session::kit::content_length::framed;
use crate::session::kit::{Roster, WarnOnce};

pub struct Dap {
    forwards_last_goodbye: bool,
    /// One-session mode: the proxy ends with its debugger, never restarts it.
    one_session: bool,
    /// The first `initialize` the debugger got, for a later one (`runs.rs`).
    initialize_args: Option<Value>,
    /// The proxy asked the loop for a new debugger session: the end of this
    /// one is no news to the clients.
    restarting: bool,
    clients: Roster<Client>,
    in_flight: Requests,
    debugger: DebuggerSession,
    breakpoints: Breakpoints,
    /// Each client's breakpoint ids (issue #18).
    ids: Ids,
    counts: Counts,
    warned: WarnOnce,
}

/// One connected client.
struct Client {
    /// The `seq` of the next message the proxy itself writes to it.
    next_seq: i64,
    client_id: Option<String>,
    client_name: Option<String>,
    /// Hears the debugger's events. A joiner does from when it has been told
    /// the state it missed; a client there before the handshake, at once.
    live: bool,
    /// Its goodbye went to the debugger: its breakpoints go when it does.
    said_goodbye: bool,
    /// Its debugger session ended under it (`runs.rs`).
    stale: bool,
    initialize_answered: bool,
    initialized_sent: bool,
    attach_answered: bool,
    configuration_done_answered: bool,
    heard_terminated: bool,
    heard_exited: bool,
    /// Its requests over the bound: warned once per client.
    warned: WarnOnce,
}

/// What belongs to one debugger session and is forgotten with it.
#[derive(Default)]
struct DebuggerSession {
    handshake: Handshake,
    /// `initialize` requests that came while the first was in flight.
    held: Vec<(ClientId, i64)>,
    started: bool,
    configured: bool,
    /// The client whose `launch` started the session.
    launcher: Option<ClientId>,
    initialized_seen: bool,
    /// From the capabilities: joiners are told the state after their
    /// `configurationDone` only if the debugger takes one.
    configuration_done: bool,
    /// The last client whose goodbye was forwarded: `terminated` is its alone.
    goodbye_from: Option<ClientId>,
    /// Reverse requests awaiting a client's answer, by the debugger's `seq`.
    reverse: BTreeMap<i64, Reverse>,
    memory: Memory,
    /// Restarted for a new run: the clients' breakpoints go to the debugger
    /// on its `initialized`.
    resend_breakpoints: bool,
    /// `stopped` events that named breakpoints whose ids are not bound yet
    /// (`events.rs`): told once the breakpoints answers in flight are in.
    parked: Vec<Message>,
}

#[derive(Default)]
enum Handshake {
    #[default]
    Fresh,
    Asked,
    /// The capabilities (the `initialize` answer's body).
    Answered(Value),
}

struct Reverse {
    client: ClientId,
    command: String,
    message: Message,
}

#[derive(Default)]
struct Counts {
    orphan_responses_dropped: u64,
    local_answers: u64,
    bad_client_messages: u64,
    refused_in_flight_bound: u64,
    internal_requests: u64,
    reverse_requests: u64,
    reverse_answers_dropped: u64,
    bad_debugger_messages: u64,
    failed_debugger_lost: u64,
    /// `stopped` events told before their breakpoints' ids were bound,
    /// past the bound on those held.
    stops_not_parked: u64,
}

/// Bounds on what clients can make the proxy hold.
const MAX_HELD_INITIALIZE: usize = 256;
const MAX_REVERSE: usize = 256;

impl Dap {
    pub fn new(settings: &Settings) -> Dap {
        Dap {
            forwards_last_goodbye: settings.forwards_last_goodbye,
            one_session: settings.mode == crate::config::Mode::OneSession,
            initialize_args: None,
            restarting: false,
            clients: Roster::default(),
            in_flight: Requests::default(),
            debugger: DebuggerSession::default(),
            breakpoints: Breakpoints::default(),
            ids: Ids::default(),
            counts: Counts::default(),
            warned: WarnOnce::default(),
        }
    }

    /// Sends `client` a message the proxy wrote, with its running `seq`.
    fn tell(&mut self, client: ClientId, mut message: Map<String, Value>, out: &mut Outbox) {
        let Some(c) = self.clients.get_mut(client) else {
            return;
        };
        c.next_seq += 1;
        message.insert("seq".into(), c.next_seq.into());
        out.send(To::Client(client), framed(&Value::Object(message)));
    }

    /// Answers `client`'s request locally with success.
    fn answer(
        &mut self,
        client: ClientId,
        request_seq: i64,
        command: &str,
        body: Option<Value>,
        out: &mut Outbox,
    ) {
        self.counts.local_answers += 1;
        let mut m = response(request_seq.into(), command, true);
        if let Some(body) = body {
            m.insert("body".into(), body);
        }
        self.tell(client, m, out);
    }

    /// Answers `client`'s request locally with an error.
    fn refuse(
        &mut self,
        client: ClientId,
        request_seq: Value,
        command: &str,
        why: &str,
        out: &mut Outbox,
    ) {
        self.counts.local_answers += 1;
        let mut m = response(request_seq, command, false);
        m.insert("message".into(), why.into());
        self.tell(client, m, out);
    }

    /// Sends `client` an event the proxy wrote.
    fn event(&mut self, client: ClientId, name: &str, body: Option<Value>, out: &mut Outbox) {
        let mut m = Map::new();
        m.insert("type".into(), "event".into());
        m.insert("event".into(), name.into());
        if let Some(body) = body {
            m.insert("body".into(), body);
        }
        self.tell(client, m, out);
    }

    /// Sends the debugger's event to every client that hears events; returns
    /// who got it.
    fn broadcast(&mut self, message: Message, out: &mut Outbox) -> Vec<ClientId> {
        let audience: Vec<ClientId> = self
            .clients
            .present()
            .filter(|(_, c)| c.live)
            .map(|(id, _)| id)
            .collect();
        if audience.len() == self.clients.len() {
            out.send(To::All, message);
        } else {
            for &c in &audience {
                out.send(To::Client(c), message.clone());
            }
        }
        audience
    }
}

/// A response's fields but `seq`.
fn response(request_seq: Value, command: &str, success: bool) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("type".into(), "response".into());
    m.insert("request_seq".into(), request_seq);
    m.insert("success".into(), success.into());
    m.insert("command".into(), command.into());
    m
}

impl Session for Dap {
    fn client_joined(&mut self, client: ClientId, _out: &mut Outbox) {
        // A client there before the handshake hears everything live; a
        // joiner is told the state once its own handshake is through.
        let live = !matches!(self.debugger.handshake, Handshake::Answered(_));
        // A run over before it came is none of its business, even when the
        // debugger then goes away.
        let over = self.debugger.memory.is_over();
        log::debug!(
            "client #{client} joined ({})",
            if live { "live" } else { "joiner" }
        );
        self.clients.join(
            client,
            Client {
                next_seq: 0,
                client_id: None,
                client_name: None,
                live,
                said_goodbye: false,
                stale: false,
                initialize_answered: false,
                initialized_sent: false,
                attach_answered: false,
                configuration_done_answered: false,
                heard_terminated: false,
                heard_exited: over,
                warned: WarnOnce::default(),
            },
        );
    }

    fn from_client(&mut self, client: ClientId, message: Message, out: &mut Outbox) {
        self.client_message(client, message, out);
    }

    fn client_left(&mut self, client: ClientId, out: &mut Outbox) {
        self.left(client, out);
    }

    fn debugger_up(&mut self, _out: &mut Outbox) {
        self.restarting = false;
        self.new_debugger_session(true);
    }

    fn from_debugger(&mut self, message: Message, out: &mut Outbox) {
        self.debugger_message(message, out);
    }

    fn debugger_lost(&mut self, out: &mut Outbox) {
        self.lost(out);
    }

    fn client_status(&self, client: ClientId) -> Map<String, Value> {
        let mut m = Map::new();
        let Some(c) = self.clients.get(client) else {
            return m;
        };
        if let Some(id) = &c.client_id {
            m.insert("clientID".into(), id.as_str().into());
        }
        if let Some(name) = &c.client_name {
            m.insert("clientName".into(), name.as_str().into());
        }
        m.insert(
            "requests_in_flight".into(),
            self.in_flight.count(client).into(),
        );
        m.insert("requests".into(), self.in_flight.commands(client, 8).into());
        m
    }

    fn counters(&self) -> Map<String, Value> {
        let c = &self.counts;
        let mut m = Map::new();
        for (name, n) in [
            ("orphan_responses_dropped", c.orphan_responses_dropped),
            ("local_answers", c.local_answers),
            ("bad_client_messages", c.bad_client_messages),
            (
                "requests_refused_in_flight_bound",
                c.refused_in_flight_bound,
            ),
            ("internal_requests", c.internal_requests),
            ("reverse_requests", c.reverse_requests),
            ("reverse_answers_dropped", c.reverse_answers_dropped),
            ("bad_debugger_messages", c.bad_debugger_messages),
            ("requests_failed_debugger_lost", c.failed_debugger_lost),
            ("stops_not_parked", c.stops_not_parked),
            ("breakpoint_sources_refused", self.breakpoints.refused),
            ("breakpoint_ids_dropped", self.ids.dropped),
            (
                "output_events_forgotten",
                self.debugger.memory.outputs_forgotten,
            ),
            ("orphans_forgotten", self.in_flight.orphans_forgotten()),
        ] {
            m.insert(name.into(), n.into());
        }
        m
    }
}
