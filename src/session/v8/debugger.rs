//! What V8 sends: its `Type: connect` greeting (to all, kept for joiners),
//! events (to all; a `break`/`exception` is the stop a joiner learns), and
//! responses, whose `request_seq` is mapped back to the asking client's own
//! `seq`. When V8 goes, requests in flight fail and every client hears it.

use super::{Run, V8};
use crate::framing::Message;
use crate::net::queue::Chunk;
use crate::protocol::json::{self, Until};
use crate::session::kit::Waiter;
use crate::session::kit::content_length::{Frame, framed_parts};
use crate::session::{Outbox, To};

const GONE: &str = "dbgproxy: the debugger went away";
const LOST_EVENT: &str = r#"{"seq":0,"type":"event","event":"dbgproxyDebuggerLost","body":{"reason":"dbgproxy: the debugger went away; the next one announces itself with Type: connect"}}"#;

impl V8 {
    pub(super) fn debugger_message(&mut self, message: Message, out: &mut Outbox) {
        let nobody = self.clients.is_empty();
        if self.history.greeting(&message, nobody) {
            out.send(To::All, message);
            return;
        }
        let Some(frame) = Frame::of(&message).filter(|_| !message.empty_body) else {
            self.tell_all(message, out);
            return;
        };
        let body = frame.body();
        let Ok([kind]) = json::fields(body, ["type"], Until::Found) else {
            log::warn!("V8 sent a message that is not a JSON object: passed to all");
            self.tell_all(message, out);
            return;
        };
        if json::plain_str(body, &kind) != Some(b"response") {
            if json::plain_str(body, &kind) == Some(b"event")
                && let Ok([event]) = json::fields(body, ["event"], Until::Found)
                && matches!(json::plain_str(body, &event), Some(b"break" | b"exception"))
            {
                self.run.stopped = true;
                self.run.last_break = Some(message.clone());
                self.tell_all(message, out);
                self.run.break_backlogged = nobody.then(|| self.history.dropped());
                return;
            }
            self.tell_all(message, out);
            return;
        }
        if let Some(running) = running(body) {
            self.run.stopped = !running;
            if running {
                self.run.last_break = None;
            }
        }
        let [request_seq] = json::fields(body, ["request_seq"], Until::Found).unwrap_or([None]);
        let Some(p) = json::unsigned(body, &request_seq).and_then(|n| self.requests.take(n)) else {
            self.orphans += 1;
            if self.warned.first("orphan") {
                log::warn!(
                    "V8 answered a request nobody is waiting for: dropped (counted as orphan_responses_dropped)"
                );
            }
            return;
        };
        self.run
            .breakpoints
            .track(body, &p.job.command, p.waiter.asker());
        match p.waiter {
            Waiter::Client(id) => {
                let Some(r) = request_seq else { return };
                out.send(To::Client(id), frame.replace(r, &p.job.seq));
            }
            Waiter::Departed(_) => self.departed_answers += 1,
            Waiter::Proxy(()) => {}
        }
    }

    pub(super) fn lost(&mut self, out: &mut Outbox) {
        // The V8 protocol has no event for this: requests in flight fail,
        // then every client hears a `dbgproxyDebuggerLost` event (clients
        // ignore events they do not know; one that knows learns it at once
        // rather than when the next V8's `Type: connect` reaches it live).
        for p in self.requests.drain() {
            if let Waiter::Client(id) = p.waiter {
                self.respond(id, &p.job.seq, &p.job.command, Some(GONE), out);
            }
        }
        out.send(
            To::All,
            framed_parts(vec![Chunk::copy_from(LOST_EVENT.as_bytes())]),
        );
        self.run = Run::default();
        self.history.lost();
    }
}

/// `"running"` of a V8 response: V8 writes it last, so the end of the body
/// usually tells without reading the rest.
fn running(body: &[u8]) -> Option<bool> {
    let t = body.trim_ascii_end();
    if t.ends_with(b",\"running\":true}") {
        return Some(true);
    }
    if t.ends_with(b",\"running\":false}") {
        return Some(false);
    }
    let [r] = json::fields(body, ["running"], Until::Found).ok()?;
    json::boolean(body, &r)
}
