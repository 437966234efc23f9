//! What a client sends: requests (most forwarded with a proxy `seq` spliced
//! in; the handshake, breakpoints, `cancel` and goodbyes handled here), and
//! its answers to the debugger's reverse requests. Bad input is answered with
//! an error when it is recognisably a request, else ends that client only.

use serde_json::Value;

use super::inflight::{Kind, pending};
use super::wire::{self, Head};
use super::{Dap, Handshake, MAX_HELD_INITIALIZE};
use crate::framing::{Message, escape};
use crate::protocol::json::{self, Fault};
use crate::session::kit::content_length::Frame;
use crate::session::{ClientId, Outbox, To};

/// A request as the session sees it.
pub(super) struct Request<'a> {
    pub client: ClientId,
    pub seq: i64,
    pub command: &'a str,
    pub frame: &'a Frame,
    pub head: &'a Head,
}

impl Dap {
    pub(super) fn client_message(&mut self, client: ClientId, message: Message, out: &mut Outbox) {
        if !self.clients.contains(client) {
            return;
        }
        if self.clients.is_leaving(client) {
            log::debug!("client #{client}: ignoring a message after its goodbye");
            return;
        }
        let Some(frame) = Frame::of(&message) else {
            return self.bad(client, "a message without a header end".into(), out);
        };
        let body = frame.body();
        let head = wire::head(body);
        let seq = json::number(body, &head.seq);
        let kind = json::text(body, &head.kind);
        let valid = json::check(body);
        match (seq.clone(), kind.as_deref()) {
            (Some(seq), Some("request")) => {
                self.request_from(client, &frame, &head, seq, valid, out)
            }
            (Some(_), Some("response")) => match valid {
                Ok(()) => self.reverse_answer(client, &frame, &head, out),
                Err(fault) => {
                    self.counts.bad_client_messages += 1;
                    log::warn!("client #{client}: dropping a malformed response ({fault})");
                }
            },
            (Some(_), Some("event")) => {
                self.counts.bad_client_messages += 1;
                log::debug!("client #{client}: dropping an event (clients send none)");
            }
            (Some(_), Some(other)) => {
                self.bad(client, format!("a message of unknown type {other:?}"), out)
            }
            _ => {
                let what = match valid {
                    Err(fault) => format!("malformed JSON ({fault})"),
                    _ if seq.is_none() => "a message without a numeric seq".to_string(),
                    _ => "a message without a string type".to_string(),
                };
                let excerpt = escape(body, 64);
                self.bad(client, format!("{what}: \"{excerpt}\""), out)
            }
        }
    }

    /// Closes `client` over a message that is not DAP.
    fn bad(&mut self, client: ClientId, what: String, out: &mut Outbox) {
        self.counts.bad_client_messages += 1;
        log::warn!("client #{client} sent {what}: closing it");
        self.clients.set_leaving(client);
        out.close(client, format!("sent {what}"));
    }

    fn request_from(
        &mut self,
        client: ClientId,
        frame: &Frame,
        head: &Head,
        seq_at: std::ops::Range<usize>,
        valid: Result<(), Fault>,
        out: &mut Outbox,
    ) {
        let body = frame.body();
        let command = json::text(body, &head.command);
        let name = command.as_deref().unwrap_or("");
        let Some(seq) = json::int(body, &Some(seq_at.clone())) else {
            let raw = serde_json::from_slice(&body[seq_at]).unwrap_or(Value::Null);
            return self.refuse_bad(client, raw, name, "seq is not an integer", out);
        };
        if let Err(fault) = valid {
            let why = format!("malformed JSON ({fault})");
            return self.refuse_bad(client, seq.into(), name, &why, out);
        }
        let Some(command) = command else {
            return self.refuse_bad(client, seq.into(), "", "no string command", out);
        };
        log::debug!("client #{client}: request {seq} {command}");
        let r = Request {
            client,
            seq,
            command: &command,
            frame,
            head,
        };
        match r.command {
            "initialize"
            | "setBreakpoints"
            | "setFunctionBreakpoints"
            | "setExceptionBreakpoints"
            | "setDataBreakpoints"
            | "setInstructionBreakpoints"
            | "cancel"
            | "disconnect"
            | "terminate" => {
                let value: Value = match serde_json::from_slice(body) {
                    Ok(v) => v,
                    Err(e) => {
                        let why = format!("malformed JSON: {e}");
                        return self.refuse_bad(client, seq.into(), r.command, &why, out);
                    }
                };
                let args = value.get("arguments").cloned().unwrap_or(Value::Null);
                match r.command {
                    "initialize" => self.initialize(&r, &args, out),
                    "cancel" => self.cancel(&r, &args, out),
                    "disconnect" | "terminate" => self.goodbye(&r, &args, out),
                    _ => self.set_breakpoints(&r, &args, out),
                }
            }
            "attach" | "launch" => self.start(&r, out),
            "configurationDone" => self.configuration_done(&r, out),
            _ if self.refuse_stale(client, seq, r.command, out) => {}
            _ => self.forward_request(&r, Kind::Plain, out),
        }
    }

    /// Answers a malformed request with an error; the client stays.
    fn refuse_bad(
        &mut self,
        client: ClientId,
        seq: Value,
        command: &str,
        why: &str,
        out: &mut Outbox,
    ) {
        self.counts.bad_client_messages += 1;
        log::warn!("client #{client}: bad request {seq} {command:?}: {why}");
        self.refuse(client, seq, command, why, out);
    }

    /// Forwards a request as it came, with a proxy `seq` spliced in.
    pub(super) fn forward_request(&mut self, r: &Request, kind: Kind, out: &mut Outbox) {
        if !self.admit(r.client, r.seq, r.command, out) {
            return;
        }
        let seq_at = r.head.seq.clone().unwrap_or_default();
        let proxy_seq = self.in_flight.next_seq();
        let p = pending(r.seq, r.command, kind);
        self.in_flight.insert(proxy_seq, Some(r.client), p);
        out.send(To::Debugger, r.frame.splice(&[(seq_at, proxy_seq)]));
    }

    fn initialize(&mut self, r: &Request, args: &Value, out: &mut Outbox) {
        self.start_new_run(r.client, r.command, out);
        if let Some(c) = self.clients.get_mut(r.client) {
            c.stale = false;
            let text = |k: &str| {
                args.get(k)
                    .and_then(Value::as_str)
                    .map(|s| s.chars().take(128).collect())
            };
            c.client_id = text("clientID");
            c.client_name = text("clientName");
        }
        match &self.debugger.handshake {
            Handshake::Fresh => {
                self.remember_initialize(args);
                self.debugger.handshake = Handshake::Asked;
                self.forward_request(r, Kind::Initialize, out);
            }
            Handshake::Asked if self.debugger.held.len() < MAX_HELD_INITIALIZE => {
                log::debug!(
                    "client #{}: initialize held until the first is answered",
                    r.client
                );
                self.debugger.held.push((r.client, r.seq));
            }
            Handshake::Asked => {
                let why = "too many clients waiting for the debugger's first initialize answer";
                self.refuse(r.client, r.seq.into(), "initialize", why, out);
            }
            Handshake::Answered(caps) => {
                let caps = caps.clone();
                self.answer_initialize(r.client, r.seq, caps, out);
            }
        }
    }

    /// Answers `client`'s `initialize` from the cached capabilities, then
    /// `initialized` if the debugger has said it already (else the debugger's
    /// own reaches it).
    pub(super) fn answer_initialize(
        &mut self,
        client: ClientId,
        seq: i64,
        caps: Value,
        out: &mut Outbox,
    ) {
        self.answer(client, seq, "initialize", Some(caps), out);
        let seen = self.debugger.initialized_seen;
        let Some(c) = self.clients.get_mut(client) else {
            return;
        };
        c.initialize_answered = true;
        if seen && !c.initialized_sent {
            c.initialized_sent = true;
            self.event(client, "initialized", None, out);
        }
    }

    fn start(&mut self, r: &Request, out: &mut Outbox) {
        if self.debugger.memory.is_over() && self.one_session {
            let why = "the debuggee's run is over, and in one-session mode the proxy \
                       does not start another";
            return self.refuse(r.client, r.seq.into(), r.command, why, out);
        }
        self.start_new_run(r.client, r.command, out);
        self.initialize_for(r.client, out);
        if !self.debugger.started {
            self.debugger.started = true;
            if r.command == "launch" {
                self.debugger.launcher = Some(r.client);
            }
            return self.forward_request(r, Kind::Plain, out);
        }
        log::debug!(
            "client #{}: {} answered locally: the session is started",
            r.client,
            r.command
        );
        self.answer(r.client, r.seq, r.command, None, out);
        if let Some(c) = self.clients.get_mut(r.client) {
            c.attach_answered = true;
        }
        self.maybe_replay(r.client, out);
    }

    fn configuration_done(&mut self, r: &Request, out: &mut Outbox) {
        if !self.debugger.configured {
            self.debugger.configured = true;
            return self.forward_request(r, Kind::Plain, out);
        }
        self.answer(r.client, r.seq, r.command, None, out);
        if let Some(c) = self.clients.get_mut(r.client) {
            c.configuration_done_answered = true;
        }
        self.maybe_replay(r.client, out);
    }

    fn set_breakpoints(&mut self, r: &Request, args: &Value, out: &mut Outbox) {
        let plan = match r.command {
            "setBreakpoints" => self.breakpoints.set_source(r.client, args),
            "setExceptionBreakpoints" => self.breakpoints.set_exceptions(r.client, args),
            named => self.breakpoints.set_named(r.client, named, args),
        };
        match plan {
            Ok(p) => self.request(
                Some((r.client, r.seq)),
                r.command,
                p.arguments,
                Kind::Split(Box::new(p.layout)),
                out,
            ),
            Err(why) => self.refuse_bad(r.client, r.seq.into(), r.command, &why, out),
        }
    }

    /// `cancel` names a request by the client's `seq`: the debugger knows it
    /// by the proxy's.
    fn cancel(&mut self, r: &Request, args: &Value, out: &mut Outbox) {
        let Some(id) = args.get("requestId") else {
            // A progress id is the debugger's own: nothing to rewrite.
            return self.forward_request(r, Kind::Plain, out);
        };
        let found = id.as_i64().and_then(|id| self.in_flight.find(r.client, id));
        let Some(proxy_id) = found else {
            // Answered already, or answered by the proxy: nothing to cancel.
            return self.answer(r.client, r.seq, "cancel", None, out);
        };
        let mut arguments = args.clone();
        arguments["requestId"] = proxy_id.into();
        self.request(
            Some((r.client, r.seq)),
            "cancel",
            arguments,
            Kind::Plain,
            out,
        );
    }

    /// A client's answer to a reverse request goes to the debugger, if it is
    /// the client that was asked.
    fn reverse_answer(&mut self, client: ClientId, frame: &Frame, head: &Head, out: &mut Outbox) {
        let body = frame.body();
        let asked = json::int(body, &head.request_seq);
        let mine = asked.filter(|rs| {
            self.debugger
                .reverse
                .get(rs)
                .is_some_and(|r| r.client == client)
        });
        let (Some(rs), Some(seq_at)) = (mine, head.seq.clone()) else {
            self.counts.reverse_answers_dropped += 1;
            log::debug!(
                "client #{client}: dropping a response to no request of the debugger's ({asked:?})"
            );
            return;
        };
        self.debugger.reverse.remove(&rs);
        let proxy_seq = self.in_flight.next_seq();
        out.send(To::Debugger, frame.splice(&[(seq_at, proxy_seq)]));
    }
}
