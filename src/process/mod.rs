//! The process around the proxy: what it does as a Unix process rather than
//! as a proxy. Detaching for `--daemon` and the pid file (`daemon.rs`),
//! running under systemd (`systemd.rs`), logging that never blocks the loop
//! (`logging.rs`), and process-wide tuning: the descriptor limit, the
//! allocator (`tuning.rs`).

pub mod daemon;
pub mod logging;
pub mod systemd;
pub mod tuning;
