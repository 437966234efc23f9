//! What a V8 joiner learns: the `Type: connect` greeting and what nobody
//! was connected to hear (the history), then, while the debuggee is
//! stopped, the event that stopped it (unless it read it in the backlog).

use super::V8;
use crate::session::{ClientId, Outbox, To};

impl V8 {
    pub(super) fn replay(&mut self, client: ClientId, out: &mut Outbox) {
        self.history.replay(client, out);
        let read_in_backlog = self.run.break_backlogged.take() == Some(self.history.dropped());
        if let Some(event) = self.run.last_break.as_ref().filter(|_| self.run.stopped)
            && !read_in_backlog
        {
            out.send(To::Client(client), event.clone());
        }
    }
}
