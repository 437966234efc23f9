//! What a client sends: a command read, refused when it is not one, and
//! either answered here (`break`, `status` while running, a kept feature
//! value, a breakpoint the replay set already, a first continuation once
//! another client started the script) or queued for the engine.

use super::command::{Bad, Command};
use super::{Dbgp, Goodbye, State, packet};
use crate::framing::Message;
use crate::protocol::dbgp as protocol;
use crate::session::kit::Waiter;
use crate::session::{ClientId, Outbox};

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
    pub(super) fn command(&mut self, client: ClientId, message: Message, out: &mut Outbox) {
        if !self.is_present(client) {
            log::debug!("client #{client}: ignoring a command after its goodbye");
            return;
        }
        let cmd = match Command::parse(&message) {
            Ok(cmd) => cmd,
            Err(Bad::Garbage(text)) => {
                self.n.bad_client_messages += 1;
                log::warn!("client #{client}: not a DBGp command (\"{text}\"): closing it");
                self.clients.set_leaving(client);
                self.drop_commands_of(client);
                out.close(client, "it sent something that is not a DBGp command");
                return;
            }
            Err(Bad::Malformed { name, txn, what }) => {
                self.n.bad_client_messages += 1;
                log::warn!("client #{client}: malformed {name} command: {what}");
                let why = format!("invalid or missing options (dbgproxy: {what})");
                let txn = txn.as_deref().map(str::as_bytes);
                self.answer(client, packet::error(name.as_bytes(), txn, 3, &why), out);
                return;
            }
        };
        log::debug!(
            "client #{client}: {}",
            crate::framing::escape(&cmd.bytes, 80)
        );
        match cmd.name() {
            b"break" => {
                let answer = packet::error(b"break", Some(cmd.txn()), 4, "unimplemented command");
                return self.answer(client, answer, out);
            }
            name if protocol::is_goodbye(name) => return self.goodbye(client, cmd, out),
            _ => {}
        }
        if self.engine.is_none() {
            let why = "command not available (dbgproxy: no PHP request is being debugged)";
            let answer = packet::error(cmd.name(), Some(cmd.txn()), 5, why);
            return self.answer(client, answer, out);
        }
        if cmd.name() == b"status"
            && self.pending(client) == 0
            && self
                .engine
                .as_ref()
                .is_some_and(|e| e.state == State::Running)
        {
            return self.answer(client, running(&cmd), out);
        }
        self.enqueue(Waiter::Client(client), cmd, out);
    }

    /// Answers a client's command without the engine when the session knows
    /// the answer; returns whether it did.
    pub(super) fn answer_here(
        &mut self,
        client: ClientId,
        cmd: &Command,
        out: &mut Outbox,
    ) -> bool {
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
