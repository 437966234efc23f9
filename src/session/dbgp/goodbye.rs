//! `stop` and `detach` from a client. While the script is live and other
//! clients remain, a goodbye is personal: answered here as Xdebug answers
//! it, and that client closed. Once the script has finished (Xdebug
//! reports `stopping`), it ends the PHP request: it goes to Xdebug, once,
//! so that the engine connection closes and the next request can come in.
//! The last client's goodbye while the script is live depends on the mode.

use super::command::{self, Command};
use super::inflight::{Own, Queued};
use super::{Dbgp, Goodbye, State, packet};
use crate::session::kit::Waiter;
use crate::session::{ClientId, Outbox};

impl Dbgp {
    /// `stop`/`detach` from a client (SESSIONS.md "A goodbye is personal",
    /// "The last goodbye").
    pub(super) fn goodbye(&mut self, client: ClientId, cmd: Command, out: &mut Outbox) {
        let last = !self.clients.others_remain(client);
        let live = match &self.engine {
            Some(e) if e.init.is_some() => Some(
                matches!(e.state, State::Starting | State::Break | State::Running)
                    && matches!(e.goodbye, Goodbye::None),
            ),
            _ => None,
        };
        match live {
            // The script has finished: the goodbye ends the PHP request, so
            // that the next one can come in. It goes to Xdebug once.
            Some(false) => self.enqueue(Waiter::Client(client), cmd, out),
            Some(true) if last && self.forwards_last_goodbye => {
                self.enqueue(Waiter::Client(client), cmd, out)
            }
            Some(true) if last => {
                // Keep the session: the leaver's breakpoints go. `stop` is
                // the explicit "terminate the script", forwarded; `detach`
                // is answered here and becomes Xdebug's `detach`, so the
                // request runs to its end undebugged instead of stopping
                // again with nobody there (a `run` would). The client stays
                // for the next request's `<init>`, as a persistent IDE does.
                self.breakpoints.forget(client);
                if cmd.name() == b"stop" {
                    return self.enqueue(Waiter::Client(client), cmd, out);
                }
                self.answer_goodbye(client, &cmd, out);
                if let Some(e) = self.engine.as_mut() {
                    e.said_goodbye.insert(client);
                }
                if let Ok(detach) = Command::parse(&command::build(b"detach", 0, &[], None)) {
                    self.queue.push_back(Queued {
                        origin: Waiter::Proxy(Own::Internal),
                        cmd: detach,
                    });
                    self.pump(out);
                }
            }
            Some(true) => self.leave_here(client, &cmd, out),
            // No PHP request to end: the client's own goodbye.
            None if last => {
                if !self.forwards_last_goodbye {
                    self.breakpoints.forget(client);
                }
                self.answer_goodbye(client, &cmd, out);
            }
            None => self.leave_here(client, &cmd, out),
        }
    }

    /// Answers a goodbye as Xdebug does; the client waits for nothing more.
    fn answer_goodbye(&mut self, client: ClientId, cmd: &Command, out: &mut Outbox) {
        self.drop_commands_of(client);
        let status = if cmd.name() == b"stop" {
            "stopped"
        } else {
            "stopping"
        };
        let attrs = [("status", status), ("reason", "ok")];
        let answer = packet::response(cmd.name(), Some(cmd.txn()), &attrs, "");
        self.answer(client, answer, out);
    }

    /// A personal goodbye: answered as Xdebug does, and the client closed.
    fn leave_here(&mut self, client: ClientId, cmd: &Command, out: &mut Outbox) {
        self.answer_goodbye(client, cmd, out);
        self.clients.set_leaving(client);
        out.close(
            client,
            format!(
                "it said {} while other clients remain",
                String::from_utf8_lossy(cmd.name())
            ),
        );
    }
}
