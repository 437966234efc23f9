use super::*;

fn parse(args: &[&str]) -> Result<Config, Usage> {
    let cli = Cli::try_parse_from(std::iter::once("dbgproxy").chain(args.iter().copied()))?;
    assert!(cli.action.is_none());
    Config::from_cli(cli, &<Cli as clap::CommandFactory>::command())
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
    assert_eq!(c.mode, Mode::OneSession);
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

#[test]
fn persistent_mode_waits_for_the_first_debugger_unless_told_otherwise() {
    let retries = |args: &[&str]| parse(&[&["--port", "1"], args].concat()).unwrap().retries;
    assert_eq!(retries(&["--mode", "persistent"]), None);
    assert_eq!(
        retries(&["--mode", "persistent", "--retries", "7"]),
        Some(7)
    );
    assert_eq!(retries(&["--mode", "session"]), Some(100));
    assert_eq!(retries(&["--backend", "listen"]), None);
}

#[test]
fn dbgp_hold_is_in_milliseconds() {
    let c = parse(&["--port", "1"]).unwrap();
    assert_eq!(c.dbgp_hold, Duration::from_secs(2));
    let c = parse(&["--port", "1", "--dbgp-hold", "250"]).unwrap();
    assert_eq!(c.dbgp_hold, Duration::from_millis(250));
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
            l.contains("--token-file")
                && l.contains("--insecure-open")
                && !l.contains('\n')
                && !l.contains("  "),
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
