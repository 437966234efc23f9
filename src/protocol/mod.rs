//! Facts about the debuggers' protocols, apart from any connection: parsers,
//! scanners and vocabulary that the session layer and `attach` use. Nothing
//! here owns a socket or a clock; callers pass bytes and `Instant`s in and get
//! values (or bytes to send) back, so every rule is a unit test. What is a
//! rule of *sharing* a session among clients lives in `session/`; what a
//! message *is* lives here, once, for every reader.
//!
//! - `json`, `plain`: the strict JSON scanner DAP, V8 and CDP bodies are
//!   read with, and the block-wise byte stepping it and `gdb_mi` share;
//! - `dap`, `v8`, `gdb_mi`, `dbgp`: each protocol's syntax and vocabulary
//!   (which command is a goodbye, which resumes); the greeting rules are
//!   below;
//! - `cdp`: the inspector's HTTP and WebSocket layer;
//! - `dbgp_proxy`: the DBGp proxy protocol's registrar.
//!
//! Where one message ends is `framing/`: its scanners share one contract
//! (`Scan`, `FrameError`, the header bounds) with the `Assembler` that turns
//! them into whole messages, and the loop reads only that.

pub mod cdp;
pub mod dap;
pub mod dbgp;
pub mod dbgp_proxy;
pub mod gdb_mi;
pub mod json;
pub mod plain;
pub mod v8;

use crate::framing::{Message, Protocol};

/// Whether the protocol's debugger opens with a greeting worth replaying to
/// every client that joins later. DAP clients open the conversation
/// themselves.
pub fn has_greeting(protocol: Protocol) -> bool {
    matches!(protocol, Protocol::V8 | Protocol::Dbgp | Protocol::GdbMi)
}

/// Whether `message`, part of the debugger's greeting, is its last: gdb's
/// runs through its first `(gdb) ` prompt; V8's `Type: connect` and DBGp's
/// `<init>` are one message.
pub fn greeting_ends(protocol: Protocol, message: &Message) -> bool {
    match protocol {
        Protocol::GdbMi => message.prompt,
        _ => true,
    }
}
