//! The DBGp (PHP Xdebug) session: many IDEs, one engine connection at a
//! time (one per PHP request), as `shared/SESSIONS.md` asks.
//!
//! Xdebug is synchronous: it reads one command, answers it, reads the next,
//! and a continuation (`run`, `step_*`) is answered only when the script
//! stops again. So the session keeps one command in flight and a queue in
//! arrival order, gives each command a proxy-wide transaction id, and maps
//! the answer back to its client's own id. What else it does, and why:
//! - `break` is answered here with Xdebug's own error 4: Xdebug 3 does not
//!   implement it, reads it only when the script next stops, and then
//!   *resumes* the script — the opposite of what the IDE asked for.
//!   `status` while a continuation is in flight is answered `running` here
//!   (Xdebug would answer only when the script stops).
//! - A stop is everyone's news: the answer to a continuation goes to its
//!   client with its id, and to every other client without a
//!   `transaction_id` — the form Xdebug itself uses when a script stops
//!   after an unknown command resumed it.
//! - A client's *first* continuation on an engine connection, once another
//!   client has started the script, is not forwarded: every IDE sends `run`
//!   (or `step_into`) after the `<init>`, and forwarding it would resume a
//!   script the others are looking at. It is answered with the current stop
//!   (where the script is), or, while the script runs, with the next one.
//! - `stop`/`detach` while the script is live ends only that client unless
//!   it is the last (see `goodbye`); once the script has finished it ends
//!   the PHP request and goes to Xdebug once.
//! - `feature_set` values and `breakpoint_set`s are remembered and replayed
//!   to each new engine connection ahead of any client command.

mod breakpoints;
mod client;
mod debugger;
mod features;
mod goodbye;
mod hold;
mod inflight;
mod joiners;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::kit::{InFlight, Roster, WarnOnce};
use super::{ClientId, Outbox, Session, Settings, To};
use crate::framing::Message;
use crate::protocol::dbgp::{command, packet};
use breakpoints::Breakpoints;
use features::Features;
use inflight::{ONE_AT_A_TIME, Own, Queued, Sent};
use packet::Packet;

/// Commands waiting for the engine, all clients together.
const MAX_QUEUED: usize = 256;
/// Commands waiting for the engine from one client.
const MAX_QUEUED_PER_CLIENT: usize = 64;
/// `<notify>` packets held back while a `breakpoint_set` is answered.
const MAX_HELD: usize = 16;

pub struct Dbgp {
    forwards_last_goodbye: bool,
    /// `--dbgp-hold`: see `hold`.
    hold: Duration,
    /// When a finished request nobody is left to end is ended.
    hold_until: Option<Instant>,
    clients: Roster<Client>,
    /// The current engine connection, from `debugger_up` to `debugger_lost`.
    engine: Option<Engine>,
    queue: VecDeque<Queued>,
    in_flight: InFlight<u64, Sent, Own>,
    next_txn: u64,
    features: Features,
    breakpoints: Breakpoints,
    n: Counters,
    warned: WarnOnce,
}

#[derive(Default)]
struct Client {
    /// Its continuation on this engine connection went through (or was
    /// answered with the current stop).
    started: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Starting,
    Break,
    Running,
    /// The script has finished; Xdebug waits for a last command.
    Stopping,
    Stopped,
}

#[derive(Default)]
enum Goodbye {
    #[default]
    None,
    /// A `stop`/`detach` went to the engine: the request is ending.
    Sent,
    Answered(Packet),
}

struct Engine {
    init: Option<Message>,
    state: State,
    /// The answer that reported the current stop (`break` or `stopping`).
    last_stop: Option<Packet>,
    goodbye: Goodbye,
    /// First continuations of clients, to be answered by the next stop:
    /// (client, its transaction id, its command).
    waiters: Vec<(ClientId, Vec<u8>, Vec<u8>)>,
    /// Clients answered a `stop`/`detach` on this connection: they know.
    said_goodbye: std::collections::BTreeSet<ClientId>,
    /// The session ended the finished request itself (`hold`).
    let_go: bool,
}

#[derive(Default)]
struct Counters {
    orphan_responses_dropped: u64,
    commands_queued: u64,
    commands_refused_queue_full: u64,
    queued_commands_dropped: u64,
    answered_locally: u64,
    breakpoints_replayed: u64,
    features_replayed: u64,
    bad_client_messages: u64,
}

impl Dbgp {
    pub fn new(settings: &Settings) -> Dbgp {
        Dbgp {
            forwards_last_goodbye: settings.forwards_last_goodbye,
            hold: settings.dbgp_hold,
            hold_until: None,
            clients: Roster::default(),
            engine: None,
            queue: VecDeque::new(),
            in_flight: InFlight::new(ONE_AT_A_TIME),
            next_txn: 1,
            features: Features::default(),
            breakpoints: Breakpoints::default(),
            n: Counters::default(),
            warned: WarnOnce::default(),
        }
    }

    fn is_present(&self, client: ClientId) -> bool {
        self.clients.is_present(client)
    }

    fn answer(&mut self, client: ClientId, message: Message, out: &mut Outbox) {
        self.n.answered_locally += 1;
        out.send(To::Client(client), message);
    }
}

impl Session for Dbgp {
    fn client_joined(&mut self, client: ClientId, out: &mut Outbox) {
        self.clients.join(client, Client::default());
        self.welcome(client, out);
    }

    fn from_client(&mut self, client: ClientId, message: Message, out: &mut Outbox) {
        self.command(client, message, out);
    }

    fn client_left(&mut self, client: ClientId, _out: &mut Outbox) {
        self.drop_commands_of(client);
        self.clients.leave(client);
        self.breakpoints.orphan(client);
    }

    fn debugger_up(&mut self, out: &mut Outbox) {
        if self.engine.is_some() {
            log::warn!("a new engine connection before the last one was lost: ending that one");
            self.engine_lost(out);
        }
        self.engine = Some(Engine::default());
    }

    fn from_debugger(&mut self, message: Message, out: &mut Outbox) {
        self.engine_packet(message, out);
    }

    fn debugger_lost(&mut self, out: &mut Outbox) {
        self.engine_lost(out);
    }

    fn tick(&mut self, now: Instant, out: &mut Outbox) {
        self.hold_tick(now, out);
    }

    fn deadline(&self) -> Option<Instant> {
        self.hold_deadline()
    }

    fn client_status(&self, client: ClientId) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert(
            "dbgp_commands_queued".into(),
            self.queued(client).count().into(),
        );
        let in_flight = self
            .in_flight
            .iter()
            .find(|(_, e)| e.waiter.client() == Some(client))
            .map(|(_, e)| String::from_utf8_lossy(e.job.cmd.name()).into_owned());
        m.insert("dbgp_command_in_flight".into(), in_flight.into());
        m
    }

    fn counters(&self) -> Map<String, Value> {
        let n = &self.n;
        let mut m = Map::new();
        for (k, v) in [
            ("orphan_responses_dropped", n.orphan_responses_dropped),
            ("commands_queued", n.commands_queued),
            ("commands_refused_queue_full", n.commands_refused_queue_full),
            ("queued_commands_dropped", n.queued_commands_dropped),
            ("commands_answered_locally", n.answered_locally),
            ("breakpoints_replayed", n.breakpoints_replayed),
            ("features_replayed", n.features_replayed),
            ("bad_client_messages", n.bad_client_messages),
            (
                "breakpoints_not_remembered",
                self.breakpoints.not_remembered,
            ),
        ] {
            m.insert(k.into(), v.into());
        }
        m.insert("commands_waiting".into(), self.queue.len().into());
        m.insert(
            "breakpoints_remembered".into(),
            self.breakpoints.len().into(),
        );
        m.insert("features_kept".into(), self.features.len().into());
        m
    }
}
