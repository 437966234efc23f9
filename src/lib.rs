//! dbgproxy as a library: the binary in `main.rs` is a thin shell over
//! `proxy::run`. The framing scanners are public so that fuzz targets and
//! property tests can drive them without sockets.

pub mod access;
pub mod attach;
pub mod backends;
pub mod config;
pub mod control;
pub mod framing;
#[doc(hidden)]
pub mod fuzzing;
pub mod net;
pub mod process;
pub mod protocol;
pub mod proxy;
pub mod session;
pub mod tokens;
