//! `dbgproxy attach`'s command line: its own options taken out, the rest
//! validated as the proxy's options (so that a mistake is a usage error
//! before anything is started) and kept verbatim for the daemon it may start.

use std::time::Duration;

use super::stream::Target;
use crate::config::{Config, ListenAddr, Usage};

/// How long a proxy may be gone before `attach` gives up, by default.
pub const DEFAULT_RECONNECT_TIMEOUT: Duration = Duration::from_secs(60);

/// What `dbgproxy attach …` asked for.
#[derive(Debug)]
pub struct Options {
    /// The proxy's options as the proxy itself would read them.
    pub proxy: Config,
    /// Where it serves clients.
    pub target: Target,
    /// The same options as given (without `--daemon`), for starting one.
    pub proxy_args: Vec<String>,
    /// Whether the user chose the daemon's pidfile / log file.
    pub has_pidfile: bool,
    pub has_log_file: bool,
    /// `None`: never reconnect.
    pub reconnect_timeout: Option<Duration>,
    /// `--no-start`: the proxy is someone else's to run (systemd): never
    /// start one, wait for it, and join what serves the port even when its
    /// control socket is out of reach.
    pub no_start: bool,
}

impl Options {
    /// What names the proxy's control socket: its first TCP client port,
    /// else (Unix sockets only) its debug port, as the proxy chooses it.
    pub fn control_key(&self) -> u16 {
        self.proxy
            .listen
            .iter()
            .find_map(|l| match l {
                ListenAddr::Tcp(a) => Some(a.port()),
                ListenAddr::Unix(_) => None,
            })
            .unwrap_or(self.proxy.debug_port)
    }
}

/// Parses what followed `attach`; a mistake is a usage error (exit 2).
pub fn parse(args: Vec<String>) -> Result<Options, Usage> {
    let mut reconnect_timeout = Some(DEFAULT_RECONNECT_TIMEOUT);
    let mut no_start = false;
    let mut proxy_args = Vec::with_capacity(args.len());
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        if arg == "--" {
            proxy_args.push(arg);
            proxy_args.extend(it.by_ref());
            break;
        }
        let value = if arg == "--reconnect-timeout" {
            Some(
                it.next()
                    .ok_or_else(|| usage("--reconnect-timeout needs a number of seconds".into()))?,
            )
        } else {
            arg.strip_prefix("--reconnect-timeout=").map(str::to_string)
        };
        match value {
            Some(v) => {
                let secs: u64 = v.parse().map_err(|_| {
                    usage(format!(
                        "--reconnect-timeout {v:?}: a whole number of seconds"
                    ))
                })?;
                reconnect_timeout = (secs > 0).then(|| Duration::from_secs(secs));
            }
            // attach always starts its proxy as a daemon.
            None if arg == "--daemon" => {}
            None if arg == "--no-start" => no_start = true,
            None => proxy_args.push(arg),
        }
    }
    let given = |flag: &str| {
        proxy_args
            .iter()
            .take_while(|a| *a != "--")
            .any(|a| a == flag || a.starts_with(&format!("{flag}=")))
    };
    let (has_pidfile, has_log_file) = (given("--pidfile"), given("--log-file"));
    // A proxy that attach starts outlives the editor and is joined again
    // later: persistent unless the user says otherwise, so that it waits for
    // a debugger started late instead of giving up after `--retries`.
    if !given("--mode") {
        proxy_args.splice(0..0, ["--mode".to_string(), "persistent".to_string()]);
    }
    // Those two need --daemon, which attach adds when it starts the proxy.
    let mut check = Vec::with_capacity(proxy_args.len() + 1);
    if has_pidfile || has_log_file {
        check.push("--daemon".to_string());
    }
    check.extend(proxy_args.iter().cloned());
    let proxy = Config::parse_from(&check)?;
    let target = Target::of(&proxy.listen)
        .ok_or_else(|| Usage::Line("no --listen address to join".into()))?;
    Ok(Options {
        target,
        has_pidfile,
        has_log_file,
        proxy,
        proxy_args,
        reconnect_timeout,
        no_start,
    })
}

fn usage(message: String) -> Usage {
    Usage::Line(format!("{message} (see `dbgproxy attach --help`)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framing::Protocol;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn own_options_are_taken_out_and_the_rest_kept_verbatim() {
        let o = parse(args(&[
            "--port",
            "5678",
            "--reconnect-timeout",
            "5",
            "--backend",
            "dap",
            "--daemon",
        ]))
        .unwrap();
        assert_eq!(
            o.proxy_args,
            args(&["--mode", "persistent", "--port", "5678", "--backend", "dap"])
        );
        assert_eq!(o.proxy.mode, crate::config::Mode::Persistent);
        let chosen = parse(args(&["--port", "1", "--mode", "session"])).unwrap();
        assert_eq!(
            chosen.proxy_args,
            args(&["--port", "1", "--mode", "session"])
        );
        assert_eq!(o.reconnect_timeout, Some(Duration::from_secs(5)));
        assert!(!o.no_start);
        assert!(
            parse(args(&["--no-start", "--port", "1"]))
                .unwrap()
                .no_start
        );
        assert_eq!(o.proxy.protocol, Protocol::Dap);
        assert_eq!(o.target, Target::Tcp("127.0.0.1:5679".parse().unwrap()));
        assert!(!o.has_pidfile && !o.has_log_file);
    }

    #[test]
    fn after_the_double_dash_everything_is_the_command() {
        let o = parse(args(&[
            "--port",
            "15470",
            "--backend",
            "gdb",
            "--",
            "gdb",
            "--reconnect-timeout=3",
        ]))
        .unwrap();
        assert_eq!(o.proxy.command, ["gdb", "--reconnect-timeout=3"]);
        assert_eq!(o.reconnect_timeout, Some(DEFAULT_RECONNECT_TIMEOUT));
    }

    #[test]
    fn zero_means_no_reconnect_and_mistakes_are_usage_errors() {
        let o = parse(args(&["--reconnect-timeout=0", "--port", "1"])).unwrap();
        assert_eq!(o.reconnect_timeout, None);
        assert!(parse(args(&["--port", "1", "--reconnect-timeout"])).is_err());
        assert!(parse(args(&["--port", "1", "--reconnect-timeout", "soon"])).is_err());
        assert!(parse(args(&["--backend", "dap"])).is_err());
        assert!(parse(args(&["--port", "1", "--bogus"])).is_err());
    }

    #[test]
    fn every_interface_is_reached_on_loopback() {
        let o = parse(args(&[
            "--port",
            "9000",
            "--listen",
            "0.0.0.0",
            "--insecure-open",
            "--pidfile=/tmp/x.pid",
        ]))
        .unwrap();
        assert_eq!(o.target, Target::Tcp("127.0.0.1:9001".parse().unwrap()));
        assert!(o.has_pidfile);
    }

    #[test]
    fn a_unix_listener_first_is_joined_there() {
        let o = parse(args(&[
            "--port",
            "9000",
            "--listen",
            "unix:/tmp/dbg/c.sock",
        ]))
        .unwrap();
        assert_eq!(o.target, Target::Unix("/tmp/dbg/c.sock".into()));
        assert_eq!(o.target.to_string(), "unix:/tmp/dbg/c.sock");
        assert_eq!(o.control_key(), 9000, "named by the debug port");
    }
}
