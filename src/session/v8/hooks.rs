//! The V8 session's entry points (the `Session` trait).

use serde_json::{Map, Value};

use super::{From, MAX_SEQ, Peer, Pending, V8, running, spliced, split};
use crate::framing::{Message, escape};
use crate::protocol::json::{self, Until};
use crate::protocol::v8;
use crate::session::{ClientId, Outbox, Session, To};

const GONE: &str = "dbgproxy: the debugger went away";
const LOST_EVENT: &str = r#"{"seq":0,"type":"event","event":"dbgproxyDebuggerLost","body":{"reason":"dbgproxy: the debugger went away; the next one announces itself with Type: connect"}}"#;

impl V8 {
    /// A client's message that is not a request V8 should see.
    fn refuse(&mut self, client: ClientId, body: &[u8], why: &str, out: &mut Outbox) {
        self.bad_messages += 1;
        // A body that does not parse may still say which request it was.
        let [seq, command] =
            json::fields(body, ["seq", "command"], Until::Found).unwrap_or([None, None]);
        let seq = json::number(body, &seq).filter(|r| r.len() <= MAX_SEQ);
        let command = json::plain_str(body, &command)
            .and(command)
            .map_or(&[][..], |r| &body[r]);
        log::warn!(
            "client #{client}: {why}: \"{}\"{}",
            escape(body, 60),
            if seq.is_some() {
                ", answered with an error"
            } else {
                ": closing it"
            }
        );
        match seq {
            Some(seq) => {
                let why = format!("dbgproxy: {why}");
                self.respond(client, &body[seq], command, Some(&why), out);
            }
            None => out.close(
                client,
                format!("sent a V8 message without a numeric seq ({why})"),
            ),
        }
    }
}

impl Session for V8 {
    fn client_joined(&mut self, client: ClientId, out: &mut Outbox) {
        self.clients.insert(client, Peer::default());
        self.history.replay(client, out);
        let read_in_backlog = self.break_backlogged.take() == Some(self.history.dropped());
        if let Some(event) = self.last_break.as_ref().filter(|_| self.stopped)
            && !read_in_backlog
        {
            out.send(To::Client(client), event.clone());
        }
    }

    fn from_client(&mut self, client: ClientId, message: Message, out: &mut Outbox) {
        if message.empty_body {
            // Cloud9's IDE sends this on reconnect; V8 would take it for a
            // lost connection and drop all breakpoints.
            log::debug!("client #{client}: dropping an empty V8 message (Content-Length: 0)");
            self.empty_dropped += 1;
            return;
        }
        let Some((chunk, at)) = split(&message) else {
            out.close(client, "sent a V8 message without headers");
            return;
        };
        let body = &chunk[at..];
        let [seq, kind, command] = match json::fields(body, ["seq", "type", "command"], Until::End)
        {
            Ok(f) => f,
            Err(e) => {
                return self.refuse(
                    client,
                    body,
                    &format!("not a JSON object ({} at byte {})", e.what, e.at),
                    out,
                );
            }
        };
        let Some(seq) = json::number(body, &seq).filter(|r| r.len() <= MAX_SEQ) else {
            return self.refuse(client, body, "no numeric seq", out);
        };
        if json::plain_str(body, &kind) != Some(b"request") {
            return self.refuse(client, body, "not a request", out);
        }
        let Some(name) = json::plain_str(body, &command) else {
            return self.refuse(client, body, "no command", out);
        };
        let command = command.map_or(&[][..], |r| &body[r]);
        log::debug!("client #{client}: {}", escape(name, 40));
        if v8::is_goodbye(name) && self.goodbye(client, &body[seq.clone()], command, out) {
            return;
        }
        let pending = Pending {
            from: From::Client {
                id: client,
                here: true,
            },
            seq: body[seq.clone()].to_vec(),
            command: command.to_vec(),
        };
        self.send(&chunk, at, seq, pending, out);
    }

    fn client_left(&mut self, client: ClientId, _out: &mut Outbox) {
        self.clients.remove(&client);
        for p in self.pending.values_mut() {
            if let From::Client { id, here } = &mut p.from
                && *id == client
            {
                *here = false;
            }
        }
    }

    fn debugger_up(&mut self, _out: &mut Outbox) {
        log::debug!("V8 is up: its Type: connect goes to every client");
    }

    fn from_debugger(&mut self, message: Message, out: &mut Outbox) {
        let nobody = self.clients.is_empty();
        if self.history.greeting(&message, nobody) {
            out.send(To::All, message);
            return;
        }
        let Some((chunk, at)) = split(&message).filter(|_| !message.empty_body) else {
            self.tell_all(message, out);
            return;
        };
        let body = &chunk[at..];
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
                self.stopped = true;
                self.last_break = Some(message.clone());
                self.tell_all(message, out);
                self.break_backlogged = nobody.then(|| self.history.dropped());
                return;
            }
            self.tell_all(message, out);
            return;
        }
        if let Some(running) = running(body) {
            self.stopped = !running;
            if running {
                self.last_break = None;
            }
        }
        let [request_seq] = json::fields(body, ["request_seq"], Until::Found).unwrap_or([None]);
        let Some(p) = json::unsigned(body, &request_seq).and_then(|n| self.pending.remove(&n))
        else {
            self.orphans += 1;
            if !std::mem::replace(&mut self.warned_orphan, true) {
                log::warn!(
                    "V8 answered a request nobody is waiting for: dropped (counted as orphan_responses_dropped)"
                );
            }
            return;
        };
        let owner = match p.from {
            From::Client { id, .. } => Some(id),
            From::Proxy => None,
        };
        self.track_breakpoint(body, &p.command, owner);
        match p.from {
            From::Client { id, here: true } => {
                let Some(r) = request_seq else { return };
                out.send(To::Client(id), spliced(&chunk, at, r, &p.seq));
            }
            From::Client { here: false, .. } => self.departed_answers += 1,
            From::Proxy => {}
        }
    }

    fn debugger_lost(&mut self, out: &mut Outbox) {
        // The V8 protocol has no event for this: requests in flight fail,
        // then every client hears a `dbgproxyDebuggerLost` event (clients
        // ignore events they do not know; one that knows learns it at once
        // rather than when the next V8's `Type: connect` reaches it live).
        for p in std::mem::take(&mut self.pending).into_values() {
            if let From::Client { id, here: true } = p.from {
                self.respond(id, &p.seq, &p.command, Some(GONE), out);
            }
        }
        out.send(
            To::All,
            super::framed(vec![crate::queue::Chunk::copy_from(LOST_EVENT.as_bytes())]),
        );
        self.stopped = false;
        self.last_break = None;
        self.breakpoints.clear();
        self.break_backlogged = None;
        self.history.lost();
    }

    fn client_status(&self, client: ClientId) -> Map<String, Value> {
        let n = self
            .pending
            .values()
            .filter(|p| matches!(p.from, From::Client { id, .. } if id == client))
            .count();
        let mut m = Map::new();
        m.insert("requests_in_flight".into(), n.into());
        m
    }

    fn counters(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("requests_in_flight".into(), self.pending.len().into());
        m.insert(
            "empty_v8_messages_dropped".into(),
            self.empty_dropped.into(),
        );
        m.insert("orphan_responses_dropped".into(), self.orphans.into());
        m.insert(
            "answers_to_departed_clients_dropped".into(),
            self.departed_answers.into(),
        );
        m.insert("bad_client_messages".into(), self.bad_messages.into());
        m.insert("requests_forgotten".into(), self.forgotten.into());
        self.history.counters(&mut m);
        m
    }
}
