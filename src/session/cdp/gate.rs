//! The release gate shared by the CDP client rows (issue #20), still sans
//! I/O. Node lets a process started with `--inspect-brk` run on the *first*
//! `Runtime.runIfWaitingForDebugger` from any session, so after a restart
//! the client whose replay finishes first would let the program run before
//! another client's early breakpoint is in. Each client's adapter is a
//! member and keeps its [`Readiness`] here; a ready member releases (each
//! does: node answers the later ones `{}`) only once no member is still
//! pending, or once a pending one has held the others for `bound` (its
//! upstream never came back): then the ready ones release anyway, and that
//! is logged and counted.
//!
//! One gate per door (one debuggee), made by the door and handed to each
//! client row's session: the rows live in one thread, hence `Rc<RefCell>`.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// How long ready clients wait for one whose upstream is not back: longer
/// than the backends' longest retry delay (`backoff::MAX_DELAY`, 5 s).
pub const RELEASE_WAIT: Duration = Duration::from_secs(10);

pub type SharedGate = Rc<RefCell<Gate>>;

/// Where a client stands toward releasing the process its row is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// Its upstream is not up yet, or its setup is still being replayed:
    /// the others wait for it.
    Pending,
    /// Its setup is in and it wants the process released.
    Ready,
    /// Its setup is in and it does not ask for a release (it never
    /// released a process, or it already did this one).
    Settled,
}

#[derive(Debug)]
struct Member {
    name: String,
    readiness: Readiness,
}

#[derive(Debug)]
pub struct Gate {
    bound: Duration,
    members: BTreeMap<u64, Member>,
    next: u64,
    /// Since when a ready member waits for a pending one.
    since: Option<Instant>,
    /// The bound passed: the ready members release without the pending.
    forced: bool,
    forced_releases: u64,
}

impl Gate {
    pub fn shared(bound: Duration) -> SharedGate {
        Rc::new(RefCell::new(Gate {
            bound,
            members: BTreeMap::new(),
            next: 0,
            since: None,
            forced: false,
            forced_releases: 0,
        }))
    }

    /// A new member, pending until it says otherwise.
    pub fn join(&mut self, name: &str) -> u64 {
        let id = self.next;
        self.next += 1;
        let member = Member {
            name: name.to_owned(),
            readiness: Readiness::Pending,
        };
        self.members.insert(id, member);
        id
    }

    pub fn leave(&mut self, id: u64) {
        self.members.remove(&id);
        self.settle();
    }

    pub fn rename(&mut self, id: u64, name: &str) {
        if let Some(m) = self.members.get_mut(&id) {
            m.name = name.to_owned();
        }
    }

    pub fn set(&mut self, id: u64, readiness: Readiness) {
        if let Some(m) = self.members.get_mut(&id) {
            m.readiness = readiness;
        }
        self.settle();
    }

    fn any(&self, r: Readiness) -> bool {
        self.members.values().any(|m| m.readiness == r)
    }

    /// A wait ends when no member is ready any more.
    fn settle(&mut self) {
        if !self.any(Readiness::Ready) {
            self.since = None;
            self.forced = false;
        }
    }

    /// Whether a ready member may release now.
    pub fn open(&self) -> bool {
        self.any(Readiness::Ready) && (self.forced || !self.any(Readiness::Pending))
    }

    /// Time passes (each member's row calls it every turn): starts the
    /// bound on a wait, and forces the gate open when it passes.
    pub fn tick(&mut self, now: Instant) {
        if !self.any(Readiness::Ready) || !self.any(Readiness::Pending) || self.forced {
            return;
        }
        let since = *self.since.get_or_insert(now);
        if now.duration_since(since) >= self.bound {
            self.forced = true;
            self.forced_releases += 1;
            let pending: Vec<&str> = self
                .members
                .values()
                .filter(|m| m.readiness == Readiness::Pending)
                .map(|m| m.name.as_str())
                .collect();
            log::warn!(
                "CDP: releasing the debuggee after {:?} without the setup of {}: \
                 their inspector sessions are not back",
                self.bound,
                pending.join(", ")
            );
        }
    }

    /// When the gate next needs `tick`, at the latest.
    pub fn deadline(&self) -> Option<Instant> {
        self.since
            .filter(|_| !self.forced)
            .map(|since| since + self.bound)
    }

    /// How often the bound forced the gate open.
    pub fn forced_releases(&self) -> u64 {
        self.forced_releases
    }
}
