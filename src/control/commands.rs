//! `dbgproxy status`, `list` and `stop`: clients of the running proxies'
//! control sockets (see `mod.rs`).

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;

use crate::control;

/// A control socket nobody accepts on, removed: what a proxy killed
/// outright leaves behind.
#[derive(Debug)]
struct Stale;

impl std::fmt::Display for Stale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stale (no process), removed")
    }
}

impl std::error::Error for Stale {}

/// Connects to a proxy's control socket; a socket nobody accepts on is
/// removed and reported as `Stale`.
fn connect(socket: &Path) -> Result<UnixStream> {
    let inode = |p: &Path| std::fs::metadata(p).ok().map(|m| m.ino());
    let before = inode(socket);
    let mut tries = 0;
    loop {
        match UnixStream::connect(socket) {
            Ok(stream) => return Ok(stream),
            // A proxy binding its socket accepts a moment later: ask once more
            // before calling the socket dead.
            Err(e) if e.kind() == ErrorKind::ConnectionRefused && tries == 0 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                // Unless a starting proxy has replaced it meanwhile.
                if before.is_some() && inode(socket) == before {
                    let _ = std::fs::remove_file(socket);
                }
                return Err(Stale.into());
            }
            Err(e) => bail!("cannot reach {}: {e}", socket.display()),
        }
    }
}

/// Asks the proxy behind `socket` one thing; returns its JSON reply.
fn ask(socket: &Path, request: &str, timeout: Duration) -> Result<Value> {
    let mut stream = connect(socket)?;
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

/// `ask` for `status` and `stop`: a stale socket is the proxy's absence.
fn ask_proxy(socket: &Path, client_port: u16, request: &str) -> Result<Value> {
    ask(socket, request, Duration::from_secs(5)).map_err(|e| {
        if e.is::<Stale>() {
            anyhow!(
                "no dbgproxy serves clients on port {client_port}: its control socket {} was stale (no process), and is removed",
                socket.display()
            )
        } else {
            e
        }
    })
}

/// The control socket of the proxy for debug port `port`: named after its
/// client port (`port + 1` unless given); a proxy serving clients on Unix
/// sockets only names it after the debug port. Returns it with the client
/// port it is named after.
fn socket_for(port: u16, client_port: Option<u16>) -> Result<(std::path::PathBuf, u16)> {
    let by_client_port = match client_port {
        Some(p) => p,
        None => port
            .checked_add(1)
            .ok_or_else(|| anyhow!("--port 65535 needs --client-port"))?,
    };
    let path = control::socket_path(by_client_port);
    if path.exists() {
        return Ok((path, by_client_port));
    }
    let by_debug_port = control::socket_path(port);
    let mut hint = String::new();
    if client_port.is_none() && by_debug_port.exists() {
        // That name could also be a TCP proxy's whose client port is `port`.
        let debug_port = ask(&by_debug_port, "status", Duration::from_secs(5))
            .ok()
            .and_then(|s| s["debug_port"].as_u64())
            .and_then(|p| u16::try_from(p).ok());
        match debug_port {
            Some(d) if d == port => return Ok((by_debug_port, port)),
            // The user gave the client port, as one gives it to an IDE.
            Some(d) if d.checked_add(1) == Some(port) => {
                hint = format!(
                    "; {port} is the client port of the dbgproxy for debug port {d}: try --port {d}"
                );
            }
            Some(d) => {
                hint = format!(
                    "; {port} is the client port of the dbgproxy for debug port {d}: try --port {d} --client-port {port}"
                );
            }
            None => {}
        }
    }
    bail!(
        "no dbgproxy of yours serves clients on port {by_client_port} (no control socket at {}){hint}",
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
    let (socket, client_port) = socket_for(port, client_port)?;
    let reply = ask_proxy(&socket, client_port, "status")?;
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
                match ask(&path, "status", Duration::from_secs(2)) {
                    Ok(status) => found.push(status),
                    // Left by a proxy killed outright: not running, and gone now.
                    Err(e) if e.is::<Stale>() => eprintln!("{}: {e}", path.display()),
                    Err(e) => eprintln!("{e:#}"),
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
        // DBGp proxy mode: one line per registration, one per session.
        let registrations = s["dbgp_proxy"]["registrations"].as_array();
        for r in registrations.into_iter().flatten() {
            println!(
                "  registration '{}'  IDE {}  by {}{}  for {}",
                r["key"].as_str().unwrap_or("?"),
                r["ide"].as_str().unwrap_or("?"),
                r["owner"].as_str().unwrap_or("?"),
                if r["multi"].as_bool() == Some(true) {
                    "  multi"
                } else {
                    ""
                },
                r["since"].as_str().unwrap_or("?"),
            );
        }
        let sessions = s["dbgp_proxy"]["sessions"].as_array();
        for row in sessions.into_iter().flatten() {
            println!(
                "  session '{}'  engine {}  {}  IDE {}  {} client(s)",
                row["key"].as_str().unwrap_or("?"),
                row["engine"].as_str().unwrap_or("(waiting)"),
                row["file"].as_str().unwrap_or(""),
                row["ide"].as_str().unwrap_or("?"),
                row["clients"]
            );
        }
    }
    Ok(0)
}

pub fn stop(port: u16, client_port: Option<u16>, timeout: Duration) -> Result<u8> {
    let (socket, client_port) = socket_for(port, client_port)?;
    let reply = ask_proxy(&socket, client_port, "stop")?;
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
