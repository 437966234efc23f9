//! Fan-out, and what happens when a client falls behind: a message goes to
//! every client the session names, as slices of one shared buffer; a client
//! more than `--client-buffer` behind makes the debugger wait (`holding`)
//! until it catches up, takes nothing for `--stall-timeout`, or has been
//! behind for `SLOW_FACTOR` times that — then it goes.

use std::time::Instant;

use mio::Registry;

use super::{Clients, SLOW_FACTOR};
use crate::client;
use crate::framing::Message;
use crate::queue::Flush;
use crate::session::To;

impl Clients {
    /// Queues `message` for the clients `to` names that are still in the session.
    pub fn deliver(&mut self, to: To, message: &Message, now: Instant) {
        match to {
            To::Client(id) => {
                if let Some(&key) = self.ids.get(&id) {
                    self.queue_for(key, message, now);
                }
            }
            To::All | To::AllBut(_) => {
                let except = match to {
                    To::AllBut(id) => self.ids.get(&id).copied(),
                    _ => None,
                };
                let keys: Vec<usize> = self
                    .table
                    .iter()
                    .filter(|(k, c)| c.is_open() && Some(*k) != except)
                    .map(|(k, _)| k)
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
        if client.behind_since.is_none() && client.out.len() > self.client_buffer {
            client.behind_since = Some(now);
            client.last_progress = now;
            self.behind += 1;
            self.counters.debugger_waits += 1;
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
        let before = client.out.len();
        match client.flush(registry) {
            Ok(Flush::Done) if client.state == client::State::Closing => {
                self.drop_client(key, "done", log::Level::Info, registry);
            }
            Ok(_) => {
                if client.out.len() < before {
                    client.last_progress = now;
                }
                if client.behind_since.is_some() && client.out.len() <= self.client_buffer {
                    client.behind_since = None;
                    self.behind -= 1;
                }
            }
            Err(e) => self.drop_client(
                key,
                &format!("write failed: {e}"),
                log::Level::Info,
                registry,
            ),
        }
    }

    /// Drops the clients that fell behind and stopped taking bytes, or stayed
    /// behind too long; the debugger is read again once none is left behind.
    pub fn drop_stalled(&mut self, registry: &Registry, now: Instant) {
        if self.behind == 0 {
            return;
        }
        let stall = self.stall_timeout;
        let mut stalled = Vec::new();
        for (key, c) in self.table.iter() {
            let Some(since) = c.behind_since else {
                continue;
            };
            if now >= c.last_progress + stall {
                stalled.push((
                    key,
                    format!(
                        "too slow: took nothing for {}ms with {} bytes queued (--stall-timeout)",
                        stall.as_millis(),
                        c.out.len()
                    ),
                ));
            } else if now >= since + stall * SLOW_FACTOR {
                stalled.push((
                    key,
                    format!(
                        "too slow: over --client-buffer for {}ms",
                        (stall * SLOW_FACTOR).as_millis()
                    ),
                ));
            }
        }
        for (key, why) in stalled {
            self.counters.dropped_slow += 1;
            self.drop_client(key, &why, log::Level::Warn, registry);
        }
    }

    pub fn deadline(&self) -> Option<Instant> {
        let stall = (self.behind > 0)
            .then(|| {
                self.table
                    .iter()
                    .filter_map(|(_, c)| {
                        let since = c.behind_since?;
                        Some(
                            (c.last_progress + self.stall_timeout)
                                .min(since + self.stall_timeout * SLOW_FACTOR),
                        )
                    })
                    .min()
            })
            .flatten();
        [self.acceptor.deadline(), stall, self.waiting_deadline()]
            .into_iter()
            .flatten()
            .min()
    }
}
