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
mod out;
mod stdio;
mod stream;

use std::time::Duration;

/// Runs `dbgproxy attach ARGS…`; returns the exit code: 0 when the IDE
/// ended it (stdin closed, a goodbye), 1 when the proxy could not be
/// joined or is gone for good, 2 on a usage error.
pub fn main(args: Vec<String>) -> u8 {
    let options = match cli::parse(args) {
        Ok(options) => options,
        Err(e) => e.exit(),
    };
    keep_stdio_slots();
    crate::process::logging::init(options.proxy.log_level);
    let result = launch::join(&options).and_then(|joined| {
        let asked = options.proxy.protocol;
        if asked != crate::framing::Protocol::Raw && asked != joined.protocol {
            log::warn!(
                "the proxy on {} speaks {}, not {}: bridging {}",
                options.target,
                joined.protocol.name(),
                asked.name(),
                joined.protocol.name()
            );
        }
        bridge::run(&options, joined)
    });
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            crate::process::logging::line(&format!("dbgproxy attach: error: {e:#}"));
            1
        }
    };
    crate::process::logging::flush(Duration::from_secs(2));
    code
}

/// A closed stdin, stdout or stderr would be taken by the next socket
/// opened, and the IDE's bytes would go to the proxy's: /dev/null stands in.
fn keep_stdio_slots() {
    for fd in 0..=2 {
        if stdio::flags(fd).is_none() {
            // SAFETY: open(2) returns the lowest free descriptor, which is
            // `fd` if nothing lower is free; a stray one is moved there.
            unsafe {
                let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
                if null >= 0 && null != fd {
                    libc::dup2(null, fd);
                    libc::close(null);
                }
            }
        }
    }
}
