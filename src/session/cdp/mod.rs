//! The CDP session for one client (node's inspector, issue #20): sans I/O,
//! between the WebSocket layer (`protocol::cdp`, whole text messages) and
//! the event loop, which gives each CDP client its own upstream inspector
//! session. Node itself shares the debuggee among sessions (pause and resume,
//! per-session ids, enables, breakpoints), so this machine passes commands
//! and answers through with their bytes and ids unchanged, and keeps only
//! what lets a client survive a debuggee's restart and lets node exit:
//! - it remembers the client's setup from successful answers (`setup.rs`)
//!   and replays it, with ids of its own (`wire::OWN_IDS`), to the next
//!   process before letting that one run;
//! - when the program ends it closes its upstream session, since node waits
//!   for every session to go before it exits; it learns the end from
//!   `NodeRuntime.waitingForDisconnect`, which it asks for on every session
//!   (a client that enabled nothing would otherwise hear of no end), or from
//!   the default context's destruction;
//! - when the upstream goes it tells the client in CDP terms and fails the
//!   client's commands in flight; commands that come during the gap are
//!   held (bounded) for the next process.
//!
//! Bad client text gets an error answer when it has an id, else the client
//! is closed (`wire::command`).

pub mod adapter;
pub mod gate;
mod setup;
mod upstream;
pub mod wire;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde_json::{Map, Value, json};

use self::setup::Setup;
use self::wire::{OWN_IDS, SERVER_ERROR};
use crate::config::Mode;
use crate::net::queue::Chunk;

/// What the client's commands in flight are answered when the debuggee goes.
pub const WENT_AWAY: &str = "the debuggee went away; dbgproxy is waiting for it to come back";
/// Why the upstream session is closed at the program's end.
pub const PROGRAM_ENDED: &str = "the program ended: letting node exit";

#[derive(Debug, Clone)]
pub enum Action {
    /// A text message for the client.
    ToClient(Chunk),
    /// A text message for the upstream session.
    ToUpstream(Chunk),
    /// Close the upstream session (why, for the log). The machine already
    /// counts it gone: a later `upstream_lost` for it is a no-op.
    CloseUpstream(String),
    /// Close the client once what is queued for it is written (why: the
    /// close frame's reason). Nothing more is sent to it.
    CloseClient(String),
}

/// What the machine wants done, in order.
#[derive(Debug, Default)]
pub struct Outbox {
    actions: Vec<Action>,
}

impl Outbox {
    fn push(&mut self, action: Action) {
        self.actions.push(action);
    }

    pub fn drain(&mut self) -> std::vec::Drain<'_, Action> {
        self.actions.drain(..)
    }

    pub fn actions(&self) -> &[Action] {
        &self.actions
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// Persistent: a client outlives the debuggee. Session: it is closed
    /// when the debuggee ends.
    pub mode: Mode,
    /// Commands held while no upstream session is up.
    pub max_held: usize,
    /// Commands sent and not answered yet.
    pub max_in_flight: usize,
    /// Breakpoints remembered for replay.
    pub max_breakpoints: usize,
    /// Node runs a waiting process on the *first* session's release, so
    /// with several clients the first to finish its replay would let the
    /// program run before the others' breakpoints are in. Gated, a client
    /// never releases by itself: the loop calls `release` on every client
    /// of a process once all are `ready_to_release` (`gate.rs`).
    pub gated_release: bool,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            mode: Mode::Persistent,
            max_held: 256,
            max_in_flight: 4096,
            max_breakpoints: 1024,
            gated_release: false,
        }
    }
}

/// A client's command sent upstream and not answered yet.
struct Pending {
    /// The method and params, for a command whose success changes the setup.
    setup: Option<(String, Option<Value>)>,
}

/// One of dbgproxy's own commands upstream.
struct Own {
    method: String,
    /// For a replayed breakpoint: the id the client knows.
    breakpoint: Option<String>,
}

#[derive(Debug, Default)]
struct Counts {
    bad: u64,
    held_refused: u64,
    in_flight_refused: u64,
    failed_in_flight: u64,
    own_failed: u64,
    breakpoint_ids_changed: u64,
    setup_refused: u64,
    not_replayed: u64,
    stale: u64,
}

pub struct CdpClient {
    settings: Settings,
    /// What the client is, filled in by the caller (from HTTP headers).
    pub description: String,
    up: bool,
    /// The client is gone or being closed: nothing more is done for it.
    closing: bool,
    in_flight: BTreeMap<i64, Pending>,
    own: BTreeMap<i64, Own>,
    next_own: i64,
    /// Replayed commands not answered yet.
    replaying: usize,
    /// Release the new process (`runIfWaitingForDebugger`) once `replaying`
    /// is down to 0.
    release_pending: bool,
    /// The client released a process once: it wants each next one released.
    releases: bool,
    held: VecDeque<(wire::Command, Chunk)>,
    setup: Setup,
    paused: bool,
    contexts: BTreeSet<i64>,
    /// The default context's id and `uniqueId`.
    default_context: Option<(i64, Value)>,
    /// The client asked for `NodeRuntime.waitingForDisconnect` itself.
    client_notify: bool,
    ups: u64,
    warned_own: bool,
    warned_bound: bool,
    counts: Counts,
}

// `from_client`/`from_upstream` name where a message comes from, not a
// conversion.
#[allow(clippy::wrong_self_convention)]
impl CdpClient {
    pub fn new(settings: Settings) -> CdpClient {
        CdpClient {
            setup: Setup::new(settings.max_breakpoints),
            settings,
            description: String::new(),
            up: false,
            closing: false,
            in_flight: BTreeMap::new(),
            own: BTreeMap::new(),
            next_own: *OWN_IDS.start(),
            replaying: 0,
            release_pending: false,
            releases: false,
            held: VecDeque::new(),
            paused: false,
            contexts: BTreeSet::new(),
            default_context: None,
            client_notify: false,
            ups: 0,
            warned_own: false,
            warned_bound: false,
            counts: Counts::default(),
        }
    }

    /// A whole text message from the client.
    pub fn from_client(&mut self, text: Chunk, out: &mut Outbox) {
        if self.closing {
            return;
        }
        let command = match wire::command(&text) {
            Ok(c) => c,
            Err(bad) => {
                self.counts.bad += 1;
                match bad {
                    wire::Bad::Answer(answer) => {
                        log::debug!(
                            "CDP client {}: refused: {}",
                            self.description,
                            String::from_utf8_lossy(&answer)
                        );
                        out.push(Action::ToClient(answer));
                    }
                    wire::Bad::Close(why) => self.close_client(why, out),
                }
                return;
            }
        };
        if self.in_flight.len() + self.held.len() >= self.settings.max_in_flight {
            self.counts.in_flight_refused += 1;
            self.warn_bound("commands in flight");
            let why = "too many commands in flight through dbgproxy";
            out.push(Action::ToClient(wire::error(command.id, SERVER_ERROR, why)));
            return;
        }
        if command.method(&text) == upstream::NOTIFY
            && wire::parse(&text)["params"]["enabled"] == Value::Bool(false)
        {
            // Node would stop telling this session the program's end, which
            // dbgproxy needs: only the client stops hearing it.
            self.client_notify = false;
            out.push(Action::ToClient(wire::result(command.id)));
            return;
        }
        if !self.up {
            if self.held.len() >= self.settings.max_held {
                self.counts.held_refused += 1;
                self.warn_bound("commands held while the debuggee is away");
                out.push(Action::ToClient(wire::error(
                    command.id,
                    SERVER_ERROR,
                    WENT_AWAY,
                )));
                return;
            }
            self.held.push_back((command, text));
            return;
        }
        self.send(command, text, out);
    }

    fn send(&mut self, command: wire::Command, text: Chunk, out: &mut Outbox) {
        let method = command.method(&text);
        let setup = (setup::matters(method)
            || [upstream::RELEASE, upstream::NOTIFY].contains(&method))
        .then(|| (method.to_owned(), wire::parse(&text).get("params").cloned()));
        self.in_flight.insert(command.id, Pending { setup });
        out.push(Action::ToUpstream(text));
    }

    /// The client is gone: its upstream session goes with it (the debuggee
    /// is neither paused nor resumed for that: node decides).
    pub fn client_left(&mut self, out: &mut Outbox) {
        if self.up && !self.closing {
            out.push(Action::CloseUpstream("the client left".into()));
        }
        self.closing = true;
        self.up = false;
        self.held.clear();
        self.in_flight.clear();
    }

    fn close_client(&mut self, why: String, out: &mut Outbox) {
        if self.up {
            out.push(Action::CloseUpstream(format!("closing the client: {why}")));
        }
        out.push(Action::CloseClient(why));
        self.closing = true;
        self.up = false;
    }

    fn warn_bound(&mut self, what: &str) {
        if !std::mem::replace(&mut self.warned_bound, true) {
            log::warn!("CDP client {}: bound reached: {what}", self.description);
        }
    }

    /// Whether an upstream session is up.
    pub fn is_up(&self) -> bool {
        self.up
    }

    /// Whether the debuggee is paused, as this client was told.
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// What `dbgproxy status` shows of this client.
    pub fn status(&self) -> Map<String, Value> {
        let c = &self.counts;
        let status = json!({
            "client": self.description,
            "upstream": if self.up { "up" } else { "away" },
            "restarts_survived": self.ups.saturating_sub(1),
            "paused": self.paused,
            "enabled_domains": self.setup.domains(),
            "breakpoints": self.setup.breakpoints().len(),
            "breakpoints_by_script_id": self.setup.by_script(),
            "in_flight": self.in_flight.len(),
            "held": self.held.len(),
            "bad_messages": c.bad,
            "held_refused": c.held_refused,
            "in_flight_refused": c.in_flight_refused,
            "failed_in_flight": c.failed_in_flight,
            "replay_failures": c.own_failed,
            "breakpoint_ids_changed": c.breakpoint_ids_changed,
            "setup_refused": c.setup_refused,
            "not_replayed": c.not_replayed,
            "stale_upstream_messages": c.stale,
        });
        match status {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }
}
