//! The Debug Adapter Protocol, as facts: which requests resume the debuggee
//! and which one is a client's goodbye. The session (`session::dap`) and
//! `attach`'s rejoin (`attach::dap`) both read them here; DAP's framing
//! (Content-Length headers) is `framing::content_length`, its bodies are
//! read with `protocol::json`.

/// Commands that resume the debuggee when they succeed: the session tells
/// the other clients, `attach` forgets the last stop.
pub const RESUMING: &[&str] = &[
    "continue",
    "next",
    "stepIn",
    "stepOut",
    "stepBack",
    "reverseContinue",
    "goto",
];

/// Whether a request by this command is a client's goodbye. (`terminate`
/// ends the debuggee for everyone, and is not one.)
pub fn is_goodbye(command: &str) -> bool {
    command == "disconnect"
}
