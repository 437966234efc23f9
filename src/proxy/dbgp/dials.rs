//! The proxy's connections to registered IDEs: one per engine routed
//! (`engines.rs`), non-blocking; once up, a client of the engine's row
//! owned by the registration's owner (`clients/dial.rs`). An IDE that
//! refuses, or answers nothing within `DIAL_TIMEOUT`, loses its
//! registration, and its engine is let go with `detach`.

use std::time::Instant;

use mio::net::TcpStream;
use mio::{Interest, Token};

use super::{DIAL_TIMEOUT, MAX_DIALS};
use crate::net;
use crate::protocol::dbgp_proxy::engine;
use crate::protocol::dbgp_proxy::registry::{Owner, Registration};
use crate::proxy::Proxy;
use crate::tokens::{RowId, dbgp};

pub(in crate::proxy) struct Dial {
    stream: TcpStream,
    pub(super) row: RowId,
    to: Registration,
    pub(super) deadline: Instant,
}

impl Proxy {
    pub(super) fn dbgp_dial(&mut self, row: RowId, to: Registration, now: Instant) {
        let Some(mode) = self.dbgp.as_mut() else {
            return;
        };
        if mode.dials.len() >= MAX_DIALS {
            log::warn!(
                "not dialling the IDE at {}: {MAX_DIALS} dials under way",
                to.ide
            );
            return self.dbgp_unreachable(row, &to, "too many dials under way", now);
        }
        let key = mode.dials.vacant_key();
        let mut stream = match TcpStream::connect(to.ide) {
            Ok(stream) => stream,
            Err(e) => return self.dbgp_unreachable(row, &to, &e.to_string(), now),
        };
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(e) =
            self.poll
                .registry()
                .register(&mut stream, Token(dbgp::DIAL + key), interest)
        {
            return self.dbgp_unreachable(row, &to, &e.to_string(), now);
        }
        mode.dials.insert(Dial {
            stream,
            row,
            to,
            deadline: now + DIAL_TIMEOUT,
        });
    }

    /// An event on a dial: connected, refused, or not yet.
    pub(in crate::proxy) fn dbgp_on_dial(&mut self, key: usize, now: Instant) {
        let Some(d) = self.dbgp.as_mut().and_then(|m| m.dials.get_mut(key)) else {
            return;
        };
        match net::connect_finished(&d.stream) {
            Ok(false) => {}
            Err(e) => self.dbgp_dial_failed(key, &e.to_string(), now),
            Ok(true) => {
                let Some(mode) = self.dbgp.as_mut() else {
                    return;
                };
                let mut d = mode.dials.remove(key);
                let _ = self.poll.registry().deregister(&mut d.stream);
                if !mode.rows.contains_key(&d.row) {
                    return;
                }
                let uid = match d.to.owner {
                    Owner::Uid(uid) => Some(uid),
                    Owner::Token => None,
                };
                let id = self
                    .clients
                    .adopt(d.stream, d.to.ide, uid, d.row, self.poll.registry());
                if let Some(r) = self.dbgp.as_mut().and_then(|m| m.rows.get_mut(&d.row)) {
                    r.ide_client = id;
                }
                self.apply(now);
            }
        }
    }

    pub(super) fn dbgp_dial_failed(&mut self, key: usize, why: &str, now: Instant) {
        let Some(mode) = self.dbgp.as_mut() else {
            return;
        };
        let Some(mut d) = mode.dials.try_remove(key) else {
            return;
        };
        let _ = self.poll.registry().deregister(&mut d.stream);
        self.dbgp_unreachable(d.row, &d.to, why, now);
    }

    /// The IDE of `row` cannot be reached: its registration goes, and the
    /// engine is let go.
    fn dbgp_unreachable(&mut self, row: RowId, to: &Registration, why: &str, now: Instant) {
        let Some(mode) = self.dbgp.as_mut() else {
            return;
        };
        mode.counters.dials_failed += 1;
        let dropped = mode.keys.drop_registration(&to.key, to.serial).is_some();
        log::warn!(
            "the IDE for idekey '{}' at {} cannot be reached ({why}){}; its engine is let go",
            to.key,
            to.ide,
            if dropped {
                "; registration dropped"
            } else {
                ""
            }
        );
        let reason = format!(
            "dbgproxy: the IDE registered for idekey '{}' cannot be reached",
            to.key
        );
        if let Some(r) = self.rows.get_mut(row) {
            r.debugger.send(&engine::detach(0, &reason));
        }
        self.dbgp_row_gone(row, "its IDE cannot be reached", now);
    }
}
