//! Clients leaving: closed by their session, by a failure, with their row
//! (`close_row`), or all at once at shutdown. A client that leaves is taken
//! out of its row's session first (`take_left`), then out of the table once
//! what is queued for it is written.

use std::time::Instant;

use mio::Registry;

use super::Clients;
use crate::proxy::clients::client;
use crate::session::ClientId;
use crate::tokens::RowId;

impl Clients {
    /// `row`'s session asked to close `id` (one of its clients) once its
    /// queue is written.
    pub fn close(&mut self, row: RowId, id: ClientId, why: &str, registry: &Registry) {
        let Some(&key) = self.ids.get(&id) else {
            return;
        };
        let Some(client) = self.table.get(key).filter(|c| c.row == Some(row)) else {
            return;
        };
        log::debug!("{}: closing: {why}", client.name());
        if client.out.is_empty() {
            self.drop_client(key, why, log::Level::Info, registry);
        } else {
            self.leave(key);
            self.dirty.push(key);
        }
    }

    /// Takes `key` out of the session: nothing new is queued for it.
    pub(super) fn leave(&mut self, key: usize) {
        if let Some(client) = self.table.get_mut(key)
            && client.is_open()
        {
            client.state = client::State::Closing;
            if let Some(row) = client.row {
                self.left.push((row, client.id));
            }
        }
    }

    pub fn drop_client(&mut self, key: usize, why: &str, level: log::Level, registry: &Registry) {
        self.leave(key);
        let Some(client) = self.table.try_remove(key) else {
            return;
        };
        self.ids.remove(&client.id);
        if let Some(members) = client.row.and_then(|row| self.members.get_mut(&row))
            && let Ok(at) = members.binary_search(&key)
        {
            members.remove(at);
        }
        if client.is_waiting() {
            self.waiting -= 1;
        }
        self.flow.forget(key);
        let held = client.input.pending();
        if held > 0 {
            log::debug!(
                "{}: dropping {held} bytes of an incomplete message, never forwarded",
                client.name()
            );
        }
        log::log!(
            level,
            "{} left after {}s: {why} ({} bytes in, {} out, {} connected)",
            client.name(),
            client.since.elapsed().as_secs(),
            client.bytes_in,
            client.bytes_out,
            self.table.len()
        );
        client.close(registry);
    }

    /// Every client: deliver what is queued, then close (shutdown, or
    /// `--hangup-clients` when the debugger goes).
    pub fn close_all(&mut self, registry: &Registry, now: Instant) {
        self.drop_waiting(registry);
        let keys: Vec<usize> = self.table.iter().map(|(k, _)| k).collect();
        for key in keys {
            self.leave(key);
            self.flush(key, registry, now);
        }
    }

    /// `row`'s clients: deliver what is queued, then close (`--hangup-clients`
    /// when its debugger goes, or the row is removed).
    pub fn close_row(&mut self, row: RowId, why: &str, registry: &Registry, now: Instant) {
        for key in self.members(row).to_vec() {
            if let Some(client) = self.table.get(key) {
                log::debug!("{}: closing: {why}", client.name());
            }
            self.leave(key);
            self.flush(key, registry, now);
        }
    }

    /// `row` is gone from the table: its clients, all closing now, belong
    /// to no row while they finish writing, so that a row that reuses the
    /// id never counts them (`members`, `holding`).
    pub fn forget_row(&mut self, row: RowId) {
        for key in self.members.remove(&row).unwrap_or_default() {
            if let Some(client) = self.table.get_mut(key) {
                client.row = None;
            }
        }
    }

    pub fn queued_bytes(&self) -> usize {
        self.table.iter().map(|(_, c)| c.out.len()).sum()
    }

    pub fn close_now(&mut self, registry: &Registry) {
        for (_, client) in std::mem::take(&mut self.table) {
            client.close(registry);
        }
        self.ids.clear();
        self.members.clear();
        self.waiting = 0;
        self.flow.forget_all();
    }
}
