//! The proxy core against a scripted TCP debugger: marker, fan-out, backlog,
//! lifecycle modes, signals and the errors a user sees (slow clients and
//! debuggers are in `no_loss`).

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::thread;

use crate::util::*;

fn port_args(port: u16) -> Vec<String> {
    vec![
        "--port".into(),
        port.to_string(),
        "--retry-interval".into(),
        "20".into(),
    ]
}

fn start(port: u16, extra: &[&str]) -> Proxy {
    let mut args = port_args(port);
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Proxy::start(&args)
}

#[test]
fn marker_only_after_the_debugger_is_up_and_early_input_is_kept() {
    let port = free_port_pair();
    let mut proxy = start(port, &[]);
    // The client port is bound before the debugger is reachable...
    wait_until("the client port to accept", || {
        TcpStream::connect(("127.0.0.1", port + 1)).is_ok()
    });
    let mut client = Client::connect(port + 1);
    client.send(b"early bird");
    proxy.wait_log("client #2");
    // ...but the marker waits for the debugger.
    assert!(
        proxy.stdout().is_empty(),
        "marker before the debugger was up"
    );
    assert!(proxy.try_status().is_none());

    let debugger = FakeDebugger::listen(port);
    let mut conn = debugger.accept();
    proxy.wait_ready();
    assert_eq!(
        read_n(&mut conn, 10),
        b"early bird",
        "input held for the debugger"
    );
    conn.write_all(b"hello").unwrap();
    assert_eq!(client.read_n(5), b"hello");
    drop(conn);
    assert_eq!(client.read_to_end(), b"");
    assert!(proxy.wait_exit().success());
    assert_eq!(
        proxy.stdout(),
        MARKER,
        "stdout is the marker and nothing else"
    );
}

#[test]
fn three_clients_receive_the_same_stream_and_all_reach_the_debugger() {
    const LEN: usize = 4 << 20;
    let port = free_port_pair();
    let debugger = FakeDebugger::listen(port);
    let mut proxy = start(port, &[]);
    let mut conn = debugger.accept();
    proxy.wait_ready();

    let mut clients: Vec<Client> = (0..3).map(|_| Client::connect(port + 1)).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        c.send(format!("hello{i}").as_bytes());
    }
    // All three greetings arrived: all three clients are registered.
    let mut got = read_n(&mut conn, 18);
    got.sort();
    let mut want = b"hello0hello1hello2".to_vec();
    want.sort();
    assert_eq!(got, want);

    let data = pattern(LEN, 7);
    let want = checksum(&data);
    let readers: Vec<_> = clients
        .into_iter()
        .map(|mut c| thread::spawn(move || checksum(&c.read_n(LEN))))
        .collect();
    conn.write_all(&data).unwrap();
    for r in readers {
        assert_eq!(r.join().unwrap(), want, "a client's stream differs");
    }
}

#[test]
fn a_client_leaving_by_fin_rst_or_half_close_does_not_disturb_the_others() {
    let port = free_port_pair();
    let debugger = FakeDebugger::listen(port);
    let mut proxy = start(port, &[]);
    let mut conn = debugger.accept();
    proxy.wait_ready();

    let mut stay = Client::connect(port + 1);
    let mut fin = Client::connect(port + 1);
    let mut rst = Client::connect(port + 1);
    let mut half = Client::connect(port + 1);
    for c in [&mut stay, &mut fin, &mut rst, &mut half] {
        c.send(b"x");
    }
    read_n(&mut conn, 4);
    conn.write_all(b"first").unwrap();
    for c in [&mut stay, &mut fin, &mut rst, &mut half] {
        assert_eq!(c.read_n(5), b"first");
    }

    conn.write_all(&pattern(256 << 10, 1)).unwrap(); // in flight while they leave
    drop(fin);
    rst.reset();
    half.half_close();
    // A half-closed client still gets what was queued for it, then the end.
    let half_reader = thread::spawn(move || half.read_to_end());
    wait_until("three clients to be gone", || {
        proxy.stderr().matches(" left after ").count() >= 3
    });

    assert_eq!(
        checksum(&stay.read_n(256 << 10)),
        checksum(&pattern(256 << 10, 1))
    );
    conn.write_all(b"still here").unwrap();
    assert_eq!(stay.read_n(10), b"still here");
    stay.send(b"me too");
    assert_eq!(read_n(&mut conn, 6), b"me too");
    assert!(proxy.try_status().is_none(), "the proxy died");
    let tail = half_reader.join().unwrap();
    assert_eq!(tail, pattern(256 << 10, 1)[..tail.len()]);
}

#[test]
fn persistent_mode_keeps_clients_and_the_backlog_across_debugger_restarts() {
    let port = free_port_pair();
    let debugger = FakeDebugger::listen(port);
    let mut proxy = start(port, &["--mode", "persistent"]);
    let mut conn = debugger.accept();
    proxy.wait_ready();

    // Session 1, nobody connected: its last words are kept for the next client.
    conn.write_all(b"breakpoint hit while you were away")
        .unwrap();
    drop(conn);
    proxy.wait_log("disconnected");
    let mut client = Client::connect(port + 1);
    assert_eq!(client.read_n(34), b"breakpoint hit while you were away");

    // Session 2: the proxy reconnects; the same client talks to the new debugger.
    let mut conn = debugger.accept();
    proxy.wait_log("debugger session 2");
    conn.write_all(b"session two").unwrap();
    assert_eq!(client.read_n(11), b"session two");
    client.send(b"step");
    assert_eq!(read_n(&mut conn, 4), b"step");

    // Zero clients is fine too: the proxy keeps running.
    drop(client);
    proxy.wait_log("left after");
    conn.write_all(b"later").unwrap();
    drop(conn);
    proxy.wait_log("session 2 lasted");
    let mut back = Client::connect(port + 1);
    assert_eq!(back.read_n(5), b"later");

    assert!(proxy.try_status().is_none());
    proxy.signal(libc::SIGTERM);
    assert!(proxy.wait_exit().success());
    assert_eq!(
        proxy.stdout(),
        MARKER,
        "a reconnect must not print the marker again"
    );
}

#[test]
fn backlog_past_its_bound_keeps_the_newest_bytes_and_says_so() {
    let port = free_port_pair();
    let debugger = FakeDebugger::listen(port);
    let mut proxy = start(port, &["--mode", "persistent", "--backlog-bytes", "1000"]);
    let mut conn = debugger.accept();
    proxy.wait_ready();
    let data = pattern(3000, 3);
    conn.write_all(&data).unwrap();
    drop(conn);
    proxy.wait_log("disconnected");
    assert!(
        proxy.stderr().contains("dropping the oldest"),
        "{}",
        proxy.stderr()
    );
    let mut client = Client::connect(port + 1);
    assert_eq!(client.read_n(1000), &data[2000..]);
    proxy.wait_log("delivering 1000 bytes");
}

#[test]
fn session_mode_flushes_to_clients_and_exits_0_when_the_debugger_closes() {
    let port = free_port_pair();
    let debugger = FakeDebugger::listen(port);
    let mut proxy = start(port, &[]);
    let mut conn = debugger.accept();
    proxy.wait_ready();
    let mut client = Client::connect(port + 1);
    client.send(b"x");
    read_n(&mut conn, 1);
    let data = pattern(1 << 20, 5);
    conn.write_all(&data).unwrap();
    drop(conn);
    assert_eq!(checksum(&client.read_to_end()), checksum(&data));
    assert!(proxy.wait_exit().success(), "{}", proxy.stderr());
}

#[test]
fn max_clients_closes_the_extra_client_at_once() {
    let port = free_port_pair();
    let debugger = FakeDebugger::listen(port);
    let mut proxy = start(port, &["--max-clients", "1"]);
    let mut conn = debugger.accept();
    proxy.wait_ready();
    let mut first = Client::connect(port + 1);
    first.send(b"1");
    read_n(&mut conn, 1);
    let mut extra = Client::connect(port + 1);
    assert_eq!(extra.read_to_end(), b"", "the extra client got data");
    proxy.wait_log("--max-clients");
    conn.write_all(b"ok").unwrap();
    assert_eq!(first.read_n(2), b"ok");
}

#[test]
fn sigterm_flushes_queued_output_then_exits_0() {
    const LEN: usize = 16 << 20;
    let port = free_port_pair();
    let debugger = FakeDebugger::listen(port);
    let mut proxy = start(
        port,
        &[
            "--mode",
            "persistent",
            "--client-buffer",
            "33554432",
            "--drain-timeout",
            "10000",
        ],
    );
    let mut conn = debugger.accept();
    proxy.wait_ready();
    let mut client = Client::connect(port + 1);
    client.send(b"x");
    read_n(&mut conn, 1);
    let data = pattern(LEN, 13);
    // The client does not read yet: the proxy queues what the kernel cannot hold.
    conn.write_all(&data).unwrap();
    drop(conn);
    proxy.wait_log("disconnected");
    proxy.signal(libc::SIGTERM);
    assert_eq!(checksum(&client.read_to_end()), checksum(&data));
    assert!(proxy.wait_exit().success(), "{}", proxy.stderr());
    proxy.wait_log("SIGTERM: shutting down");
}

#[test]
fn a_second_signal_stops_at_once_even_with_output_queued() {
    let port = free_port_pair();
    let debugger = FakeDebugger::listen(port);
    let mut proxy = start(
        port,
        &[
            "--mode",
            "persistent",
            "--drain-timeout",
            "600000",
            "--client-buffer",
            "67108864",
        ],
    );
    let mut conn = debugger.accept();
    proxy.wait_ready();
    let client = Client::connect(port + 1);
    proxy.wait_log("client #1");
    // The client never reads, and 32 MiB is far more than the kernel's
    // buffers hold: the drain could only end by its (10-minute) deadline.
    conn.write_all(&pattern(32 << 20, 17)).unwrap();
    drop(conn);
    proxy.wait_log("disconnected");
    proxy.signal(libc::SIGTERM);
    proxy.wait_log("SIGTERM: shutting down");
    proxy.signal(libc::SIGTERM);
    assert!(proxy.wait_exit().success(), "{}", proxy.stderr());
    assert!(proxy.stderr().contains("SIGTERM again: stopping now"));
    drop(client);
}

#[test]
fn idle_timeout_ends_a_proxy_nobody_uses() {
    let port = free_port_pair();
    let debugger = FakeDebugger::listen(port);
    let mut proxy = start(port, &["--mode", "persistent", "--idle-timeout", "1"]);
    let conn = debugger.accept();
    proxy.wait_ready();
    drop(debugger); // the next debugger never comes
    drop(conn);
    assert!(proxy.wait_exit().success());
    assert!(
        proxy.stderr().contains("--idle-timeout"),
        "{}",
        proxy.stderr()
    );
}

#[test]
fn client_port_in_use_is_one_clear_line_and_exit_1() {
    let port = free_port_pair();
    let _taken = TcpListener::bind(("127.0.0.1", port + 1)).unwrap();
    let mut proxy = Proxy::start(&["--port", &port.to_string()]);
    let status = proxy.wait_exit();
    assert_eq!(status.code(), Some(1));
    let want = format!(
        "error: cannot listen on 127.0.0.1:{} for clients: address already in use (is another dbgproxy running for port {port}?)\n",
        port + 1
    );
    assert!(proxy.stderr().ends_with(&want), "{}", proxy.stderr());
    assert!(!proxy.stderr().contains("panicked"));
    assert!(proxy.stdout().is_empty());
}

#[test]
fn an_unreachable_debugger_is_reported_after_the_retries() {
    let port = free_port_pair();
    let mut proxy = start(port, &["--retries", "5"]);
    assert_eq!(proxy.wait_exit().code(), Some(1));
    let err = proxy.stderr();
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(&format!(
            "error: debugger at 127.0.0.1:{port} not reachable after 5 tries ("
        )),
        "{err}"
    );
    assert!(proxy.stdout().is_empty(), "a marker without a debugger");
}

#[test]
fn usage_errors_exit_2() {
    let mut proxy = Proxy::start(&["--backend", "connect"]);
    assert_eq!(proxy.wait_exit().code(), Some(2));
    assert!(proxy.stderr().contains("--port"));
    let mut proxy = Proxy::start(&["--port", "70000"]);
    assert_eq!(proxy.wait_exit().code(), Some(2));
}

#[test]
fn byte_sizes_are_shown_and_taken_in_binary_units() {
    let help = Proxy::command().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    let default_of = |flag: &str| {
        let at = help
            .find(flag)
            .unwrap_or_else(|| panic!("{flag} in\n{help}"));
        let rest = &help[at..];
        rest[rest.find("[default: ").expect("a default")..]
            .split(']')
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(default_of("--max-message"), "[default: 64MiB");
    assert_eq!(default_of("--client-buffer"), "[default: 8MiB");
    assert_eq!(default_of("--backlog-bytes"), "[default: 1MiB");

    let port = free_port_pair();
    let debugger = FakeDebugger::listen(port);
    let mut proxy = start(
        port,
        &[
            "--max-message",
            "64MiB",
            "--client-buffer",
            "1KiB",
            "--backlog-bytes",
            "65536",
            "--client-input-total",
            "2GiB",
        ],
    );
    let _conn = debugger.accept();
    proxy.wait_ready();
    let mut proxy = Proxy::start(&["--port", "1", "--max-message", "64 parsecs"]);
    assert_eq!(proxy.wait_exit().code(), Some(2));
    assert!(
        proxy
            .stderr()
            .contains("is not a size: give bytes (4096) or KiB, MiB, GiB"),
        "{}",
        proxy.stderr()
    );
}

#[test]
fn running_out_of_descriptors_refuses_with_a_reserve_descriptor_and_recovers() {
    use std::os::unix::process::CommandExt;
    let port = free_port_pair();
    let debugger = FakeDebugger::listen(port);
    let mut cmd = Proxy::command();
    cmd.args(port_args(port));
    // SAFETY: setrlimit is async-signal-safe; nothing else runs in the child.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 16,
                rlim_max: 16,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut proxy = Proxy::spawn(cmd);
    let mut conn = debugger.accept();
    proxy.wait_ready();

    // Far more clients than descriptors: the proxy takes what it can, and
    // refuses the rest through its reserve descriptor instead of pausing,
    // spinning or dying, so the kernel's queue never holds abandoned ones.
    let crowd: Vec<TcpStream> = (0..200)
        .map(|_| TcpStream::connect(("127.0.0.1", port + 1)).unwrap())
        .collect();
    proxy.wait_log("out of file descriptors: refusing new clients");
    drop(crowd);
    // Only once the clients it took have gone are descriptors free again: a
    // client that comes before the proxy has seen them go is refused too.
    proxy.wait_log(", 0 connected)");
    let mut late = Client::connect(port + 1);
    late.send(b"ping");
    assert_eq!(read_n(&mut conn, 4), b"ping");
    conn.write_all(b"pong").unwrap();
    assert_eq!(late.read_n(4), b"pong");
    assert!(proxy.try_status().is_none());
    let log = proxy.stderr();
    assert!(log.contains("descriptors available again"), "{log}");
    assert!(
        !log.contains("pausing accepts"),
        "fell back to pausing:\n{log}"
    );
}

#[test]
fn the_exit_line_says_who_was_there_when_the_shutdown_began() {
    let port = free_port_pair();
    let debugger = FakeDebugger::listen(port);
    let mut proxy = start(port, &[]);
    let _conn = debugger.accept();
    proxy.wait_ready();
    let _a = Client::connect(port + 1);
    let _b = Client::connect(port + 1);
    proxy.wait_log("client #2");
    let out = crate::util::cli::dbgproxy(runtime_dir(), &["stop", "--port", &port.to_string()]);
    assert!(out.status.success(), "{out:?}");
    assert!(proxy.wait_exit().success());
    let log = proxy.stderr();
    assert!(
        log.contains(" INFO  stop request (dbgproxy stop): shutting down (another stop, or SIGTERM, ends it at once)"),
        "{log}"
    );
    let exiting = log
        .lines()
        .find(|l| l.contains("exiting: "))
        .unwrap_or_default();
    assert!(
        exiting.contains(
            "exiting: debugger connected, 2 client(s) at shutdown; 1 debugger session(s)"
        ),
        "{log}"
    );
}

#[test]
fn session_mode_says_its_end_in_one_line() {
    let port = free_port_pair();
    let debugger = FakeDebugger::listen(port);
    let mut proxy = start(port, &[]);
    let conn = debugger.accept();
    proxy.wait_ready();
    let mut client = Client::connect(port + 1);
    proxy.wait_log("client #1");
    drop(conn);
    assert_eq!(client.read_to_end(), b"");
    assert!(proxy.wait_exit().success());
    let log = proxy.stderr();
    let info: Vec<&str> = log.lines().filter(|l| l.contains(" INFO ")).collect();
    let ends: Vec<&&str> = info
        .iter()
        .filter(|l| l.contains("disconnected") || l.contains("session is over"))
        .collect();
    assert_eq!(ends.len(), 1, "{log}");
    assert!(
        ends[0].contains("disconnected: end of its output (session 1 lasted ")
            && ends[0].ends_with("s); session mode: shutting down"),
        "{log}"
    );
    assert!(
        info.last()
            .unwrap()
            .contains("exiting: no debugger, 1 client(s) at shutdown;"),
        "{log}"
    );
}

#[test]
fn double_v_traces_the_proxy_not_mios_registrations() {
    for (flag, mio_lines) in [("-vv", false), ("-vvv", true)] {
        let port = free_port_pair();
        let debugger = FakeDebugger::listen(port);
        let mut cmd = Proxy::command();
        cmd.args(port_args(port)).arg(flag).env_remove("RUST_LOG");
        let mut proxy = Proxy::spawn(cmd);
        let mut conn = debugger.accept();
        proxy.wait_ready();
        let mut client = Client::connect(port + 1);
        client.send(b"ping");
        assert_eq!(read_n(&mut conn, 4), b"ping");
        proxy.wait_log("4 bytes for the debugger");
        let log = proxy.stderr();
        assert_eq!(
            log.contains("registering event source"),
            mio_lines,
            "{flag}: {log}"
        );
    }
}
