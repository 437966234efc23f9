//! Fan-out, and carrying out the slow-client rule: a message goes to every
//! client the session names, as slices of one shared buffer; what each
//! client's socket then takes is reported to the rules
//! (`clients/backpressure.rs`), which say when a client more than
//! `--client-buffer` behind makes the debugger wait and when it must go.

use std::time::Instant;

use mio::Registry;

use super::Clients;
use super::backpressure::Pace;
use crate::framing::Message;
use crate::net::result::SocketResult;
use crate::proxy::clients::client;
use crate::session::To;
use crate::tokens::RowId;

impl Clients {
    /// Queues `message` for the clients of `row` that `to` names and that
    /// are still in its session: a session speaks for its own row only.
    pub fn deliver(&mut self, row: RowId, to: To, message: &Message, now: Instant) {
        match to {
            To::Client(id) => {
                if let Some(&key) = self.ids.get(&id)
                    && self.row_of(key) == Some(row)
                {
                    self.queue_for(key, message, now);
                }
            }
            To::All | To::AllBut(_) => {
                let except = match to {
                    To::AllBut(id) => self.ids.get(&id).copied(),
                    _ => None,
                };
                let Some(members) = self.members.get(&row) else {
                    return;
                };
                let keys: Vec<usize> = members
                    .iter()
                    .copied()
                    .filter(|&k| Some(k) != except)
                    .filter(|&k| self.table.get(k).is_some_and(client::Client::is_open))
                    .collect();
                for key in keys {
                    self.queue_for(key, message, now);
                }
            }
            To::Debugger => {}
        }
    }

    pub(super) fn queue_for(&mut self, key: usize, message: &Message, now: Instant) {
        let Some(client) = self.table.get_mut(key) else {
            return;
        };
        if !client.is_open() {
            return;
        }
        if client.out.is_empty() {
            self.dirty.push(key);
        }
        for part in message.parts() {
            client.out.push(part.clone());
        }
        if self.flow.queued(key, client.out.len(), now) == Pace::FellBehind {
            log::debug!(
                "{}: {} bytes queued, over --client-buffer: the debugger waits for it",
                client.name(),
                client.out.len()
            );
        }
    }

    /// Writes what is queued for the clients that got something this turn.
    pub fn flush_dirty(&mut self, registry: &Registry, now: Instant) {
        for key in std::mem::take(&mut self.dirty) {
            self.flush(key, registry, now);
        }
    }

    pub fn flush(&mut self, key: usize, registry: &Registry, now: Instant) {
        let Some(client) = self.table.get_mut(key) else {
            return;
        };
        let (written, result) = client.flush(registry);
        match result {
            SocketResult::Continue if client.state == client::State::Closing => {
                // One answered at a door (a `/json/list` poll) was never in a session.
                let level = if client.row.is_some() {
                    log::Level::Info
                } else {
                    log::Level::Debug
                };
                self.drop_client(key, "done", level, registry);
            }
            SocketResult::Continue | SocketResult::WouldBlock => {
                self.flow.wrote(key, written, client.out.len(), now);
            }
            stop @ (SocketResult::Closed | SocketResult::Error(_)) => self.drop_client(
                key,
                &format!("write failed: {stop}"),
                log::Level::Info,
                registry,
            ),
        }
    }

    /// Drops the clients that fell behind and stopped taking bytes, or stayed
    /// behind too long; the debugger is read again once none is left behind.
    pub fn drop_stalled(&mut self, registry: &Registry, now: Instant) {
        for evict in self.flow.stalled(now) {
            let why = evict.why.to_string();
            self.drop_client(evict.key, &why, log::Level::Warn, registry);
        }
    }

    pub fn deadline(&self) -> Option<Instant> {
        [
            self.acceptor.deadline(),
            self.flow.deadline(),
            self.waiting_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}
