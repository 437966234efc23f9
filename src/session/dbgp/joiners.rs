//! What a DBGp joiner learns: the current engine connection's `<init>`, as
//! if it had been there, and where the script is stopped, as Xdebug reports
//! a stop nobody asked for (its first `run` is answered with the same: see
//! `client`).

use super::{Dbgp, State};
use crate::session::{ClientId, Outbox, To};

impl Dbgp {
    pub(super) fn welcome(&self, client: ClientId, out: &mut Outbox) {
        let Some(e) = &self.engine else { return };
        if let Some(init) = &e.init {
            out.send(To::Client(client), init.clone());
        }
        if let (State::Break | State::Stopping, Some(stop)) = (e.state, &e.last_stop) {
            out.send(To::Client(client), stop.readdressed(None, None));
        }
    }
}
