//! The loop's client side: reading clients and handing their whole
//! messages to their row's session layer, within a budget per client per
//! turn. While a row's debugger queue is full, that row's clients are not
//! read (the others are).

use std::time::Instant;

use super::{CLIENT_READS_PER_TURN, Proxy};
use crate::proxy::clients::client::Client;
use crate::proxy::clients::door::{Entry, Joiner};
use crate::proxy::debugger::Debugger;
use crate::proxy::rows::Row;
use crate::tokens::{RowId, RowTokens};

impl Proxy {
    /// Whether `row`'s debugger queue is at its bound: its clients wait.
    fn row_input_full(&self, row: Option<RowId>) -> bool {
        row.and_then(|r| self.rows.get(r))
            .is_some_and(|r| r.debugger.input_full())
    }

    /// Whether a client is left to read that may be read now.
    pub(super) fn clients_waiting(&self) -> bool {
        self.clients.has_readable()
            && self
                .clients
                .readable_rows()
                .any(|row| !self.row_input_full(row))
    }

    pub(super) fn read_clients(&mut self, now: Instant) {
        if !self.clients.has_readable() {
            return;
        }
        let draining = !self.lifecycle.running();
        for key in self.clients.take_readable() {
            for _ in 0..CLIENT_READS_PER_TURN {
                // A client not in a row yet (asked for the token) sends
                // nothing on to a debugger: it is read whatever is queued.
                let row = self.clients.row_of(key);
                if !draining && self.row_input_full(row) {
                    self.pause_input(row);
                    break;
                }
                let mut messages = std::mem::take(&mut self.messages);
                let rows = &self.rows;
                let place = |_: &Client| rows.row_for_new_client();
                let (id, read) = self.clients.read(
                    key,
                    &mut self.buf,
                    &mut messages,
                    draining,
                    (self.poll.registry(), &place),
                );
                // The row it is in now (one that joined with this read has
                // sent nothing yet: what followed its token comes next read).
                let row = self.clients.row_of(key).or(row);
                if let Some(id) = id
                    && let Some(r) = row.and_then(|row| self.rows.get_mut(row))
                {
                    for message in messages.drain(..) {
                        r.session.from_client(id, message, &mut r.outbox);
                    }
                }
                messages.clear();
                self.messages = messages;
                self.enter_clients(now);
                self.apply(now);
                if !read.is_continue() {
                    break;
                }
            }
            self.clients.still_readable(key);
        }
        for r in self.rows.iter_mut() {
            if r.input_paused && !r.debugger.input_full() {
                r.input_paused = false;
                log::debug!("reading clients again");
            }
        }
    }

    /// Puts each client a door let in in its row: one made for it (CDP), or
    /// the live one it named (the DBGp proxy's sessions).
    fn enter_clients(&mut self, now: Instant) {
        for (key, entry) in self.clients.take_entering() {
            let joiner = match entry {
                Entry::New(joiner) => joiner,
                Entry::Named(name) => {
                    self.enter_named(key, &name);
                    continue;
                }
            };
            let config = self.config.clone();
            let Joiner {
                name,
                session,
                backend,
            } = joiner;
            let made = self.add_row(
                |id, registry| {
                    let backend = backend(registry, RowTokens::of(id))?;
                    let mut row =
                        Row::from_parts(id, name, Debugger::new(backend, &config), session);
                    row.goes_with_client = true;
                    Ok(row)
                },
                now,
            );
            match made {
                Ok(row) => self.clients.enter(key, row, self.poll.registry()),
                Err(e) => {
                    self.clients
                        .drop_entering(key, &format!("{e:#}"), None, self.poll.registry())
                }
            }
        }
    }

    /// A client that named a live session joins it; an unknown name is
    /// told which are live.
    fn enter_named(&mut self, key: usize, name: &str) {
        if let Some(row) = self.rows.by_name(name) {
            return self.clients.enter(key, row, self.poll.registry());
        }
        let live: Vec<&str> = self.rows.iter().map(|r| r.name.as_str()).collect();
        let line = format!(
            "dbgproxy: no DBGp session '{name}' is live (live: {})\n",
            if live.is_empty() {
                "none".to_string()
            } else {
                live.join(", ")
            }
        );
        self.clients.drop_entering(
            key,
            &format!("it named session '{name}', which is not live"),
            Some(&line),
            self.poll.registry(),
        );
    }

    fn pause_input(&mut self, row: Option<RowId>) {
        let Some(r) = row.and_then(|row| self.rows.get_mut(row)) else {
            return;
        };
        if !r.input_paused {
            r.input_paused = true;
            r.stats.input_pauses += 1;
            log::debug!(
                "{} bytes queued for the debugger: not reading clients until it catches up",
                r.debugger.queued()
            );
        }
    }
}
