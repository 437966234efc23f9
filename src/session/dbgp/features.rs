//! `feature_set` values: engine-global, last writer wins. Kept so that a
//! joiner's `feature_get` is told the truth, and replayed to each new engine
//! connection (a new PHP request starts with Xdebug's defaults, not with
//! what the clients asked for).

use std::collections::BTreeMap;

use super::command::Command;
use crate::session::kit::WarnOnce;

/// More than Xdebug has features.
const MAX_FEATURES: usize = 32;

/// A name the proxy can write into a command and an answer as it is.
fn plain(b: &u8) -> bool {
    b.is_ascii_alphanumeric() || *b == b'_'
}

#[derive(Default)]
pub struct Features {
    /// Name → (value as written, value).
    values: BTreeMap<Vec<u8>, (Vec<u8>, Vec<u8>)>,
}

impl Features {
    /// A `feature_set` the engine accepted.
    pub fn set(&mut self, cmd: &Command, warned: &mut WarnOnce) {
        let (Some(name), Some(v)) = (cmd.value(b'n'), cmd.arg(b'v')) else {
            return;
        };
        if !name.iter().all(plain) {
            return;
        }
        if !self.values.contains_key(name) && self.values.len() >= MAX_FEATURES {
            if warned.first("features full") {
                log::warn!("{MAX_FEATURES} features kept: not keeping more");
            }
            return;
        }
        let raw = cmd.bytes[v.raw.clone()].to_vec();
        self.values.insert(name.to_vec(), (raw, v.value.clone()));
    }

    /// The value to answer a `feature_get -n name` with, when the proxy
    /// knows it and can write it into the answer as it is.
    pub fn get(&self, name: &[u8]) -> Option<&[u8]> {
        let (_, value) = self.values.get(name)?;
        (!value.windows(3).any(|w| w == b"]]>")).then_some(&value[..])
    }

    /// `(name, value as written)`, to replay.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.values.iter().map(|(n, (raw, _))| (&n[..], &raw[..]))
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }
}
