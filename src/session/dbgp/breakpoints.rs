//! The clients' breakpoints, remembered across engine connections. Each PHP
//! request is a new engine connection with no breakpoints; the session
//! re-issues the remembered `breakpoint_set`s to each one, so a client sees
//! its breakpoints hit in the next request even if its IDE does not set them
//! again.
//!
//! Breakpoint ids are the engine's, per connection (and with `php -S` or
//! php-fpm the next request's ids restart from the same numbers). A client
//! keeps the id it was first told (its *facing* id); this table maps it to
//! the current connection's engine id, both ways, so that `-d` in commands
//! and `id="…"` in answers are rewritten only when the two differ.

use super::command::Command;
use crate::session::ClientId;
use crate::session::kit::WarnOnce;

/// Breakpoints remembered at most; more are set but not replayed.
pub const MAX_REMEMBERED: usize = 512;
/// Facing ids the proxy makes up start here: more digits than Xdebug's
/// `(pid & 0x1ffff) * 10000 + n` ever has.
const PROXY_IDS: u64 = 10_000_000_000;

pub type Key = Vec<(u8, Vec<u8>)>;

#[derive(Debug)]
pub struct Remembered {
    /// Stable across removals: how a replay in flight names its entry.
    pub serial: u64,
    /// `None` once the client that set it has left.
    pub owner: Option<ClientId>,
    pub facing: Vec<u8>,
    /// The id on the current engine connection, once it answered.
    pub engine: Option<Vec<u8>>,
    /// The options as written, `-i` left out, and the data.
    pub args: Vec<(u8, Vec<u8>)>,
    pub data: Option<Vec<u8>>,
    pub key: Key,
    /// This connection's answer to the replayed set, for a client that
    /// sends the same breakpoint again.
    pub answer: Option<super::packet::Packet>,
    /// A client has been answered with this breakpoint on this connection.
    pub claimed: bool,
}

#[derive(Default)]
pub struct Breakpoints {
    list: Vec<Remembered>,
    next_serial: u64,
    next_proxy_id: u64,
    pub not_remembered: u64,
}

impl Breakpoints {
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// A client's `breakpoint_set` succeeded with `engine_id`: remembers it
    /// and returns the id the client is to know.
    pub fn remember(
        &mut self,
        owner: Option<ClientId>,
        cmd: &Command,
        engine_id: &[u8],
        warned: &mut WarnOnce,
    ) -> Vec<u8> {
        // A temporary breakpoint is gone after its first hit, without a word
        // from the engine: replaying it would resurrect it.
        if cmd.value(b'r') == Some(b"1") {
            return engine_id.to_vec();
        }
        if self.list.len() >= MAX_REMEMBERED {
            self.not_remembered += 1;
            if warned.first("breakpoints full") {
                log::warn!(
                    "{MAX_REMEMBERED} breakpoints remembered: later ones are set but not replayed to the next PHP request"
                );
            }
            return engine_id.to_vec();
        }
        let facing = if self.list.iter().any(|r| r.facing == engine_id) {
            self.next_proxy_id += 1;
            (PROXY_IDS + self.next_proxy_id).to_string().into_bytes()
        } else {
            engine_id.to_vec()
        };
        self.next_serial += 1;
        self.list.push(Remembered {
            serial: self.next_serial,
            owner,
            facing: facing.clone(),
            engine: Some(engine_id.to_vec()),
            args: cmd
                .args
                .iter()
                .filter(|a| a.opt != b'i')
                .map(|a| (a.opt, cmd.bytes[a.raw.clone()].to_vec()))
                .collect(),
            data: cmd.data().map(<[u8]>::to_vec),
            key: cmd.key(),
            answer: None,
            claimed: true,
        });
        facing
    }

    /// The engine id for a client's `-d`, when it differs.
    pub fn engine_id(&self, facing: &[u8]) -> Option<&[u8]> {
        let r = self.list.iter().find(|r| r.facing == facing)?;
        r.engine.as_deref().filter(|e| *e != facing)
    }

    /// The facing id for an engine id in an answer, when it differs.
    pub fn facing_id(&self, engine: &[u8]) -> Option<&[u8]> {
        let r = self
            .list
            .iter()
            .find(|r| r.engine.as_deref() == Some(engine))?;
        Some(&r.facing[..]).filter(|f| *f != engine)
    }

    pub fn removed(&mut self, facing: &[u8]) {
        self.list.retain(|r| r.facing != facing);
    }

    /// A successful `breakpoint_update`: its `-s`, `-n`, `-h`, `-o` are the
    /// `breakpoint_set` options of the same letters, and so replayed.
    pub fn updated(&mut self, facing: &[u8], cmd: &Command) {
        let Some(r) = self.list.iter_mut().find(|r| r.facing == facing) else {
            return;
        };
        for a in cmd.args.iter().filter(|a| b"snho".contains(&a.opt)) {
            let raw = cmd.bytes[a.raw.clone()].to_vec();
            match r.args.iter_mut().find(|(o, _)| *o == a.opt) {
                Some(slot) => slot.1 = raw,
                None => r.args.push((a.opt, raw)),
            }
            match r.key.iter_mut().find(|(o, _)| *o == a.opt) {
                Some(slot) => slot.1 = a.value.clone(),
                None => {
                    r.key.push((a.opt, a.value.clone()));
                    r.key.sort();
                }
            }
        }
    }

    /// A new engine connection: no breakpoint has an engine id yet. Returns
    /// the serials to replay, in the order they were set.
    pub fn new_connection(&mut self) -> Vec<u64> {
        for r in &mut self.list {
            r.engine = None;
            r.answer = None;
            r.claimed = false;
        }
        self.list.iter().map(|r| r.serial).collect()
    }

    pub fn get(&self, serial: u64) -> Option<&Remembered> {
        self.list.iter().find(|r| r.serial == serial)
    }

    pub fn replayed(&mut self, serial: u64, engine_id: &[u8], answer: super::packet::Packet) {
        if let Some(r) = self.list.iter_mut().find(|r| r.serial == serial) {
            r.engine = Some(engine_id.to_vec());
            r.answer = Some(answer);
        }
    }

    /// A replayed breakpoint equal to the one `client` sets, not yet claimed
    /// on this connection: the client's own first, then a departed
    /// client's (a returning IDE under a new connection).
    pub fn claim(&mut self, client: ClientId, key: &Key) -> Option<&Remembered> {
        let matching = |r: &Remembered| r.answer.is_some() && !r.claimed && &r.key == key;
        let at = self
            .list
            .iter()
            .position(|r| matching(r) && r.owner == Some(client))
            .or_else(|| {
                self.list
                    .iter()
                    .position(|r| matching(r) && r.owner.is_none())
            })?;
        let r = &mut self.list[at];
        r.claimed = true;
        r.owner = Some(client);
        Some(r)
    }

    /// The client left: its breakpoints stay, for whoever comes back.
    pub fn orphan(&mut self, client: ClientId) {
        for r in self.list.iter_mut().filter(|r| r.owner == Some(client)) {
            r.owner = None;
        }
    }

    /// The client's last goodbye: its breakpoints go.
    pub fn forget(&mut self, client: ClientId) {
        self.list.retain(|r| r.owner != Some(client));
    }
}
