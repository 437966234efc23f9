//! Breakpoint ids across a reconnect (issue #18), for `dap.rs`.
//!
//! The proxy gives each connection an id space of its own, so a new
//! connection's answers number the replayed breakpoints afresh. The IDE must
//! keep the ids it was told: each kept breakpoints request remembers the ids
//! of the answer the IDE had, and the replay's answer to the same request
//! maps the new connection's ids, position by position, onto them. Ids the
//! IDE never had (a breakpoint set after the reconnect) are given numbers
//! above any it has seen, so they can never stand for another of its
//! breakpoints. Until the first reconnect nothing is rewritten; the ids are
//! only watched for the highest.

use std::collections::HashMap;

use serde_json::Value;

use super::{KINDS, Kept, Rejoin, Replayed, Verdict, framed, source_key};

/// Where a kept breakpoints request is.
#[derive(Clone, Debug)]
pub(super) enum Slot {
    Source(String),
    Kind(&'static str),
}

/// New-connection ids mapped at once; past it the map starts again (the IDE
/// is then told new ids for breakpoints it has), logged once.
const MAX_MAPPED: usize = 64 * 1024;

#[derive(Default)]
pub(super) struct IdMap {
    to_ide: HashMap<i64, i64>,
    /// Rewriting since the first reconnect.
    active: bool,
    /// Above any id the IDE has seen.
    high: i64,
    warned: bool,
}

impl IdMap {
    pub fn reconnected(&mut self) {
        self.active = true;
        self.to_ide.clear();
    }

    fn learn(&mut self, conn: i64, ide: i64) {
        self.to_ide.insert(conn, ide);
        self.high = self.high.max(ide.saturating_add(1));
    }

    /// The IDE's id for the connection's `conn`.
    fn ide(&mut self, conn: i64) -> i64 {
        if !self.active {
            self.high = self.high.max(conn.saturating_add(1));
            return conn;
        }
        if let Some(&ide) = self.to_ide.get(&conn) {
            return ide;
        }
        if self.to_ide.len() >= MAX_MAPPED {
            if !self.warned {
                self.warned = true;
                log::warn!("over {MAX_MAPPED} breakpoint ids mapped: starting the map again");
            }
            self.to_ide.clear();
        }
        let ide = self.high;
        self.learn(conn, ide);
        ide
    }

    /// Rewrites the integer ids at `ids` in place; whether any changed.
    fn rewrite<'a>(&mut self, ids: impl Iterator<Item = &'a mut Value>) -> bool {
        let mut changed = false;
        for v in ids {
            if let Some(conn) = v.as_i64() {
                let ide = self.ide(conn);
                changed |= ide != conn;
                *v = ide.into();
            }
        }
        changed
    }
}

impl Rejoin {
    /// The answer to a replayed request: its breakpoint ids map onto those
    /// the IDE was told; it goes to the IDE only if the IDE still waits.
    pub(super) fn replayed_answer(&mut self, body: &[u8], r: Replayed) -> Verdict {
        let Ok(mut v) = serde_json::from_slice::<Value>(body) else {
            return Verdict::Swallow;
        };
        if let Some(kept) = r.slot.as_ref().and_then(|s| self.kept_at(s))
            && let Some(told) = kept.told.clone()
        {
            for (conn, ide) in answer_ids(&v).into_iter().zip(told) {
                if let (Some(conn), Some(ide)) = (conn, ide) {
                    self.ids.learn(conn, ide);
                }
            }
        }
        let Some(seq) = r.answer_as else {
            return Verdict::Swallow;
        };
        self.ids.rewrite(answer_id_slots(&mut v));
        v["request_seq"] = seq.into();
        self.remember_told(seq, &v);
        Verdict::Renumbered(framed(&v))
    }

    /// The answer to the IDE's own breakpoints request `rs`: in the IDE's
    /// ids, which are remembered for the next reconnect.
    pub(super) fn ide_answer(&mut self, body: &[u8], rs: i64) -> Verdict {
        let Ok(mut v) = serde_json::from_slice::<Value>(body) else {
            return Verdict::Forward;
        };
        let changed = self.ids.rewrite(answer_id_slots(&mut v));
        self.remember_told(rs, &v);
        if changed {
            Verdict::Renumbered(framed(&v))
        } else {
            Verdict::Forward
        }
    }

    /// A `stopped` or `breakpoint` event, in the IDE's ids.
    pub(super) fn ide_event(&mut self, body: &[u8]) -> Verdict {
        let Ok(mut v) = serde_json::from_slice::<Value>(body) else {
            return Verdict::Forward;
        };
        let b = &mut v["body"];
        let ids: Vec<&mut Value> = match b.get_mut("hitBreakpointIds") {
            Some(Value::Array(hits)) => hits.iter_mut().collect(),
            _ => b
                .get_mut("breakpoint")
                .and_then(|bp| bp.get_mut("id"))
                .into_iter()
                .collect(),
        };
        if self.ids.rewrite(ids.into_iter()) {
            Verdict::Renumbered(framed(&v))
        } else {
            Verdict::Forward
        }
    }

    /// The IDE was told `answer` to its request `rs`: if that is a kept
    /// breakpoints request, its ids are what the IDE holds.
    fn remember_told(&mut self, rs: i64, answer: &Value) {
        if answer["success"] != true {
            return;
        }
        let told = answer_ids(answer);
        if let Some(kept) = self
            .breakpoints
            .values_mut()
            .chain(self.kinds.values_mut())
            .find(|k| k.seq == rs)
        {
            kept.told = Some(told);
        }
    }

    fn kept_at(&self, slot: &Slot) -> Option<&Kept> {
        match slot {
            Slot::Source(key) => self.breakpoints.get(key),
            Slot::Kind(kind) => self.kinds.get(kind),
        }
    }
}

/// The ids of an answer's `body.breakpoints`, by position.
fn answer_ids(answer: &Value) -> Vec<Option<i64>> {
    match &answer["body"]["breakpoints"] {
        Value::Array(list) => list.iter().map(|b| b["id"].as_i64()).collect(),
        _ => Vec::new(),
    }
}

/// The `id` members of an answer's `body.breakpoints`, to rewrite.
fn answer_id_slots(answer: &mut Value) -> impl Iterator<Item = &mut Value> {
    let list = match answer["body"].get_mut("breakpoints") {
        Some(Value::Array(list)) => list.as_mut_slice(),
        _ => &mut [],
    };
    list.iter_mut().filter_map(|b| b.get_mut("id"))
}

/// Where a breakpoints request is kept, if it is one.
pub(super) fn slot(request: &Value) -> Option<Slot> {
    match request["command"].as_str()? {
        "setBreakpoints" => Some(Slot::Source(source_key(request))),
        other => KINDS.iter().find(|&&k| k == other).map(|&k| Slot::Kind(k)),
    }
}
