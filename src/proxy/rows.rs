//! The session table: one row per debugger link, each with the session
//! layer that speaks for it, the actions that layer has not had carried out
//! yet, and its own counters. A client belongs to one row (`clients/` keeps
//! the members of each); the loop routes every event to its row.
//!
//! Today's proxy is the one-row case: `Proxy::new` makes row 0 from the
//! command line, and every client joins it. The DBGp proxy protocol (one row
//! per engine, named by its idekey) and CDP (one per inspector target) will
//! add rows, and choose the row of a new client in `row_for_new_client`.

use anyhow::Result;
use mio::{Registry, Token};
use slab::Slab;

use crate::backends::Backend;
use crate::config::Config;
use crate::proxy::debugger::Debugger;
use crate::proxy::status::{RowView, Stats};
use crate::session::{self, Outbox, Session};
use crate::tokens::{self, RowId, RowTokens, Which};

pub struct Row {
    pub id: RowId,
    /// Empty for the one row of today; later an idekey or a CDP target.
    pub name: String,
    pub debugger: Debugger,
    pub session: Box<dyn Session>,
    /// The session's actions not carried out yet.
    pub outbox: Outbox,
    /// Clients of this row are not read: its debugger's queue is full.
    pub input_paused: bool,
    pub stats: Stats,
    /// Made for one client (a CDP client's own inspector session): the row
    /// goes when that client leaves.
    pub goes_with_client: bool,
}

impl Row {
    /// A row for `config`'s debugger, its backend registered under the
    /// tokens of `id`. `passed` is a debugger listener systemd handed over.
    pub fn new(
        id: RowId,
        name: String,
        config: &Config,
        registry: &Registry,
        passed: Option<std::net::TcpListener>,
    ) -> Result<Row> {
        let backend = Backend::new(config, registry, passed, RowTokens::of(id))?;
        let session = session::new(&session::Settings {
            protocol: config.protocol,
            mode: config.mode,
            forwards_last_goodbye: crate::config::forwards_last_goodbye(
                config.mode,
                config.last_goodbye,
            ),
            backlog_bytes: config.backlog_bytes,
            passthrough: config.passthrough,
            dbgp_hold: config.dbgp_hold,
        });
        Ok(Row::from_parts(
            id,
            name,
            Debugger::new(backend, config),
            session,
        ))
    }

    /// A row from its parts, for rows made while the proxy runs (one per
    /// DBGp engine key, one per CDP client): their backend and session are
    /// not the command line's. `debugger`'s backend must use `id`'s tokens.
    pub fn from_parts(
        id: RowId,
        name: String,
        debugger: Debugger,
        session: Box<dyn Session>,
    ) -> Row {
        Row {
            id,
            name,
            debugger,
            session,
            outbox: Outbox::default(),
            input_paused: false,
            stats: Stats::default(),
            goes_with_client: false,
        }
    }
}

impl Row {
    /// What `status` shows of it.
    pub fn view(&self) -> RowView<'_> {
        RowView {
            id: self.id,
            name: &self.name,
            debugger: &self.debugger,
            session: self.session.as_ref(),
            stats: &self.stats,
        }
    }
}

#[derive(Default)]
pub struct Rows {
    table: Slab<Row>,
}

impl Rows {
    /// The id the next `insert` gives (a row's tokens derive from its id,
    /// so it is known before the row is built).
    pub fn vacant(&self) -> RowId {
        RowId(self.table.vacant_key())
    }

    pub fn insert(&mut self, row: Row) -> RowId {
        debug_assert_eq!(row.id, self.vacant(), "a row is built for the vacant id");
        RowId(self.table.insert(row))
    }

    /// Takes a row out; the caller has closed its clients and its link
    /// (`Proxy::remove_row`). Its id, and so its tokens, may be reused.
    pub fn remove(&mut self, id: RowId) -> Option<Row> {
        self.table.try_remove(id.0)
    }

    pub fn get(&self, id: RowId) -> Option<&Row> {
        self.table.get(id.0)
    }

    pub fn get_mut(&mut self, id: RowId) -> Option<&mut Row> {
        self.table.get_mut(id.0)
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Row> {
        self.table.iter().map(|(_, r)| r)
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Row> {
        self.table.iter_mut().map(|(_, r)| r)
    }

    /// Every id that may be in use, for loops that need `&mut Proxy` per
    /// row: each is looked up again (`get`), since a row may go meanwhile.
    /// Nothing is allocated: the loop walks it several times a turn.
    pub fn ids(&self) -> impl Iterator<Item = RowId> + use<> {
        (0..self.table.capacity()).map(RowId)
    }

    /// The row a token belongs to, and which of its sources it names.
    pub fn by_token(&self, token: Token) -> Option<(RowId, Which)> {
        tokens::row_of(token).filter(|(id, _)| self.table.contains(id.0))
    }

    /// The row a client that joins now goes to, when that needs no asking:
    /// the one row, when there is exactly one. With none or several (the
    /// DBGp proxy's sessions), the client names one at the door
    /// (`clients/dbgp_door.rs`); CDP's clients each get a row of their own
    /// there.
    pub fn row_for_new_client(&self) -> Option<RowId> {
        let mut rows = self.table.iter();
        match (rows.next(), rows.next()) {
            (Some((k, _)), None) => Some(RowId(k)),
            _ => None,
        }
    }

    /// The row called `name` (a DBGp proxy session's key).
    pub fn by_name(&self, name: &str) -> Option<RowId> {
        self.table
            .iter()
            .find(|(_, r)| r.name == name)
            .map(|(k, _)| RowId(k))
    }

    /// A row with actions to carry out, if any.
    pub fn with_actions(&self) -> Option<RowId> {
        self.table
            .iter()
            .find(|(_, r)| !r.outbox.is_empty())
            .map(|(k, _)| RowId(k))
    }

    /// Whether any row's debugger is up (idle tracking, systemd's status).
    pub fn any_debugger_up(&self) -> bool {
        self.iter().any(|r| r.debugger.is_up())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::To;

    fn row(rows: &Rows, name: &str, registry: &Registry) -> Row {
        let args: Vec<String> = ["--port", "1"].iter().map(|a| a.to_string()).collect();
        let config = Config::parse_from(&args).expect("valid");
        Row::new(rows.vacant(), name.into(), &config, registry, None).expect("a connect row")
    }

    #[test]
    fn rows_come_and_go_with_their_tokens() {
        let poll = mio::Poll::new().expect("poll");
        let mut rows = Rows::default();
        let a = rows.insert(row(&rows, "", poll.registry()));
        let b = rows.insert(row(&rows, "b", poll.registry()));
        assert_eq!((a, b), (RowId(0), RowId(1)));
        assert_eq!(rows.iter().count(), 2);
        // Two rows: a client must name one.
        assert_eq!(rows.row_for_new_client(), None);
        assert_eq!(rows.by_name("b"), Some(b));
        assert_eq!(rows.by_name("c"), None);
        let link_b = RowTokens::of(b).link();
        assert_eq!(rows.by_token(link_b), Some((b, Which::Link)));
        assert!(rows.get(b).unwrap().debugger.backend.owns(link_b));
        assert!(!rows.get(a).unwrap().debugger.backend.owns(link_b));

        let gone = rows.remove(a).expect("row a");
        assert_eq!(gone.id, a);
        assert_eq!(rows.by_token(RowTokens::of(a).link()), None);
        assert_eq!(rows.row_for_new_client(), Some(b));
        assert_eq!(rows.iter().next().map(|r| r.name.as_str()), Some("b"));
        assert!(rows.remove(a).is_none());

        // The freed id, and its tokens, serve the next row.
        assert_eq!(rows.vacant(), a);
        let c = rows.insert(row(&rows, "c", poll.registry()));
        assert_eq!(c, a);
        let ids: Vec<RowId> = rows.iter().map(|r| r.id).collect();
        assert_eq!(ids, vec![a, b]);
    }

    #[test]
    fn actions_are_found_in_their_row() {
        let poll = mio::Poll::new().expect("poll");
        let mut rows = Rows::default();
        let a = rows.insert(row(&rows, "", poll.registry()));
        let b = rows.insert(row(&rows, "b", poll.registry()));
        assert_eq!(rows.with_actions(), None);
        let message = crate::framing::Message::from_bytes(b"x");
        rows.get_mut(b).unwrap().outbox.send(To::All, message);
        assert_eq!(rows.with_actions(), Some(b));
        assert!(rows.get(a).unwrap().outbox.is_empty());
        assert!(!rows.any_debugger_up());
    }
}
