//! What an MI joiner learns: the greeting and what nobody was connected to
//! hear (the history), then the live inferiors, the breakpoints, and whether
//! the debuggee is stopped or running; and the async records that keep that
//! state.

use super::client::prefixed;
use super::mi::{self, Kind};
use super::{GdbMi, MAX_GROUPS};
use crate::framing::Message;
use crate::net::queue::Chunk;
use crate::session::{ClientId, Outbox, To};

impl GdbMi {
    pub(super) fn replay(&mut self, client: ClientId, out: &mut Outbox) {
        self.history.replay(client, out);
        let stop_backlogged = self.run.stop_backlogged.take();
        if self.history.greeting_open() {
            return;
        }
        for started in self.run.groups.values() {
            out.send(To::Client(client), started.clone());
        }
        for tuple in self.breakpoints.tuples() {
            out.send(To::Client(client), prefixed(b"=breakpoint-created,", tuple));
        }
        let read_in_backlog = stop_backlogged == Some(self.history.dropped());
        if let Some(m) = self.run.stopped.as_ref().or(self.run.running.as_ref())
            && !read_in_backlog
        {
            out.send(To::Client(client), m.clone());
        }
    }

    /// Keeps what a joiner must learn from an async record.
    pub(super) fn track(
        &mut self,
        kind: Kind,
        class: &[u8],
        rest: &[u8],
        tuple_at: usize,
        chunk: &Chunk,
        m: &Message,
    ) {
        let number = || mi::field(rest, "number").and_then(mi::breakpoint_number);
        match (kind, class) {
            (Kind::Exec, b"running") => {
                self.run.running = Some(m.clone());
                self.run.stopped = None;
            }
            (Kind::Exec, b"stopped") => {
                self.run.running = None;
                let exited = mi::field(rest, "reason").is_some_and(|r| r.starts_with(b"exited"));
                self.run.stopped = (!exited).then(|| m.clone());
            }
            (Kind::Notify, b"breakpoint-created" | b"breakpoint-modified") => {
                if let Some(n) = number() {
                    let owner = (class == b"breakpoint-created")
                        .then(|| self.working_for())
                        .flatten();
                    let tuple = Message::from_parts(vec![chunk.slice(tuple_at, chunk.len())]);
                    self.breakpoints.seen(n, owner, Some(tuple));
                }
            }
            (Kind::Notify, b"breakpoint-deleted") => {
                if let Some(n) = mi::field(rest, "id").and_then(mi::breakpoint_number) {
                    self.breakpoints.deleted(n);
                }
            }
            (Kind::Notify, b"thread-group-started") => {
                if let Some(id) = mi::field(rest, "id")
                    && (self.run.groups.len() < MAX_GROUPS || self.run.groups.contains_key(id))
                {
                    self.run.groups.insert(id.to_vec(), m.clone());
                }
            }
            (Kind::Notify, b"thread-group-exited") => {
                if let Some(id) = mi::field(rest, "id") {
                    self.run.groups.remove(id);
                }
                if self.run.groups.is_empty() {
                    self.run.running = None;
                    self.run.stopped = None;
                }
            }
            _ => {}
        }
    }
}
