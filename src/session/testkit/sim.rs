//! The event loop's side of the session contract (`session` module doc),
//! in memory: clients join and leave, and what a session asks for is
//! carried out as the loop's `apply` does — in order, sends reaching only
//! the clients that have joined and not left, a closed client told to the
//! session with `client_left` once the batch is through. Everything done is
//! recorded: what went to the debugger, to each client, who was closed, the
//! restarts asked for.
//!
//! Each call returns the actions it led to, in order (those of a
//! `client_left` after a `Close` included), for the tests that check where
//! each message went.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use crate::framing::Message;
use crate::session::{Action, ClientId, Outbox, Session, To};

pub struct Sim<S> {
    pub session: S,
    out: Outbox,
    /// The clients that have joined and not left.
    here: BTreeSet<ClientId>,
    /// What each client that joined received, message by message.
    pub got: BTreeMap<ClientId, Vec<Vec<u8>>>,
    pub to_debugger: Vec<Vec<u8>>,
    /// The clients closed at the session's request, in order.
    pub closed: Vec<ClientId>,
    /// Why each debugger restart was asked for.
    pub restarts: Vec<String>,
}

// Named after `Session`'s methods, which say where a message comes from:
// clippy's naming rule for conversions does not apply.
#[allow(clippy::wrong_self_convention)]
impl<S: Session> Sim<S> {
    /// No client and no debugger yet: `up` says one is there.
    pub fn new(session: S) -> Sim<S> {
        Sim {
            session,
            out: Outbox::default(),
            here: BTreeSet::new(),
            got: BTreeMap::new(),
            to_debugger: Vec::new(),
            closed: Vec::new(),
            restarts: Vec::new(),
        }
    }

    pub fn join(&mut self, c: ClientId) -> Vec<Action> {
        self.here.insert(c);
        self.got.entry(c).or_default();
        self.step(|s, out| s.client_joined(c, out))
    }

    /// `c` goes away; nothing if it already has (closed, or left).
    pub fn leave(&mut self, c: ClientId) -> Vec<Action> {
        if !self.here.remove(&c) {
            return Vec::new();
        }
        self.step(|s, out| s.client_left(c, out))
    }

    pub fn from_client(&mut self, c: ClientId, m: Message) -> Vec<Action> {
        self.read(c, [m])
    }

    /// The messages of one read from `c`: all of them reach the session
    /// before what it asked for is carried out, as in the loop (so a
    /// message after one that gets `c` closed still reaches the session).
    pub fn read(&mut self, c: ClientId, ms: impl IntoIterator<Item = Message>) -> Vec<Action> {
        self.step(|s, out| {
            for m in ms {
                s.from_client(c, m, out);
            }
        })
    }

    pub fn from_debugger(&mut self, m: Message) -> Vec<Action> {
        self.step(|s, out| s.from_debugger(m, out))
    }

    pub fn up(&mut self) -> Vec<Action> {
        self.step(|s, out| s.debugger_up(out))
    }

    pub fn lost(&mut self) -> Vec<Action> {
        self.step(|s, out| s.debugger_lost(out))
    }

    /// A turn of the loop at `now`.
    pub fn tick(&mut self, now: Instant) -> Vec<Action> {
        self.step(|s, out| s.tick(now, out))
    }

    pub fn counter(&self, name: &str) -> u64 {
        self.session
            .counters()
            .get(name)
            .and_then(|v| v.as_u64())
            .unwrap_or_else(|| panic!("no counter {name}"))
    }

    fn step(&mut self, f: impl FnOnce(&mut S, &mut Outbox)) -> Vec<Action> {
        f(&mut self.session, &mut self.out);
        let mut done = Vec::new();
        loop {
            let batch: Vec<Action> = self.out.drain().collect();
            let mut left = Vec::new();
            for a in batch {
                self.carry_out(&a, &mut left);
                done.push(a);
            }
            for c in &left {
                self.session.client_left(*c, &mut self.out);
            }
            if self.out.is_empty() {
                return done;
            }
        }
    }

    fn carry_out(&mut self, a: &Action, left: &mut Vec<ClientId>) {
        match a {
            Action::Send(To::Debugger, m) => self.to_debugger.push(m.to_vec()),
            Action::Send(to, m) => {
                for c in self.here.iter().filter(|&&c| reaches(*to, c)) {
                    self.got.entry(*c).or_default().push(m.to_vec());
                }
            }
            Action::Close(c, _) => {
                if self.here.remove(c) {
                    self.closed.push(*c);
                    left.push(*c);
                }
            }
            // Both end the debugger session; the tests tell them apart by `why`.
            Action::RestartDebugger(why) | Action::CloseDebugger(why) => {
                self.restarts.push(why.clone())
            }
        }
    }
}

/// Whether a send `to` reaches client `c` (one that is there).
fn reaches(to: To, c: ClientId) -> bool {
    match to {
        To::Debugger => false,
        To::Client(x) => x == c,
        To::All => true,
        To::AllBut(x) => x != c,
    }
}
