//! What every protocol's session needs, written once: who is in the session
//! ([`roster`]), who waits for which answer ([`inflight`]), warnings given
//! once ([`warn`]), and `Content-Length` JSON messages read and rewritten in
//! place ([`content_length`], DAP and V8).
//!
//! One more shape, a pattern rather than a type: what belongs to one
//! debugger session lives in one struct (`DebuggerSession` in dap, `Engine`
//! in dbgp, `Run` in gdb_mi and v8), made fresh when the debugger comes and
//! dropped whole when it goes, so that nothing of it is forgotten field by
//! field.

pub mod content_length;
pub mod inflight;
pub mod roster;
pub mod warn;

pub use self::inflight::{InFlight, Waiter};
pub use self::roster::Roster;
pub use self::warn::WarnOnce;
