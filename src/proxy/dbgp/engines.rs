//! Engines on the shared engine port: each is read until its `<init>`
//! (pending), then routed by the router's decision — handed to the row of
//! its key, whose IDE the proxy dials — or held, and let go with `detach`
//! when nobody takes it. When a row's engine ends, the IDE dialled for it
//! is closed (one IDE connection per engine); a row left with no engine and
//! no client goes.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Instant;

use mio::net::TcpStream;
use mio::{Interest, Token};

use super::{KeyRow, MAX_INIT, MAX_PENDING};
use crate::backends::{Backend, Handed};
use crate::framing::{Assembler, Direction, Message, Protocol};
use crate::net;
use crate::net::queue::Chunk;
use crate::protocol::dbgp_proxy::engine::{self, EngineInit};
use crate::protocol::dbgp_proxy::registry::Registration;
use crate::protocol::dbgp_proxy::router::Decision;
use crate::proxy::Proxy;
use crate::proxy::debugger::Debugger;
use crate::proxy::rows::Row;
use crate::session;
use crate::tokens::{RowId, RowTokens, dbgp};

pub(in crate::proxy) struct Pending {
    stream: TcpStream,
    peer: SocketAddr,
    input: Assembler,
    /// Its `<init>`, once read, and any packet after it.
    init: Option<(EngineInit, Vec<Message>)>,
    /// Reading `<init>` gives up at this point.
    bound: Instant,
    /// The router has been asked about it.
    asked: bool,
}

impl Pending {
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.init.is_none().then_some(self.bound)
    }
}

impl Proxy {
    pub(in crate::proxy) fn dbgp_accept_engines(&mut self, now: Instant) {
        let Some(mode) = self.dbgp.as_mut() else {
            return;
        };
        loop {
            let (mut stream, peer) = match mode.engines.accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) if net::accept_error_is_transient(&e) => continue,
                Err(e) => return log::warn!("cannot accept an engine: {e}"),
            };
            if mode.pending.len() >= MAX_PENDING {
                mode.counters.engines_refused += 1;
                log::warn!("refusing the engine from {peer}: {MAX_PENDING} engines not routed yet");
                continue;
            }
            net::tune(&stream);
            let key = mode.pending.vacant_key();
            let token = Token(dbgp::PENDING + key);
            if let Err(e) = self
                .poll
                .registry()
                .register(&mut stream, token, Interest::READABLE)
            {
                log::warn!("cannot register the engine from {peer}: {e}");
                continue;
            }
            log::debug!("engine connected from {peer}");
            mode.pending.insert(Pending {
                stream,
                peer,
                input: Assembler::new(Protocol::Dbgp, Direction::FromDebugger, MAX_INIT),
                init: None,
                bound: now + mode.limits.silent,
                asked: false,
            });
        }
    }

    /// An engine not routed yet is readable: its `<init>`, or its end.
    pub(in crate::proxy) fn dbgp_read_engine(&mut self, key: usize, now: Instant) {
        let Some(mode) = self.dbgp.as_mut() else {
            return;
        };
        let Some(p) = mode.pending.get_mut(key) else {
            return;
        };
        let mut buf = [0u8; 4096];
        let mut failed = None;
        loop {
            match p.stream.read(&mut buf) {
                Ok(0) => {
                    failed = Some("it closed the connection".to_string());
                    break;
                }
                Ok(n) => {
                    let mut messages = Vec::new();
                    if let Err(bad) = p
                        .input
                        .feed(Chunk::copy_from(&buf[..n]), |m| messages.push(m))
                    {
                        failed = Some(format!("malformed DBGp: {bad}"));
                        break;
                    }
                    for m in messages {
                        match &mut p.init {
                            Some((_, after)) if after.len() < 16 => after.push(m),
                            Some(_) => {}
                            None => match EngineInit::parse(&m) {
                                Some(init) => p.init = Some((init, Vec::new())),
                                None => {
                                    failed = Some("its first packet is not <init>".into());
                                }
                            },
                        }
                    }
                    if failed.is_some() {
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    failed = Some(format!("read failed: {e}"));
                    break;
                }
            }
        }
        let read_init = p.init.is_some();
        if let Some(why) = failed {
            let p = mode.pending.remove(key);
            mode.router.forget(key);
            if !read_init {
                mode.counters.engines_bad += 1;
            }
            log::info!("engine from {} gone before it was routed: {why}", p.peer);
            let mut stream = p.stream;
            let _ = self.poll.registry().deregister(&mut stream);
            return;
        }
        if !read_init || p.asked {
            return;
        }
        // Its <init> came just now: ask the router once.
        p.asked = true;
        let idekey = p.init.as_ref().and_then(|(init, _)| init.idekey());
        let peer = p.peer;
        match mode.router.arrived(key, idekey.clone(), &mode.keys, now) {
            Some(decision) => self.dbgp_carry_out(decision, now),
            None => log::info!(
                "engine from {peer} (idekey {}) held for up to {}ms (--dbgp-hold): {}",
                idekey
                    .as_deref()
                    .map_or("none".into(), |k| format!("'{k}'")),
                self.config.dbgp_hold.as_millis(),
                mode.keys.lookup(idekey.as_deref()).err().map_or_else(
                    || "its IDE takes one session at a time (-m 0) and has one".into(),
                    |why| why.to_string()
                ),
            ),
        }
    }

    /// Engines whose `<init>` did not come in time; held engines whose hold
    /// is over; dials that neither failed nor succeeded in time.
    pub(in crate::proxy) fn dbgp_engine_timers(&mut self, now: Instant) {
        let Some(mode) = self.dbgp.as_mut() else {
            return;
        };
        let late: Vec<usize> = mode
            .pending
            .iter()
            .filter(|(_, p)| p.deadline().is_some_and(|d| d <= now))
            .map(|(k, _)| k)
            .collect();
        for key in late {
            let mut p = mode.pending.remove(key);
            mode.counters.engines_bad += 1;
            log::info!(
                "engine from {}: no <init> within {}ms; closed",
                p.peer,
                mode.limits.silent.as_millis()
            );
            let _ = self.poll.registry().deregister(&mut p.stream);
        }
        let late: Vec<usize> = mode
            .dials
            .iter()
            .filter(|(_, d)| d.deadline <= now)
            .map(|(k, _)| k)
            .collect();
        for key in late {
            self.dbgp_dial_failed(key, "no answer in time", now);
        }
        self.dbgp_step(now);
    }

    /// Asks the router what the engines held can do now.
    pub(in crate::proxy) fn dbgp_step(&mut self, now: Instant) {
        let Some(mode) = self.dbgp.as_mut() else {
            return;
        };
        for decision in mode.router.step(&mode.keys, now) {
            self.dbgp_carry_out(decision, now);
        }
    }

    fn dbgp_carry_out(&mut self, decision: Decision, now: Instant) {
        match decision {
            Decision::Detach { engine, reason } => self.dbgp_detach(engine, &reason),
            Decision::Route { engine, row, to } => self.dbgp_route(engine, row, to, now),
        }
    }

    /// Lets a held engine go: `detach` with the reason, then close. PHP
    /// runs on, undebugged.
    fn dbgp_detach(&mut self, engine: usize, reason: &str) {
        let Some(mut p) = self
            .dbgp
            .as_mut()
            .and_then(|m| m.pending.try_remove(engine))
        else {
            return;
        };
        log::warn!("engine from {} let go: {reason}", p.peer);
        // A few dozen bytes to a socket that has sent its <init> and waits.
        let _ = p.stream.write(&engine::detach(0, reason).to_vec());
        let _ = p.stream.shutdown(std::net::Shutdown::Write);
        let _ = self.poll.registry().deregister(&mut p.stream);
    }

    fn dbgp_route(&mut self, engine: usize, name: String, to: Registration, now: Instant) {
        let Some(mode) = self.dbgp.as_mut() else {
            return;
        };
        let Some(mut p) = mode.pending.try_remove(engine) else {
            mode.router.ended(&name);
            return;
        };
        let _ = self.poll.registry().deregister(&mut p.stream);
        let Some((init, after)) = p.init.take() else {
            return;
        };
        let existing = mode
            .rows
            .iter()
            .find(|(_, r)| r.name == name)
            .map(|(id, _)| *id);
        let row = match existing {
            Some(row) => row,
            None => match self.dbgp_add_row(&name, to.ide, now) {
                Some(row) => row,
                None => {
                    if let Some(mode) = self.dbgp.as_mut() {
                        mode.router.ended(&name);
                    }
                    return;
                }
            },
        };
        if let Some(r) = self.dbgp.as_mut().and_then(|m| m.rows.get_mut(&row)) {
            r.engine = Some(p.peer);
            r.file = init.fileuri();
            r.ide = to.ide;
            r.ide_client = None;
        }
        log::info!(
            "engine from {} (idekey '{}') -> session '{name}'; dialling its IDE at {}",
            p.peer,
            to.key,
            to.ide
        );
        let progress = match self.rows.get_mut(row).map(|r| &mut r.debugger.backend) {
            Some(Backend::Handed(h)) => h.hand(p.stream, p.peer, self.poll.registry()),
            _ => return,
        };
        self.on_progress(row, progress, now);
        if let Some(r) = self.rows.get_mut(row) {
            r.session
                .from_debugger(init.proxied(p.peer.ip()), &mut r.outbox);
            for m in after {
                r.session.from_debugger(m, &mut r.outbox);
            }
        }
        self.apply(now);
        self.dbgp_dial(row, to, now);
    }

    fn dbgp_add_row(&mut self, name: &str, ide: SocketAddr, now: Instant) -> Option<RowId> {
        let config = &self.config;
        let settings = session::Settings {
            protocol: config.protocol,
            mode: config.mode,
            forwards_last_goodbye: crate::config::forwards_last_goodbye(
                config.mode,
                config.last_goodbye,
            ),
            backlog_bytes: config.backlog_bytes,
            passthrough: config.passthrough,
            dbgp_hold: config.dbgp_hold,
        };
        let debugger_config = config.clone();
        let made = self.add_row(
            |id, _| {
                let backend = Backend::Handed(Handed::new(name.to_owned(), RowTokens::of(id)));
                Ok(Row::from_parts(
                    id,
                    name.to_owned(),
                    Debugger::new(backend, &debugger_config),
                    session::new(&settings),
                ))
            },
            now,
        );
        match made {
            Ok(row) => {
                let entry = KeyRow {
                    name: name.to_owned(),
                    engine: None,
                    file: String::new(),
                    ide,
                    ide_client: None,
                };
                self.dbgp.as_mut()?.rows.insert(row, entry);
                Some(row)
            }
            Err(e) => {
                log::warn!("cannot make a session for idekey '{name}': {e:#}");
                None
            }
        }
    }

    /// `row`'s engine session is over (`session_over`): its dialled IDE is
    /// closed; the row waits for the next engine of its key while it has
    /// clients, and goes otherwise.
    pub(in crate::proxy) fn dbgp_engine_over(&mut self, row: RowId, now: Instant) {
        let Some(r) = self.dbgp.as_mut().and_then(|m| m.rows.get_mut(&row)) else {
            return;
        };
        r.engine = None;
        let ide = r.ide_client.take();
        let name = r.name.clone();
        if let Some(mode) = self.dbgp.as_mut() {
            mode.router.ended(&name);
        }
        if let Some(id) = ide {
            self.clients
                .close(row, id, "its engine's session ended", self.poll.registry());
            self.apply(now);
        }
        if name.contains('#') || self.clients.open_in(row) == 0 {
            self.dbgp_row_gone(row, "its engine's session ended", now);
        } else {
            self.start_backend(row, now);
        }
        self.dbgp_step(now);
    }

    /// Rows of keys left with no engine and no client go.
    pub(in crate::proxy) fn dbgp_tidy(&mut self, now: Instant) {
        let Some(mode) = self.dbgp.as_ref() else {
            return;
        };
        let idle: Vec<RowId> = mode
            .rows
            .iter()
            .filter(|(id, r)| {
                r.engine.is_none()
                    && !mode.dials.iter().any(|(_, d)| d.row == **id)
                    && self.clients.open_in(**id) == 0
            })
            .map(|(id, _)| *id)
            .collect();
        for row in idle {
            self.dbgp_row_gone(row, "no engine and no client left", now);
        }
    }

    pub(super) fn dbgp_row_gone(&mut self, row: RowId, why: &str, now: Instant) {
        let Some(mode) = self.dbgp.as_mut() else {
            return;
        };
        if let Some(r) = mode.rows.remove(&row)
            && r.engine.is_some()
        {
            mode.router.ended(&r.name);
        }
        self.remove_row(row, why, now);
    }
}
