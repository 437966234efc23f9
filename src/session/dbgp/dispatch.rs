//! Sending queued commands to the engine, one at a time. A command is
//! looked at when its turn comes, not when it arrives, so that what the
//! session answers itself (a kept feature value, a breakpoint the replay
//! already set, the current stop) follows the client's earlier commands.

use super::command::Command;
use super::{Dbgp, Goodbye, InFlight, Origin, Queued, State, packet};
use crate::session::{ClientId, Outbox, To};

/// Commands Xdebug answers only when the script stops again.
pub fn is_continuation(name: &[u8]) -> bool {
    matches!(name, b"run" | b"step_into" | b"step_over" | b"step_out")
}

/// `status` while the script runs, as Xdebug would answer it if it read
/// commands then.
pub fn running(cmd: &Command) -> crate::framing::Message {
    let attrs = [("status", "running"), ("reason", "ok")];
    packet::response(b"status", Some(cmd.txn()), &attrs, "")
}

impl Dbgp {
    /// Sends the next commands while none is in flight and the engine has
    /// greeted.
    pub(super) fn pump(&mut self, out: &mut Outbox) {
        while self.in_flight.is_none()
            && self.engine.as_ref().is_some_and(|e| e.init.is_some())
            && let Some(q) = self.queue.pop_front()
        {
            self.dispatch(q, out);
        }
    }

    fn dispatch(&mut self, q: Queued, out: &mut Outbox) {
        let Queued { origin, cmd } = q;
        if let Origin::Client(client) = origin
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
        if let Some(e) = self.engine.as_mut() {
            if is_continuation(name) {
                e.state = State::Running;
            }
            if matches!(name, b"stop" | b"detach") {
                e.goodbye = Goodbye::Sent;
            }
        }
        if let Origin::Client(client) = origin
            && is_continuation(name)
            && let Some(c) = self.clients.get_mut(client)
        {
            c.started = true;
        }
        self.in_flight = Some(InFlight {
            txn,
            origin,
            cmd,
            held: Vec::new(),
        });
        out.send(To::Debugger, message);
    }

    /// Answers a client's command without the engine when the session knows
    /// the answer; returns whether it did.
    fn answer_here(&mut self, client: ClientId, cmd: &Command, out: &mut Outbox) -> bool {
        let Some(e) = self.engine.as_mut() else {
            return false;
        };
        let name = cmd.name();
        let txn = Some(cmd.txn());
        let answer = match name {
            b"feature_get" => {
                let Some(value) = cmd.value(b'n').and_then(|n| self.features.get(n)) else {
                    return false;
                };
                let feature = String::from_utf8_lossy(cmd.value(b'n').unwrap_or_default());
                let attrs = [("feature_name", &*feature), ("supported", "1")];
                let body = format!("<![CDATA[{}]]>", String::from_utf8_lossy(value));
                packet::response(name, txn, &attrs, &body)
            }
            b"breakpoint_set" => {
                // The replay set it already on this connection (an IDE that
                // sets its breakpoints on every new request): the same
                // answer, with the id the client knows.
                let Some(r) = self.breakpoints.claim(client, &cmd.key()) else {
                    return false;
                };
                let Some(replayed) = &r.answer else {
                    return false;
                };
                let attrs = [("transaction_id", txn), ("id", Some(&r.facing[..]))];
                replayed.edit(&attrs, Vec::new())
            }
            b"stop" | b"detach" => {
                // The request is ending already: the same answer as the
                // goodbye that went to Xdebug.
                let Goodbye::Answered(first) = &e.goodbye else {
                    return false;
                };
                e.said_goodbye.insert(client);
                first.readdressed(Some(name), txn)
            }
            b"status" if e.state == State::Running => running(cmd),
            _ if is_continuation(name) => {
                let Some(c) = self.clients.get_mut(client) else {
                    return false;
                };
                if c.started || e.state == State::Starting {
                    return false;
                }
                // Someone else started the script: this is the IDE's start
                // after the `<init>`, not a request to move on.
                c.started = true;
                match (e.state, &e.last_stop) {
                    (State::Break | State::Stopping, Some(stop)) => {
                        stop.readdressed(Some(name), txn)
                    }
                    (State::Running, _) => {
                        log::debug!(
                            "client #{client}: its first {} waits for the next stop",
                            String::from_utf8_lossy(name)
                        );
                        e.waiters.push((client, cmd.txn().to_vec(), name.to_vec()));
                        return true;
                    }
                    _ => return false,
                }
            }
            _ => return false,
        };
        log::debug!(
            "client #{client}: answering {} here",
            String::from_utf8_lossy(name)
        );
        self.answer(client, answer, out);
        true
    }
}
