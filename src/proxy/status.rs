//! What `dbgproxy status` and SIGHUP's status line say: the proxy's own
//! counters, and a JSON picture of the proxy assembled from its parts.
//!
//! The proxy holds a table of debugger sessions (`proxy/rows.rs`); each is
//! under `"sessions"`, and the top-level fields that describe a debugger,
//! its counters and its session layer describe the first (today: the only)
//! one, as they did before there was a table.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::access::{Allowed, Via};
use crate::config::{BackendKind, Config};
use crate::proxy::clients::Clients;
use crate::proxy::clients::client::Client;
use crate::proxy::debugger::Debugger;
use crate::session::Session;
use crate::tokens::RowId;

/// What the event loop counts per row of the session table (the client
/// table and the session layer count their own).
#[derive(Default, Debug)]
pub struct Stats {
    pub bytes_from_debugger: u64,
    pub bytes_to_debugger: u64,
    pub debugger_sessions: u64,
    pub input_pauses: u64,
}

/// The parts of a running proxy that `status` describes.
pub struct View<'a> {
    pub config: &'a Config,
    pub started: Instant,
    pub clients: &'a Clients,
    /// The session table's rows, in order.
    pub rows: Vec<RowView<'a>>,
}

/// One row of the session table, as `status` describes it.
pub struct RowView<'a> {
    pub id: RowId,
    pub name: &'a str,
    pub debugger: &'a Debugger,
    pub session: &'a dyn Session,
    pub stats: &'a Stats,
}

impl RowView<'_> {
    fn state(&self, config: &Config) -> &'static str {
        match (self.debugger.is_up(), config.backend) {
            (true, _) => "connected",
            (false, BackendKind::Connect) => "connecting",
            (false, BackendKind::Listen) => "waiting",
            (false, BackendKind::Spawn) => "starting",
        }
    }

    fn backend(&self, config: &Config) -> Value {
        json!({
            "kind": config.backend.name(),
            "state": self.state(config),
            "address": (config.backend != BackendKind::Spawn)
                .then(|| config.debugger_addr.to_string()),
            "pid": self.debugger.backend.child_pid(),
            "command": (!config.command.is_empty()).then(|| config.command.clone()),
        })
    }

    fn counters(&self) -> Value {
        let s = self.stats;
        json!({
            "bytes_from_debugger": s.bytes_from_debugger,
            "bytes_to_debugger": s.bytes_to_debugger,
            "bytes_queued_for_debugger": self.debugger.queued(),
            "client_input_pauses": s.input_pauses,
            "debugger_sessions": s.debugger_sessions,
        })
    }
}

impl View<'_> {
    fn row_of(&self, client: &Client) -> Option<&RowView<'_>> {
        let row = client.row?;
        self.rows.iter().find(|r| r.id == row)
    }

    pub fn to_json(&self) -> Value {
        let now = SystemTime::now();
        let epoch = |ago: Duration| {
            now.checked_sub(ago)
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs())
        };
        let config = self.config;
        let policy = self.clients.policy();
        let listen = self.clients.acceptor.describe();
        let first = self.rows.first();
        let clients: Vec<Value> = self
            .clients
            .iter()
            .filter(|c| !c.is_waiting())
            .map(|c| {
                let mut entry = json!({
                    "id": c.id,
                    "peer": c.peer.to_string(),
                    "uid": uid(c),
                    "admitted_by": match c.admission.via {
                        Via::Uid => "uid",
                        Via::Token => "token",
                        Via::Open => "--insecure-open",
                        Via::Unchecked => "--allow-users any",
                    },
                    "connected_at": epoch(c.since.elapsed()),
                    "connected_secs": c.since.elapsed().as_secs(),
                    "bytes_in": c.bytes_in,
                    "bytes_out": c.bytes_out,
                    "queued_bytes": c.out.len(),
                });
                if let (Value::Object(m), Some(row)) = (&mut entry, self.row_of(c)) {
                    m.extend(row.session.client_status(c.id));
                }
                entry
            })
            .collect();
        let waiting: Vec<Value> = self
            .clients
            .iter()
            .filter(|c| c.is_waiting())
            .map(|c| {
                json!({
                    "id": c.id,
                    "peer": c.peer.to_string(),
                    "uid": uid(c),
                    "waiting_secs": c.since.elapsed().as_secs(),
                })
            })
            .collect();
        let k = self.clients.counters();
        let r = &self.clients.refusals;
        let mut counters = json!({
            "clients_served": k.served,
            "clients_dropped_slow": k.dropped_slow,
            "clients_dropped_bad_framing": k.dropped_bad_framing,
            "clients_dropped_input_cap": k.dropped_input_cap,
            "clients_refused": k.refused,
            "clients_refused_no_descriptors": self.clients.acceptor.refused_no_descriptors,
            "accept_pauses": self.clients.acceptor.pauses,
            "debugger_waits_for_slow_clients": k.debugger_waits,
            "refused_other_uid": r.other_uid,
            "refused_unidentified": r.unidentified,
            "refused_remote": r.remote,
            "refused_no_token": r.no_token,
            "refused_bad_token": r.bad_token,
            "refused_token_timeout": r.token_timeout,
            "refused_too_many_waiting": r.too_many_waiting,
            "admitted_by_token": r.admitted_by_token,
            "log_lines_dropped": crate::process::logging::dropped(),
        });
        if let (Value::Object(m), Some(first)) = (&mut counters, first) {
            if let Value::Object(row) = first.counters() {
                m.extend(row);
            }
            m.extend(first.session.counters());
        }
        let sessions: Vec<Value> = self
            .rows
            .iter()
            .map(|row| {
                let mut counters = row.counters();
                if let Value::Object(m) = &mut counters {
                    m.extend(row.session.counters());
                }
                json!({
                    "id": row.id.0,
                    "name": row.name,
                    "debugger": row.backend(config),
                    "clients": self.clients.ids_in(row.id),
                    "counters": counters,
                })
            })
            .collect();
        json!({
            "pid": std::process::id(),
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_secs": self.started.elapsed().as_secs(),
            "started_at": epoch(self.started.elapsed()),
            "mode": config.mode.name(),
            "protocol": config.protocol.name(),
            "debug_port": config.debug_port,
            "client_addr": listen.first(),
            "listen": listen,
            "access": {
                "allow_users": match &policy.allowed {
                    Allowed::Any => json!("any"),
                    Allowed::Nobody => json!("none"),
                    Allowed::Uids(uids) => {
                        let mut all = vec![policy.own_uid];
                        all.extend(uids.iter().filter(|&&u| u != policy.own_uid));
                        json!(all)
                    }
                },
                "token": policy.token.is_some(),
                "token_timeout_ms": policy.token_timeout.as_millis() as u64,
                "insecure_open": policy.insecure_open,
            },
            "backend": first.map(|row| row.backend(config)),
            "clients": clients,
            "waiting_for_token": waiting,
            "counters": counters,
            "sessions": sessions,
        })
    }

    /// One line for the log (SIGHUP): who is there, and the totals.
    pub fn line(&self) -> String {
        format!("{}; {}", self.who(), self.totals())
    }

    /// "debugger connected, 2 client(s)", of the first row.
    pub fn who(&self) -> String {
        format!(
            "{}, {} client(s)",
            if self.rows.first().is_some_and(|r| r.debugger.is_up()) {
                "debugger connected"
            } else {
                "no debugger"
            },
            self.clients.len()
        )
    }

    /// What the proxy has done since it started.
    pub fn totals(&self) -> String {
        let none = Stats::default();
        let s = self.rows.first().map_or(&none, |r| r.stats);
        format!(
            "{} debugger session(s), {} bytes from the debugger, {} to it; \
             {} client(s) served, {} dropped as too slow, {} refused, {} refused access",
            s.debugger_sessions,
            s.bytes_from_debugger,
            s.bytes_to_debugger,
            self.clients.counters().served,
            self.clients.counters().dropped_slow,
            self.clients.counters().refused + self.clients.acceptor.refused_no_descriptors,
            self.clients.refusals.total(),
        )
    }
}

/// A client's uid when local, else how a remote one got in.
fn uid(c: &Client) -> Value {
    match (c.admission.uid, c.admission.via) {
        (Some(uid), _) => json!(uid),
        (None, Via::Token) => json!("remote, token"),
        (None, Via::Open) => json!("remote, open"),
        (None, _) => Value::Null,
    }
}
