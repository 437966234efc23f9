//! The command line, parsed by clap and validated into a `Config`.
//!
//! Everything the event loop needs is decided here, before any socket is
//! opened: addresses are resolved, defaults that depend on the backend are
//! filled in, and contradictions are rejected with clap's usage error (exit 2).

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use crate::access::{self, Policy};
use crate::daemon;
use crate::framing::Protocol;
use crate::session::LastGoodbye;

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

/// `--backend`: a kind, or a Cloud9 preset that sets the protocol too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum BackendArg {
    /// TCP-connect to the debugger on --host:--port (v8-style), retrying while it is not up yet.
    Connect,
    /// Start the debugger command given after `--` and talk over its stdin/stdout (gdb-style).
    Spawn,
    /// Listen on --host:--port and wait for the debugger to connect in (xdebug-style).
    Listen,
    /// connect + --protocol v8 (node ≤ 7 --debug).
    V8,
    /// spawn + --protocol gdb-mi.
    Gdb,
    /// listen + --protocol dbgp (PHP Xdebug).
    Xdebug,
    /// connect + --protocol dap (debugpy and other adapters listening on a port).
    Dap,
}

impl BackendArg {
    fn resolve(self) -> (BackendKind, Protocol) {
        match self {
            BackendArg::Connect => (BackendKind::Connect, Protocol::Raw),
            BackendArg::Spawn => (BackendKind::Spawn, Protocol::Raw),
            BackendArg::Listen => (BackendKind::Listen, Protocol::Raw),
            BackendArg::V8 => (BackendKind::Connect, Protocol::V8),
            BackendArg::Gdb => (BackendKind::Spawn, Protocol::GdbMi),
            BackendArg::Xdebug => (BackendKind::Listen, Protocol::Dbgp),
            BackendArg::Dap => (BackendKind::Connect, Protocol::Dap),
        }
    }
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
    Session,
    /// Stay up, keep clients connected, wait for the next debugger.
    Persistent,
}

#[derive(Parser, Debug)]
#[command(
    name = "dbgproxy",
    version,
    about = "A multi-client debug proxy: many IDE clients, one debugger backend.",
    long_about = "A multi-client debug proxy: many IDE clients, one debugger backend.\n\n\
        Clients are served on 127.0.0.1:(PORT+1). Once clients can connect and the \
        debugger is reachable, the proxy writes the ready marker \"ß\" and a newline \
        to stdout, and nothing else ever goes to stdout. Logs go to stderr (RUST_LOG, -v, -q).",
    after_help = "Example:\n  dbgproxy --backend connect --port 5858   # debugger on 5858, clients on 5859\n  nc 127.0.0.1 5859",
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Cli {
    #[command(subcommand)]
    action: Option<Action>,

    /// The debugger's port ("debugport"). Clients are served on PORT+1 unless --client-port is given.
    #[arg(long, value_name = "N", required = true, value_parser = clap::value_parser!(u16).range(1..))]
    port: Option<u16>,

    /// How the debugger is reached; v8, gdb, xdebug and dap also set --protocol.
    #[arg(long, value_enum, default_value_t = BackendArg::Connect)]
    backend: BackendArg,

    /// The debugger's message framing [default: raw, or the --backend preset's].
    /// Framed protocols forward whole messages only and replay the debugger's
    /// greeting to clients that connect later.
    #[arg(long, value_enum)]
    protocol: Option<Protocol>,

    /// Largest message accepted from the debugger in a framed protocol; one
    /// that announces a larger one ends its session.
    #[arg(long, value_name = "BYTES", default_value_t = 64 << 20, value_parser = clap::value_parser!(u64).range(1..))]
    max_message: u64,

    /// Where the debugger is (connect), or where to wait for it (listen).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    host: String,

    /// Where clients are served: an address (on --client-port), or unix:PATH
    /// for a Unix socket (made 0600). Repeat for several. An address beyond
    /// loopback (e.g. 0.0.0.0) needs --token-file or --insecure-open.
    #[arg(long = "listen", value_name = "ADDR|unix:PATH", default_value = "127.0.0.1", action = clap::ArgAction::Append)]
    listen: Vec<String>,

    /// Local users let in besides the proxy's own: uids or names,
    /// comma-separated; `any` for every user; `none` for no uid at all, not
    /// even the proxy's own (everyone sends the token). Others are refused,
    /// or asked for the token if there is one.
    #[arg(long, value_name = "USERS", action = clap::ArgAction::Append)]
    allow_users: Vec<String>,

    /// A file (mode 0600) holding a token: a client not let in by its uid
    /// must send `dbgproxy-token <token>` and a newline first. SIGHUP re-reads it.
    #[arg(long, value_name = "PATH")]
    token_file: Option<PathBuf>,

    /// Milliseconds a client asked for the token has to send it.
    #[arg(long, value_name = "MS", default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..))]
    token_timeout: u64,

    /// Serve a --listen address beyond loopback without a token: anyone who
    /// can reach it controls the debugger, and runs code as this user.
    #[arg(long, conflicts_with = "token_file")]
    insecure_open: bool,

    /// The port clients are served on [default: PORT+1].
    #[arg(long, value_name = "M", value_parser = clap::value_parser!(u16).range(1..))]
    client_port: Option<u16>,

    /// Milliseconds between attempts to connect to the debugger.
    #[arg(long, value_name = "MS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    retry_interval: u64,

    /// Connect attempts before giving up on the first debugger (0 = no limit).
    /// Reconnects in persistent mode never give up.
    #[arg(long, value_name = "N", default_value_t = 100)]
    retries: u32,

    /// What to do when the debugger goes away [default: session for connect and spawn,
    /// persistent for listen].
    #[arg(long, value_enum)]
    mode: Option<Mode>,

    /// Exit 0 after this many seconds with no client and no debugger connected (0 = never).
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    idle_timeout: u64,

    /// Clients allowed at once; further clients are accepted and closed at once, with a log line.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    max_clients: u32,

    /// Bytes kept while nobody can take them: debugger output while no client is
    /// connected (oldest dropped past this), and client input waiting for the debugger
    /// (clients are no longer read past this).
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20, value_parser = clap::value_parser!(u64).range(1..))]
    backlog_bytes: u64,

    /// Bytes queued for one client before the debugger is made to wait for
    /// it; a client this far behind that makes no progress for --stall-timeout
    /// is disconnected. A message is always delivered to a client whose queue
    /// is empty, whatever its size.
    #[arg(long, value_name = "BYTES", default_value_t = 8 << 20, value_parser = clap::value_parser!(u64).range(1..))]
    client_buffer: u64,

    /// Milliseconds a client over --client-buffer may go without taking a byte
    /// before it is disconnected (meanwhile the debugger waits); one that keeps
    /// reading is given up to ten times this.
    #[arg(long, value_name = "MS", default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..))]
    stall_timeout: u64,

    /// Largest message a client may send in a framed protocol (commands are
    /// small); a client that sends a larger one is disconnected.
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20, value_parser = clap::value_parser!(u64).range(1..))]
    max_client_message: u64,

    /// Bytes of unfinished client messages held across all clients; past it,
    /// the client holding the most is disconnected.
    #[arg(long, value_name = "BYTES", default_value_t = 16 << 20, value_parser = clap::value_parser!(u64).range(1..))]
    client_input_total: u64,

    /// In persistent mode, what the last client's goodbye does: keep the debug
    /// session for the next client (resume the debuggee, drop the leaver's
    /// breakpoints), or forward it to the debugger.
    #[arg(long, value_enum, default_value_t = LastGoodbye::Keep)]
    last_goodbye: LastGoodbye,

    /// Frame whole messages but share nothing: every client gets every message
    /// and ids pass unchanged, as before sessions were shared.
    #[arg(long)]
    passthrough: bool,

    /// In persistent mode, close every client when the debugger goes away
    /// (raw clients then see EOF), instead of keeping them for the next one.
    #[arg(long)]
    hangup_clients: bool,

    /// Microseconds to keep polling without sleeping after activity, so that a
    /// reply arriving soon is forwarded without a sleep/wake-up (0 = sleep at once).
    #[arg(long, value_name = "MICROS", default_value_t = 100, value_parser = clap::value_parser!(u64).range(0..=100_000))]
    busy_poll: u64,

    /// Milliseconds to flush queued output to clients when shutting down.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    drain_timeout: u64,

    /// Detach from the terminal; return once the detached proxy is ready
    /// (printing the marker) or has failed (printing why, exit 1).
    #[arg(long)]
    daemon: bool,

    /// With --daemon: write the daemon's pid here and hold a lock on it while it runs.
    #[arg(long, value_name = "PATH", requires = "daemon")]
    pidfile: Option<PathBuf>,

    /// With --daemon: append logs to this file (SIGHUP reopens it, for logrotate).
    #[arg(long, value_name = "PATH", requires = "daemon")]
    log_file: Option<PathBuf>,

    /// More log detail on stderr (-v debug, -vv trace). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,

    /// Only warnings and errors on stderr. RUST_LOG overrides.
    #[arg(short, long, conflicts_with = "verbose")]
    quiet: bool,

    /// The debugger command, for --backend spawn (everything after `--`, run without a shell).
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<String>,
}

/// Talking to running proxies of this user, through their control sockets.
#[derive(Subcommand, Debug, Clone)]
pub enum Action {
    /// Print a running proxy's state as one JSON object.
    Status {
        /// Its debug port.
        #[arg(long, value_name = "N")]
        port: u16,
        /// Its client port, when not N+1.
        #[arg(long, value_name = "M")]
        client_port: Option<u16>,
        /// Indented JSON, for people.
        #[arg(long)]
        pretty: bool,
    },
    /// One line per running proxy of this user.
    List {
        /// A JSON array of their status objects instead.
        #[arg(long)]
        json: bool,
    },
    /// Shut a running proxy down gracefully (as SIGTERM does) and wait until it is gone.
    Stop {
        /// Its debug port.
        #[arg(long, value_name = "N")]
        port: u16,
        /// Its client port, when not N+1.
        #[arg(long, value_name = "M")]
        client_port: Option<u16>,
        /// Seconds to wait for it to exit.
        #[arg(long, value_name = "SECS", default_value_t = 10)]
        timeout: u64,
    },
    /// Join a proxy's session from an editor (a debug adapter executable).
    ///
    /// Bridges stdin/stdout to the proxy's client port, starting the proxy
    /// (as a daemon) if none answers, and reconnects when the connection drops.
    #[command(
        override_usage = "dbgproxy attach --port N [--reconnect-timeout SECS] [--no-start] [PROXY OPTIONS…] [-- COMMAND…]",
        after_help = "PROXY OPTIONS are those of `dbgproxy --help`: they say which proxy to join \
            (--port, --client-port, --listen) and how to start one if none runs \
            (it is started with --daemon, a pidfile and a log file in the runtime directory).\n\n\
            Options of attach itself:\n  \
            --reconnect-timeout SECS  give up when the proxy has been gone this long \
            [default: 60; 0: do not reconnect]\n  \
            --no-start                never start a proxy (systemd runs it): wait for one, \
            and join what serves the port even when its control socket is out of reach\n\n\
            Example (an nvim-dap / Helix / dape adapter command):\n  \
            dbgproxy attach --port 5678 --backend dap"
    )]
    Attach {
        /// `--port N`, `--reconnect-timeout SECS`, `--no-start`, the proxy's options, `-- COMMAND…`.
        #[arg(
            value_name = "OPTIONS",
            trailing_var_arg = true,
            allow_hyphen_values = true,
            num_args = 0..
        )]
        args: Vec<String>,
    },
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
    Control(Action),
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
    pub mode: Mode,
    pub idle_timeout: Option<Duration>,
    pub max_clients: usize,
    pub backlog_bytes: usize,
    pub client_buffer: usize,
    pub stall_timeout: Duration,
    pub max_client_message: usize,
    pub client_input_total: usize,
    pub last_goodbye: LastGoodbye,
    pub hangup_clients: bool,
    pub passthrough: bool,
    pub drain_timeout: Duration,
    pub busy_poll: Duration,
    pub command: Vec<String>,
    /// Where the proxy was started: a spawned debugger runs there, even when
    /// the proxy itself is a daemon in `/`.
    pub cwd: PathBuf,
    pub daemon: Option<daemon::Options>,
    pub log_level: log::LevelFilter,
}

impl Config {
    /// Parses the process's arguments; on a usage error prints clap's message and exits 2.
    pub fn from_args() -> Invocation {
        let mut cli = Cli::parse();
        if let Some(action) = cli.action.take() {
            return Invocation::Control(action);
        }
        match Config::from_cli(cli) {
            Ok(config) => Invocation::Proxy(Box::new(config)),
            Err(e) => e.exit(),
        }
    }

    /// Parses proxy options given without the program name (`dbgproxy
    /// attach` passes on what is not its own).
    pub fn parse_from(args: &[String]) -> Result<Config, Usage> {
        let cli = Cli::try_parse_from(
            std::iter::once("dbgproxy").chain(args.iter().map(|a| a.as_str())),
        )?;
        if cli.action.is_some() {
            return Err(Usage::Line("a subcommand cannot follow `attach`".into()));
        }
        Config::from_cli(cli)
    }

    fn from_cli(cli: Cli) -> Result<Config, Usage> {
        use clap::CommandFactory;
        use clap::error::ErrorKind;
        let usage = |kind: ErrorKind, msg: String| Cli::command().error(kind, msg);
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
        let mode = cli.mode.unwrap_or(match backend {
            BackendKind::Listen => Mode::Persistent,
            BackendKind::Connect | BackendKind::Spawn => Mode::Session,
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
        let log_level = match (cli.quiet, cli.verbose) {
            (true, _) => log::LevelFilter::Warn,
            (false, 0) => log::LevelFilter::Info,
            (false, 1) => log::LevelFilter::Debug,
            (false, _) => log::LevelFilter::Trace,
        };
        Ok(Config {
            backend,
            protocol: cli.protocol.unwrap_or(preset_protocol),
            max_message: usize::try_from(cli.max_message).unwrap_or(usize::MAX),
            debugger_addr,
            listen,
            client_port,
            debug_port: port,
            access,
            retry_interval: Duration::from_millis(cli.retry_interval),
            retries: (cli.retries > 0).then_some(cli.retries),
            mode,
            idle_timeout: (cli.idle_timeout > 0).then(|| Duration::from_secs(cli.idle_timeout)),
            max_clients: cli.max_clients as usize,
            backlog_bytes: usize::try_from(cli.backlog_bytes).unwrap_or(usize::MAX),
            client_buffer: usize::try_from(cli.client_buffer).unwrap_or(usize::MAX),
            stall_timeout: Duration::from_millis(cli.stall_timeout),
            // Never more than a debugger message may be.
            max_client_message: usize::try_from(cli.max_client_message.min(cli.max_message))
                .unwrap_or(usize::MAX),
            client_input_total: usize::try_from(cli.client_input_total).unwrap_or(usize::MAX),
            last_goodbye: cli.last_goodbye,
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
    if out.len() > crate::accept::MAX_LISTENERS {
        return Err(Usage::Line(format!(
            "at most {} --listen addresses",
            crate::accept::MAX_LISTENERS
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
            "--listen {} serves clients beyond this host, and a debugger client runs code as              this user: give --token-file PATH (clients then send `dbgproxy-token <token>` first),              or --insecure-open to let anyone who reaches it in",
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
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, Usage> {
        let cli = Cli::try_parse_from(std::iter::once("dbgproxy").chain(args.iter().copied()))?;
        assert!(cli.action.is_none());
        Config::from_cli(cli)
    }

    #[test]
    fn defaults_follow_the_cloud9_conventions() {
        let c = parse(&["--port", "5858"]).unwrap();
        assert_eq!(c.backend, BackendKind::Connect);
        assert_eq!(c.debugger_addr, "127.0.0.1:5858".parse().unwrap());
        assert_eq!(
            c.listen,
            [ListenAddr::Tcp("127.0.0.1:5859".parse().unwrap())]
        );
        assert_eq!(c.access.allowed, access::Allowed::Uids(vec![]));
        assert!(c.access.token.is_none() && !c.access.insecure_open);
        assert_eq!(c.retry_interval, Duration::from_millis(300));
        assert_eq!(c.retries, Some(100));
        assert_eq!(c.mode, Mode::Session);
        assert_eq!(c.idle_timeout, None);
        assert_eq!(c.max_clients, 64);
        assert_eq!(c.backlog_bytes, 1 << 20);
        assert_eq!(c.client_buffer, 8 << 20);
    }

    #[test]
    fn listen_defaults_to_persistent() {
        let c = parse(&["--port", "9000", "--backend", "listen"]).unwrap();
        assert_eq!(c.mode, Mode::Persistent);
        assert_eq!(c.client_port, 9001);
    }

    #[test]
    fn client_port_overrides_port_plus_one_and_65535_needs_it() {
        assert!(parse(&["--port", "65535"]).is_err());
        let c = parse(&["--port", "65535", "--client-port", "4000"]).unwrap();
        assert_eq!(c.client_port, 4000);
    }

    #[test]
    fn spawn_needs_a_command_and_others_refuse_one() {
        assert!(parse(&["--port", "1", "--backend", "spawn"]).is_err());
        assert!(parse(&["--port", "1", "--", "gdb"]).is_err());
        let c = parse(&["--port", "1", "--backend", "spawn", "--", "gdb", "-q"]).unwrap();
        assert_eq!(c.command, ["gdb", "-q"]);
    }

    #[test]
    fn presets_set_backend_and_protocol_and_protocol_overrides() {
        let c = parse(&["--port", "1", "--backend", "v8"]).unwrap();
        assert_eq!(
            (c.backend, c.protocol),
            (BackendKind::Connect, Protocol::V8)
        );
        let c = parse(&["--port", "1", "--backend", "xdebug"]).unwrap();
        assert_eq!(
            (c.backend, c.protocol, c.mode),
            (BackendKind::Listen, Protocol::Dbgp, Mode::Persistent)
        );
        let c = parse(&["--port", "1", "--backend", "gdb", "--", "gdb"]).unwrap();
        assert_eq!(
            (c.backend, c.protocol),
            (BackendKind::Spawn, Protocol::GdbMi)
        );
        let c = parse(&["--port", "1", "--backend", "dap"]).unwrap();
        assert_eq!(
            (c.backend, c.protocol),
            (BackendKind::Connect, Protocol::Dap)
        );
        let c = parse(&["--port", "1", "--backend", "v8", "--protocol", "raw"]).unwrap();
        assert_eq!(c.protocol, Protocol::Raw);
        assert_eq!(parse(&["--port", "1"]).unwrap().protocol, Protocol::Raw);
        assert_eq!(parse(&["--port", "1"]).unwrap().max_message, 64 << 20);
    }

    #[test]
    fn zero_retries_means_no_limit() {
        assert_eq!(
            parse(&["--port", "1", "--retries", "0"]).unwrap().retries,
            None
        );
    }

    fn line(result: Result<Config, Usage>) -> String {
        match result {
            Err(Usage::Line(line)) => line,
            Err(Usage::Clap(e)) => panic!("a clap error, not one line: {e}"),
            Ok(_) => panic!("accepted"),
        }
    }

    #[test]
    fn listen_may_repeat_and_take_unix_sockets() {
        let c = parse(&[
            "--port",
            "5858",
            "--listen",
            "127.0.0.1",
            "--listen",
            "::1",
            "--listen",
            "unix:/run/user/1000/dbg.sock",
        ])
        .unwrap();
        assert_eq!(
            c.listen,
            [
                ListenAddr::Tcp("127.0.0.1:5859".parse().unwrap()),
                ListenAddr::Tcp("[::1]:5859".parse().unwrap()),
                ListenAddr::Unix("/run/user/1000/dbg.sock".into()),
            ]
        );
        let c = parse(&["--port", "5858", "--listen", "unix:rel.sock"]).unwrap();
        assert!(matches!(&c.listen[..], [ListenAddr::Unix(p)] if p.is_absolute()));
        assert!(line(parse(&["--port", "1", "--listen", "unix:"])).contains("needs a path"));
        assert!(
            line(parse(&[
                "--port", "1", "--listen", "::1", "--listen", "::1"
            ]))
            .contains("given twice")
        );
        let control = crate::control::runtime_dir().join("x.sock");
        let arg = format!("unix:{}", control.display());
        assert!(line(parse(&["--port", "1", "--listen", &arg])).contains("control sockets"));
    }

    #[test]
    fn beyond_loopback_needs_a_token_or_a_loud_flag() {
        for exposed in ["0.0.0.0", "::", "192.0.2.1"] {
            let l = line(parse(&["--port", "5858", "--listen", exposed]));
            assert!(
                l.contains("--token-file") && l.contains("--insecure-open") && !l.contains('\n'),
                "{l}"
            );
        }
        let c = parse(&["--port", "5858", "--listen", "0.0.0.0", "--insecure-open"]).unwrap();
        assert!(c.access.insecure_open);
        // Loopback in any spelling needs nothing.
        for local in ["127.0.0.1", "127.1.2.3", "::1", "localhost"] {
            parse(&["--port", "5858", "--listen", local]).unwrap();
        }
        assert!(parse(&["--port", "1", "--token-file", "/x", "--insecure-open"]).is_err());
    }

    #[test]
    fn allow_users_and_token_options() {
        let c = parse(&[
            "--port",
            "1",
            "--allow-users",
            "0,65534",
            "--allow-users",
            "7",
        ])
        .unwrap();
        assert_eq!(c.access.allowed, access::Allowed::Uids(vec![0, 65534, 7]));
        let c = parse(&["--port", "1", "--allow-users", "any"]).unwrap();
        assert_eq!(c.access.allowed, access::Allowed::Any);
        assert!(line(parse(&["--port", "1", "--allow-users", "none"])).contains("--token-file"));
        assert!(
            line(parse(&["--port", "1", "--allow-users", "nosuchuser-x"])).contains("nosuchuser-x")
        );
        let l = line(parse(&[
            "--port",
            "1",
            "--token-file",
            "/nonexistent/token",
        ]));
        assert!(
            l.starts_with("cannot read --token-file /nonexistent/token"),
            "{l}"
        );
        assert_eq!(
            parse(&["--port", "1"]).unwrap().access.token_timeout,
            Duration::from_secs(5)
        );
    }
}
