//! What a client that joins a running debug session must learn (SESSIONS.md,
//! "State for joiners"): the `stopped` event while the debuggee is stopped,
//! the `process` event, a bounded tail of `output` events. Kept as the
//! debugger's own messages (shared buffers), replayed with the joiner's own
//! `seq` spliced in. Once the run is over (`exited` or `terminated`) a joiner
//! is told nothing of it: its pid is dead, its stop is gone, and the joiner's
//! own handshake starts a new run (`runs.rs`).

use std::collections::VecDeque;

use super::{Dap, wire};
use crate::framing::Message;
use crate::session::kit::content_length::Frame;
use crate::session::{ClientId, Outbox, To};

/// Output events kept for joiners: the last this many...
const MAX_OUTPUT_EVENTS: usize = 64;
/// ...and at most this many bytes of them.
const MAX_OUTPUT_BYTES: usize = 64 * 1024;

#[derive(Default)]
pub struct Memory {
    /// The `stopped` event and its thread, while stopped.
    stopped: Option<(Message, Option<i64>)>,
    process: Option<Message>,
    output: VecDeque<Message>,
    output_bytes: usize,
    exited: Option<(Message, Option<i64>)>,
    /// The debugger said `exited` or `terminated`.
    over: bool,
    pub outputs_forgotten: u64,
}

impl Memory {
    pub fn stopped(&mut self, event: Message, thread: Option<i64>) {
        self.stopped = Some((event, thread));
    }

    pub fn resumed(&mut self) {
        self.stopped = None;
    }

    /// Whether stopped, and on which thread if the event said.
    pub fn stopped_thread(&self) -> Option<Option<i64>> {
        self.stopped.as_ref().map(|(_, t)| *t)
    }

    pub fn process(&mut self, event: Message) {
        self.process = Some(event);
    }

    pub fn exited(&mut self, event: Message, code: Option<i64>) {
        self.exited = Some((event, code));
    }

    /// The run is over: nothing of it is for joiners.
    pub fn over(&mut self) {
        self.over = true;
        self.stopped = None;
        self.process = None;
        self.output_bytes = 0;
        self.output.clear();
    }

    pub fn is_over(&self) -> bool {
        self.over
    }

    /// The debuggee's exit code, once an `exited` event told it.
    pub fn exit_code(&self) -> Option<i64> {
        self.exited.as_ref().and_then(|(_, c)| *c)
    }

    /// Keeps `event` in the output tail, forgetting the oldest past the bounds.
    pub fn output(&mut self, event: Message) {
        if self.over {
            return;
        }
        self.output_bytes += event.len;
        self.output.push_back(event);
        while self.output.len() > MAX_OUTPUT_EVENTS || self.output_bytes > MAX_OUTPUT_BYTES {
            let Some(old) = self.output.pop_front() else {
                break;
            };
            self.output_bytes -= old.len;
            self.outputs_forgotten += 1;
        }
    }

    /// What a joiner is told, in the order it happened as far as it matters:
    /// the process first, then its output, then where it stands.
    pub fn replay(&self) -> Vec<Message> {
        if self.over {
            return Vec::new();
        }
        let mut all = Vec::with_capacity(self.output.len() + 2);
        all.extend(self.process.iter().cloned());
        all.extend(self.output.iter().cloned());
        all.extend(self.stopped.iter().map(|(m, _)| m.clone()));
        all
    }
}

impl Dap {
    /// Tells a joiner what it missed, once its handshake is through.
    pub(super) fn maybe_replay(&mut self, client: ClientId, out: &mut Outbox) {
        let configuration_done = self.debugger.configuration_done;
        let Some(c) = self.clients.get_mut(client) else {
            return;
        };
        let through = c.attach_answered && (c.configuration_done_answered || !configuration_done);
        if c.live || !through {
            return;
        }
        c.live = true;
        c.heard_exited = self.debugger.memory.exit_code().is_some();
        let replay = self.debugger.memory.replay();
        log::debug!(
            "client #{client}: handshake through, replaying {} events",
            replay.len()
        );
        for m in replay {
            // A remembered `stopped` names breakpoints in the joiner's ids.
            let m = self.for_client(client, m);
            let Some(frame) = Frame::of(&m) else { continue };
            let Some(seq_at) = wire::head(frame.body()).seq else {
                continue;
            };
            let Some(c) = self.clients.get_mut(client) else {
                return;
            };
            c.next_seq += 1;
            out.send(To::Client(client), frame.splice(&[(seq_at, c.next_seq)]));
        }
    }
}
