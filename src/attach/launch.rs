//! Finding the proxy to join, or starting it.
//!
//! `attach` connects to the proxy's client port. Something answering there is
//! taken for a dbgproxy only if the proxy serving clients on that port
//! answers `status` on its control socket; otherwise `attach` fails with one
//! line naming the port and what holds it. When nothing answers, it starts
//! the proxy itself: the same binary, with the user's proxy options plus
//! `--daemon`, a pidfile and a log file in the runtime directory, and waits
//! for the daemon's ready marker (captured: stdout carries only the bridged
//! protocol) or its one-line error. Two `attach` racing on a free port both
//! start a daemon; the port bind (done before the daemon forks) lets one
//! win, and the loser, seeing its daemon fail, joins the winner. With
//! `--no-start` nothing is started and what answers is joined unchecked.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use clap::ValueEnum;
use serde_json::Value;

use super::cli::Options;
use super::holder;
use super::stream::{StdStream, Target};
use crate::control::{self, commands};
use crate::framing::Protocol;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// A proxy binds its client port a moment before its control socket: a
/// port that answers gets this long to prove it is a dbgproxy.
const PROOF_WINDOW: Duration = Duration::from_secs(2);

/// A connection to a dbgproxy, and what it said of itself.
pub struct Joined {
    /// `None`: nothing answers yet, and attach may not start the proxy.
    pub stream: Option<StdStream>,
    pub protocol: Protocol,
    pub pid: u64,
    /// `dbgproxy-token <token>` and a newline, when the proxy will ask for it.
    pub token_line: Option<Vec<u8>>,
}

/// Connects to the proxy `options` name, starting it if nothing listens.
pub fn join(options: &Options) -> Result<Joined> {
    let target = &options.target;
    if options.no_start {
        return join_unowned(options);
    }
    match target.connect_std(CONNECT_TIMEOUT) {
        Ok(stream) => return prove(stream, options),
        Err(e) if Target::nobody_there(&e) => {}
        Err(e) => bail!("cannot reach the proxy's client port {target}: {e}"),
    }
    let started = start(options);
    // A daemon that failed may have lost a race to one that now serves.
    match (target.connect_std(CONNECT_TIMEOUT), started) {
        (Ok(stream), Ok(())) => prove(stream, options),
        (Ok(stream), Err(why)) => {
            log::debug!("our daemon failed ({why:#}); another one serves {target}");
            prove(stream, options)
        }
        (Err(_), Err(why)) => Err(why),
        (Err(e), Ok(())) => bail!("the proxy started, but {target} does not answer: {e}"),
    }
}

/// Checks that what answers is a dbgproxy of this user's.
fn prove(stream: StdStream, options: &Options) -> Result<Joined> {
    let target = &options.target;
    let key = options.control_key();
    let by_debug_port = key == options.proxy.debug_port;
    let end = Instant::now() + PROOF_WINDOW;
    let status = loop {
        match commands::status_of(key, Duration::from_secs(2)) {
            // Named by the debug port, the socket could be a TCP proxy's
            // whose client port is that number.
            Ok(status) if by_debug_port && status["debug_port"] != key => {
                bail!("{target} is not served by the dbgproxy for debug port {key}: {status}")
            }
            Ok(status) => break status,
            Err(_) if Instant::now() < end => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                log::debug!("no dbgproxy status for {target}: {e:#}");
                let who = match target {
                    Target::Tcp(addr) => holder::describe(addr.port()),
                    Target::Unix(_) => None,
                };
                bail!(
                    "{target} is held by {}, not by a dbgproxy of yours (no control socket \
                     answers at {}): stop it, or give another --port / --client-port",
                    who.as_deref().unwrap_or("something"),
                    control::socket_path(key).display()
                );
            }
        }
    };
    let protocol = protocol_of(&status)
        .ok_or_else(|| anyhow!("the dbgproxy on {target} names no protocol I know: {status}"))?;
    let pid = status["pid"].as_u64().unwrap_or(0);
    if status["version"] != env!("CARGO_PKG_VERSION") {
        log::warn!(
            "the dbgproxy on {target} (pid {pid}) is version {}, this is {}",
            status["version"],
            env!("CARGO_PKG_VERSION")
        );
    }
    Ok(Joined {
        stream: Some(stream),
        protocol,
        pid,
        token_line: token_line(options, Some(&status)),
    })
}

/// The token handshake, if the proxy will ask this user for it: when its
/// `--allow-users` leaves this uid out (`none`), or, with no status to tell,
/// whenever a `--token-file` was given (a proxy of another user's). Sent to
/// one that lets this uid in, the line would reach the debugger.
fn token_line(options: &Options, status: Option<&Value>) -> Option<Vec<u8>> {
    let secret = options.proxy.access.token.as_ref()?;
    let asked = match status.map(|s| &s["access"]["allow_users"]) {
        None => true,
        Some(Value::String(any_or_none)) => any_or_none == "none",
        Some(Value::Array(uids)) => {
            let me = u64::from(crate::access::own_uid());
            !uids.iter().any(|u| u.as_u64() == Some(me))
        }
        Some(_) => false,
    };
    asked.then(|| [crate::access::token::KEYWORD, b" ", secret.reveal(), b"\n"].concat())
}

fn protocol_of(status: &Value) -> Option<Protocol> {
    Protocol::from_str(status["protocol"].as_str()?, false).ok()
}

/// `--no-start`: what serves the port is joined as it is (a system
/// service's control socket is out of this user's reach), in the protocol
/// the options say unless its status says otherwise; nothing there yet is
/// waited for.
fn join_unowned(options: &Options) -> Result<Joined> {
    let target = &options.target;
    let stream = match target.connect_std(CONNECT_TIMEOUT) {
        Ok(stream) => stream,
        Err(e) => {
            log::debug!("{target}: {e}; waiting for the proxy (--no-start)");
            return Ok(Joined {
                stream: None,
                protocol: options.proxy.protocol,
                pid: 0,
                token_line: token_line(options, None),
            });
        }
    };
    let status = commands::status_of(options.control_key(), Duration::from_secs(2))
        .map_err(|e| log::debug!("no status from {target} ({e:#}); joining it anyway"))
        .ok();
    Ok(Joined {
        stream: Some(stream),
        protocol: status
            .as_ref()
            .and_then(protocol_of)
            .unwrap_or(options.proxy.protocol),
        pid: status.as_ref().and_then(|s| s["pid"].as_u64()).unwrap_or(0),
        token_line: token_line(options, status.as_ref()),
    })
}

/// Starts the proxy as a daemon and waits until it is ready or has failed.
fn start(options: &Options) -> Result<()> {
    let dir = control::runtime_dir();
    control::make_private_dir(&dir)?;
    let key = options.control_key();
    let exe = std::env::current_exe().context("finding the dbgproxy executable")?;
    let mut cmd = Command::new(&exe);
    cmd.arg("--daemon");
    if !options.has_pidfile {
        cmd.arg("--pidfile").arg(dir.join(format!("{key}.pid")));
    }
    let log_file = dir.join(format!("{key}.log"));
    if !options.has_log_file {
        cmd.arg("--log-file").arg(&log_file);
    }
    cmd.args(&options.proxy_args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    crate::process::logging::line(&format!(
        "dbgproxy attach: no proxy on {}; starting one{}",
        options.target,
        if options.has_log_file {
            String::new()
        } else {
            format!(" (its log: {})", log_file.display())
        }
    ));
    // The foreground process exits once the daemon is ready or failed; the
    // daemon itself keeps neither pipe (its stderr is the log file).
    let out = cmd
        .output()
        .with_context(|| format!("cannot start {}", exe.display()))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    for line in stderr.lines() {
        log::debug!("starting the proxy: {line}");
    }
    if out.status.success() && out.stdout == "ß\n".as_bytes() {
        return Ok(());
    }
    let why = stderr
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("error: "))
        .map_or_else(|| format!("it exited with {}", out.status), str::to_string);
    Err(anyhow!("the proxy did not start: {why}"))
}
