//! The debugger's events that name breakpoints, told to each client in its
//! own ids (`ids.rs`): `stopped.hitBreakpointIds` and `breakpoint` events.
//!
//! A `stopped` without hit ids is one shared buffer for all, as every other
//! event; with them, each client gets the ids of its own breakpoints among
//! them (an empty array when none is its), spliced into the debugger's
//! bytes. A `breakpoint` event goes to the clients that hold that
//! breakpoint, each with its own id; one nobody holds (a breakpoint the
//! debugger made itself, from its console) goes to all unchanged.

use std::ops::Range;

use serde_json::Value;

use super::{Dap, wire};
use crate::framing::Message;
use crate::protocol::json::{self, Values};
use crate::session::kit::content_length::Frame;
use crate::session::{ClientId, Outbox, To};

/// `stopped` events held for breakpoint answers; past it they are told as
/// they are (a debugger that never answers must not silence its stops).
const MAX_PARKED: usize = 16;

impl Dap {
    /// Sends a `stopped` event to every client that hears events.
    ///
    /// A debugger may report a stop at a breakpoint before it answers the
    /// request that set it (debugpy does, when the program is running): the
    /// hit id is then bound to no client yet, and each client would be told
    /// a stop at none of its breakpoints. Such a stop waits for the
    /// breakpoints answers in flight (`release_parked`).
    pub(super) fn stopped(&mut self, message: Message, frame: &Frame, out: &mut Outbox) {
        let Some((range, hit)) = hit_ids(frame.body()) else {
            self.broadcast(message, out);
            return;
        };
        let unbound = hit.iter().any(|&did| !self.ids.owned(did));
        if unbound && self.in_flight.binding() {
            if self.debugger.parked.len() < MAX_PARKED {
                log::debug!(
                    "a stop at breakpoints {hit:?} waits for the breakpoints answers in flight"
                );
                self.debugger.parked.push(message);
                return;
            }
            self.counts.stops_not_parked += 1;
        }
        let audience = self.audience();
        let own: Vec<(ClientId, Vec<i64>)> = audience
            .iter()
            .map(|&c| (c, self.own_hits(c, &hit)))
            .collect();
        if audience.len() == self.clients.len() && own.iter().all(|(_, ids)| *ids == hit) {
            out.send(To::All, message);
            return;
        }
        for (c, ids) in own {
            let m = if ids == hit {
                message.clone()
            } else {
                frame.replace(range.clone(), &array(&ids))
            };
            out.send(To::Client(c), m);
        }
    }

    /// Tells the parked stops once no breakpoints answer is in flight.
    pub(super) fn release_parked(&mut self, out: &mut Outbox) {
        if self.debugger.parked.is_empty() || self.in_flight.binding() {
            return;
        }
        for message in std::mem::take(&mut self.debugger.parked) {
            match Frame::of(&message) {
                Some(frame) => self.stopped(message.clone(), &frame, out),
                None => {
                    self.broadcast(message, out);
                }
            }
        }
    }

    /// `message` as `client` is to hear it: a remembered `stopped` for a
    /// joiner, in its own ids.
    pub(super) fn for_client(&self, client: ClientId, message: Message) -> Message {
        let Some(frame) = Frame::of(&message) else {
            return message;
        };
        let event = wire::head(frame.body()).event;
        if json::plain_str(frame.body(), &event) != Some(b"stopped") {
            return message;
        }
        let Some((range, hit)) = hit_ids(frame.body()) else {
            return message;
        };
        let ids = self.own_hits(client, &hit);
        if ids == hit {
            return message;
        }
        frame.replace(range, &array(&ids))
    }

    /// The clients that hear the debugger's events now.
    fn audience(&self) -> Vec<ClientId> {
        self.clients
            .present()
            .filter(|(_, c)| c.live)
            .map(|(id, _)| id)
            .collect()
    }

    fn own_hits(&self, client: ClientId, hit: &[i64]) -> Vec<i64> {
        hit.iter()
            .filter_map(|&did| self.ids.own(client, did))
            .collect()
    }

    /// A `breakpoint` event (`new`, `changed`, `removed`).
    pub(super) fn breakpoint_event(&mut self, message: Message, frame: &Frame, out: &mut Outbox) {
        let found = path(frame.body(), &[b"body", b"breakpoint", b"id"]);
        let did = found
            .clone()
            .and_then(|r| json::int(frame.body(), &Some(r)));
        let (Some(range), Some(did)) = (found, did) else {
            self.broadcast(message, out);
            return;
        };
        if !self.ids.owned(did) {
            log::debug!("breakpoint event for {did}, which no client holds: to all");
            self.broadcast(message, out);
            return;
        }
        for c in self.audience() {
            if let Some(cid) = self.ids.own(c, did) {
                let m = if cid == did {
                    message.clone()
                } else {
                    frame.splice(&[(range.clone(), cid)])
                };
                out.send(To::Client(c), m);
            }
        }
        let reason = path(frame.body(), &[b"body", b"reason"]);
        if json::plain_str(frame.body(), &reason) == Some(b"removed") {
            self.ids.removed(did);
        }
    }
}

/// The range of `body.hitBreakpointIds` and the ids in it, when it is an
/// array of integers.
fn hit_ids(body: &[u8]) -> Option<(Range<usize>, Vec<i64>)> {
    let range = path(body, &[b"body", b"hitBreakpointIds"])?;
    let ids: Vec<Value> = serde_json::from_slice(&body[range.clone()]).ok()?;
    let ids = ids
        .iter()
        .map(Value::as_i64)
        .collect::<Option<Vec<i64>>>()?;
    Some((range, ids))
}

/// Where the value at `keys` (object members, nested) lies in `body`.
fn path(body: &[u8], keys: &[&[u8]]) -> Option<Range<usize>> {
    let mut at = 0..body.len();
    for key in keys {
        let inner = &body[at.clone()];
        let (_, r) = json::members(inner, Values::Extent)
            .map_while(Result::ok)
            .find(|(k, _)| k.raw() == *key)?;
        at = at.start + r.start..at.start + r.end;
    }
    Some(at)
}

fn array(ids: &[i64]) -> Vec<u8> {
    serde_json::to_vec(ids).unwrap_or_else(|_| b"[]".to_vec())
}
