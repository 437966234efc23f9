//! What the debugger sends: responses (mapped back to the asking client, or
//! cached, split or swallowed), events (to every client that hears events,
//! remembered for joiners), and reverse requests (to one client). And what
//! happens when the debugger comes and goes.

use serde_json::{Value, json};

use super::ids::Layout;
use super::inflight::{Kind, Pending};
use super::wire::{self, Head};
use super::{Dap, Handshake, MAX_REVERSE, RESUMING, Reverse};
use crate::framing::{Message, escape};
use crate::protocol::json;
use crate::session::kit::content_length::{Frame, framed};
use crate::session::{ClientId, Outbox, To};

impl Dap {
    pub(super) fn debugger_message(&mut self, message: Message, out: &mut Outbox) {
        let Some(frame) = Frame::of(&message) else {
            return self.bad_debugger_message("no header end", &message);
        };
        let head = wire::head(frame.body());
        if let Some(fault) = head.fault {
            return self.bad_debugger_message(&format!("malformed JSON ({fault})"), &message);
        }
        match json::text(frame.body(), &head.kind).as_deref() {
            Some("response") => {
                self.response(&frame, &head, out);
                self.release_parked(out);
            }
            Some("event") => self.debugger_event(message, &frame, &head, out),
            Some("request") => self.reverse_request(message, &frame, &head, out),
            _ => self.bad_debugger_message("no known type", &message),
        }
    }

    fn bad_debugger_message(&mut self, what: &str, message: &Message) {
        self.counts.bad_debugger_messages += 1;
        let excerpt = escape(&message.to_vec(), 80);
        if self.warned.first("bad debugger message") {
            log::warn!(
                "dropping a debugger message: {what}: \"{excerpt}\" (further ones logged at debug)"
            );
        } else {
            log::debug!("dropping a debugger message: {what}: \"{excerpt}\"");
        }
    }

    fn response(&mut self, frame: &Frame, head: &Head, out: &mut Outbox) {
        let body = frame.body();
        let request_seq = json::int(body, &head.request_seq);
        let Some(entry) = request_seq.and_then(|rs| self.in_flight.take(rs)) else {
            self.counts.orphan_responses_dropped += 1;
            log::debug!("dropping a response to no request in flight ({request_seq:?})");
            return;
        };
        let p = entry.job;
        let success = json::boolean(body, &head.success) == Some(true);
        if success && RESUMING.contains(&&*p.command) {
            self.debugger.memory.resumed();
        }
        if !success && matches!(&*p.command, "attach" | "launch") {
            // The next client's attach may do better.
            self.debugger.started = false;
            self.debugger.launcher = None;
        }
        if let Kind::Initialize = p.kind {
            self.capabilities(frame, success);
        }
        let client = entry.waiter.client().filter(|&c| self.clients.contains(c));
        // Every client's breakpoints in the union have new debugger ids,
        // whoever asked and whether or not the asker is still there.
        let split = match &p.kind {
            Kind::Split(layout) | Kind::Resync(layout) if success => {
                self.bind_ids(body, layout, client, p.client_seq)
            }
            _ => None,
        };
        let Some(client) = client else {
            if p.kind.internal() {
                log::debug!("swallowing the answer to the proxy's own {}", p.command);
            } else if let Kind::Initialize = p.kind {
                // Its asker left, but those that waited for it are answered.
                self.release_held(out);
            } else {
                self.counts.orphan_responses_dropped += 1;
                log::debug!("dropping the answer to a departed client's {}", p.command);
            }
            return;
        };
        let rs_at = head.request_seq.clone().unwrap_or_default();
        let answer = split.unwrap_or_else(|| frame.splice(&[(rs_at, p.client_seq)]));
        out.send(To::Client(client), answer);
        self.answered(client, &p, success, out);
    }

    /// Keeps the first `initialize` answer for later clients, and answers
    /// those that waited for it.
    fn capabilities(&mut self, frame: &Frame, success: bool) {
        let caps = serde_json::from_slice::<Value>(frame.body())
            .ok()
            .map(|mut v| v["body"].take())
            .filter(|_| success);
        match caps {
            Some(caps) => {
                let caps = if caps.is_object() { caps } else { json!({}) };
                self.debugger.configuration_done = caps
                    .get("supportsConfigurationDoneRequest")
                    .and_then(Value::as_bool)
                    == Some(true);
                self.debugger.handshake = Handshake::Answered(caps);
            }
            None => self.debugger.handshake = Handshake::Fresh,
        }
    }

    /// What follows a client's answer: its handshake progresses, and those
    /// that waited for the first `initialize` are answered.
    fn answered(&mut self, client: ClientId, p: &Pending, success: bool, out: &mut Outbox) {
        if let Some(c) = self.clients.get_mut(client) {
            match &*p.command {
                "initialize" => c.initialize_answered = success,
                "attach" | "launch" => c.attach_answered = true,
                "configurationDone" => c.configuration_done_answered = true,
                _ => return,
            }
        }
        if let Kind::Initialize = p.kind {
            self.release_held(out);
        }
        self.maybe_replay(client, out);
    }

    fn release_held(&mut self, out: &mut Outbox) {
        let held = std::mem::take(&mut self.debugger.held);
        for (client, seq) in held {
            match &self.debugger.handshake {
                Handshake::Answered(caps) => {
                    let caps = caps.clone();
                    self.answer_initialize(client, seq, caps, out);
                }
                _ => {
                    let why = "the debugger refused the first client's initialize";
                    self.refuse(client, seq.into(), "initialize", why, out);
                }
            }
        }
    }

    fn debugger_event(&mut self, message: Message, frame: &Frame, head: &Head, out: &mut Outbox) {
        let name = json::text(frame.body(), &head.event).unwrap_or_default();
        log::debug!("debugger event {name}");
        let parse = || serde_json::from_slice::<Value>(frame.body()).unwrap_or_default();
        let memory = &mut self.debugger.memory;
        match name.as_str() {
            "initialized" => return self.initialized(message, out),
            "terminated" => {
                self.run_over();
                let leaver = self
                    .debugger
                    .goodbye_from
                    .filter(|&c| self.clients.contains(c));
                let heard = match leaver {
                    Some(c) => {
                        out.send(To::Client(c), message);
                        vec![c]
                    }
                    None => self.broadcast(message, out),
                };
                for c in heard {
                    if let Some(c) = self.clients.get_mut(c) {
                        c.heard_terminated = true;
                    }
                }
                return;
            }
            "stopped" => {
                memory.stopped(message.clone(), parse()["body"]["threadId"].as_i64());
                return self.stopped(message, frame, out);
            }
            "breakpoint" => return self.breakpoint_event(message, frame, out),
            "continued" => memory.resumed(),
            "process" => memory.process(message.clone()),
            "output" => memory.output(message.clone()),
            "exited" => {
                memory.exited(message.clone(), parse()["body"]["exitCode"].as_i64());
                self.run_over();
                for c in self.broadcast(message, out) {
                    if let Some(c) = self.clients.get_mut(c) {
                        c.heard_exited = true;
                    }
                }
                return;
            }
            _ => {}
        }
        self.broadcast(message, out);
    }

    /// The debugger's `initialized` goes to the clients whose `initialize`
    /// has been answered and who have not had one (a held client gets the
    /// proxy's when released, a later one with its answer).
    fn initialized(&mut self, message: Message, out: &mut Outbox) {
        self.debugger.initialized_seen = true;
        self.resend_breakpoints(out);
        let present: Vec<ClientId> = self.clients.present().map(|(id, _)| id).collect();
        for id in present {
            if let Some(c) = self.clients.get_mut(id)
                && c.initialize_answered
                && !c.initialized_sent
            {
                c.initialized_sent = true;
                out.send(To::Client(id), message.clone());
            }
        }
    }

    fn reverse_request(&mut self, message: Message, frame: &Frame, head: &Head, out: &mut Outbox) {
        let body = frame.body();
        let Some(seq) = json::int(body, &head.seq) else {
            return self.bad_debugger_message("a request without an integer seq", &message);
        };
        let command = json::text(body, &head.command).unwrap_or_default();
        self.counts.reverse_requests += 1;
        log::debug!("debugger request {seq} {command}");
        if self.debugger.reverse.len() >= MAX_REVERSE {
            log::warn!("over {MAX_REVERSE} debugger requests unanswered: refusing {command}");
            return self.refuse_debugger(
                seq,
                &command,
                "too many requests awaiting an answer",
                out,
            );
        }
        self.route_reverse(seq, command, message, out);
    }

    /// Sends a reverse request to the client that answers them, or answers
    /// the debugger with an error if there is none.
    pub(super) fn route_reverse(
        &mut self,
        seq: i64,
        command: String,
        message: Message,
        out: &mut Outbox,
    ) {
        let Some(client) = self.reverse_target() else {
            return self.refuse_debugger(
                seq,
                &command,
                "no client connected to the proxy can answer",
                out,
            );
        };
        log::debug!("debugger request {seq} {command} goes to client #{client}");
        out.send(To::Client(client), message.clone());
        self.debugger.reverse.insert(
            seq,
            Reverse {
                client,
                command,
                message,
            },
        );
    }

    /// The client that answers the debugger's reverse requests: the one whose
    /// `launch` started the session, else the longest-connected.
    fn reverse_target(&self) -> Option<ClientId> {
        if let Some(l) = self.debugger.launcher
            && self.clients.is_present(l)
        {
            return Some(l);
        }
        // One whose handshake is through, else any.
        self.clients
            .eldest(|_, c| c.initialize_answered)
            .or_else(|| self.clients.eldest(|_, _| true))
    }

    fn refuse_debugger(&mut self, request_seq: i64, command: &str, why: &str, out: &mut Outbox) {
        self.counts.local_answers += 1;
        let seq = self.in_flight.next_seq();
        let m = json!({"seq": seq, "type": "response", "request_seq": request_seq,
                       "success": false, "command": command, "message": why});
        out.send(To::Debugger, framed(&m));
    }

    pub(super) fn lost(&mut self, out: &mut Outbox) {
        if std::mem::take(&mut self.restarting) {
            // Asked for (`runs.rs`): the clients know, and what is in flight
            // is for the next debugger.
            log::debug!("debugger session over, as asked: the new run goes to the next one");
            return;
        }
        let why = "the debugger went away";
        self.fail_in_flight(why, out);
        self.mark_stale();
        let held = std::mem::take(&mut self.debugger.held);
        for (c, seq) in held {
            self.counts.failed_debugger_lost += 1;
            self.refuse(c, seq.into(), "initialize", why, out);
        }
        let exit_code = self.debugger.memory.exit_code();
        let clients: Vec<(ClientId, bool, bool)> = self
            .clients
            .iter()
            .map(|(id, c)| (id, c.heard_terminated, c.heard_exited))
            .collect();
        for (c, heard_terminated, heard_exited) in clients {
            if !heard_terminated {
                self.event(c, "terminated", None, out);
            }
            if let Some(code) = exit_code.filter(|_| !heard_exited) {
                self.event(c, "exited", Some(json!({"exitCode": code})), out);
            }
        }
        log::info!("debugger session over: the next initialize goes to the next debugger");
        self.breakpoints.clear();
        self.ids.debugger_lost();
        self.new_debugger_session(false);
    }

    /// Forgets what the debugger session taught: the next one starts with a
    /// clean handshake. Clients stay, and hear the next one live. With
    /// `queued`, requests sent while no debugger was up are still to be
    /// answered by the new one: the handshake steps they took stay taken.
    pub(super) fn new_debugger_session(&mut self, queued: bool) {
        let forgotten = self.debugger.memory.outputs_forgotten;
        let asked = queued && matches!(self.debugger.handshake, Handshake::Asked);
        let old = std::mem::take(&mut self.debugger);
        self.debugger.memory.outputs_forgotten = forgotten;
        if asked {
            self.debugger.handshake = Handshake::Asked;
            self.debugger.held = old.held;
        }
        self.debugger.started = old.started && asked;
        self.debugger.configured = old.configured && asked;
        self.debugger.launcher = old.launcher.filter(|_| asked);
        self.debugger.resend_breakpoints = old.resend_breakpoints && asked;
        for c in self.clients.iter_mut().map(|(_, c)| c) {
            c.live = true;
            c.initialized_sent = false;
            c.attach_answered = false;
            c.configuration_done_answered = false;
            c.heard_terminated = false;
            c.heard_exited = false;
            c.initialize_answered &= asked;
        }
    }
}

impl Dap {
    /// Binds the ids of the clients in a union request's answer to the
    /// debugger's; returns the asker's answer: the debugger's
    /// `body.breakpoints` at its positions, in its order, in its ids. None
    /// when the answer has no such array (an error): pass it as it is.
    fn bind_ids(
        &mut self,
        body: &[u8],
        layout: &Layout,
        asker: Option<ClientId>,
        client_seq: i64,
    ) -> Option<Message> {
        let mut v: Value = serde_json::from_slice(body).ok()?;
        let all = v.get("body")?.get("breakpoints")?.as_array()?;
        let dids: Vec<Option<i64>> = all.iter().map(|b| b.get("id")?.as_i64()).collect();
        let clients = &self.clients;
        let cids = self
            .ids
            .learn(layout, &dids, asker, |c| clients.contains(c));
        let asker = asker?;
        let own: Vec<Value> = layout
            .mine(asker)
            .iter()
            .zip(cids.iter().chain(std::iter::repeat(&None)))
            .map(|(&i, cid)| {
                let mut b = all
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| json!({"verified": false}));
                if let Some(m) = b.as_object_mut()
                    && m.contains_key("id")
                {
                    match cid {
                        Some(cid) => m.insert("id".into(), (*cid).into()),
                        None => m.remove("id"),
                    };
                }
                b
            })
            .collect();
        v["body"]["breakpoints"] = Value::Array(own);
        v["request_seq"] = client_seq.into();
        Some(framed(&v))
    }
}
