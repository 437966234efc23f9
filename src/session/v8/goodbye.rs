//! A client's `disconnect`: personal while others remain (answered here, the
//! client closed); the last one goes to V8 when the last goodbye is
//! forwarded, else the session is kept for the next client: the leaver's
//! breakpoints are cleared and a stopped debuggee resumed, as V8 itself
//! would have done.

use super::V8;
use crate::session::{ClientId, Outbox};

impl V8 {
    /// A `disconnect` from `client`, whose seq and command are given; false
    /// when it is to go to V8.
    pub(super) fn goodbye(
        &mut self,
        client: ClientId,
        seq: &[u8],
        command: &[u8],
        out: &mut Outbox,
    ) -> bool {
        let others = self.clients.others_remain(client);
        if !others && self.forwards_last_goodbye {
            log::info!("client #{client}: the last client's disconnect goes to V8");
            return false;
        }
        self.respond(client, seq, command, None, out);
        self.clients.set_leaving(client);
        out.close(client, "said goodbye (disconnect)");
        if others {
            log::info!("client #{client}: disconnect answered by the proxy (other clients remain)");
            return true;
        }
        log::info!(
            "client #{client}: the last client disconnected: the debuggee is kept for the next one"
        );
        for n in self.run.breakpoints.owned_by(client) {
            self.ask(
                &format!("{{\"seq\":0,\"type\":\"request\",\"command\":\"clearbreakpoint\",\"arguments\":{{\"breakpoint\":{n}}}}}"),
                out,
            );
        }
        if self.run.stopped {
            self.ask(
                "{\"seq\":0,\"type\":\"request\",\"command\":\"continue\"}",
                out,
            );
        }
        true
    }
}
