//! The no-loss rules of fan-out, without a socket: which clients are too
//! far behind (so that the debugger must wait), when such a client has
//! stalled or lagged for too long and goes, and how much unfinished input
//! the clients may hold. The client table (`clients/mod.rs`) tells it what
//! its sockets did — bytes queued, bytes written, input held — with the time,
//! and carries out what it decides; the counters it bumps are the `status`
//! ones.
//!
//! It knows clients by their key in the table, and only those that are
//! behind or hold input: one is needed per debugger link (its clients and
//! their holding decision), nothing in it is global.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::config::Config;

/// A client behind by more than `--client-buffer` is given at most this many
/// stall timeouts in all, however steadily it reads.
const SLOW_FACTOR: u32 = 10;

/// A client, as the table knows it (its slab key).
pub type Key = usize;

/// The bounds the rules enforce.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `--client-buffer`: bytes queued for one client before the debugger waits.
    pub client_buffer: usize,
    /// `--stall-timeout`: how long a client behind may take nothing.
    pub stall_timeout: Duration,
    /// `--max-client-message`: the framing of one client's input enforces it.
    pub max_client_message: usize,
    /// `--client-input-total`: unfinished input held for all clients together.
    pub input_total: usize,
}

impl Limits {
    pub fn of(config: &Config) -> Limits {
        Limits {
            client_buffer: config.client_buffer,
            stall_timeout: config.stall_timeout,
            max_client_message: config.max_client_message,
            input_total: config.client_input_total,
        }
    }
}

/// What the rules counted (shown by `status`).
#[derive(Default, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    pub dropped_slow: u64,
    pub dropped_bad_framing: u64,
    pub dropped_input_cap: u64,
    /// Times the debugger was made to wait for a client that fell behind.
    pub debugger_waits: u64,
}

/// What queuing a message for a client came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// Within `--client-buffer`, or already behind.
    Keeping,
    /// It has just gone over `--client-buffer`: the debugger waits from now.
    FellBehind,
}

/// A client the rules want gone, and why (for the log line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evict {
    pub key: Key,
    pub why: Why,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// Behind, and it took nothing for the stall timeout.
    Stalled { stall: Duration, queued: usize },
    /// Behind for `SLOW_FACTOR` stall timeouts, however steadily it read.
    Lagging { limit: Duration },
    /// It holds the most unfinished input while all clients together hold
    /// more than `--client-input-total`.
    InputTotal { held: usize, total: usize },
}

impl std::fmt::Display for Why {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Why::Stalled { stall, queued } => write!(
                f,
                "too slow: took nothing for {}ms with {queued} bytes queued (--stall-timeout)",
                stall.as_millis()
            ),
            Why::Lagging { limit } => write!(
                f,
                "too slow: over --client-buffer for {}ms",
                limit.as_millis()
            ),
            Why::InputTotal { held, total } => write!(
                f,
                "holds {held} bytes of an unfinished message while all clients together hold over {total} (--client-input-total)"
            ),
        }
    }
}

/// A client over `--client-buffer`.
#[derive(Debug, Clone, Copy)]
struct Behind {
    since: Instant,
    /// When a write last took some of its queue.
    last_progress: Instant,
    queued: usize,
}

#[derive(Debug)]
pub struct Backpressure {
    limits: Limits,
    behind: HashMap<Key, Behind>,
    /// Bytes of unfinished messages, per client that holds any.
    held: HashMap<Key, usize>,
    held_total: usize,
    pub counters: Counters,
}

impl Backpressure {
    pub fn new(limits: Limits) -> Backpressure {
        Backpressure {
            limits,
            behind: HashMap::new(),
            held: HashMap::new(),
            held_total: 0,
            counters: Counters::default(),
        }
    }

    /// The largest message one client may send (for its framing).
    pub fn max_client_message(&self) -> usize {
        self.limits.max_client_message
    }

    /// Whether some client is too far behind (the table asks which row's
    /// debugger must wait).
    pub fn holding(&self) -> bool {
        !self.behind.is_empty()
    }

    /// The clients too far behind (the table knows their rows).
    pub fn behind(&self) -> impl Iterator<Item = Key> + '_ {
        self.behind.keys().copied()
    }

    /// Bytes of unfinished messages all clients hold.
    #[cfg(test)]
    pub fn input_held(&self) -> usize {
        self.held_total
    }

    // ----- output -----

    /// A message was queued for `key`, which now has `queued` bytes waiting.
    /// A message always goes to a client: only the debugger is made to wait.
    pub fn queued(&mut self, key: Key, queued: usize, now: Instant) -> Pace {
        // Behind means over the buffer (`wrote` ends it at or under), so a
        // client within it is neither behind nor falling behind.
        if queued <= self.limits.client_buffer {
            return Pace::Keeping;
        }
        if let Some(behind) = self.behind.get_mut(&key) {
            behind.queued = queued;
            return Pace::Keeping;
        }
        self.behind.insert(
            key,
            Behind {
                since: now,
                last_progress: now,
                queued,
            },
        );
        self.counters.debugger_waits += 1;
        Pace::FellBehind
    }

    /// A write took `written` bytes of `key`'s queue, leaving `queued`.
    pub fn wrote(&mut self, key: Key, written: usize, queued: usize, now: Instant) {
        if self.behind.is_empty() {
            return;
        }
        let Some(behind) = self.behind.get_mut(&key) else {
            return;
        };
        if queued <= self.limits.client_buffer {
            self.behind.remove(&key);
            return;
        }
        behind.queued = queued;
        if written > 0 {
            behind.last_progress = now;
        }
    }

    /// The clients behind that took nothing for the stall timeout, or stayed
    /// behind too long: they go (counted), and the debugger is read again
    /// once none is left behind.
    pub fn stalled(&mut self, now: Instant) -> Vec<Evict> {
        let stall = self.limits.stall_timeout;
        let mut gone = Vec::new();
        for (&key, b) in &self.behind {
            let why = if now >= b.last_progress + stall {
                Why::Stalled {
                    stall,
                    queued: b.queued,
                }
            } else if now >= b.since + stall * SLOW_FACTOR {
                Why::Lagging {
                    limit: stall * SLOW_FACTOR,
                }
            } else {
                continue;
            };
            gone.push(Evict { key, why });
        }
        // The table's order, as when it was scanned for them.
        gone.sort_by_key(|d| d.key);
        self.counters.dropped_slow += gone.len() as u64;
        gone
    }

    /// When `stalled` may next have something to say.
    pub fn deadline(&self) -> Option<Instant> {
        let stall = self.limits.stall_timeout;
        self.behind
            .values()
            .map(|b| (b.last_progress + stall).min(b.since + stall * SLOW_FACTOR))
            .min()
    }

    // ----- input -----

    /// `key` now holds `held` bytes of an unfinished message. Past the total
    /// cap, the client holding the most goes (counted).
    pub fn input(&mut self, key: Key, held: usize) -> Option<Evict> {
        if held == 0 && self.held.is_empty() {
            // The common case: whole messages only, nobody holds a part.
            return None;
        }
        let before = if held == 0 {
            self.held.remove(&key)
        } else {
            self.held.insert(key, held)
        };
        self.held_total = self.held_total - before.unwrap_or(0) + held;
        if self.held_total <= self.limits.input_total {
            return None;
        }
        // Ties go to the last in the table's order.
        let (&key, &held) = self.held.iter().max_by_key(|&(k, h)| (*h, *k))?;
        self.counters.dropped_input_cap += 1;
        Some(Evict {
            key,
            why: Why::InputTotal {
                held,
                total: self.limits.input_total,
            },
        })
    }

    /// A client broke its framing (a message over `--max-client-message`
    /// among them): it goes, counted.
    pub fn bad_framing(&mut self) {
        self.counters.dropped_bad_framing += 1;
    }

    /// `key` left the table: it no longer holds the debugger or any input.
    pub fn forget(&mut self, key: Key) {
        self.behind.remove(&key);
        if let Some(held) = self.held.remove(&key) {
            self.held_total -= held;
        }
    }

    /// Every client left at once (the proxy is exiting); the counters stay.
    pub fn forget_all(&mut self) {
        self.behind.clear();
        self.held.clear();
        self.held_total = 0;
    }
}

#[cfg(test)]
mod tests;
