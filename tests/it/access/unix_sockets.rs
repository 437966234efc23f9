//! Clients over Unix sockets: beside TCP, with `status` and a private
//! socket; a Unix-only daemon reached by `status` and `stop`; stale sockets.

use super::*;

#[test]
fn unix_socket_clients_beside_tcp_with_status_and_a_private_socket() {
    let scratch = TempDir::new("unix");
    let runtime = TempDir::new("unix-rt");
    let sock = scratch.0.join("made/by/proxy/c.sock");
    let port = free_port_pair();
    let debugger = FakeDebugger::listen(port);
    let unix_arg = format!("unix:{}", sock.display());
    let mut proxy = proxy_in(
        &runtime.0,
        &[
            "--port",
            &port.to_string(),
            "--listen",
            "127.0.0.1",
            "--listen",
            &unix_arg,
        ],
    );
    let mut conn = debugger.accept();
    proxy.wait_ready();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&sock), 0o600);
    assert_eq!(mode(sock.parent().unwrap()), 0o700, "a directory it made");
    let mut local = UnixStream::connect(&sock).unwrap();
    local.set_read_timeout(Some(DEADLINE)).unwrap();
    local.write_all(b"over unix").unwrap();
    assert_eq!(read_n(&mut conn, 9), b"over unix");
    let mut tcp = Client::connect(port + 1);
    tcp.send(b"over tcp");
    assert_eq!(read_n(&mut conn, 8), b"over tcp");
    conn.write_all(b"to both").unwrap();
    assert_eq!(read_n(&mut local, 7), b"to both");
    assert_eq!(tcp.read_n(7), b"to both");

    let s = status(&runtime.0, port);
    assert_eq!(
        s["listen"],
        serde_json::json!([format!("127.0.0.1:{}", port + 1), unix_arg])
    );
    let unix_row = &s["clients"][0];
    assert!(
        unix_row["peer"]
            .as_str()
            .unwrap()
            .starts_with(&format!("unix:uid={},pid=", me())),
        "{s}"
    );
    assert_eq!(unix_row["uid"], me());
    assert_eq!(s["clients"][1]["uid"], me());
    let out = dbgproxy(&runtime.0, &["stop", "--port", &port.to_string()]);
    assert!(out.status.success());
    assert!(proxy.wait_exit().success());
    assert!(!sock.exists(), "the socket goes with the proxy");
}

#[test]
fn a_unix_only_daemon_is_reached_by_status_and_stop_through_the_debug_port() {
    let scratch = TempDir::new("unix-daemon");
    let sock = scratch.0.join("c.sock");
    let port = free_port_pair();
    let debugger = FakeDebugger::listen(port);
    let out = Proxy::command()
        .args([
            "--port",
            &port.to_string(),
            "--listen",
            &format!("unix:{}", sock.display()),
            "--daemon",
            "--log-file",
            scratch.0.join("log").to_str().unwrap(),
        ])
        .env("XDG_RUNTIME_DIR", &scratch.0)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, MARKER);
    let mut conn = debugger.accept();
    let mut client = UnixStream::connect(&sock).unwrap();
    client.write_all(b"daemon").unwrap();
    assert_eq!(read_n(&mut conn, 6), b"daemon");
    // No TCP listener: the control socket is named after the debug port.
    assert!(scratch.0.join(format!("dbgproxy/{port}.sock")).exists());
    let s = status(&scratch.0, port);
    assert_eq!(s["client_addr"], format!("unix:{}", sock.display()));
    let line = String::from_utf8(dbgproxy(&scratch.0, &["list"]).stdout).unwrap();
    assert!(
        line.contains(&format!("clients on unix:{}", sock.display())),
        "{line}"
    );
    let pid = s["pid"].as_i64().unwrap() as i32;
    let out = dbgproxy(&scratch.0, &["stop", "--port", &port.to_string()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!running(pid));
    assert!(!sock.exists());
}

#[test]
fn a_stale_unix_socket_is_replaced_and_a_live_one_or_a_file_refused() {
    let scratch = TempDir::new("unix-stale");
    let sock = scratch.0.join("c.sock");
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    let port = free_port_pair();
    let _debugger = FakeDebugger::listen(port);
    let arg = format!("unix:{}", sock.display());
    let mut first = proxy_in(&scratch.0, &["--port", &port.to_string(), "--listen", &arg]);
    first.wait_ready();
    first.wait_log("replacing stale socket");
    let other = free_port_pair();
    let _d2 = FakeDebugger::listen(other);
    let mut second = proxy_in(
        &scratch.0,
        &["--port", &other.to_string(), "--listen", &arg],
    );
    assert_eq!(second.wait_exit().code(), Some(1));
    assert!(
        second.stderr().contains("another process serves it"),
        "{}",
        second.stderr()
    );
    let file = scratch.write("plain", "not a socket");
    let arg = format!("unix:{}", file.display());
    let mut third = proxy_in(
        &scratch.0,
        &["--port", &other.to_string(), "--listen", &arg],
    );
    assert_eq!(third.wait_exit().code(), Some(1));
    assert!(third.stderr().contains("is not a socket"));
    assert!(file.exists(), "never removed");
}
