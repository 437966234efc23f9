//! DBGp proxy mode in the loop (`--dbgp-proxy`, issue #21): the registration
//! port (`registrar.rs`), the shared engine port and the engines not routed
//! yet (`engines.rs`), and the dials to IDEs (`dials.rs`). What is decided — who may
//! register which key, which row an engine goes to, how long it is held —
//! is `protocol::dbgp_proxy`'s (sans-I/O); this only moves bytes, keeps
//! the sockets and carries the decisions out.
//!
//! Each engine routed by its idekey becomes the debugger link of a row of
//! the session table named by the key (made on first use, with a `Handed`
//! backend); the IDE the proxy dials for it is a client of that row.

mod dials;
mod engines;
mod registrar;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Result;
use mio::net::TcpListener;
use mio::{Interest, Registry, Token};
use slab::Slab;

use crate::access::Lookup;
use crate::config::{Config, DbgpProxy};
use crate::net;
use crate::protocol::dbgp_proxy::command::Limits;
use crate::protocol::dbgp_proxy::registry::{Age, Registration, Registry as Keys};
use crate::protocol::dbgp_proxy::router::Router;
use crate::session::ClientId;
use crate::tokens::{RowId, dbgp};
use dials::Dial;
use engines::Pending;
use registrar::Conn;

/// Registrations held at once (beyond: refused, `Refusal::Full`).
const MAX_REGISTRATIONS: usize = 1024;
/// Registration connections open at once; more are closed at once.
const MAX_CONNS: usize = 64;
/// Engines not routed yet (reading `<init>`, or held); more are closed.
const MAX_PENDING: usize = 256;
/// Dials to IDEs not up yet.
const MAX_DIALS: usize = 256;
/// An `<init>` is a few hundred bytes; a long file path makes it more.
const MAX_INIT: usize = 64 * 1024;
/// An IDE that neither accepts nor refuses in this time is given up.
const DIAL_TIMEOUT: Duration = Duration::from_secs(5);

/// What `status` counts.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counters {
    pub conns_refused: u64,
    pub engines_refused: u64,
    pub engines_bad: u64,
    pub dials_failed: u64,
}

/// A row made for a key, and what `status` shows of it.
struct KeyRow {
    name: String,
    engine: Option<SocketAddr>,
    file: String,
    ide: SocketAddr,
    /// The client the proxy dialled for the engine now up.
    ide_client: Option<ClientId>,
}

pub struct Mode {
    keys: Keys,
    router: Router,
    registrar: TcpListener,
    registrar_addr: SocketAddr,
    conns: Slab<Conn>,
    engines: TcpListener,
    pending: Slab<Pending>,
    dials: Slab<Dial>,
    rows: HashMap<RowId, KeyRow>,
    lookup: Lookup,
    limits: Limits,
    started: Instant,
    counters: Counters,
}

impl Mode {
    /// Binds both ports: the engines' (`--port`) and the registrations'.
    pub fn bind(config: &Config, dbgp: &DbgpProxy, registry: &Registry) -> Result<Mode> {
        let hint = format!(
            "is another dbgproxy or debug client listening on port {}?",
            config.debugger_addr.port()
        );
        let mut engines = net::listen(config.debugger_addr, "the engines", &hint)?;
        registry.register(&mut engines, dbgp::ENGINES, Interest::READABLE)?;
        let hint = format!(
            "is another DBGp proxy listening on port {}?",
            dbgp.registrar.port()
        );
        let mut registrar = net::listen(dbgp.registrar, "IDE registrations", &hint)?;
        registry.register(&mut registrar, dbgp::REGISTRAR, Interest::READABLE)?;
        let registrar_addr = registrar.local_addr()?;
        log::info!(
            "DBGp proxy: engines on {}, IDE registrations (proxyinit) on {registrar_addr}",
            engines.local_addr()?
        );
        Ok(Mode {
            keys: Keys::new(MAX_REGISTRATIONS, dbgp.default_key.clone()),
            router: Router::new(config.dbgp_hold),
            registrar,
            registrar_addr,
            conns: Slab::new(),
            engines,
            pending: Slab::new(),
            dials: Slab::new(),
            rows: HashMap::new(),
            lookup: Lookup::new(),
            limits: Limits::new(config.access.token_timeout),
            started: Instant::now(),
            counters: Counters::default(),
        })
    }

    /// Whether `token` is one of this mode's.
    pub fn owns(token: Token) -> bool {
        token == dbgp::REGISTRAR || token == dbgp::ENGINES || dbgp::which(token).is_some()
    }

    pub fn deadline(&self) -> Option<Instant> {
        let conns = self.conns.iter().filter_map(|(_, c)| c.reader.deadline());
        let pending = self.pending.iter().filter_map(|(_, p)| p.deadline());
        let dials = self.dials.iter().map(|(_, d)| d.deadline);
        conns
            .chain(pending)
            .chain(dials)
            .chain(self.router.deadline())
            .min()
    }

    /// `status`'s `dbgp_proxy` object.
    pub fn to_json(&self, now: Instant, clients_of: impl Fn(RowId) -> usize) -> serde_json::Value {
        let since = |r: &Registration| Age(now.saturating_duration_since(r.since)).to_string();
        let registrations: Vec<_> = self
            .keys
            .rows()
            .map(|r| {
                serde_json::json!({
                    "key": r.key,
                    "owner": r.owner.to_string(),
                    "ide": r.ide.to_string(),
                    "multi": r.multi,
                    "since": since(r),
                })
            })
            .collect();
        let mut rows: Vec<_> = self.rows.iter().collect();
        rows.sort_by_key(|(id, _)| **id);
        let sessions: Vec<_> = rows
            .into_iter()
            .map(|(id, r)| {
                serde_json::json!({
                    "row": id.0,
                    "key": r.name,
                    "engine": r.engine.map(|a| a.to_string()),
                    "file": r.file,
                    "ide": r.ide.to_string(),
                    "clients": clients_of(*id),
                })
            })
            .collect();
        let k = self.keys.counters();
        let r = self.router.counters();
        let c = self.counters;
        serde_json::json!({
            "registration_port": self.registrar_addr.to_string(),
            "up_for_s": now.saturating_duration_since(self.started).as_secs(),
            "registrations": registrations,
            "sessions": sessions,
            "engines_held": self.router.held(),
            "counters": {
                "registered": k.registered,
                "replaced": k.replaced,
                "unregistered": k.unregistered,
                "dropped_unreachable": k.dropped,
                "refused_taken": k.refused_taken,
                "refused_full": k.refused_full,
                "refused_access": k.refused_access,
                "routed": r.routed,
                "held": r.held,
                "detached": r.detached,
                "registration_conns_refused": c.conns_refused,
                "engines_refused": c.engines_refused,
                "engines_bad": c.engines_bad,
                "dials_failed": c.dials_failed,
            },
        })
    }
}

impl crate::proxy::Proxy {
    /// An event on one of DBGp proxy mode's tokens.
    pub(super) fn on_dbgp_event(&mut self, token: Token, now: Instant) {
        match token {
            dbgp::REGISTRAR => self.dbgp_accept_registrations(now),
            dbgp::ENGINES => self.dbgp_accept_engines(now),
            t => match dbgp::which(t) {
                Some((dbgp::CONN, key)) => self.dbgp_read_registration(key, now),
                Some((dbgp::PENDING, key)) => self.dbgp_read_engine(key, now),
                Some((_, key)) => self.dbgp_on_dial(key, now),
                None => {}
            },
        }
    }

    pub(super) fn dbgp_on_timers(&mut self, now: Instant) {
        if self
            .dbgp
            .as_ref()
            .and_then(Mode::deadline)
            .is_some_and(|d| d <= now)
        {
            self.dbgp_registration_timers(now);
            self.dbgp_engine_timers(now);
        }
    }
}
