//! Who waits for which answer. Xdebug reads one command, answers it, then
//! reads the next: the session keeps one command in flight (a table of one,
//! under the proxy-wide transaction id it was given) and a queue in arrival
//! order, all clients together. Each entry says who waits ([`Waiter`]): a
//! client, a client that left since (its answer is dropped), or the session
//! itself ([`Own`]: its replays and its own goodbyes, answers swallowed).

use super::command::Command;
use super::packet::{self, Packet};
use super::{Dbgp, Goodbye, MAX_QUEUED, MAX_QUEUED_PER_CLIENT, State};
use crate::session::kit::Waiter;
use crate::session::{ClientId, Outbox, To};

/// Commands Xdebug is answering at once.
pub const ONE_AT_A_TIME: usize = 1;

/// The session's own commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Own {
    /// A kept `feature_set`, replayed to a new engine connection.
    Feature,
    /// A remembered breakpoint (its serial), replayed likewise.
    Breakpoint(u64),
    /// A goodbye the session sends itself (`goodbye`, `hold`).
    Internal,
}

pub type Origin = Waiter<Own>;

pub struct Queued {
    pub origin: Origin,
    pub cmd: Command,
}

/// The command in flight.
pub struct Sent {
    pub cmd: Command,
    /// `breakpoint_resolved` notifies that came before the answer to the
    /// `breakpoint_set` in flight: their ids are known only from it.
    pub held: Vec<Packet>,
}

impl Dbgp {
    /// Commands of `client` queued or in flight.
    pub(super) fn pending(&self, client: ClientId) -> usize {
        self.queued(client).count() + self.in_flight.count(client)
    }

    pub(super) fn queued(&self, client: ClientId) -> impl Iterator<Item = &Queued> {
        self.queue
            .iter()
            .filter(move |q| q.origin == Waiter::Client(client))
    }

    /// Forgets what a client that leaves was waiting for.
    pub(super) fn drop_commands_of(&mut self, client: ClientId) {
        let before = self.queue.len();
        self.queue.retain(|q| q.origin != Waiter::Client(client));
        let dropped = before - self.queue.len();
        if dropped > 0 {
            log::debug!("client #{client}: dropping its {dropped} queued command(s)");
            self.n.queued_commands_dropped += dropped as u64;
        }
        self.in_flight.depart(client);
        if let Some(e) = self.engine.as_mut() {
            e.waiters.retain(|(c, _, _)| *c != client);
        }
    }

    pub(super) fn enqueue(&mut self, origin: Origin, cmd: Command, out: &mut Outbox) {
        if let Waiter::Client(client) = origin
            && (self.pending(client) >= MAX_QUEUED_PER_CLIENT || self.queue.len() >= MAX_QUEUED)
        {
            self.n.commands_refused_queue_full += 1;
            if self.warned.first("queue full") {
                log::warn!(
                    "client #{client}: over {MAX_QUEUED_PER_CLIENT} commands of one client or {MAX_QUEUED} in all wait for Xdebug: refusing more with an error"
                );
            }
            let why = "command not available (dbgproxy: too many commands wait for the engine)";
            self.answer(
                client,
                packet::error(cmd.name(), Some(cmd.txn()), 5, why),
                out,
            );
            return;
        }
        if matches!(origin, Waiter::Client(_)) {
            self.n.commands_queued += 1;
        }
        self.queue.push_back(Queued { origin, cmd });
        self.pump(out);
    }

    /// Sends the next commands while none is in flight and the engine has
    /// greeted.
    pub(super) fn pump(&mut self, out: &mut Outbox) {
        while !self.in_flight.is_full()
            && self.engine.as_ref().is_some_and(|e| e.init.is_some())
            && let Some(q) = self.queue.pop_front()
        {
            self.dispatch(q, out);
        }
    }

    /// A command whose turn came: looked at now, not when it arrived, so
    /// that what the session answers itself (a kept feature value, a
    /// breakpoint the replay already set, the current stop) follows the
    /// client's earlier commands.
    fn dispatch(&mut self, q: Queued, out: &mut Outbox) {
        let Queued { origin, cmd } = q;
        if let Waiter::Client(client) = origin
            && self.answer_here(client, &cmd, out)
        {
            return;
        }
        let txn = self.next_txn;
        self.next_txn += 1;
        let name = cmd.name();
        let mut replace: Vec<(u8, &[u8])> = Vec::new();
        if matches!(
            name,
            b"breakpoint_get" | b"breakpoint_update" | b"breakpoint_remove"
        ) && let Some(engine_id) = cmd.value(b'd').and_then(|d| self.breakpoints.engine_id(d))
        {
            replace.push((b'd', engine_id));
        }
        let message = cmd.rewritten(txn, &replace);
        let continuation = super::client::is_continuation(name);
        if let Some(e) = self.engine.as_mut() {
            if continuation {
                e.state = State::Running;
            }
            if matches!(name, b"stop" | b"detach") {
                e.goodbye = Goodbye::Sent;
            }
        }
        if let Waiter::Client(client) = origin
            && continuation
            && let Some(c) = self.clients.get_mut(client)
        {
            c.started = true;
        }
        let sent = Sent {
            cmd,
            held: Vec::new(),
        };
        self.in_flight.insert(txn, origin, sent);
        out.send(To::Debugger, message);
    }
}
