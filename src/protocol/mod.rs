//! Facts about the debuggers' protocols, apart from any connection: parsers,
//! scanners and vocabulary that the session layer and `attach` use. Nothing
//! here owns a socket or a clock; callers pass bytes and `Instant`s in and get
//! values (or bytes to send) back, so every rule is a unit test.

pub mod cdp;
pub mod dbgp_proxy;
