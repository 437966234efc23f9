//! `dbgproxy attach`: the IDE's side of the proxy, as a command.
//!
//! An editor runs it as its debug adapter executable (or a user runs it in a
//! terminal): it joins the proxy serving clients on `--port + 1` (starting
//! one as a daemon if none answers, `launch.rs`), bridges stdin/stdout to
//! that connection a whole message at a time (`bridge.rs`, `stdio.rs`), and
//! when the connection drops it reconnects (`link.rs`) and, for DAP, rejoins
//! the session as the IDE left it (`dap.rs`), so that the IDE does not
//! notice. stdout carries the bridged protocol and nothing else; what attach
//! has to say goes to stderr.

mod bridge;
mod cli;
mod dap;
mod dialect;
mod holder;
mod launch;
mod link;
mod stdio;

use std::time::Duration;

/// Runs `dbgproxy attach ARGS…`; returns the exit code: 0 when the IDE
/// ended it (stdin closed, a goodbye), 1 when the proxy could not be
/// joined or is gone for good, 2 on a usage error.
pub fn main(args: Vec<String>) -> u8 {
    let options = match cli::parse(args) {
        Ok(options) => options,
        Err(e) => e.exit(),
    };
    crate::logging::init(options.proxy.log_level);
    let result = launch::join(&options).and_then(|joined| bridge::run(&options, joined));
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            crate::logging::line(&format!("dbgproxy attach: error: {e:#}"));
            1
        }
    };
    crate::logging::flush(Duration::from_secs(2));
    code
}
