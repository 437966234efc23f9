//! What the debugger (the engine) says: the `<init>` of each engine connection (after
//! which the remembered features and breakpoints are replayed), answers
//! (back to the client that asked, with its own id), stops nobody asked
//! for, `<stream>` and `<notify>` (to all), and the connection's end.

use std::collections::{BTreeSet, VecDeque};
use std::ops::Range;

use super::client::is_continuation;
use super::command::{Command, build};
use super::inflight::{Own, Queued, Sent};
use super::packet::{self, Packet, Root};
use super::{Dbgp, Goodbye, MAX_HELD, State};
use crate::framing::Message;
use crate::session::kit::Waiter;
use crate::session::kit::inflight::Entry;
use crate::session::{Outbox, To};

impl Dbgp {
    pub(super) fn engine_packet(&mut self, message: Message, out: &mut Outbox) {
        let p = Packet::parse(&message);
        match p.root {
            Root::Init => self.init(message, out),
            Root::Response => {
                self.response(p, message, out);
                self.pump(out);
            }
            Root::Notify => match self.in_flight.first_mut() {
                Some((_, f))
                    if f.job.cmd.name() == b"breakpoint_set" && f.job.held.len() < MAX_HELD =>
                {
                    f.job.held.push(p)
                }
                _ => self.to_all(&p, message, out),
            },
            Root::Stream | Root::Other => out.send(To::All, message),
        }
    }

    fn init(&mut self, message: Message, out: &mut Outbox) {
        let e = self.engine.get_or_insert_with(Default::default);
        if e.init.is_some() {
            log::warn!("Xdebug sent a second <init> on one connection: passing it on");
            return out.send(To::All, message);
        }
        e.init = Some(message.clone());
        for (_, c) in self.clients.iter_mut() {
            c.started = false;
        }
        out.send(To::All, message);
        // What the clients asked of the last PHP request, before anything
        // they ask of this one.
        let mut replays = VecDeque::new();
        for (name, raw) in self.features.iter() {
            let args = [(b'n', name.to_vec()), (b'v', raw.to_vec())];
            replays.extend(replay(Own::Feature, b"feature_set", &args, None));
        }
        for serial in self.breakpoints.new_connection() {
            if let Some(r) = self.breakpoints.get(serial) {
                let origin = Own::Breakpoint(serial);
                replays.extend(replay(
                    origin,
                    b"breakpoint_set",
                    &r.args,
                    r.data.as_deref(),
                ));
            }
        }
        if !replays.is_empty() {
            log::debug!(
                "replaying {} command(s) to the new engine connection",
                replays.len()
            );
        }
        replays.append(&mut self.queue);
        self.queue = replays;
        self.pump(out);
    }

    fn response(&mut self, p: Packet, message: Message, out: &mut Outbox) {
        if let Some(f) = p.txn().and_then(|txn| self.in_flight.take(txn)) {
            return self.answered(f, p, out);
        }
        let closing = matches!(
            self.engine.as_ref().map(|e| &e.goodbye),
            Some(Goodbye::Answered(_))
        );
        if closing {
            // Xdebug repeats the goodbye's id on a last `stopping` report.
            log::debug!("dropping Xdebug's report after the goodbye was answered");
        } else if p.attr("transaction_id").is_none() || p.attr("status").is_some() {
            // A stop after Xdebug resumed the script on its own (an unknown
            // command): it carries no id, or the id of the last command
            // Xdebug knew, long answered.
            self.stopped(&p, None, message, out);
        } else {
            self.n.orphan_responses_dropped += 1;
            log::debug!(
                "dropping an answer to transaction {:?}: nobody waits for it",
                p.txn()
            );
        }
    }

    fn answered(&mut self, f: Entry<Sent, Own>, p: Packet, out: &mut Outbox) {
        let Entry {
            waiter: origin,
            job: Sent { cmd, held },
        } = f;
        let name = cmd.name();
        let ok = p.error_code().is_none();
        let mut attrs: Vec<(&str, Option<Vec<u8>>)> = Vec::new();
        match name {
            b"feature_set" if ok && p.attr("success") == Some(b"1") => {
                self.features.set(&cmd, &mut self.warned)
            }
            b"breakpoint_set" if ok => {
                if let Some(engine_id) = p.attr("id").map(<[u8]>::to_vec) {
                    if let Waiter::Proxy(Own::Breakpoint(serial)) = origin {
                        self.n.breakpoints_replayed += 1;
                        self.breakpoints.replayed(serial, &engine_id, p.clone());
                    } else {
                        let owner = origin.client();
                        let facing =
                            self.breakpoints
                                .remember(owner, &cmd, &engine_id, &mut self.warned);
                        if facing != engine_id {
                            attrs.push(("id", Some(facing)));
                        }
                    }
                }
            }
            b"breakpoint_update" if ok => self
                .breakpoints
                .updated(cmd.value(b'd').unwrap_or_default(), &cmd),
            _ => {}
        }
        if let Some(e) = self.engine.as_mut() {
            if let Some(s) = p.attr("status").and_then(state) {
                e.state = s;
            }
            if p.error_code() == Some(b"4") {
                // Xdebug resumes the script after a command it does not know.
                e.state = State::Running;
            }
            if matches!(name, b"stop" | b"detach") {
                e.goodbye = Goodbye::Answered(p.clone());
            }
        }
        for h in held {
            let m = h.edit(&[], Vec::new());
            self.to_all(&h, m, out);
        }
        match origin {
            Waiter::Proxy(Own::Feature | Own::Breakpoint(_)) if !ok => log::warn!(
                "Xdebug refused a replayed {}: {}",
                String::from_utf8_lossy(name),
                crate::framing::escape(&cmd.bytes, 120)
            ),
            Waiter::Proxy(Own::Feature) => self.n.features_replayed += 1,
            Waiter::Proxy(Own::Breakpoint(_) | Own::Internal) => {}
            Waiter::Client(_) | Waiter::Departed(_) => {
                let client = match origin {
                    Waiter::Client(c) if self.is_present(c) => Some(c),
                    _ => None,
                };
                // A stop is everyone's news, whoever asked for it.
                let stop = ok && is_continuation(name) && p.attr("status").is_some();
                match client {
                    None => {
                        self.n.orphan_responses_dropped += 1;
                        log::debug!(
                            "dropping the answer to {}: its client left",
                            String::from_utf8_lossy(name)
                        );
                    }
                    Some(c) if !stop => {
                        if matches!(name, b"stop" | b"detach")
                            && let Some(e) = self.engine.as_mut()
                        {
                            e.said_goodbye.insert(c);
                        }
                        attrs.push(("transaction_id", Some(cmd.txn().to_vec())));
                        let attrs: Vec<_> = attrs.iter().map(|(k, v)| (*k, v.as_deref())).collect();
                        out.send(To::Client(c), p.edit(&attrs, self.facing_edits(&p)));
                    }
                    Some(_) => {}
                }
                if stop {
                    let mine = client.map(|c| (c, cmd.txn().to_vec()));
                    let message = p.edit(&[], Vec::new());
                    self.stopped(&p, mine, message, out);
                }
            }
        }
        // Only now: the answer above named it by the id its client knows.
        if ok && name == b"breakpoint_remove" {
            self.breakpoints
                .removed(cmd.value(b'd').unwrap_or_default());
        }
    }

    /// A stop (or the end of the script): the client whose continuation it
    /// answers gets it with its id, so do the clients whose first
    /// continuation waits for it, and everyone else without an id.
    fn stopped(
        &mut self,
        p: &Packet,
        mine: Option<(u64, Vec<u8>)>,
        message: Message,
        out: &mut Outbox,
    ) {
        let Some(e) = self.engine.as_mut() else {
            return out.send(To::All, message);
        };
        if let Some(s) = p.attr("status").and_then(state) {
            e.state = s;
            if matches!(s, State::Break | State::Stopping) {
                e.last_stop = Some(p.clone());
            }
        }
        let mut addressed: Vec<(u64, Vec<u8>, Option<Vec<u8>>)> = e
            .waiters
            .drain(..)
            .map(|(c, txn, name)| (c, txn, Some(name)))
            .collect();
        if let Some((c, txn)) = mine {
            addressed.push((c, txn, None));
        }
        let anonymous = if p.attr("transaction_id").is_some() {
            p.readdressed(None, None)
        } else {
            message
        };
        let named: BTreeSet<u64> = addressed.iter().map(|(c, _, _)| *c).collect();
        if named.is_empty() {
            return out.send(To::All, anonymous);
        }
        for (c, txn, name) in &addressed {
            out.send(To::Client(*c), p.readdressed(name.as_deref(), Some(txn)));
        }
        let others: Vec<u64> = self
            .clients
            .iter()
            .map(|(c, _)| c)
            .filter(|c| !named.contains(c))
            .collect();
        for c in others {
            if self.is_present(c) {
                out.send(To::Client(c), anonymous.clone());
            }
        }
    }

    /// Edits that put the ids the clients know in place of the engine's
    /// breakpoint ids inside a packet, where they differ.
    fn facing_edits(&self, p: &Packet) -> Vec<(Range<usize>, Vec<u8>)> {
        p.breakpoint_ids()
            .into_iter()
            .filter_map(|r| {
                let facing = self.breakpoints.facing_id(&p.bytes[r.clone()])?;
                Some((r, facing.to_vec()))
            })
            .collect()
    }

    /// A packet for everyone: `message` itself unless ids change.
    fn to_all(&self, p: &Packet, message: Message, out: &mut Outbox) {
        let edits = self.facing_edits(p);
        let message = if edits.is_empty() {
            message
        } else {
            p.edit(&[], edits)
        };
        out.send(To::All, message);
    }

    /// The engine connection ended: whoever waits for an answer gets one
    /// (a goodbye its success, a continuation the end of the script, any
    /// other command an error), every other client that saw the connection
    /// an id-less `stopped`, and what belonged to the connection goes.
    pub(super) fn engine_lost(&mut self, out: &mut Outbox) {
        let Some(e) = self.engine.take() else { return };
        let finished = matches!(e.goodbye, Goodbye::Answered(_))
            || matches!(e.state, State::Stopping | State::Stopped);
        let reason = if finished { "ok" } else { "aborted" };
        let mut waiting: Vec<Queued> = self
            .in_flight
            .drain()
            .into_iter()
            .map(|f| Queued {
                origin: f.waiter,
                cmd: f.job.cmd,
            })
            .collect();
        waiting.extend(self.queue.drain(..));
        let mut told = e.said_goodbye;
        for (client, txn, name) in e.waiters {
            let attrs = [("status", "stopped"), ("reason", reason)];
            self.answer(client, packet::response(&name, Some(&txn), &attrs, ""), out);
            told.insert(client);
        }
        for Queued { origin, cmd } in waiting {
            let Waiter::Client(client) = origin else {
                continue;
            };
            if !self.is_present(client) {
                continue;
            }
            let (name, txn) = (cmd.name(), Some(cmd.txn()));
            let status = match name {
                b"stop" => Some(("stopped", "ok")),
                b"detach" => Some(("stopping", "ok")),
                _ if is_continuation(name) => Some(("stopped", reason)),
                _ => None,
            };
            let answer = match status {
                Some((status, reason)) => {
                    told.insert(client);
                    packet::response(name, txn, &[("status", status), ("reason", reason)], "")
                }
                None => {
                    let why = "command not available (dbgproxy: the PHP request ended)";
                    packet::error(name, txn, 5, why)
                }
            };
            self.answer(client, answer, out);
        }
        if e.init.is_some() {
            let clients: Vec<u64> = self.clients.iter().map(|(c, _)| c).collect();
            for c in clients {
                if self.is_present(c) && !told.contains(&c) {
                    out.send(To::Client(c), packet::status_report("stopped", reason));
                }
            }
        }
        self.breakpoints.new_connection();
        log::debug!("engine connection ended ({reason})");
    }
}

impl Default for super::Engine {
    fn default() -> Self {
        super::Engine {
            init: None,
            state: State::Starting,
            last_stop: None,
            goodbye: Goodbye::None,
            waiters: Vec::new(),
            said_goodbye: BTreeSet::new(),
            let_go: false,
        }
    }
}

fn state(status: &[u8]) -> Option<State> {
    Some(match status {
        b"starting" => State::Starting,
        b"break" => State::Break,
        b"running" => State::Running,
        b"stopping" => State::Stopping,
        b"stopped" => State::Stopped,
        _ => return None,
    })
}

/// A command the session replays; `None` (logged) if it cannot be read back.
fn replay(origin: Own, name: &[u8], args: &[(u8, Vec<u8>)], data: Option<&[u8]>) -> Option<Queued> {
    match Command::parse(&build(name, 0, args, data)) {
        Ok(cmd) => Some(Queued {
            origin: Waiter::Proxy(origin),
            cmd,
        }),
        Err(e) => {
            log::error!(
                "a remembered {} does not parse: {e:?}",
                String::from_utf8_lossy(name)
            );
            None
        }
    }
}
