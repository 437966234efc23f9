//! `dbgproxy status`, `list` and `stop`: clients of the running proxies'
//! control sockets (see `control.rs`).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;

use crate::control;

/// Asks the proxy behind `socket` one thing; returns its JSON reply.
fn ask(socket: &Path, request: &str, timeout: Duration) -> Result<Value> {
    let mut stream = UnixStream::connect(socket)
        .map_err(|e| anyhow!("cannot reach {}: {e}", socket.display()))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(format!("{request}\n").as_bytes())?;
    let mut line = String::new();
    BufReader::new(stream)
        .read_line(&mut line)
        .with_context(|| format!("no answer from {}", socket.display()))?;
    let reply: Value = serde_json::from_str(&line)
        .with_context(|| format!("bad answer from {}", socket.display()))?;
    if let Some(error) = reply.get("error") {
        bail!("{}: {error}", socket.display());
    }
    Ok(reply)
}

/// The control socket of the proxy for debug port `port`: named after its
/// client port (`port + 1` unless given); a proxy serving clients on Unix
/// sockets only names it after the debug port.
fn socket_for(port: u16, client_port: Option<u16>) -> Result<std::path::PathBuf> {
    let by_client_port = match client_port {
        Some(p) => p,
        None => port
            .checked_add(1)
            .ok_or_else(|| anyhow!("--port 65535 needs --client-port"))?,
    };
    let path = control::socket_path(by_client_port);
    if path.exists() {
        return Ok(path);
    }
    let by_debug_port = control::socket_path(port);
    if client_port.is_none() && by_debug_port.exists() {
        // That name could also be a TCP proxy's whose client port is `port`.
        let debug_port = ask(&by_debug_port, "status", Duration::from_secs(5))
            .ok()
            .and_then(|s| s["debug_port"].as_u64());
        if debug_port == Some(u64::from(port)) {
            return Ok(by_debug_port);
        }
    }
    bail!(
        "no dbgproxy of yours serves clients on port {by_client_port} (no control socket at {})",
        path.display()
    );
}

/// The status of the proxy serving clients on `client_port`, through its
/// control socket (`dbgproxy attach` uses it to tell a dbgproxy from
/// something else on that port).
pub fn status_of(client_port: u16, timeout: Duration) -> Result<Value> {
    ask(&control::socket_path(client_port), "status", timeout)
}

pub fn status(port: u16, client_port: Option<u16>, pretty: bool) -> Result<u8> {
    let reply = ask(
        &socket_for(port, client_port)?,
        "status",
        Duration::from_secs(5),
    )?;
    let text = if pretty {
        serde_json::to_string_pretty(&reply)?
    } else {
        reply.to_string()
    };
    println!("{text}");
    Ok(0)
}

pub fn list(json: bool) -> Result<u8> {
    let dir = control::runtime_dir();
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "sock") {
                // A stale socket of a crashed proxy does not answer: not running.
                if let Ok(status) = ask(&path, "status", Duration::from_secs(2)) {
                    found.push(status);
                }
            }
        }
    }
    found.sort_by_key(|s| s["debug_port"].as_u64());
    if json {
        println!("{}", Value::Array(found));
        return Ok(0);
    }
    if found.is_empty() {
        eprintln!("no dbgproxy running for this user ({})", dir.display());
    }
    for s in &found {
        let backend = &s["backend"];
        println!(
            "port {}  clients on {}  {} {} ({})  {} client(s)  up {}  pid {}",
            s["debug_port"],
            s["client_addr"].as_str().unwrap_or("?"),
            backend["kind"].as_str().unwrap_or("?"),
            s["protocol"].as_str().unwrap_or("?"),
            backend["state"].as_str().unwrap_or("?"),
            s["clients"].as_array().map_or(0, Vec::len),
            human(s["uptime_secs"].as_u64().unwrap_or(0)),
            s["pid"]
        );
    }
    Ok(0)
}

pub fn stop(port: u16, client_port: Option<u16>, timeout: Duration) -> Result<u8> {
    let reply = ask(
        &socket_for(port, client_port)?,
        "stop",
        Duration::from_secs(5),
    )?;
    let pid = reply["pid"]
        .as_u64()
        .ok_or_else(|| anyhow!("the proxy did not say its pid"))?;
    let end = Instant::now() + timeout;
    while running(pid) {
        if Instant::now() >= end {
            bail!(
                "dbgproxy pid {pid} is still running after {}s; `kill -9 {pid}` ends it at once",
                timeout.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("stopped dbgproxy pid {pid}");
    Ok(0)
}

/// Whether `pid` still runs: a zombie waiting for its parent to reap it has
/// stopped running.
fn running(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

/// "3h12m", "5m", "42s".
fn human(secs: u64) -> String {
    match secs {
        s if s >= 3600 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        s if s >= 60 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}
