//! The token (`--token`, `--token-timeout`): right, wrong, absent and slow,
//! never in logs, `status` or the command line; and the checks at start-up
//! that refuse a listener beyond loopback without one.

use super::*;

/// A proxy that asks every client for the token (`--allow-users none`),
/// so that the test's own clients exercise the handshake.
fn token_proxy(scratch: &TempDir, port: u16, extra: &[&str]) -> (Proxy, TcpStream) {
    let token = token_file(scratch, 0o600);
    let debugger = FakeDebugger::listen(port);
    let port = port.to_string();
    let mut args = vec![
        "--port",
        &port,
        "--allow-users",
        "none",
        "--token-file",
        token.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let mut proxy = proxy_in(&scratch.0, &args);
    let conn = debugger.accept();
    proxy.wait_ready();
    (proxy, conn)
}

#[test]
fn the_right_token_lets_a_client_in_and_is_never_forwarded() {
    let scratch = TempDir::new("token-right");
    let port = free_port_pair();
    let (proxy, mut conn) = token_proxy(&scratch, port, &[]);
    // A tool: the line and its first bytes in one write.
    let mut tool = Client::connect(port + 1);
    tool.send(format!("dbgproxy-token {TOKEN}\nhello").as_bytes());
    assert_eq!(read_n(&mut conn, 5), b"hello", "only what follows the line");
    // Someone at nc: typed in pieces, with \r\n.
    let mut typed = Client::connect(port + 1);
    for piece in ["dbgproxy-tok", "en  ", TOKEN, "\r", "\n"] {
        typed.send(piece.as_bytes());
        std::thread::sleep(Duration::from_millis(20));
    }
    debugger_hears_only(&mut conn, &mut typed.stream, b"typed");
    // Both get the debugger's output, and nothing else first.
    conn.write_all(b"welcome").unwrap();
    assert_eq!(tool.read_n(7), b"welcome");
    assert_eq!(typed.read_n(7), b"welcome");
    let s = status(&scratch.0, port);
    let rows = s["clients"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{s}");
    for row in rows {
        assert_eq!(row["admitted_by"], "token", "{s}");
        assert_eq!(row["uid"], me(), "{s}");
    }
    assert_eq!(s["counters"]["admitted_by_token"], 2);
    assert_eq!(s["access"]["token"], true);
    assert!(refusals(&proxy).is_empty(), "{:?}", refusals(&proxy));
}

#[test]
fn a_wrong_or_absent_token_is_refused_with_one_line_and_nothing_forwarded() {
    let scratch = TempDir::new("token-wrong");
    let port = free_port_pair();
    let (mut proxy, mut conn) = token_proxy(&scratch, port, &[]);
    let mut wrong = Client::connect(port + 1);
    wrong.send(b"dbgproxy-token not-the-token-at-all-0123\nprint(secrets)\n");
    assert_eq!(
        told(&mut wrong.stream),
        "dbgproxy: access refused: wrong token\n"
    );
    // An unmodified IDE: it speaks its protocol at once and is told at once.
    let mut ide = Client::connect(port + 1);
    ide.send(b"Content-Length: 2\r\n\r\n{}");
    let said = told(&mut ide.stream);
    assert!(
        said.is_empty()
            || said
                == "dbgproxy: access refused: send `dbgproxy-token <token>` and a newline before anything else\n",
        "{said:?}"
    );
    proxy.wait_log("did not send `dbgproxy-token <token>` first");
    proxy.wait_log("wrong token");
    let mut good = Client::connect(port + 1);
    good.send(format!("dbgproxy-token {TOKEN}\n").as_bytes());
    debugger_hears_only(&mut conn, &mut good.stream, b"only this");
    let s = status(&scratch.0, port);
    assert_eq!(s["counters"]["refused_bad_token"], 1, "{s}");
    assert_eq!(s["counters"]["refused_no_token"], 1, "{s}");
    assert_eq!(s["clients"].as_array().unwrap().len(), 1, "{s}");
}

#[test]
fn a_client_that_sends_no_token_is_closed_after_the_timeout() {
    let scratch = TempDir::new("token-slow");
    let port = free_port_pair();
    let (mut proxy, mut conn) = token_proxy(&scratch, port, &["--token-timeout", "300"]);
    // The refusal names the 300 ms it waited; when, is the proxy's timer's
    // business (a timing here would be a speed test, and flaky).
    let mut silent = Client::connect(port + 1);
    let mut halfway = Client::connect(port + 1);
    halfway.send(b"dbgproxy-token t0ken");
    proxy.wait_log("client #2");
    // Meanwhile they wait outside the session.
    let s = status(&scratch.0, port);
    assert_eq!(s["waiting_for_token"].as_array().unwrap().len(), 2, "{s}");
    assert!(s["clients"].as_array().unwrap().is_empty(), "{s}");
    for client in [&mut silent, &mut halfway] {
        assert_eq!(
            told(&mut client.stream),
            "dbgproxy: access refused: no token within 300ms\n"
        );
    }
    assert_eq!(
        status(&scratch.0, port)["counters"]["refused_token_timeout"],
        2
    );
    let mut good = Client::connect(port + 1);
    good.send(format!("dbgproxy-token {TOKEN}\n").as_bytes());
    debugger_hears_only(&mut conn, &mut good.stream, b"after");
}

#[test]
fn the_token_is_not_in_logs_status_or_the_command_line() {
    let scratch = TempDir::new("token-secret");
    let port = free_port_pair();
    let token = token_file(&scratch, 0o600);
    let debugger = FakeDebugger::listen(port);
    let mut cmd = Proxy::command();
    cmd.args([
        "--port",
        &port.to_string(),
        "--allow-users",
        "none",
        "--token-file",
        token.to_str().unwrap(),
    ])
    .env("XDG_RUNTIME_DIR", &scratch.0)
    .env("RUST_LOG", "trace");
    let mut proxy = Proxy::spawn(cmd);
    let mut conn = debugger.accept();
    proxy.wait_ready();
    let near_miss = format!("{}X", &TOKEN[..TOKEN.len() - 1]);
    let mut wrong = Client::connect(port + 1);
    wrong.send(format!("dbgproxy-token {near_miss}\n").as_bytes());
    told(&mut wrong.stream);
    let mut good = Client::connect(port + 1);
    good.send(format!("dbgproxy-token {TOKEN}\nx").as_bytes());
    assert_eq!(read_n(&mut conn, 1), b"x");
    proxy.signal(libc::SIGHUP);
    proxy.wait_log("token re-read");
    let status =
        String::from_utf8(dbgproxy(&scratch.0, &["status", "--port", &port.to_string()]).stdout)
            .unwrap();
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", proxy.pid())).unwrap();
    let logs = proxy.stderr();
    for (what, text) in [
        ("logs", logs.as_str()),
        ("status", status.as_str()),
        ("cmdline", &String::from_utf8_lossy(&cmdline)),
    ] {
        assert!(!text.contains(TOKEN), "the token is in the {what}:\n{text}");
        assert!(
            !text.contains(&near_miss),
            "a presented token is in the {what}"
        );
    }
}

// ----- start-up checks -----

/// One line on stderr, exit 2.
fn refuses_to_start(args: &[&str]) -> String {
    let mut proxy = Proxy::start(args);
    assert_eq!(proxy.wait_exit().code(), Some(2), "{}", proxy.stderr());
    let err = proxy.stderr();
    assert_eq!(err.lines().count(), 1, "one line:\n{err}");
    assert!(err.starts_with("error: "), "{err}");
    err
}

#[test]
fn beyond_loopback_without_a_token_refuses_to_start_in_one_line() {
    let port = free_port_pair().to_string();
    for exposed in ["0.0.0.0", "::"] {
        let err = refuses_to_start(&["--port", &port, "--listen", exposed]);
        assert!(
            err.contains(&format!(
                "--listen {exposed} serves clients beyond this host"
            )) && err.contains("--token-file")
                && err.contains("--insecure-open"),
            "{err}"
        );
    }
    let scratch = TempDir::new("token-mode");
    let loose = token_file(&scratch, 0o644);
    let err = refuses_to_start(&[
        "--port",
        &port,
        "--listen",
        "0.0.0.0",
        "--token-file",
        loose.to_str().unwrap(),
    ]);
    assert!(
        err.contains("mode 0644") && err.contains("chmod 600"),
        "{err}"
    );
    // The loud flag opens it.
    let _debugger = FakeDebugger::listen(port.parse().unwrap());
    let mut open = Proxy::start(&["--port", &port, "--listen", "0.0.0.0", "--insecure-open"]);
    open.wait_ready();
}
