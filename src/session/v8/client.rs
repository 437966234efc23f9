//! What a V8 client sends: requests, given a proxy-wide `seq` on their way to
//! V8; a `disconnect` (see `goodbye.rs`); and what is not a request at all,
//! answered with an error when it says which request it was, else closed.
//! The proxy's own answers to a client are written here too.

use super::V8;
use super::inflight::Request;
use crate::framing::{Message, escape};
use crate::net::queue::Chunk;
use crate::protocol::json::{self, Until};
use crate::protocol::v8;
use crate::session::kit::Waiter;
use crate::session::kit::content_length::{Frame, framed_parts};
use crate::session::{ClientId, Outbox, To};

/// A client's `seq` longer than this is not a number it needs echoed.
const MAX_SEQ: usize = 32;

impl V8 {
    pub(super) fn client_message(&mut self, client: ClientId, message: Message, out: &mut Outbox) {
        if message.empty_body {
            // Cloud9's IDE sends this on reconnect; V8 would take it for a
            // lost connection and drop all breakpoints.
            log::debug!("client #{client}: dropping an empty V8 message (Content-Length: 0)");
            self.empty_dropped += 1;
            return;
        }
        let Some(frame) = Frame::of(&message) else {
            out.close(client, "sent a V8 message without headers");
            return;
        };
        let body = frame.body();
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
        let request = Request {
            seq: body[seq.clone()].to_vec(),
            command: command.to_vec(),
        };
        self.send(&frame, seq, Waiter::Client(client), request, out);
    }

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

    /// A response of the proxy's own to one of `client`'s requests.
    pub(super) fn respond(
        &self,
        client: ClientId,
        seq: &[u8],
        command: &[u8],
        error: Option<&str>,
        out: &mut Outbox,
    ) {
        let command = if command.is_empty() {
            &b"\"\""[..]
        } else {
            command
        };
        let outcome = match error {
            None => "\"success\":true".to_string(),
            Some(why) => format!(
                "\"success\":false,\"message\":{}",
                serde_json::Value::from(why)
            ),
        };
        let body = [
            &b"{\"seq\":0,\"request_seq\":"[..],
            seq,
            b",\"type\":\"response\",\"command\":",
            command,
            b",",
            outcome.as_bytes(),
            format!(",\"running\":{}}}", !self.run.stopped).as_bytes(),
        ]
        .concat();
        out.send(
            To::Client(client),
            framed_parts(vec![Chunk::copy_from(&body)]),
        );
    }
}
