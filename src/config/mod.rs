//! The command line, parsed by clap and validated into a `Config`.
//!
//! Everything the event loop needs is decided here, before any socket is
//! opened: addresses are resolved, defaults that depend on the backend are
//! filled in, and contradictions are rejected with clap's usage error (exit 2).

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::access::{self, Policy};
use crate::framing::Protocol;
use crate::process::daemon;

mod cli;
mod size;

use cli::Cli;
pub use cli::Command;

/// `--retries` in session mode: 100 tries, 30 s at the default interval.
const DEFAULT_RETRIES: u32 = 100;

/// How the proxy reaches the debugger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    /// TCP-connect to the debugger on --host:--port (v8-style), retrying while it is not up yet.
    Connect,
    /// Start the debugger command given after `--` and talk over its stdin/stdout (gdb-style).
    Spawn,
    /// Listen on --host:--port and wait for the debugger to connect in (xdebug-style).
    Listen,
}

impl BackendKind {
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Connect => "connect",
            BackendKind::Spawn => "spawn",
            BackendKind::Listen => "listen",
        }
    }
}

/// What happens when the debugger goes away.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// One proxy per debug session: flush to clients, close them, exit.
    /// (`OneSession` in code, beside the trait `session::Session`.)
    #[value(name = "session")]
    OneSession,
    /// Stay up, keep clients connected, wait for the next debugger.
    Persistent,
}

impl Mode {
    /// As `--mode` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Mode::OneSession => "session",
            Mode::Persistent => "persistent",
        }
    }
}

/// What the last client's goodbye does in persistent mode (SESSIONS.md rule 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LastGoodbye {
    /// Keep the session for the next client: drop the leaver's breakpoints,
    /// resume a stopped debuggee, answer locally. Only an explicit "terminate
    /// the debuggee" is forwarded.
    Keep,
    /// Forward the last goodbye to the debugger, as if the client were alone.
    Forward,
}

/// Whether the last client's goodbye goes to the debugger: in session mode
/// always, in persistent mode with `--last-goodbye forward`.
pub fn forwards_last_goodbye(mode: Mode, last_goodbye: LastGoodbye) -> bool {
    mode == Mode::OneSession || last_goodbye == LastGoodbye::Forward
}

/// Where clients are served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListenAddr {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl std::fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListenAddr::Tcp(a) => write!(f, "{a}"),
            ListenAddr::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// A command line the proxy cannot run with.
#[derive(Debug)]
pub enum Usage {
    /// clap's own message, with the usage.
    Clap(clap::Error),
    /// One line: what is wrong and what to do.
    Line(String),
}

impl From<clap::Error> for Usage {
    fn from(e: clap::Error) -> Usage {
        Usage::Clap(e)
    }
}

impl Usage {
    /// Prints it and exits 2.
    pub fn exit(self) -> ! {
        match self {
            Usage::Clap(e) => e.exit(),
            Usage::Line(line) => {
                eprintln!("error: {line}");
                std::process::exit(2);
            }
        }
    }
}

/// What the command line asks for.
pub enum Invocation {
    Proxy(Box<Config>),
    Control(Command),
}

/// `--dbgp-proxy` and what goes with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbgpProxy {
    /// The registration port (`proxyinit`/`proxystop`).
    pub registrar: SocketAddr,
    /// `--dbgp-default-key`: keyless engines go to it.
    pub default_key: Option<String>,
}

/// A validated configuration: everything the proxy needs, nothing left to parse.
#[derive(Clone, Debug)]
pub struct Config {
    pub backend: BackendKind,
    pub protocol: Protocol,
    pub max_message: usize,
    /// Where the debugger is (connect) or where to listen for it (listen).
    pub debugger_addr: SocketAddr,
    /// Where clients are served (at least one; at most `accept::MAX_LISTENERS`).
    pub listen: Vec<ListenAddr>,
    pub client_port: u16,
    pub debug_port: u16,
    pub access: Policy,
    pub retry_interval: Duration,
    /// `None`: retry for ever.
    pub retries: Option<u32>,
    /// `--target`: the inspector target (`Protocol::Cdp`).
    pub target: Option<String>,
    pub mode: Mode,
    pub idle_timeout: Option<Duration>,
    pub max_clients: usize,
    pub backlog_bytes: usize,
    pub client_buffer: usize,
    pub stall_timeout: Duration,
    pub max_client_message: usize,
    pub client_input_total: usize,
    pub last_goodbye: LastGoodbye,
    pub dbgp_hold: Duration,
    /// `--dbgp-proxy`: DBGp proxy mode (`proxy/dbgp/`).
    pub dbgp_proxy: Option<DbgpProxy>,
    pub hangup_clients: bool,
    pub passthrough: bool,
    pub drain_timeout: Duration,
    pub busy_poll: Duration,
    pub command: Vec<String>,
    /// Where the proxy was started: a spawned debugger runs there, even when
    /// the proxy itself is a daemon in `/`.
    pub cwd: PathBuf,
    pub daemon: Option<daemon::Options>,
    /// The log filter when `RUST_LOG` is not set, in its syntax.
    pub log_level: &'static str,
}

impl Config {
    /// Parses the process's arguments; on a usage error prints clap's message and exits 2.
    pub fn from_args() -> Invocation {
        let mut cli = Cli::parse();
        if let Some(action) = cli.action.take() {
            return Invocation::Control(action);
        }
        match Config::from_cli(cli, &<Cli as clap::CommandFactory>::command()) {
            Ok(config) => Invocation::Proxy(Box::new(config)),
            Err(e) => e.exit(),
        }
    }

    /// Parses proxy options given without the program name (`dbgproxy
    /// attach` passes on what is not its own).
    /// A usage error there shows attach's usage line, not the proxy's.
    pub fn parse_from(args: &[String]) -> Result<Config, Usage> {
        use clap::{CommandFactory, FromArgMatches};
        let command = Cli::command()
            .bin_name("dbgproxy attach")
            .override_usage(cli::ATTACH_USAGE);
        let mut matches = command.clone().try_get_matches_from(
            std::iter::once("dbgproxy").chain(args.iter().map(|a| a.as_str())),
        )?;
        let cli =
            Cli::from_arg_matches_mut(&mut matches).map_err(|e| e.format(&mut command.clone()))?;
        if cli.action.is_some() {
            return Err(Usage::Line("a subcommand cannot follow `attach`".into()));
        }
        Config::from_cli(cli, &command)
    }

    fn from_cli(cli: Cli, command: &clap::Command) -> Result<Config, Usage> {
        use clap::error::ErrorKind;
        let usage = |kind: ErrorKind, msg: String| command.clone().error(kind, msg);
        let port = cli.port.ok_or_else(|| {
            usage(
                ErrorKind::MissingRequiredArgument,
                "--port is required".into(),
            )
        })?;
        let (backend, preset_protocol) = cli.backend.resolve();

        let client_port = match cli.client_port {
            Some(p) => p,
            None => port.checked_add(1).ok_or_else(|| {
                usage(
                    ErrorKind::ValueValidation,
                    "--port 65535 leaves no room for the client port (PORT+1): give --client-port"
                        .into(),
                )
            })?,
        };
        let debugger_addr = resolve(&cli.host, port)
            .map_err(|m| usage(ErrorKind::ValueValidation, format!("--host {m}")))?;
        let listen = listen_addrs(&cli.listen, client_port)?;
        if backend == BackendKind::Listen && listen.contains(&ListenAddr::Tcp(debugger_addr)) {
            return Err(usage(
                ErrorKind::ArgumentConflict,
                format!("the debugger and the clients cannot both use {debugger_addr}"),
            )
            .into());
        }
        let access = policy(&cli, &listen)?;
        match (backend, cli.command.is_empty()) {
            (BackendKind::Spawn, true) => {
                return Err(usage(
                    ErrorKind::MissingRequiredArgument,
                    "--backend spawn needs the debugger command after `--`".into(),
                )
                .into());
            }
            (BackendKind::Connect | BackendKind::Listen, false) => {
                return Err(usage(
                    ErrorKind::ArgumentConflict,
                    format!(
                        "a command after `--` is only for --backend spawn, not {}",
                        backend.name()
                    ),
                )
                .into());
            }
            _ => {}
        }
        let protocol = cli.protocol.unwrap_or(preset_protocol);
        let dbgp_proxy = dbgp_proxy(&cli, backend, protocol)?;
        let mode = cli.mode.unwrap_or(match backend {
            BackendKind::Listen => Mode::Persistent,
            BackendKind::Connect | BackendKind::Spawn => Mode::OneSession,
        });
        let absolute = |p: &Option<PathBuf>| {
            p.as_deref()
                .map(daemon::absolute)
                .transpose()
                .map_err(|e| usage(ErrorKind::Io, format!("{e:#}")))
        };
        let daemon = if cli.daemon {
            Some(daemon::Options {
                pidfile: absolute(&cli.pidfile)?,
                log_file: absolute(&cli.log_file)?,
            })
        } else {
            None
        };
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        // mio traces every registration: at -vv that drowned the proxy's own
        // trace lines (the bytes), so it takes -vvv.
        let log_level = match (cli.quiet, cli.verbose) {
            (true, _) => "warn",
            (false, 0) => "info",
            (false, 1) => "debug",
            (false, 2) => "trace,mio=info",
            (false, _) => "trace",
        };
        Ok(Config {
            backend,
            protocol,
            max_message: cli.max_message.as_usize(),
            debugger_addr,
            listen,
            client_port,
            debug_port: port,
            access,
            retry_interval: Duration::from_millis(cli.retry_interval),
            // An explicit limit is honoured in either mode (the user asked).
            target: cli.target.clone(),
            retries: match (cli.retries, mode) {
                (Some(n), _) => (n > 0).then_some(n),
                (None, Mode::OneSession) => Some(DEFAULT_RETRIES),
                (None, Mode::Persistent) => None,
            },
            mode,
            idle_timeout: (cli.idle_timeout > 0).then(|| Duration::from_secs(cli.idle_timeout)),
            max_clients: cli.max_clients as usize,
            backlog_bytes: cli.backlog_bytes.as_usize(),
            client_buffer: cli.client_buffer.as_usize(),
            stall_timeout: Duration::from_millis(cli.stall_timeout),
            // Never more than a debugger message may be.
            max_client_message: cli.max_client_message.min(cli.max_message).as_usize(),
            client_input_total: cli.client_input_total.as_usize(),
            last_goodbye: cli.last_goodbye,
            dbgp_hold: Duration::from_millis(cli.dbgp_hold),
            dbgp_proxy,
            hangup_clients: cli.hangup_clients,
            passthrough: cli.passthrough,
            drain_timeout: Duration::from_millis(cli.drain_timeout),
            busy_poll: Duration::from_micros(cli.busy_poll),
            command: cli.command,
            cwd,
            daemon,
            log_level,
        })
    }
}

/// `--listen` values: resolved addresses on the client port, and absolute
/// Unix socket paths (the daemon runs in `/`).
fn listen_addrs(values: &[String], client_port: u16) -> Result<Vec<ListenAddr>, Usage> {
    let mut out = Vec::new();
    for value in values {
        let addr = match value.strip_prefix("unix:") {
            Some("") => return Err(Usage::Line("--listen unix: needs a path".into())),
            Some(path) => {
                let path = daemon::absolute(std::path::Path::new(path))
                    .map_err(|e| Usage::Line(format!("--listen {value}: {e:#}")))?;
                // `dbgproxy list` asks every socket there for its status: a
                // client socket among them would hand that to the debugger.
                if path.parent() == Some(crate::control::runtime_dir().as_path()) {
                    return Err(Usage::Line(format!(
                        "--listen {value}: {} is for control sockets; put client sockets elsewhere",
                        crate::control::runtime_dir().display()
                    )));
                }
                ListenAddr::Unix(path)
            }
            None => ListenAddr::Tcp(
                resolve(value, client_port).map_err(|m| Usage::Line(format!("--listen {m}")))?,
            ),
        };
        if out.contains(&addr) {
            return Err(Usage::Line(format!("--listen {addr} is given twice")));
        }
        out.push(addr);
    }
    if out.len() > crate::proxy::accept::MAX_LISTENERS {
        return Err(Usage::Line(format!(
            "at most {} --listen addresses",
            crate::proxy::accept::MAX_LISTENERS
        )));
    }
    Ok(out)
}

/// The access rules; refuses a listener beyond loopback that nothing guards.
fn policy(cli: &Cli, listen: &[ListenAddr]) -> Result<Policy, Usage> {
    let allowed = access::parse_users(&cli.allow_users).map_err(Usage::Line)?;
    let token = cli
        .token_file
        .as_deref()
        .map(access::token::load)
        .transpose()
        .map_err(Usage::Line)?;
    let token_file = cli
        .token_file
        .as_deref()
        .map(daemon::absolute)
        .transpose()
        .map_err(|e| Usage::Line(format!("{e:#}")))?;
    if allowed == access::Allowed::Nobody && token.is_none() {
        return Err(Usage::Line(
            "--allow-users none lets no one in without a token: give --token-file PATH".into(),
        ));
    }
    let exposed = listen.iter().find_map(|l| match l {
        ListenAddr::Tcp(a) if !a.ip().to_canonical().is_loopback() => Some(a),
        _ => None,
    });
    if let Some(addr) = exposed
        && token.is_none()
        && !cli.insecure_open
    {
        return Err(Usage::Line(format!(
            "--listen {} serves clients beyond this host, and a debugger client runs code as \
             this user: give --token-file PATH (clients then send `dbgproxy-token <token>` first), \
             or --insecure-open to let anyone who reaches it in",
            addr.ip()
        )));
    }
    Ok(Policy {
        allowed,
        own_uid: access::own_uid(),
        token,
        token_file,
        token_timeout: Duration::from_millis(cli.token_timeout),
        insecure_open: cli.insecure_open,
    })
}

/// `--dbgp-proxy ADDR|PORT` (a port alone: loopback, like the client port),
/// valid only where engines connect in and speak DBGp.
fn dbgp_proxy(
    cli: &Cli,
    backend: BackendKind,
    protocol: Protocol,
) -> Result<Option<DbgpProxy>, Usage> {
    let Some(value) = cli.dbgp_proxy.as_deref() else {
        if cli.dbgp_default_key.is_some() {
            return Err(Usage::Line(
                "--dbgp-default-key is for DBGp proxy mode: give --dbgp-proxy PORT too".into(),
            ));
        }
        return Ok(None);
    };
    if backend != BackendKind::Listen || protocol != Protocol::Dbgp {
        return Err(Usage::Line(format!(
            "--dbgp-proxy routes DBGp engines that connect in: it needs --backend xdebug \
             (listen, dbgp), not {} with --protocol {}",
            backend.name(),
            protocol.name()
        )));
    }
    let registrar = match value.parse::<u16>() {
        Ok(0) => return Err(Usage::Line("--dbgp-proxy 0 is no port".into())),
        Ok(port) => SocketAddr::from(([127, 0, 0, 1], port)),
        Err(_) => value.parse::<SocketAddr>().map_err(|e| {
            Usage::Line(format!(
                "--dbgp-proxy {value}: {e} (give ADDR:PORT or PORT)"
            ))
        })?,
    };
    if registrar.port() == cli.port.unwrap_or(0) {
        return Err(Usage::Line(format!(
            "--dbgp-proxy {value}: the registration port cannot be the engine port (--port)"
        )));
    }
    let default_key = cli.dbgp_default_key.clone().filter(|k| !k.is_empty());
    Ok(Some(DbgpProxy {
        registrar,
        default_key,
    }))
}

/// Resolves `host` (an IP address or a name) once, at start-up. IPv4 is preferred
/// because debuggers commonly listen on 127.0.0.1 only while `localhost` may
/// resolve to ::1 first.
fn resolve(host: &str, port: u16) -> Result<SocketAddr, String> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("{host:?} does not resolve: {e}"))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| format!("{host:?} resolves to no address"))
}

#[cfg(test)]
mod tests;
