//! The session layer: what makes many clients one shared debug session.
//!
//! It sits between framing (whole messages) and fan-out (the clients' and the
//! debugger's queues). One module per protocol implements [`Session`], a pure
//! state machine: it is told that a client joined or left, that a whole
//! message came from a client or from the debugger, that the debugger came or
//! went, and answers with [`Action`]s in an [`Outbox`]: send this message to
//! the debugger, to one client, to all, to all but one; close that client. It
//! never touches a socket, so every rule of `shared/SESSIONS.md` is a unit
//! test on a recorded transcript, and the event loop stays protocol-blind.
//!
//! The loop's side of the contract:
//! - every client gets `client_joined` once, before any of its messages, and
//!   `client_left` once, when it leaves for any reason (including a `Close`
//!   the session asked for); after that it is never named in an action,
//!   except as the one left out by `To::AllBut`, which then means all;
//! - `To::All` and `To::AllBut` reach the clients that have joined and not
//!   left; a message for a client that has left is dropped;
//! - `To::Debugger` is queued for the debugger, held until one is up, and
//!   dropped when that debugger goes (`debugger_lost` comes after);
//! - actions are carried out in order, so a session can rely on a client
//!   receiving what it was sent before it is closed;
//! - `tick` is called after every turn of the loop with that turn's time,
//!   and the loop wakes up by the session's `deadline`: time is an input
//!   like any other, so a session's timers are unit tests too;
//! - `RestartDebugger` ends the debugger session at once (`debugger_lost`,
//!   then `debugger_up` when the next one is reached, as for any other); what
//!   the session sends `To::Debugger` after it goes to the next debugger.

mod backlog;
// Each CDP client is a row of its own (issue #20): `cdp::adapter` is its
// session, over the per-client rules of `cdp::CdpClient`.
pub mod cdp;
mod dap;
mod dbgp;
mod gdb_mi;
mod greeting;
mod history;
mod kit;
mod passthrough;
#[cfg(test)]
mod testkit;
mod v8;

use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use crate::config::Mode;
use crate::framing::{Message, Protocol};

/// A client, as the session knows it: its number in logs, never reused.
pub type ClientId = u64;

/// Where a message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum To {
    Debugger,
    Client(ClientId),
    /// Every client that has joined and not left.
    All,
    AllBut(ClientId),
}

#[derive(Debug)]
pub enum Action {
    Send(To, Message),
    /// Close this client once what is queued for it has been written; `why`
    /// is logged.
    Close(ClientId, String),
    /// End the debugger session and start the next one without waiting: a
    /// spawned debugger is stopped and started again, a connection is closed
    /// and made again. For a debugger that is done but stays up (a DAP
    /// adapter whose one run is over); `why` is logged.
    RestartDebugger(String),
    /// End the debugger session (close the link); the backend then reaches
    /// the next one as after any loss, and in session mode the proxy ends.
    /// For a session that must let its debugger go (node waits at its
    /// program's end until every inspector session is closed).
    CloseDebugger(String),
}

/// What a session wants done, in order.
#[derive(Debug, Default)]
pub struct Outbox {
    actions: Vec<Action>,
}

impl Outbox {
    pub fn send(&mut self, to: To, message: Message) {
        self.actions.push(Action::Send(to, message));
    }

    pub fn close(&mut self, client: ClientId, why: impl Into<String>) {
        self.actions.push(Action::Close(client, why.into()));
    }

    pub fn restart_debugger(&mut self, why: impl Into<String>) {
        self.actions.push(Action::RestartDebugger(why.into()));
    }

    pub fn close_debugger(&mut self, why: impl Into<String>) {
        self.actions.push(Action::CloseDebugger(why.into()));
    }

    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// The actions, in order, leaving the outbox empty (and its memory kept).
    pub fn drain(&mut self) -> std::vec::Drain<'_, Action> {
        self.actions.drain(..)
    }

    /// The actions so far, for tests.
    pub fn actions(&self) -> &[Action] {
        &self.actions
    }
}

/// What a session needs to know of the proxy's configuration.
#[derive(Clone, Debug)]
pub struct Settings {
    pub protocol: Protocol,
    pub mode: Mode,
    /// Whether the last client's goodbye goes to the debugger
    /// (`config::forwards_last_goodbye`).
    pub forwards_last_goodbye: bool,
    /// Debugger output kept for the next client while none is connected.
    pub backlog_bytes: usize,
    /// Whole messages, but no sharing: every client gets every message and
    /// ids pass unchanged (`--passthrough`).
    pub passthrough: bool,
    /// How long a finished PHP request that no client is left to end is
    /// held before the proxy ends it (`--dbgp-hold`).
    pub dbgp_hold: Duration,
}

/// One protocol's rules for sharing a debug session among clients.
// `from_client`/`from_debugger` name where a message comes from, not a
// conversion: clippy's naming rule for constructors does not apply.
#[allow(clippy::wrong_self_convention)]
pub trait Session {
    /// A client connected. A session replays here what a joiner must learn
    /// first (a greeting, the current state).
    fn client_joined(&mut self, client: ClientId, out: &mut Outbox);

    /// A whole message from a client.
    fn from_client(&mut self, client: ClientId, message: Message, out: &mut Outbox);

    /// A client is gone; it will not be sent anything more.
    fn client_left(&mut self, client: ClientId, out: &mut Outbox);

    /// A new debugger session is up; nothing of it has been read yet.
    fn debugger_up(&mut self, out: &mut Outbox);

    /// A whole message from the debugger.
    fn from_debugger(&mut self, message: Message, out: &mut Outbox);

    /// The debugger session ended. A session tells the clients in their
    /// protocol and forgets what belonged to that debugger session, so that
    /// the next one starts clean.
    fn debugger_lost(&mut self, out: &mut Outbox);

    /// Time passes: called after every turn of the loop with its time. A
    /// session starts a bound on a state here when it sees the state begin,
    /// and acts when the bound passes.
    fn tick(&mut self, _now: Instant, _out: &mut Outbox) {}

    /// When the session next needs `tick`, at the latest.
    fn deadline(&self) -> Option<Instant> {
        None
    }

    /// What `dbgproxy status` shows of one client beyond its socket (what
    /// kind of client it is, its requests in flight).
    fn client_status(&self, _client: ClientId) -> Map<String, Value> {
        Map::new()
    }

    /// Counters for `dbgproxy status` (dropped orphan answers, …).
    fn counters(&self) -> Map<String, Value> {
        Map::new()
    }
}

/// The session for `settings.protocol`.
pub fn new(settings: &Settings) -> Box<dyn Session> {
    if settings.passthrough {
        return Box::new(passthrough::Passthrough::new(settings));
    }
    match settings.protocol {
        Protocol::Dap => Box::new(dap::Dap::new(settings)),
        Protocol::Dbgp => Box::new(dbgp::Dbgp::new(settings)),
        Protocol::GdbMi => Box::new(gdb_mi::GdbMi::new(settings)),
        Protocol::V8 => Box::new(v8::V8::new(settings)),
        // The row the command line makes: the proxy's own inspector session
        // (discovery, the program's end); each client gets a row of its own.
        Protocol::Cdp => Box::new(cdp::adapter::CdpSession::own()),
        _ => Box::new(passthrough::Passthrough::new(settings)),
    }
}
