//! Facts about the debuggers' protocols, kept apart from any socket:
//! parsers, scanners and vocabulary that the session layer and `attach`
//! use.

pub mod cdp;
