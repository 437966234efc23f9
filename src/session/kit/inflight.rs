//! Who is waiting for which answer: the requests sent to the debugger and
//! not yet answered, keyed by the id the proxy gave them (never by the
//! client's own: two clients may both send request 3, and node 6's client
//! reuses the same seq constantly).
//!
//! Each entry says who waits ([`Waiter`]): a client, a client that has left
//! since (its answer still updates the session's state, then is dropped and
//! counted), or the proxy itself (its answer is swallowed, or does what
//! `P` says). What else a protocol keeps of a request is its `T`.
//!
//! The table is bounded; what happens at the bound is the protocol's choice,
//! counted here: refuse the new request (`try_insert`), forget the oldest
//! (`insert_forgetting_oldest`), or forget answers departed clients still
//! wait for (`forget_departed`).

use std::collections::BTreeMap;

use crate::session::ClientId;

/// Who reads the answer to a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Waiter<P> {
    Client(ClientId),
    /// The client left after asking: the answer is dropped.
    Departed(ClientId),
    /// The proxy's own request.
    Proxy(P),
}

impl<P> Waiter<P> {
    /// The client to answer, if it is still there.
    pub fn client(&self) -> Option<ClientId> {
        match *self {
            Waiter::Client(c) => Some(c),
            _ => None,
        }
    }

    /// The client that asked, there or not.
    pub fn asker(&self) -> Option<ClientId> {
        match *self {
            Waiter::Client(c) | Waiter::Departed(c) => Some(c),
            Waiter::Proxy(_) => None,
        }
    }
}

/// One request in flight.
#[derive(Debug)]
pub struct Entry<T, P> {
    pub waiter: Waiter<P>,
    pub job: T,
}

#[derive(Debug)]
pub struct InFlight<K, T, P = ()> {
    entries: BTreeMap<K, Entry<T, P>>,
    bound: usize,
    departed: usize,
    /// Requests refused at the bound.
    pub refused: u64,
    /// Entries forgotten at the bound: their answers will find no one.
    pub forgotten: u64,
}

impl<K: Ord + Copy, T, P> InFlight<K, T, P> {
    pub fn new(bound: usize) -> Self {
        InFlight {
            entries: BTreeMap::new(),
            bound,
            departed: 0,
            refused: 0,
            forgotten: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_full(&self) -> bool {
        self.entries.len() >= self.bound
    }

    /// Entries whose client left.
    pub fn departed(&self) -> usize {
        self.departed
    }

    /// Requests `client` waits for.
    pub fn count(&self, client: ClientId) -> usize {
        self.entries
            .values()
            .filter(|e| e.waiter.client() == Some(client))
            .count()
    }

    /// Adds an entry whatever the bound (a caller that checked `is_full`).
    pub fn insert(&mut self, key: K, waiter: Waiter<P>, job: T) {
        if matches!(waiter, Waiter::Departed(_)) {
            self.departed += 1;
        }
        if let Some(old) = self.entries.insert(key, Entry { waiter, job }) {
            self.uncount(&old);
        }
    }

    /// Adds an entry, or refuses it (counted) at the bound.
    pub fn try_insert(&mut self, key: K, waiter: Waiter<P>, job: T) -> Result<(), T> {
        if self.is_full() {
            self.refused += 1;
            return Err(job);
        }
        self.insert(key, waiter, job);
        Ok(())
    }

    /// Adds an entry, forgetting the oldest at the bound (counted); true if
    /// one was forgotten.
    pub fn insert_forgetting_oldest(&mut self, key: K, waiter: Waiter<P>, job: T) -> bool {
        let forgot = self.is_full() && self.pop_first().is_some();
        if forgot {
            self.forgotten += 1;
        }
        self.insert(key, waiter, job);
        forgot
    }

    /// The entry answered by `key`, no longer in flight.
    pub fn take(&mut self, key: K) -> Option<Entry<T, P>> {
        let e = self.entries.remove(&key)?;
        self.uncount(&e);
        Some(e)
    }

    /// The oldest entry (the smallest key).
    pub fn first(&self) -> Option<(K, &Entry<T, P>)> {
        self.entries.first_key_value().map(|(&k, e)| (k, e))
    }

    /// The oldest entry, to change what is kept of it.
    pub fn first_mut(&mut self) -> Option<(K, &mut Entry<T, P>)> {
        self.entries.iter_mut().next().map(|(&k, e)| (k, e))
    }

    pub fn pop_first(&mut self) -> Option<Entry<T, P>> {
        let (_, e) = self.entries.pop_first()?;
        self.uncount(&e);
        Some(e)
    }

    fn uncount(&mut self, e: &Entry<T, P>) {
        if matches!(e.waiter, Waiter::Departed(_)) {
            self.departed -= 1;
        }
    }

    /// `client` left: its answers will be dropped when they come.
    pub fn depart(&mut self, client: ClientId) {
        for e in self.entries.values_mut() {
            if e.waiter.client() == Some(client) {
                e.waiter = Waiter::Departed(client);
                self.departed += 1;
            }
        }
    }

    /// Forgets the entries of departed clients for which `forget` holds
    /// (counted); how many.
    pub fn forget_departed(&mut self, forget: impl Fn(&T) -> bool) -> usize {
        let before = self.entries.len();
        self.entries
            .retain(|_, e| !(matches!(e.waiter, Waiter::Departed(_)) && forget(&e.job)));
        let n = before - self.entries.len();
        self.forgotten += n as u64;
        self.departed = self
            .entries
            .values()
            .filter(|e| matches!(e.waiter, Waiter::Departed(_)))
            .count();
        n
    }

    /// Drops the entries for which `keep` is false (not counted: the
    /// protocol says why).
    pub fn retain(&mut self, mut keep: impl FnMut(&Entry<T, P>) -> bool) {
        self.entries.retain(|_, e| keep(e));
        self.departed = self
            .entries
            .values()
            .filter(|e| matches!(e.waiter, Waiter::Departed(_)))
            .count();
    }

    /// Oldest first.
    pub fn iter(&self) -> impl Iterator<Item = (K, &Entry<T, P>)> {
        self.entries.iter().map(|(&k, e)| (k, e))
    }

    /// Everything in flight, oldest first, leaving none.
    pub fn drain(&mut self) -> Vec<Entry<T, P>> {
        self.departed = 0;
        std::mem::take(&mut self.entries).into_values().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_find_their_client_and_departed_ones_are_marked() {
        let mut f: InFlight<u64, &str> = InFlight::new(8);
        f.insert(1, Waiter::Client(7), "a");
        f.insert(2, Waiter::Client(7), "b");
        f.insert(3, Waiter::Proxy(()), "mine");
        assert_eq!(f.count(7), 2);
        f.depart(7);
        assert_eq!((f.count(7), f.departed()), (0, 2));
        let e = f.take(1).unwrap();
        assert_eq!((e.waiter, e.job), (Waiter::Departed(7), "a"));
        assert_eq!(e.waiter.asker(), Some(7));
        assert_eq!(e.waiter.client(), None);
        assert_eq!(f.departed(), 1);
        assert!(f.take(1).is_none());
        assert_eq!(f.take(3).unwrap().waiter, Waiter::Proxy(()));
    }

    #[test]
    fn bounded_by_refusing_or_by_forgetting_the_oldest() {
        let mut f: InFlight<u64, u64> = InFlight::new(2);
        assert!(f.try_insert(1, Waiter::Client(1), 1).is_ok());
        assert!(f.try_insert(2, Waiter::Client(1), 2).is_ok());
        assert_eq!(f.try_insert(3, Waiter::Client(1), 3), Err(3));
        assert_eq!(f.refused, 1);
        assert!(f.insert_forgetting_oldest(4, Waiter::Client(2), 4));
        assert_eq!(f.forgotten, 1);
        assert_eq!(f.iter().map(|(k, _)| k).collect::<Vec<_>>(), [2, 4]);
        assert_eq!(f.first().map(|(k, _)| k), Some(2));
    }

    #[test]
    fn departed_entries_can_be_forgotten() {
        let mut f: InFlight<u64, bool> = InFlight::new(8);
        f.insert(1, Waiter::Client(1), true);
        f.insert(2, Waiter::Client(1), false);
        f.insert(3, Waiter::Client(2), true);
        f.depart(1);
        assert_eq!(f.forget_departed(|&forgettable| forgettable), 1);
        assert_eq!((f.forgotten, f.departed(), f.len()), (1, 1, 2));
        assert_eq!(f.drain().len(), 2);
        assert_eq!(f.departed(), 0);
    }
}
