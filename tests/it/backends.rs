//! The backends' own rules, with scripted debuggers: exit codes, stderr,
//! restarts, stopping a child that will not stop, queued debugger
//! connections, waiting for a first debugger that connects late, and the
//! errors a user sees.

use std::io::Write;
use std::net::{TcpListener, TcpStream};

use crate::util::*;

fn spawn_proxy(port: u16, extra: &[&str], script: &str) -> Proxy {
    let port = port.to_string();
    let mut args = vec!["--backend", "spawn", "--port", &port];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--", "sh", "-c", script]);
    Proxy::start(&args)
}

/// Whether `pid` is gone (not even a zombie).
fn gone(pid: i32) -> bool {
    !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn a_missing_debugger_command_is_one_line_and_exit_1() {
    let mut proxy = Proxy::start(&[
        "--backend",
        "spawn",
        "--port",
        &free_port_pair().to_string(),
        "--",
        "gdbx",
        "-q",
    ]);
    assert_eq!(proxy.wait_exit().code(), Some(1));
    assert_eq!(
        proxy.stderr().lines().last().unwrap_or_default(),
        "error: cannot start debugger \"gdbx\": No such file or directory"
    );
    assert!(proxy.stdout().is_empty(), "a marker without a debugger");
}

#[test]
fn session_mode_exits_with_the_debuggers_failure_and_logs_its_stderr() {
    let port = free_port_pair();
    let mut proxy = spawn_proxy(
        port,
        &[],
        "read line; echo \"got $line\"; echo 'oops on stderr' >&2; exit 3",
    );
    proxy.wait_ready();
    let mut client = Client::connect(port + 1);
    client.send(b"hello\n");
    // Output written just before the exit still reaches the client.
    assert_eq!(client.read_to_end(), b"got hello\n");
    assert_eq!(proxy.wait_exit().code(), Some(1));
    let log = proxy.stderr();
    assert!(log.contains("sh stderr: oops on stderr"), "{log}");
    assert!(log.contains("exited with status 3"), "{log}");
    assert_eq!(proxy.stdout(), MARKER);
}

#[test]
fn session_mode_exits_0_when_the_debugger_exits_0() {
    let port = free_port_pair();
    let mut proxy = spawn_proxy(port, &[], "read line; echo bye");
    proxy.wait_ready();
    let mut client = Client::connect(port + 1);
    client.send(b"quit\n");
    assert_eq!(client.read_to_end(), b"bye\n");
    assert!(proxy.wait_exit().success(), "{}", proxy.stderr());
}

#[test]
fn persistent_mode_restarts_the_debugger_and_keeps_the_client() {
    let port = free_port_pair();
    let mut proxy = spawn_proxy(
        port,
        &["--mode", "persistent"],
        "echo $$; read line; echo \"got $line\"",
    );
    proxy.wait_ready();
    let mut client = Client::connect(port + 1);
    let first = read_pid(&mut client);
    client.send(b"one\n");
    assert_eq!(client.read_n(8), b"got one\n");
    // The first child exited; the proxy starts the next one for the same client.
    let second = read_pid(&mut client);
    assert_ne!(first, second);
    assert!(gone(first), "the first debugger was not reaped");
    client.send(b"two\n");
    assert_eq!(client.read_n(8), b"got two\n");
    proxy.wait_log("debugger session 2");
    proxy.signal(libc::SIGTERM);
    assert!(proxy.wait_exit().success());
    assert_eq!(proxy.stdout(), MARKER);
}

#[test]
fn sigterm_stops_and_reaps_the_debugger() {
    let port = free_port_pair();
    let mut proxy = spawn_proxy(port, &[], "echo $$; exec sleep 1000");
    proxy.wait_ready();
    let mut client = Client::connect(port + 1);
    let pid = read_pid(&mut client);
    proxy.signal(libc::SIGTERM);
    assert!(proxy.wait_exit().success(), "{}", proxy.stderr());
    assert!(
        gone(pid),
        "the debugger outlived the proxy or was left a zombie"
    );
}

#[test]
fn a_debugger_that_ignores_sigterm_is_killed_and_reaped() {
    let port = free_port_pair();
    // An ignored signal stays ignored across exec: sleep will not die of SIGTERM.
    let mut proxy = spawn_proxy(port, &[], "trap '' TERM; echo $$; exec sleep 1000");
    proxy.wait_ready();
    let mut client = Client::connect(port + 1);
    let pid = read_pid(&mut client);
    proxy.signal(libc::SIGINT);
    assert!(proxy.wait_exit().success(), "{}", proxy.stderr());
    assert!(
        proxy.stderr().contains("ignored SIGTERM: killing it"),
        "{}",
        proxy.stderr()
    );
    assert!(gone(pid), "the debugger survived");
}

#[test]
fn a_killed_proxy_takes_its_debugger_with_it() {
    let port = free_port_pair();
    let mut proxy = spawn_proxy(port, &[], "echo $$; exec sleep 1000");
    proxy.wait_ready();
    let mut client = Client::connect(port + 1);
    let pid = read_pid(&mut client);
    proxy.signal(libc::SIGKILL);
    proxy.wait_exit();
    wait_until("the orphaned debugger to die", || !running(pid));
}

// ----- listen -----

fn listen_proxy(port: u16, extra: &[&str]) -> Proxy {
    let port = port.to_string();
    let mut args = vec!["--backend", "listen", "--port", &port];
    args.extend_from_slice(extra);
    let mut proxy = Proxy::start(&args);
    proxy.wait_ready();
    proxy
}

fn debugger_connects(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the debug port");
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s
}

#[test]
fn listen_marks_ready_before_any_debugger_and_queues_a_second_one() {
    let port = free_port_pair();
    let mut proxy = listen_proxy(port, &[]);
    let mut client = Client::connect(port + 1);
    proxy.wait_log("client #1");

    let mut first = debugger_connects(port);
    first.write_all(b"<init 1>").unwrap();
    assert_eq!(client.read_n(8), b"<init 1>");
    let mut second = debugger_connects(port);
    second.write_all(b"<init 2>").unwrap();
    proxy.wait_log("waits for the current session to end");
    client.send(b"to first");
    assert_eq!(read_n(&mut first, 8), b"to first");

    drop(first);
    assert_eq!(client.read_n(8), b"<init 2>", "the queued debugger's turn");
    client.send(b"to second");
    assert_eq!(read_n(&mut second, 9), b"to second");
    assert!(proxy.try_status().is_none());
}

#[test]
fn listen_in_session_mode_exits_after_the_first_debugger() {
    let port = free_port_pair();
    let mut proxy = listen_proxy(port, &["--mode", "session"]);
    let mut client = Client::connect(port + 1);
    proxy.wait_log("client #1");
    let mut debugger = debugger_connects(port);
    debugger.write_all(b"bye").unwrap();
    drop(debugger);
    assert_eq!(client.read_to_end(), b"bye");
    assert!(proxy.wait_exit().success());
}

#[test]
fn listen_port_clashes_name_the_port_and_its_role() {
    let port = free_port_pair();
    let taken = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let mut proxy = Proxy::start(&["--backend", "listen", "--port", &port.to_string()]);
    assert_eq!(proxy.wait_exit().code(), Some(1));
    let last = proxy
        .stderr()
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    assert!(
        last.starts_with(&format!(
            "error: cannot listen on 127.0.0.1:{port} for the debugger: address already in use"
        )),
        "{last}"
    );
    drop(taken);

    let _taken = TcpListener::bind(("127.0.0.1", port + 1)).unwrap();
    let mut proxy = Proxy::start(&["--backend", "listen", "--port", &port.to_string()]);
    assert_eq!(proxy.wait_exit().code(), Some(1));
    let last = proxy
        .stderr()
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    assert!(
        last.starts_with(&format!(
            "error: cannot listen on 127.0.0.1:{} for clients: address already in use",
            port + 1
        )),
        "{last}"
    );
    assert!(proxy.stdout().is_empty());
}

#[test]
fn the_readme_nc_smoke_test_works() {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let nc = crate::util::tools::on_path("nc", "netcat-openbsd");
    let port = free_port_pair();
    let debugger = FakeDebugger::listen(port);
    let mut proxy = Proxy::start(&["--port", &port.to_string()]);
    let mut conn = debugger.accept();
    proxy.wait_ready();
    let mut nc = crate::util::tools::Proc::spawn(
        "nc",
        Command::new(nc)
            .arg("127.0.0.1")
            .arg((port + 1).to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped()),
    );
    nc.child
        .stdin
        .as_mut()
        .unwrap()
        .write_all(b"hello debugger\n")
        .unwrap();
    assert_eq!(read_n(&mut conn, 15), b"hello debugger\n");
    conn.write_all(b"hello nc\n").unwrap();
    let mut got = [0u8; 9];
    nc.child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut got)
        .unwrap();
    assert_eq!(&got, b"hello nc\n");
}

/// Issue #18, item 4: a persistent connect proxy is ready before its
/// debugger exists and waits for it for as long as it runs, past the tries
/// `--retries` would allow a session-mode proxy (100), saying so once at
/// `info`, and once more when the debugger comes. A tiny interval stands
/// in for minutes of waiting.
#[test]
fn a_persistent_proxy_waits_for_its_first_debugger_as_long_as_it_runs() {
    let port = free_port_pair();
    let mut proxy = Proxy::start(&[
        "--port",
        &port.to_string(),
        "--mode",
        "persistent",
        "--retry-interval",
        "2",
    ]);
    proxy.wait_ready();
    let mut client = Client::connect(port + 1);
    client.send(b"sent before the debugger\n");
    proxy.wait_log(&format!(
        "127.0.0.1:{port}: connection refused (attempt 150)"
    ));
    assert!(proxy.try_status().is_none(), "{}", proxy.stderr());

    let debugger = FakeDebugger::listen(port);
    let mut d = debugger.accept();
    assert_eq!(read_n(&mut d, 25), b"sent before the debugger\n");
    proxy.wait_log("connected after");
    let log = proxy.stderr();
    let waiting = format!(
        "INFO  waiting for the debugger at 127.0.0.1:{port} (connection refused); clients may connect now\n"
    );
    assert_eq!(log.matches(&waiting).count(), 1, "{log}");
    assert_eq!(log.matches("INFO  debugger at").count(), 1, "{log}");
    assert!(
        log.contains(&format!(
            "INFO  debugger at 127.0.0.1:{port} connected after "
        )),
        "{log}"
    );
}

/// In session mode the first debugger is waited for 100 tries (30 s at the
/// default interval) and the proxy gives up without a marker; in persistent
/// mode an explicit `--retries` is a limit too, after the marker.
#[test]
fn the_retry_limit_holds_in_session_mode_and_when_given() {
    let port = free_port_pair();
    let mut proxy = Proxy::start(&["--port", &port.to_string(), "--retry-interval", "1"]);
    assert_eq!(proxy.wait_exit().code(), Some(1));
    let log = proxy.stderr();
    assert!(
        log.contains("clients may connect now (giving up after 100 tries)"),
        "{log}"
    );
    assert!(
        log.lines().last().unwrap_or_default().starts_with(&format!(
            "error: debugger at 127.0.0.1:{port} not reachable after 100 tries ("
        )),
        "{log}"
    );
    assert!(proxy.stdout().is_empty(), "a marker without a debugger");

    let mut proxy = Proxy::start(&[
        "--port",
        &port.to_string(),
        "--mode",
        "persistent",
        "--retries",
        "5",
        "--retry-interval",
        "1",
    ]);
    assert_eq!(proxy.wait_exit().code(), Some(1));
    let log = proxy.stderr();
    assert!(
        log.contains(&format!(
            "error: debugger at 127.0.0.1:{port} not reachable after 5 tries ("
        )),
        "{log}"
    );
    assert_eq!(proxy.stdout(), MARKER, "ready before the debugger");
}
