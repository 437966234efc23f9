//! Running `dbgproxy` and its control commands against a private runtime
//! directory (where the control sockets live), for tests that ask `status`.

use std::path::Path;
use std::process::Output;

use serde_json::Value;

use super::Proxy;

/// A proxy whose control socket lives in `runtime`.
pub fn proxy_in(runtime: &Path, args: &[&str]) -> Proxy {
    let mut cmd = Proxy::command();
    cmd.args(args).env("XDG_RUNTIME_DIR", runtime);
    Proxy::spawn(cmd)
}

/// `dbgproxy ARGS` (a control command) against the proxies in `runtime`.
pub fn dbgproxy(runtime: &Path, args: &[&str]) -> Output {
    super::dbgproxy_command()
        .args(args)
        .env("XDG_RUNTIME_DIR", runtime)
        .output()
        .expect("run dbgproxy")
}

/// `dbgproxy status --port PORT`, which must succeed, as JSON.
pub fn status(runtime: &Path, port: u16) -> Value {
    let out = dbgproxy(runtime, &["status", "--port", &port.to_string()]);
    assert!(
        out.status.success(),
        "status failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("status prints one JSON object")
}
