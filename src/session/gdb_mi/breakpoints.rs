//! The breakpoints gdb has, as the session learns them from gdb's results
//! and notifications: their numbers (to announce a `-break-delete` of "all"
//! or of a range), the client that made each (to drop the last client's
//! breakpoints on a kept session's last goodbye), and each one's latest
//! tuple (to tell a joiner which breakpoints exist). Bounded. And what a
//! client's breakpoint command changed, announced to the others.

use std::collections::BTreeMap;

use super::client::prefixed;
use super::inflight::{Announce, Effect};
use super::mi;
use crate::framing::Message;
use crate::net::queue::Chunk;
use crate::session::{ClientId, Outbox, To};

/// Breakpoints tracked; more are still routed and announced, not remembered.
const MAX_BREAKPOINTS: usize = 4096;

#[derive(Default)]
struct Breakpoint {
    owner: Option<ClientId>,
    /// `bkpt={…}` (and MI2's location tuples), with the line's end.
    tuple: Option<Message>,
}

#[derive(Default)]
pub struct Breakpoints {
    known: BTreeMap<u32, Breakpoint>,
    warned: bool,
    pub untracked: u64,
}

/// Which breakpoints a command's arguments name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// No arguments: every breakpoint.
    All,
    /// Single numbers (of a breakpoint, or of one of its locations) and
    /// ranges `N-M`.
    Some(Vec<(u32, u32)>),
}

/// More numbers than this in one command are not announced one by one.
pub const MAX_SELECTED: usize = 64;

impl Selection {
    /// From `-break-delete 1 2-4` / `-break-enable 3.1` style arguments.
    pub fn parse(args: &[u8]) -> Selection {
        let mut ranges = Vec::new();
        for a in mi::args(args) {
            if a.starts_with(b"-") {
                continue;
            }
            let (lo, hi) = match a.iter().position(|&c| c == b'-') {
                Some(dash) => (&a[..dash], &a[dash + 1..]),
                None => (a, a),
            };
            if let (Some(lo), Some(hi)) = (mi::breakpoint_number(lo), mi::breakpoint_number(hi))
                && lo <= hi
                && ranges.len() < MAX_SELECTED
            {
                ranges.push((lo, hi));
            }
        }
        if ranges.is_empty() && mi::args(args).next().is_none() {
            Selection::All
        } else {
            Selection::Some(ranges)
        }
    }

    /// The first number only (`-break-condition [--force] N expr`).
    pub fn first(args: &[u8]) -> Selection {
        let n = mi::args(args)
            .find(|a| !a.starts_with(b"-"))
            .and_then(mi::breakpoint_number);
        Selection::Some(n.map(|n| vec![(n, n)]).unwrap_or_default())
    }
}

impl Breakpoints {
    /// A breakpoint gdb made or changed; `owner` is the client whose command
    /// made it, when known.
    pub fn seen(&mut self, number: u32, owner: Option<ClientId>, tuple: Option<Message>) {
        if !self.known.contains_key(&number) && self.known.len() >= MAX_BREAKPOINTS {
            self.untracked += 1;
            if !self.warned {
                self.warned = true;
                log::warn!(
                    "over {MAX_BREAKPOINTS} breakpoints: later ones are not tracked (not replayed to joiners, not dropped on the last goodbye)"
                );
            }
            return;
        }
        let bp = self.known.entry(number).or_default();
        if bp.owner.is_none() {
            bp.owner = owner;
        }
        if tuple.is_some() {
            bp.tuple = tuple;
        }
    }

    pub fn deleted(&mut self, number: u32) {
        self.known.remove(&number);
    }

    /// The known breakpoints that `selection` names, at most `MAX_SELECTED`.
    pub fn selected(&self, selection: &Selection) -> Vec<u32> {
        let numbers: Box<dyn Iterator<Item = u32>> = match selection {
            Selection::All => Box::new(self.known.keys().copied()),
            Selection::Some(ranges) => Box::new(
                ranges
                    .iter()
                    .flat_map(|&(lo, hi)| self.known.range(lo..=hi).map(|(n, _)| *n)),
            ),
        };
        let mut v: Vec<u32> = numbers.take(MAX_SELECTED + 1).collect();
        v.sort_unstable();
        v.dedup();
        if v.len() > MAX_SELECTED {
            log::debug!(
                "more than {MAX_SELECTED} breakpoints in one command: announcing the first {MAX_SELECTED}"
            );
            v.truncate(MAX_SELECTED);
        }
        v
    }

    pub fn owned_by(&self, client: ClientId) -> Vec<u32> {
        self.known
            .iter()
            .filter(|(_, bp)| bp.owner == Some(client))
            .map(|(n, _)| *n)
            .collect()
    }

    /// Every tuple kept, in number order.
    pub fn tuples(&self) -> impl Iterator<Item = &Message> {
        self.known.values().filter_map(|bp| bp.tuple.as_ref())
    }

    pub fn numbers(&self) -> impl Iterator<Item = u32> + '_ {
        self.known.keys().copied()
    }

    pub fn clear(&mut self) {
        self.known.clear();
        self.warned = false;
    }
}

/// What a client's command changed, told to the others: gdb announces
/// MI-made breakpoint changes only to the channel that made them.
impl super::GdbMi {
    /// Tells the other clients what a client's command changed.
    pub(super) fn apply(
        &mut self,
        effect: Effect,
        client: ClientId,
        rest: &[u8],
        rest_at: usize,
        chunk: &Chunk,
        out: &mut Outbox,
    ) {
        match effect {
            Effect::Created => {
                let Some(n) = mi::field(rest, "number").and_then(mi::breakpoint_number) else {
                    return;
                };
                if rest.starts_with(b",bkpt=") {
                    let tuple = Message::from_parts(vec![chunk.slice(rest_at + 1, chunk.len())]);
                    out.send(
                        To::AllBut(client),
                        prefixed(b"=breakpoint-created,", &tuple),
                    );
                    self.breakpoints.seen(n, Some(client), Some(tuple));
                } else {
                    // A watchpoint's result (`wpt={number,exp}`) is not the
                    // tuple gdb announces: ask for that one.
                    self.breakpoints.seen(n, Some(client), None);
                    let announce = Announce {
                        modified: false,
                        except: client,
                    };
                    self.ask(format!("-break-info {n}\n"), Some(announce), out);
                }
            }
            Effect::Deleted(selection) => {
                for n in self.breakpoints.selected(&selection) {
                    self.breakpoints.deleted(n);
                    let note = format!("=breakpoint-deleted,id=\"{n}\"\n");
                    out.send(To::AllBut(client), Message::from_bytes(note.as_bytes()));
                }
            }
            Effect::Modified(selection) => {
                for n in self.breakpoints.selected(&selection) {
                    let announce = Announce {
                        modified: true,
                        except: client,
                    };
                    self.ask(format!("-break-info {n}\n"), Some(announce), out);
                }
            }
            Effect::None | Effect::Exit => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selections() {
        assert_eq!(Selection::parse(b""), Selection::All);
        assert_eq!(
            Selection::parse(b"1 3-4 5.2"),
            Selection::Some(vec![(1, 1), (3, 4), (5, 5)])
        );
        assert_eq!(Selection::parse(b"x"), Selection::Some(vec![]));
        assert_eq!(
            Selection::first(b"--force 7 n > 3"),
            Selection::Some(vec![(7, 7)])
        );
        let mut b = Breakpoints::default();
        for n in [1, 2, 3, 7] {
            b.seen(n, Some(n as u64 % 2), None);
        }
        assert_eq!(b.selected(&Selection::parse(b"2-5 7 9")), [2, 3, 7]);
        assert_eq!(b.selected(&Selection::All), [1, 2, 3, 7]);
        assert_eq!(b.owned_by(1), [1, 3, 7]);
    }
}
