//! Who is in the session: the clients that joined and have not left, in
//! join order, each with what its protocol keeps of it, and which of them
//! are leaving (their goodbye was answered and their close asked for: they
//! count no more, though `client_left` has not come yet).
//!
//! "Do others remain?" decides whether a goodbye is personal or the last
//! (SESSIONS.md rule 2 and 6); join order picks the longest-connected client.

use std::collections::BTreeMap;

use crate::session::ClientId;

struct Member<P> {
    joined: u64,
    leaving: bool,
    peer: P,
}

pub struct Roster<P> {
    members: BTreeMap<ClientId, Member<P>>,
    joins: u64,
}

impl<P> Default for Roster<P> {
    fn default() -> Self {
        Roster {
            members: BTreeMap::new(),
            joins: 0,
        }
    }
}

impl<P> Roster<P> {
    /// `client` joined, with what its protocol keeps of it.
    pub fn join(&mut self, client: ClientId, peer: P) {
        self.joins += 1;
        let joined = self.joins;
        self.members.insert(
            client,
            Member {
                joined,
                leaving: false,
                peer,
            },
        );
    }

    /// `client` left (for whatever reason): what was kept of it.
    pub fn leave(&mut self, client: ClientId) -> Option<P> {
        self.members.remove(&client).map(|m| m.peer)
    }

    /// `client` said goodbye and is being closed: it no longer counts.
    pub fn set_leaving(&mut self, client: ClientId) {
        if let Some(m) = self.members.get_mut(&client) {
            m.leaving = true;
        }
    }

    /// Joined and not left (leaving or not).
    pub fn contains(&self, client: ClientId) -> bool {
        self.members.contains_key(&client)
    }

    /// Joined, not left and not leaving.
    pub fn is_present(&self, client: ClientId) -> bool {
        self.members.get(&client).is_some_and(|m| !m.leaving)
    }

    pub fn is_leaving(&self, client: ClientId) -> bool {
        self.members.get(&client).is_some_and(|m| m.leaving)
    }

    /// Whether a client other than `client` is present: `client`'s goodbye
    /// is then personal.
    pub fn others_remain(&self, client: ClientId) -> bool {
        self.members
            .iter()
            .any(|(&id, m)| id != client && !m.leaving)
    }

    /// No client at all (leaving ones count: they may still be sent to).
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn get(&self, client: ClientId) -> Option<&P> {
        self.members.get(&client).map(|m| &m.peer)
    }

    pub fn get_mut(&mut self, client: ClientId) -> Option<&mut P> {
        self.members.get_mut(&client).map(|m| &mut m.peer)
    }

    /// Every client, leaving or not, by id.
    pub fn iter(&self) -> impl Iterator<Item = (ClientId, &P)> {
        self.members.iter().map(|(&id, m)| (id, &m.peer))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (ClientId, &mut P)> {
        self.members.iter_mut().map(|(&id, m)| (id, &mut m.peer))
    }

    /// The present clients, by id.
    pub fn present(&self) -> impl Iterator<Item = (ClientId, &P)> {
        self.members
            .iter()
            .filter(|(_, m)| !m.leaving)
            .map(|(&id, m)| (id, &m.peer))
    }

    /// The longest-connected present client for which `fits` holds.
    pub fn eldest(&self, fits: impl Fn(ClientId, &P) -> bool) -> Option<ClientId> {
        self.members
            .iter()
            .filter(|&(&id, m)| !m.leaving && fits(id, &m.peer))
            .min_by_key(|(_, m)| m.joined)
            .map(|(&id, _)| id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn others_remain_until_the_last_is_leaving() {
        let mut r = Roster::default();
        r.join(7, ());
        r.join(3, ());
        assert!(r.others_remain(7));
        r.set_leaving(3);
        assert!(!r.others_remain(7), "a leaving client does not count");
        assert!(r.others_remain(3));
        assert!(r.contains(3) && !r.is_present(3) && r.is_leaving(3));
        assert_eq!(r.leave(3), Some(()));
        assert_eq!(r.leave(3), None);
        assert_eq!(r.len(), 1);
        r.leave(7);
        assert!(r.is_empty());
    }

    #[test]
    fn eldest_is_by_join_order_not_id() {
        let mut r = Roster::default();
        r.join(9, "a");
        r.join(2, "b");
        r.join(5, "c");
        assert_eq!(r.eldest(|_, _| true), Some(9));
        assert_eq!(r.eldest(|_, p| *p != "a"), Some(2));
        r.set_leaving(2);
        assert_eq!(r.eldest(|_, p| *p != "a"), Some(5));
        assert_eq!(r.present().map(|(id, _)| id).collect::<Vec<_>>(), [5, 9]);
        *r.get_mut(5).unwrap() = "z";
        assert_eq!(r.get(5), Some(&"z"));
    }
}
