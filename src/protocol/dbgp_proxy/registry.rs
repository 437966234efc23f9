//! The registrations: idekey → the IDE that registered it, and who owns the
//! registration. Sans-I/O: the loop passes in the registering connection's
//! peer address, its owner and the time.
//!
//! A registration belongs to its owner (a local uid, or whoever holds the
//! token): the same owner registering the same key again replaces it, which
//! cures the stale key an IDE leaves behind when it crashes without
//! `proxystop` (vscode-php-debug#690, KomodoEdit#3788); another owner is
//! refused with a message naming the holder. An engine goes only to the IDE
//! registered for its own idekey; a keyless one to the default key, if set.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Whose registration it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// A local user (the same-uid rule, `--allow-users`).
    Uid(u32),
    /// A remote IDE that presented the token.
    Token,
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Owner::Uid(uid) => write!(f, "uid {uid}"),
            Owner::Token => write!(f, "a token holder"),
        }
    }
}

/// One row of the table (and of the status view).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub key: String,
    pub owner: Owner,
    /// The registering connection's peer address, with the IDE's port: the
    /// only place the proxy ever dials for this key.
    pub ide: SocketAddr,
    pub multi: bool,
    pub since: Instant,
    /// Tells this registration from a later one under the same key.
    pub serial: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registered {
    New,
    /// The same owner's earlier registration of the key, now gone.
    Replaced(Registration),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Taken {
        key: String,
        holder: Owner,
        age: Duration,
    },
    Full {
        max: usize,
    },
    NotRegistered {
        key: String,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Taken { key, holder, age } => write!(
                f,
                "idekey '{key}' is registered by {holder} (for {}); unregister it there or pick another key",
                Age(*age)
            ),
            Refusal::Full { max } => write!(
                f,
                "the proxy holds {max} registrations, its limit; unregister one first"
            ),
            Refusal::NotRegistered { key } => write!(f, "idekey '{key}' is not registered"),
        }
    }
}

/// Why an engine found no IDE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoIde {
    /// Its `<init>` has no idekey and there is no default key (or nobody
    /// registered it).
    Keyless {
        default: Option<String>,
    },
    Unregistered {
        key: String,
    },
}

impl fmt::Display for NoIde {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoIde::Keyless { default: None } => write!(
                f,
                "the engine sent no idekey (set xdebug.idekey, or XDEBUG_SESSION with start_with_request=trigger)"
            ),
            NoIde::Keyless { default: Some(k) } => write!(
                f,
                "the engine sent no idekey, and no IDE is registered for the default key '{k}'"
            ),
            NoIde::Unregistered { key } => write!(f, "no IDE is registered for idekey '{key}'"),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub registered: u64,
    pub replaced: u64,
    pub unregistered: u64,
    /// Dropped after the proxy could not connect back to the IDE.
    pub dropped: u64,
    pub refused_taken: u64,
    pub refused_full: u64,
    /// Peers the access rules (or a missing or wrong `-t`) refused.
    pub refused_access: u64,
}

#[derive(Debug)]
pub struct Registry {
    table: BTreeMap<String, Registration>,
    max: usize,
    default_key: Option<String>,
    next_serial: u64,
    counters: Counters,
}

impl Registry {
    pub fn new(max: usize, default_key: Option<String>) -> Registry {
        Registry {
            table: BTreeMap::new(),
            max,
            default_key,
            next_serial: 1,
            counters: Counters::default(),
        }
    }

    pub fn register(
        &mut self,
        key: &str,
        owner: Owner,
        ide: SocketAddr,
        multi: bool,
        now: Instant,
    ) -> Result<Registered, Refusal> {
        let old = self.table.get(key);
        if let Some(old) = old.filter(|old| old.owner != owner) {
            self.counters.refused_taken += 1;
            return Err(Refusal::Taken {
                key: key.to_owned(),
                holder: old.owner,
                age: now.saturating_duration_since(old.since),
            });
        }
        if old.is_none() && self.table.len() >= self.max {
            self.counters.refused_full += 1;
            return Err(Refusal::Full { max: self.max });
        }
        let serial = self.next_serial;
        self.next_serial += 1;
        let new = Registration {
            key: key.to_owned(),
            owner,
            ide,
            multi,
            since: now,
            serial,
        };
        self.counters.registered += 1;
        Ok(match self.table.insert(key.to_owned(), new) {
            Some(old) => {
                self.counters.replaced += 1;
                Registered::Replaced(old)
            }
            None => Registered::New,
        })
    }

    /// `proxystop`: only the owner may.
    pub fn unregister(
        &mut self,
        key: &str,
        owner: Owner,
        now: Instant,
    ) -> Result<Registration, Refusal> {
        match self.table.get(key) {
            None => Err(Refusal::NotRegistered {
                key: key.to_owned(),
            }),
            Some(r) if r.owner != owner => {
                self.counters.refused_taken += 1;
                Err(Refusal::Taken {
                    key: key.to_owned(),
                    holder: r.owner,
                    age: now.saturating_duration_since(r.since),
                })
            }
            Some(_) => {
                self.counters.unregistered += 1;
                self.table.remove(key).ok_or(Refusal::NotRegistered {
                    key: key.to_owned(),
                })
            }
        }
    }

    /// The IDE for an engine whose `<init>` carried `idekey` (`None`: none).
    /// A keyless engine goes to the default key; an unknown key to nobody.
    pub fn lookup(&self, idekey: Option<&str>) -> Result<&Registration, NoIde> {
        match idekey {
            Some(key) => self.table.get(key).ok_or_else(|| NoIde::Unregistered {
                key: key.to_owned(),
            }),
            None => self
                .default_key
                .as_ref()
                .and_then(|k| self.table.get(k))
                .ok_or_else(|| NoIde::Keyless {
                    default: self.default_key.clone(),
                }),
        }
    }

    /// Drops the registration `serial` of `key` (its IDE refused the
    /// connect-back), unless the owner has registered it anew since.
    pub fn drop_registration(&mut self, key: &str, serial: u64) -> Option<Registration> {
        if self.table.get(key)?.serial != serial {
            return None;
        }
        self.counters.dropped += 1;
        self.table.remove(key)
    }

    /// The rows, by key.
    pub fn rows(&self) -> impl Iterator<Item = &Registration> {
        self.table.values()
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// A registering peer the access rules refused (counted with the rest).
    pub fn count_denied(&mut self) {
        self.counters.refused_access += 1;
    }
}

/// `1h02m`, `4m12s`, `3s`: how long a registration has been held.
pub struct Age(pub Duration);

impl fmt::Display for Age {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0.as_secs();
        match s {
            0..60 => write!(f, "{s}s"),
            60..3600 => write!(f, "{}m{:02}s", s / 60, s % 60),
            _ => write!(f, "{}h{:02}m", s / 3600, s % 3600 / 60),
        }
    }
}
