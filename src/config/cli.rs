//! The command line as clap sees it: every flag, its help text and default,
//! and the subcommands. `config/mod.rs` turns it into a validated `Config`.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use super::LastGoodbye;
use super::size::{self, Bytes};
use super::{BackendKind, Mode};
use crate::framing::Protocol;

/// `--backend`: a kind, or a Cloud9 preset that sets the protocol too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(super) enum BackendArg {
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
    /// connect + --protocol cdp (node --inspect, chromium --remote-debugging-port).
    Inspector,
}

impl BackendArg {
    pub(super) fn resolve(self) -> (BackendKind, Protocol) {
        match self {
            BackendArg::Connect => (BackendKind::Connect, Protocol::Raw),
            BackendArg::Spawn => (BackendKind::Spawn, Protocol::Raw),
            BackendArg::Listen => (BackendKind::Listen, Protocol::Raw),
            BackendArg::V8 => (BackendKind::Connect, Protocol::V8),
            BackendArg::Gdb => (BackendKind::Spawn, Protocol::GdbMi),
            BackendArg::Xdebug => (BackendKind::Listen, Protocol::Dbgp),
            BackendArg::Dap => (BackendKind::Connect, Protocol::Dap),
            BackendArg::Inspector => (BackendKind::Connect, Protocol::Cdp),
        }
    }
}

#[derive(Parser, Debug)]
#[command(
    name = "dbgproxy",
    version,
    about = "A multi-client debug proxy: many IDE clients, one debugger backend.",
    long_about = "A multi-client debug proxy: many IDE clients, one debugger backend.\n\n\
        Clients are served on 127.0.0.1:(PORT+1). Once clients can connect and the \
        debugger is reachable (in persistent mode, once clients can connect), the \
        proxy writes the ready marker \"ß\" and a newline to stdout, and nothing \
        else ever goes to stdout. Logs go to stderr (RUST_LOG, -v, -q).",
    after_help = "Example:\n  dbgproxy --backend connect --port 5858   # debugger on 5858, clients on 5859\n  nc 127.0.0.1 5859",
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub(super) struct Cli {
    #[command(subcommand)]
    pub(super) action: Option<Command>,

    /// The debugger's port ("debugport"). Clients are served on PORT+1 unless --client-port is given.
    #[arg(long, value_name = "N", required = true, value_parser = clap::value_parser!(u16).range(1..))]
    pub(super) port: Option<u16>,

    /// How the debugger is reached; v8, gdb, xdebug, dap and inspector also set --protocol.
    #[arg(long, value_enum, default_value_t = BackendArg::Connect)]
    pub(super) backend: BackendArg,

    /// The debugger's message framing [default: raw, or the --backend preset's].
    /// Framed protocols forward whole messages only and replay the debugger's
    /// greeting to clients that connect later.
    #[arg(long, value_enum)]
    pub(super) protocol: Option<Protocol>,

    /// Largest message accepted from the debugger in a framed protocol; one
    /// that announces a larger one ends its session.
    #[arg(long, value_name = "BYTES", default_value_t = Bytes(64 << 20), value_parser = size::parse)]
    pub(super) max_message: Bytes,

    /// Where the debugger is (connect), or where to wait for it (listen).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    pub(super) host: String,

    /// Where clients are served: an address (on --client-port), or unix:PATH
    /// for a Unix socket (made 0600). Repeat for several. An address beyond
    /// loopback (e.g. 0.0.0.0) needs --token-file or --insecure-open.
    #[arg(long = "listen", value_name = "ADDR|unix:PATH", default_value = "127.0.0.1", action = clap::ArgAction::Append)]
    pub(super) listen: Vec<String>,

    /// Local users let in besides the proxy's own: uids or names,
    /// comma-separated; `any` for every user; `none` for no uid at all, not
    /// even the proxy's own (everyone sends the token). Others are refused,
    /// or asked for the token if there is one.
    #[arg(long, value_name = "USERS", action = clap::ArgAction::Append)]
    pub(super) allow_users: Vec<String>,

    /// A file (mode 0600) holding a token: a client not let in by its uid
    /// must send `dbgproxy-token <token>` and a newline first. SIGHUP re-reads it.
    #[arg(long, value_name = "PATH")]
    pub(super) token_file: Option<PathBuf>,

    /// Milliseconds a client asked for the token has to send it.
    #[arg(long, value_name = "MS", default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..))]
    pub(super) token_timeout: u64,

    /// Serve a --listen address beyond loopback without a token: anyone who
    /// can reach it controls the debugger, and runs code as this user.
    #[arg(long, conflicts_with = "token_file")]
    pub(super) insecure_open: bool,

    /// The port clients are served on [default: PORT+1].
    #[arg(long, value_name = "M", value_parser = clap::value_parser!(u16).range(1..))]
    pub(super) client_port: Option<u16>,

    /// Milliseconds between attempts to connect to the debugger.
    #[arg(long, value_name = "MS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    pub(super) retry_interval: u64,

    /// Connect attempts before giving up on the first debugger (0 = no limit)
    /// [default: 100 in session mode; no limit in persistent mode, which
    /// waits for the first debugger as long as it runs]. Reconnects in
    /// persistent mode never give up.
    #[arg(long, value_name = "N")]
    pub(super) retries: Option<u32>,

    /// With --protocol cdp: the inspector target to debug, by its id or a
    /// substring of its URL [default: the first node or page target].
    #[arg(long, value_name = "ID|URL-SUBSTRING")]
    pub(super) target: Option<String>,

    /// What to do when the debugger goes away [default: session for connect and spawn,
    /// persistent for listen].
    #[arg(long, value_enum)]
    pub(super) mode: Option<Mode>,

    /// Exit 0 after this many seconds with no client and no debugger connected (0 = never).
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    pub(super) idle_timeout: u64,

    /// Clients allowed at once; further clients are accepted and closed at once, with a log line.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    pub(super) max_clients: u32,

    /// Bytes kept while nobody can take them: debugger output while no client is
    /// connected (oldest dropped past this), and client input waiting for the debugger
    /// (clients are no longer read past this).
    #[arg(long, value_name = "BYTES", default_value_t = Bytes(1 << 20), value_parser = size::parse)]
    pub(super) backlog_bytes: Bytes,

    /// Bytes queued for one client before the debugger is made to wait for
    /// it; a client this far behind that makes no progress for --stall-timeout
    /// is disconnected. A message is always delivered to a client whose queue
    /// is empty, whatever its size.
    #[arg(long, value_name = "BYTES", default_value_t = Bytes(8 << 20), value_parser = size::parse)]
    pub(super) client_buffer: Bytes,

    /// Milliseconds a client over --client-buffer may go without taking a byte
    /// before it is disconnected (meanwhile the debugger waits); one that keeps
    /// reading is given up to ten times this.
    #[arg(long, value_name = "MS", default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..))]
    pub(super) stall_timeout: u64,

    /// Largest message a client may send in a framed protocol (commands are
    /// small); a client that sends a larger one is disconnected.
    #[arg(long, value_name = "BYTES", default_value_t = Bytes(1 << 20), value_parser = size::parse)]
    pub(super) max_client_message: Bytes,

    /// Bytes of unfinished client messages held across all clients; past it,
    /// the client holding the most is disconnected.
    #[arg(long, value_name = "BYTES", default_value_t = Bytes(16 << 20), value_parser = size::parse)]
    pub(super) client_input_total: Bytes,

    /// In persistent mode, what the last client's goodbye does: keep the debug
    /// session for the next client (resume the debuggee, drop the leaver's
    /// breakpoints), or forward it to the debugger.
    #[arg(long, value_enum, default_value_t = LastGoodbye::Keep)]
    pub(super) last_goodbye: LastGoodbye,

    /// DBGp: milliseconds an engine nobody can take is held: a finished PHP
    /// request (Xdebug status `stopping`) once no client is left, then ended;
    /// with --dbgp-proxy, an engine whose IDE has not registered (yet), then
    /// detached. Either way PHP (and a web server's worker) is let go.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    pub(super) dbgp_hold: u64,

    /// DBGp proxy mode: serve `proxyinit`/`proxystop` on ADDR:PORT (PORT
    /// alone: on loopback), and route each engine on --port to the IDE
    /// registered for its idekey. Needs --protocol dbgp on a listen backend
    /// (--backend xdebug).
    #[arg(long, value_name = "ADDR|PORT")]
    pub(super) dbgp_proxy: Option<String>,

    /// DBGp proxy mode: the idekey for engines whose `<init>` has none.
    #[arg(long, value_name = "KEY")]
    pub(super) dbgp_default_key: Option<String>,

    /// Frame whole messages but share nothing: every client gets every message
    /// and ids pass unchanged, as before sessions were shared.
    #[arg(long)]
    pub(super) passthrough: bool,

    /// In persistent mode, close every client when the debugger goes away
    /// (raw clients then see EOF), instead of keeping them for the next one.
    #[arg(long)]
    pub(super) hangup_clients: bool,

    /// Microseconds to keep polling without sleeping after activity, so that a
    /// reply arriving soon is forwarded without a sleep/wake-up (0 = sleep at once).
    #[arg(long, value_name = "MICROS", default_value_t = 100, value_parser = clap::value_parser!(u64).range(0..=100_000))]
    pub(super) busy_poll: u64,

    /// Milliseconds to flush queued output to clients when shutting down.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub(super) drain_timeout: u64,

    /// Detach from the terminal; return once the detached proxy is ready
    /// (printing the marker) or has failed (printing why, exit 1).
    #[arg(long)]
    pub(super) daemon: bool,

    /// With --daemon: write the daemon's pid here and hold a lock on it while it runs.
    #[arg(long, value_name = "PATH", requires = "daemon")]
    pub(super) pidfile: Option<PathBuf>,

    /// With --daemon: append logs to this file (SIGHUP reopens it, for logrotate).
    #[arg(long, value_name = "PATH", requires = "daemon")]
    pub(super) log_file: Option<PathBuf>,

    /// More log detail on stderr (-v debug, -vv trace, -vvv trace with mio's
    /// own lines). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub(super) verbose: u8,

    /// Only warnings and errors on stderr. RUST_LOG overrides.
    #[arg(short, long, conflicts_with = "verbose")]
    pub(super) quiet: bool,

    /// The debugger command, for --backend spawn (everything after `--`, run without a shell).
    #[arg(last = true, value_name = "COMMAND")]
    pub(super) command: Vec<String>,
}

/// `dbgproxy attach`'s usage line: its `--help`, and its usage errors,
/// which clap finds in the proxy's options (see `Config::parse_from`).
pub(super) const ATTACH_USAGE: &str = "dbgproxy attach --port N [--reconnect-timeout SECS] [--no-start] [PROXY OPTIONS…] [-- COMMAND…]";

/// Talking to running proxies of this user, through their control sockets.
#[derive(Subcommand, Debug, Clone)]
pub enum Command {
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
        override_usage = ATTACH_USAGE,
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
