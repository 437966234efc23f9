//! The registration port: each connection carries one `proxyinit` or
//! `proxystop`, read however the IDE ends it (`command::Reader`), answered
//! (`dbgp_proxy::answer`) and closed at once. The registering peer's owner
//! comes from the access rules, as for clients: a peer they refuse gets an
//! error answer saying why, and one they would let in with the token must
//! pass it as `-t TOKEN` (`dbgp_proxy::Peer`). At most `MAX_CONNS` at once; a silent one is
//! closed after `--token-timeout`.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::Instant;

use mio::net::TcpStream;
use mio::{Interest, Token};

use super::{MAX_CONNS, Mode};
use crate::access::{self, Query, Verdict};
use crate::net;
use crate::protocol::dbgp_proxy::command::{Read as Command, Reader};
use crate::protocol::dbgp_proxy::registry::Owner;
use crate::protocol::dbgp_proxy::{self, Peer, answer};
use crate::proxy::Proxy;
use crate::tokens::dbgp;

pub(super) struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    pub(super) reader: Reader,
    /// Whose the registration would be, or why the access rules refuse it.
    who: Who,
}

/// What the access rules said of the peer when it connected.
enum Who {
    Owner(Owner),
    NeedsToken,
    Refused(String),
}

impl Proxy {
    pub(in crate::proxy) fn dbgp_accept_registrations(&mut self, now: Instant) {
        let Some(mode) = self.dbgp.as_mut() else {
            return;
        };
        loop {
            let (stream, peer) = match mode.registrar.accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) if net::accept_error_is_transient(&e) => continue,
                Err(e) => return log::warn!("cannot accept a registration connection: {e}"),
            };
            if mode.conns.len() >= MAX_CONNS {
                mode.counters.conns_refused += 1;
                log::warn!(
                    "registration port: refusing {peer}: {MAX_CONNS} registration connections open"
                );
                continue;
            }
            let who = owner_of(mode, &stream, peer, &self.config.access);
            let key = mode.conns.vacant_key();
            let mut conn = Conn {
                stream,
                peer,
                reader: Reader::new(mode.limits, now),
                who,
            };
            let token = Token(dbgp::CONN + key);
            if let Err(e) =
                self.poll
                    .registry()
                    .register(&mut conn.stream, token, Interest::READABLE)
            {
                log::warn!("registration port: cannot register {peer}: {e}");
                continue;
            }
            mode.conns.insert(conn);
            // epoll reports what is already there at registration.
        }
    }

    /// A registration connection is readable (or closed).
    pub(in crate::proxy) fn dbgp_read_registration(&mut self, key: usize, now: Instant) {
        let Some(conn) = self.dbgp.as_mut().and_then(|m| m.conns.get_mut(key)) else {
            return;
        };
        let mut buf = [0u8; 512];
        let done = loop {
            match conn.stream.read(&mut buf) {
                Ok(0) => break conn.reader.half_closed(now),
                Ok(n) => {
                    if let Some(read) = conn.reader.feed(&buf[..n], now) {
                        break Some(read);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break None,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    log::debug!("registration port: {}: {e}", conn.peer);
                    break Some(Err(dbgp_proxy::command::Bad::Nothing));
                }
            }
        };
        if let Some(read) = done {
            self.dbgp_answer(key, read, now);
        }
    }

    /// Registration connections whose idle pause or bound has passed.
    pub(in crate::proxy) fn dbgp_registration_timers(&mut self, now: Instant) {
        let Some(mode) = self.dbgp.as_mut() else {
            return;
        };
        let due: Vec<(usize, Command)> = mode
            .conns
            .iter_mut()
            .filter(|(_, c)| c.reader.deadline().is_some_and(|d| d <= now))
            .filter_map(|(k, c)| c.reader.on_timer(now).map(|r| (k, r)))
            .collect();
        for (key, read) in due {
            self.dbgp_answer(key, read, now);
        }
    }

    fn dbgp_answer(&mut self, key: usize, read: Command, now: Instant) {
        let Some(mode) = self.dbgp.as_mut() else {
            return;
        };
        let Some(mut conn) = mode.conns.try_remove(key) else {
            return;
        };
        let who = match (&conn.who, &self.config.access.token) {
            (Who::Owner(owner), _) => Peer::Owner(*owner),
            // The token is read when the command comes: SIGHUP may replace it.
            (Who::NeedsToken, Some(secret)) => Peer::NeedsToken(secret),
            (Who::NeedsToken, None) => Peer::Refused("there is no token now (--token-file)"),
            (Who::Refused(why), _) => Peer::Refused(why),
        };
        let answer = answer(read, conn.peer.ip(), who, &mut mode.keys, now);
        log::log!(answer.level, "{}", answer.note);
        if let Some(reply) = &answer.reply {
            // A few hundred bytes into a fresh socket: one write takes them.
            let _ = conn.stream.write(reply);
        }
        let _ = conn.stream.shutdown(Shutdown::Write);
        let _ = self.poll.registry().deregister(&mut conn.stream);
        // A registration may free a held engine.
        self.dbgp_step(now);
    }
}

/// Whose socket `peer` is, by the access rules: the uid for a local peer
/// they let in; whether it needs the token; why, for one they refuse.
fn owner_of(mode: &mut Mode, stream: &TcpStream, peer: SocketAddr, policy: &access::Policy) -> Who {
    let found = stream
        .local_addr()
        .map(|ours| mode.lookup.owners(&[Query::new(ours, peer)]))
        .ok()
        .and_then(|owners| owners.into_iter().next())
        .unwrap_or(access::Owner::Gone);
    let decided = if policy.needs_lookup() {
        policy.decide(Some(found))
    } else {
        policy.decide(None)
    };
    match (decided, found) {
        (Verdict::Admit(_), access::Owner::Uid(uid)) => Who::Owner(Owner::Uid(uid)),
        // `--insecure-open` or `--allow-users any`: one owner for them all.
        (Verdict::Admit(_), _) => Who::Owner(Owner::Token),
        (Verdict::AskToken, _) => Who::NeedsToken,
        (Verdict::Refuse(refusal), _) => Who::Refused(refusal.describe(policy)),
    }
}
