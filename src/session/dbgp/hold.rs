//! A finished PHP request that nobody is left to end. Xdebug, once the
//! script has finished (status `stopping`), waits for a last command before
//! it closes the engine connection, and PHP (a web server's worker with it)
//! waits with it for ever. An IDE sends that command (`stop`); one that
//! crashed or dropped its connection does not, and neither does anybody
//! when the script ran to its end after the last client left. So when the
//! script has finished and no client is there, the session waits
//! `--dbgp-hold` for one to come (a client that joins cancels the hold: it
//! is told where the script is and ends the request itself), then sends
//! Xdebug the `stop` itself. A script that is still live is left as it is
//! (SESSIONS.md rule 3).

use std::time::Instant;

use super::command::{self, Command};
use super::inflight::{Own, Queued};
use super::{Dbgp, Goodbye, State};
use crate::session::Outbox;
use crate::session::kit::Waiter;

/// What the session sends to end a finished request: what IDEs send when
/// Xdebug reports `stopping`; Xdebug then closes the connection and PHP
/// exits at once.
const GOODBYE: &[u8] = b"stop";

impl Dbgp {
    /// Whether the engine waits for a goodbye nobody is left to send.
    fn unattended_end(&self) -> bool {
        self.clients.present().next().is_none()
            && self.engine.as_ref().is_some_and(|e| {
                e.init.is_some()
                    && e.state == State::Stopping
                    && matches!(e.goodbye, Goodbye::None)
                    && !e.let_go
            })
    }

    pub(super) fn hold_tick(&mut self, now: Instant, out: &mut Outbox) {
        if !self.unattended_end() {
            self.hold_until = None;
            return;
        }
        let until = *self.hold_until.get_or_insert(now + self.hold);
        if now < until {
            return;
        }
        self.hold_until = None;
        log::info!(
            "the PHP request has finished and nobody is left to end it: ending it after {}ms (--dbgp-hold)",
            self.hold.as_millis()
        );
        let Ok(cmd) = Command::parse(&command::build(GOODBYE, 0, &[], None)) else {
            return log::error!("the session's own stop does not parse");
        };
        if let Some(e) = self.engine.as_mut() {
            e.let_go = true;
        }
        self.queue.push_back(Queued {
            origin: Waiter::Proxy(Own::Internal),
            cmd,
        });
        self.pump(out);
    }

    pub(super) fn hold_deadline(&self) -> Option<Instant> {
        self.hold_until
    }
}
