//! Test support for the sessions: one in-memory stand-in for the event loop
//! ([`Sim`]) that every protocol's tests drive, and on top of it what more
//! than one protocol's tests read:
//! - `transcript`: [`Run`], a session played from a recorded transcript with
//!   scenario lines (V8, GDB/MI);
//! - the DAP and DBGp tests keep their thin layer beside them
//!   (`session::dap::tests::Rig`, `session::dbgp::tests::H`): how their
//!   protocol's messages are written and read, over a [`Sim`].

mod sim;
mod transcript;

pub use sim::Sim;
pub use transcript::{Run, count};

use super::Settings;
use crate::config::{self, LastGoodbye, Mode};
use crate::framing::Protocol;

/// A session's settings as the tests run it: no passthrough, a 1 MiB
/// backlog, a 2 s DBGp hold; override a field with `..settings(…)`.
pub fn settings(protocol: Protocol, mode: Mode, last_goodbye: LastGoodbye) -> Settings {
    Settings {
        protocol,
        mode,
        forwards_last_goodbye: config::forwards_last_goodbye(mode, last_goodbye),
        backlog_bytes: 1 << 20,
        passthrough: false,
        dbgp_hold: std::time::Duration::from_secs(2),
    }
}
