//! Breakpoint ids per client (issue #18): each client sees ids of its own,
//! never the debugger's.
//!
//! The debugger numbers the breakpoints of the union the proxy sends it
//! (`breakpoints.rs`), and renumbers them whenever a source is set again
//! (debugpy does, for any client's change) or the debugger restarts. A
//! client must keep the id it was told while its breakpoint lives, in
//! answers, `stopped.hitBreakpointIds` and `breakpoint` events. So each
//! client has an id space: its breakpoint's identity (the scope, a source or
//! a kind, and the entry's key: line and condition, function name, data id,
//! instruction reference) holds a client id, allocated on the first answer
//! that gives that breakpoint a debugger id; every later answer (to anyone's
//! request on the same scope) binds the client id to the debugger id of the
//! moment. A client id is the debugger's number when that is still free in
//! the client's space, so one client alone sees the debugger's own ids.
//!
//! A debugger may name a breakpoint by the id it had before it was
//! renumbered: debugpy reports a stop with the id of the first of two
//! `setBreakpoints` answers when both came while the program ran. So the id
//! a breakpoint was bound to before stays an alias of it (a debugger does
//! not give one id to two breakpoints in one session), until the debugger
//! goes, the breakpoint does, or `MAX_IDS` aliases have piled up (then the
//! oldest are forgotten: they only serve events that raced a renumbering).
//!
//! Bounded per client by `MAX_IDS`: past it, identities left over from an
//! old debugger session go first; then a new breakpoint's answer carries no
//! `id` (the member is optional in DAP), counted in `dropped`.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::session::ClientId;

/// Breakpoints with an id, per client.
pub const MAX_IDS: usize = 16 * 1024;

/// Where each client's entries sit in a union request, and who they are.
#[derive(Debug)]
pub struct Layout {
    /// A source (`src:` + its key) or a kind (the request's command).
    pub scope: String,
    /// Per client in the union (and the asker, maybe with none): its
    /// entries' positions in the union and their identities, in its order.
    pub entries: BTreeMap<ClientId, Entries>,
}

#[derive(Debug, Default)]
pub struct Entries {
    pub at: Vec<usize>,
    pub keys: Vec<String>,
}

impl Layout {
    /// The positions of `client`'s entries.
    pub fn mine(&self, client: ClientId) -> &[usize] {
        self.entries.get(&client).map_or(&[], |e| &e.at)
    }
}

#[derive(Default)]
pub struct Ids {
    spaces: HashMap<ClientId, Space>,
    pub dropped: u64,
    warned: bool,
}

#[derive(Default)]
struct Space {
    /// scope → identity → client id.
    held: HashMap<String, HashMap<String, i64>>,
    count: usize,
    to_client: HashMap<i64, i64>,
    to_debugger: HashMap<i64, i64>,
    /// Debugger ids a breakpoint had before its current one → client id.
    aliases: HashMap<i64, i64>,
    /// The client ids its identities hold.
    in_use: HashSet<i64>,
    /// Above every client id issued.
    high: i64,
}

impl Ids {
    /// The debugger answered a union request with `debugger` (its ids by
    /// union position): binds every client's breakpoints in the layout.
    /// Returns the asker's client ids, by its entries (None: no id).
    pub fn learn(
        &mut self,
        layout: &Layout,
        debugger: &[Option<i64>],
        asker: Option<ClientId>,
        present: impl Fn(ClientId) -> bool,
    ) -> Vec<Option<i64>> {
        let mut mine = Vec::new();
        for (&client, e) in &layout.entries {
            if !present(client) {
                continue;
            }
            let dids: Vec<Option<i64>> =
                e.at.iter()
                    .map(|&i| debugger.get(i).copied().flatten())
                    .collect();
            let space = self.spaces.entry(client).or_default();
            let (cids, full) = space.assign(&layout.scope, &e.keys, &dids);
            if full > 0 {
                self.dropped += full as u64;
                if !self.warned {
                    self.warned = true;
                    log::warn!(
                        "client #{client}: over {MAX_IDS} breakpoints with ids: answering more without one"
                    );
                }
            }
            if Some(client) == asker {
                mine = cids;
            }
        }
        mine
    }

    /// `client`'s id for the debugger's breakpoint `did`.
    pub fn own(&self, client: ClientId, did: i64) -> Option<i64> {
        self.spaces.get(&client)?.own(did)
    }

    /// Whether some client holds the debugger's breakpoint `did`.
    pub fn owned(&self, did: i64) -> bool {
        self.spaces.values().any(|s| s.own(did).is_some())
    }

    /// The debugger removed breakpoint `did`: no client's id stands for it.
    pub fn removed(&mut self, did: i64) {
        for s in self.spaces.values_mut() {
            if let Some(cid) = s.to_client.remove(&did) {
                s.to_debugger.remove(&cid);
            }
            s.aliases.remove(&did);
        }
    }

    pub fn left(&mut self, client: ClientId) {
        self.spaces.remove(&client);
    }

    /// The debugger is gone, and its ids with it; what each client holds
    /// stays, to be bound again when it sets the same breakpoints.
    pub fn debugger_lost(&mut self) {
        for s in self.spaces.values_mut() {
            s.to_client.clear();
            s.to_debugger.clear();
            s.aliases.clear();
        }
    }
}

impl Space {
    /// The client id for `did`: its current binding, else a breakpoint the
    /// client still holds that had `did` before.
    fn own(&self, did: i64) -> Option<i64> {
        self.to_client.get(&did).copied().or_else(|| {
            self.aliases
                .get(&did)
                .copied()
                .filter(|cid| self.to_debugger.contains_key(cid))
        })
    }

    /// Replaces the client's identities in `scope` with `keys`, bound to
    /// `dids`; returns their client ids and how many found no room.
    fn assign(
        &mut self,
        scope: &str,
        keys: &[String],
        dids: &[Option<i64>],
    ) -> (Vec<Option<i64>>, usize) {
        let mut old = self.held.remove(scope).unwrap_or_default();
        self.count -= old.len();
        let mut new: HashMap<String, i64> = HashMap::with_capacity(keys.len());
        let mut cids = Vec::with_capacity(keys.len());
        let mut full = 0;
        for (key, &did) in keys.iter().zip(dids) {
            let known = new.get(key).copied().or_else(|| old.remove(key));
            let cid = match (known, did) {
                (Some(cid), _) => Some(cid),
                // Nothing to show: no id to give.
                (None, None) => None,
                (None, Some(did)) => {
                    if self.count + new.len() >= MAX_IDS {
                        self.evict_stale();
                    }
                    if self.count + new.len() >= MAX_IDS {
                        full += 1;
                        None
                    } else {
                        Some(self.fresh(did))
                    }
                }
            };
            if let Some(cid) = cid {
                new.insert(key.clone(), cid);
                match did {
                    Some(did) => self.bind(cid, did),
                    None => self.unbind(cid),
                }
            }
            cids.push(cid.filter(|_| did.is_some()));
        }
        for cid in old.into_values() {
            self.unbind(cid);
            self.in_use.remove(&cid);
        }
        self.count += new.len();
        if !new.is_empty() {
            self.held.insert(scope.to_string(), new);
        }
        (cids, full)
    }

    /// The debugger's number if no breakpoint of the client's holds it,
    /// else one above any issued.
    fn fresh(&mut self, did: i64) -> i64 {
        let cid = if self.in_use.contains(&did) {
            self.high
        } else {
            did
        };
        self.high = self.high.max(cid.saturating_add(1));
        self.in_use.insert(cid);
        cid
    }

    fn bind(&mut self, cid: i64, did: i64) {
        if let Some(was) = self.to_debugger.insert(cid, did)
            && was != did
            && self.to_client.get(&was) == Some(&cid)
        {
            self.to_client.remove(&was);
            if self.aliases.len() >= MAX_IDS {
                self.aliases.clear();
            }
            self.aliases.insert(was, cid);
        }
        self.aliases.remove(&did);
        self.to_client.insert(did, cid);
    }

    fn unbind(&mut self, cid: i64) {
        if let Some(did) = self.to_debugger.remove(&cid)
            && self.to_client.get(&did) == Some(&cid)
        {
            self.to_client.remove(&did);
        }
    }

    /// Forgets the identities no debugger breakpoint stands for (left from
    /// an old debugger session, or removed by the debugger).
    fn evict_stale(&mut self) {
        let bound = &self.to_debugger;
        let in_use = &mut self.in_use;
        let mut kept = 0;
        self.held.retain(|_, ids| {
            ids.retain(|_, cid| {
                let keep = bound.contains_key(cid);
                if !keep {
                    in_use.remove(cid);
                }
                keep
            });
            kept += ids.len();
            !ids.is_empty()
        });
        self.count = kept;
    }
}
