//! Where each engine goes, sans-I/O: the loop tells the router that an
//! engine sent its `<init>`, that a registration came, that a row's engine
//! ended, and the time; the router answers with what to do — give the
//! engine to a row (named by its key) and dial that row's IDE, or let it go.
//!
//! Rules (issue #21, shared/DBGP-PROXY.md):
//! - an engine goes only to the IDE registered for its own idekey (a keyless
//!   one to `--dbgp-default-key`'s), never to another key's;
//! - engines of different keys run at once, each in its own row;
//! - a second engine of a key whose row is busy: with `-m 1` it gets a row
//!   of its own (`K#2`, `K#3`, …) and a dial of its own; with `-m 0` (the IDE
//!   takes one session at a time) it is held until the row is free;
//! - an engine nobody can take (no IDE, or `-m 0` and busy) is held for
//!   `--dbgp-hold`, so that a registration made meanwhile still gets it,
//!   then let go with a reason (`detach`): the PHP request runs on.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::registry::{NoIde, Registration, Registry};

/// The loop's name for an engine not routed yet (its table key).
pub type EngineId = usize;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The engine becomes the debugger link of row `row`; dial `to.ide` for
    /// it, on behalf of `to.owner`.
    Route {
        engine: EngineId,
        row: String,
        to: Registration,
    },
    /// Nobody took it within the hold: `detach` it with `reason`, close.
    Detach { engine: EngineId, reason: String },
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub routed: u64,
    /// Engines that had to wait (no IDE yet, or `-m 0` and busy).
    pub held: u64,
    pub detached: u64,
}

#[derive(Debug)]
struct Held {
    engine: EngineId,
    key: Option<String>,
    until: Instant,
}

/// Why an engine cannot go anywhere yet.
enum Wait {
    NoIde(NoIde),
    /// Its IDE takes one session at a time (`-m 0`) and has one.
    Busy {
        key: String,
    },
}

#[derive(Debug)]
pub struct Router {
    hold: Duration,
    /// Rows with an engine now, by name.
    live: BTreeSet<String>,
    /// Engines waiting, oldest first.
    held: Vec<Held>,
    counters: Counters,
}

impl Router {
    pub fn new(hold: Duration) -> Router {
        Router {
            hold,
            live: BTreeSet::new(),
            held: Vec::new(),
            counters: Counters::default(),
        }
    }

    /// `engine` sent its `<init>`, naming `idekey`; `None`: it is held.
    pub fn arrived(
        &mut self,
        engine: EngineId,
        idekey: Option<String>,
        reg: &Registry,
        now: Instant,
    ) -> Option<Decision> {
        match self.route(engine, idekey.as_deref(), reg) {
            Ok(decision) => Some(decision),
            Err(_) => {
                self.counters.held += 1;
                self.held.push(Held {
                    engine,
                    key: idekey,
                    until: now + self.hold,
                });
                None
            }
        }
    }

    /// What changed meanwhile (a registration, a row freed, time passing)
    /// does for the engines held: routed in arrival order, or let go once
    /// their hold is over.
    pub fn step(&mut self, reg: &Registry, now: Instant) -> Vec<Decision> {
        let mut out = Vec::new();
        let mut still = Vec::new();
        for held in std::mem::take(&mut self.held) {
            match self.route(held.engine, held.key.as_deref(), reg) {
                Ok(decision) => out.push(decision),
                Err(wait) if now >= held.until => {
                    self.counters.detached += 1;
                    let reason = match wait {
                        Wait::NoIde(why) => why.to_string(),
                        Wait::Busy { key } => format!(
                            "the IDE registered for idekey '{key}' takes one session at a time (-m 0) and has one"
                        ),
                    };
                    out.push(Decision::Detach {
                        engine: held.engine,
                        reason: format!("dbgproxy: {reason}"),
                    });
                }
                Err(_) => still.push(held),
            }
        }
        self.held = still;
        out
    }

    /// Row `row`'s engine ended: the row takes the next one.
    pub fn ended(&mut self, row: &str) {
        self.live.remove(row);
    }

    /// A held engine went away by itself.
    pub fn forget(&mut self, engine: EngineId) {
        self.held.retain(|h| h.engine != engine);
    }

    /// When `step` has an engine to let go.
    pub fn deadline(&self) -> Option<Instant> {
        self.held.iter().map(|h| h.until).min()
    }

    pub fn held(&self) -> usize {
        self.held.len()
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    fn route(
        &mut self,
        engine: EngineId,
        idekey: Option<&str>,
        reg: &Registry,
    ) -> Result<Decision, Wait> {
        let to = reg.lookup(idekey).map_err(Wait::NoIde)?;
        let row = if !self.live.contains(&to.key) {
            to.key.clone()
        } else if to.multi {
            (2..)
                .map(|n| format!("{}#{n}", to.key))
                .find(|name| !self.live.contains(name))
                .unwrap_or_default()
        } else {
            return Err(Wait::Busy {
                key: to.key.clone(),
            });
        };
        self.live.insert(row.clone());
        self.counters.routed += 1;
        Ok(Decision::Route {
            engine,
            row,
            to: to.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::dbgp_proxy::registry::Owner;

    const HOLD: Duration = Duration::from_secs(2);

    fn reg(keys: &[(&str, u16, bool)], now: Instant) -> Registry {
        let mut r = Registry::new(16, None);
        for &(k, port, multi) in keys {
            let ide = ([127, 0, 0, 1], port).into();
            r.register(k, Owner::Uid(1000), ide, multi, now).unwrap();
        }
        r
    }

    fn row_of(d: Option<Decision>) -> String {
        match d {
            Some(Decision::Route { row, .. }) => row,
            other => panic!("not routed: {other:?}"),
        }
    }

    #[test]
    fn keys_go_to_their_own_rows_at_once() {
        let now = Instant::now();
        let reg = reg(&[("alice", 1, true), ("bob", 2, true)], now);
        let mut r = Router::new(HOLD);
        assert_eq!(
            row_of(r.arrived(1, Some("alice".into()), &reg, now)),
            "alice"
        );
        assert_eq!(row_of(r.arrived(2, Some("bob".into()), &reg, now)), "bob");
        // -m 1: a second engine of a busy key gets a row of its own.
        assert_eq!(
            row_of(r.arrived(3, Some("alice".into()), &reg, now)),
            "alice#2"
        );
        assert_eq!(
            row_of(r.arrived(4, Some("alice".into()), &reg, now)),
            "alice#3"
        );
        r.ended("alice");
        assert_eq!(
            row_of(r.arrived(5, Some("alice".into()), &reg, now)),
            "alice"
        );
        assert_eq!(r.counters().routed, 5);
        assert_eq!(r.deadline(), None);
    }

    #[test]
    fn an_unknown_key_is_held_then_let_go_never_given_to_another() {
        let now = Instant::now();
        let reg = reg(&[("alice", 1, true)], now);
        let mut r = Router::new(HOLD);
        assert_eq!(r.arrived(7, Some("mallory".into()), &reg, now), None);
        assert_eq!(r.arrived(8, None, &reg, now), None);
        assert_eq!(r.deadline(), Some(now + HOLD));
        assert!(r.step(&reg, now + HOLD / 2).is_empty());
        let out = r.step(&reg, now + HOLD);
        assert_eq!(out.len(), 2);
        assert!(
            matches!(&out[0], Decision::Detach { engine: 7, reason } if reason.contains("'mallory'"))
        );
        assert!(
            matches!(&out[1], Decision::Detach { engine: 8, reason } if reason.contains("no idekey"))
        );
        assert_eq!(r.held(), 0);
        assert_eq!(r.counters().detached, 2);
    }

    #[test]
    fn a_late_registration_gets_the_held_engine() {
        let now = Instant::now();
        let mut registry = reg(&[], now);
        let mut r = Router::new(HOLD);
        assert_eq!(r.arrived(1, Some("carol".into()), &registry, now), None);
        let ide = ([127, 0, 0, 1], 9).into();
        registry
            .register("carol", Owner::Uid(1), ide, true, now)
            .unwrap();
        let out = r.step(&registry, now + HOLD / 2);
        assert!(matches!(&out[..], [Decision::Route { engine: 1, row, .. }] if row == "carol"));
    }

    #[test]
    fn single_session_ides_hold_the_second_engine_until_free() {
        let now = Instant::now();
        let reg = reg(&[("dave", 1, false)], now);
        let mut r = Router::new(HOLD);
        assert_eq!(row_of(r.arrived(1, Some("dave".into()), &reg, now)), "dave");
        assert_eq!(r.arrived(2, Some("dave".into()), &reg, now), None);
        assert!(r.step(&reg, now).is_empty());
        r.ended("dave");
        let out = r.step(&reg, now);
        assert!(matches!(&out[..], [Decision::Route { engine: 2, row, .. }] if row == "dave"));
        // Busy past the hold: let go, saying why.
        assert_eq!(r.arrived(3, Some("dave".into()), &reg, now), None);
        let out = r.step(&reg, now + HOLD);
        assert!(
            matches!(&out[..], [Decision::Detach { engine: 3, reason }] if reason.contains("-m 0"))
        );
    }

    #[test]
    fn a_keyless_engine_goes_to_the_default_key() {
        let now = Instant::now();
        let mut registry = Registry::new(4, Some("dev".into()));
        let ide = ([127, 0, 0, 1], 9).into();
        registry
            .register("dev", Owner::Uid(1), ide, true, now)
            .unwrap();
        let mut r = Router::new(HOLD);
        assert_eq!(row_of(r.arrived(1, None, &registry, now)), "dev");
        r.forget(1);
        assert_eq!(r.held(), 0);
    }
}
