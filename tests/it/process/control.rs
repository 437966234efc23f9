//! `dbgproxy status`, `list` and `stop` against running proxies, through the
//! control socket. Each test has its own runtime directory, so `list` sees
//! exactly the proxies the test started.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::Path;

use crate::util::cli::*;
use crate::util::tools::TempDir;
use crate::util::*;
use serde_json::Value;

/// Two clients, each having sent `hello` (5 bytes), known to be registered.
fn two_clients(proxy: &mut Proxy, port: u16) -> (Client, Client) {
    let mut a = Client::connect(port + 1);
    let mut b = Client::connect(port + 1);
    a.send(b"hello");
    b.send(b"hello");
    proxy.wait_log("client #2");
    (a, b)
}

/// `list` shows the proxy with its two clients; `stop` ends it gracefully.
fn list_then_stop(runtime: &Path, proxy: &mut Proxy, port: u16, kind: &str) {
    let out = dbgproxy(runtime, &["list", "--json"]);
    let all: Value = serde_json::from_slice(&out.stdout).unwrap();
    let me = all
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["debug_port"] == port)
        .expect("listed");
    assert_eq!(me["backend"]["kind"], kind);
    assert_eq!(me["clients"].as_array().unwrap().len(), 2);
    let line = String::from_utf8(dbgproxy(runtime, &["list"]).stdout).unwrap();
    assert!(
        line.contains(&format!(
            "port {port}  clients on 127.0.0.1:{}  {kind} ",
            port + 1
        )) && line.contains("2 client(s)"),
        "{line}"
    );
    let out = dbgproxy(runtime, &["stop", "--port", &port.to_string()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(proxy.wait_exit().success(), "stop is a graceful shutdown");
}

fn check_common(s: &Value, proxy: &Proxy, port: u16, kind: &str, state: &str, clients: &[&Client]) {
    assert_eq!(s["pid"], proxy.pid(), "{s}");
    assert_eq!(s["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(s["debug_port"], port);
    assert_eq!(s["client_addr"], format!("127.0.0.1:{}", port + 1));
    assert_eq!(s["backend"]["kind"], kind, "{s}");
    assert_eq!(s["backend"]["state"], state, "{s}");
    assert!(s["uptime_secs"].is_u64());
    let listed = s["clients"].as_array().expect("a client list");
    assert_eq!(listed.len(), clients.len(), "{s}");
    for (row, client) in listed.iter().zip(clients) {
        assert_eq!(
            row["peer"],
            client.stream.local_addr().unwrap().to_string(),
            "{s}"
        );
        assert!(row["id"].is_u64() && row["connected_at"].is_u64() && row["queued_bytes"].is_u64());
        assert!(row["bytes_out"].is_u64());
    }
    for counter in [
        "bytes_from_debugger",
        "bytes_to_debugger",
        "backlog_bytes_dropped",
        "clients_dropped_slow",
        "debugger_sessions",
    ] {
        assert!(s["counters"][counter].is_u64(), "counter {counter}: {s}");
    }
    // The session table: one row, which the top-level fields describe.
    let sessions = s["sessions"].as_array().expect("a session list");
    assert_eq!(sessions.len(), 1, "{s}");
    let row = &sessions[0];
    assert_eq!(row["id"], 0, "{s}");
    assert_eq!(row["name"], "", "{s}");
    assert_eq!(row["debugger"], s["backend"], "{s}");
    let ids: Vec<&Value> = listed.iter().map(|c| &c["id"]).collect();
    let members: Vec<&Value> = row["clients"]
        .as_array()
        .expect("its clients")
        .iter()
        .collect();
    assert_eq!(members, ids, "{s}");
    for counter in [
        "bytes_from_debugger",
        "bytes_to_debugger",
        "debugger_sessions",
    ] {
        assert_eq!(row["counters"][counter], s["counters"][counter], "{s}");
    }
}

#[test]
fn status_of_a_connect_proxy_with_two_clients() {
    let runtime = TempDir::new("ctl-connect");
    let port = free_port_pair();
    let debugger = FakeDebugger::listen(port);
    let mut proxy = proxy_in(
        &runtime.0,
        &["--backend", "v8", "--port", &port.to_string()],
    );
    let mut conn = debugger.accept();
    proxy.wait_ready();
    let (a, b) = two_clients(&mut proxy, port);
    // One 23-byte V8 message from the debugger shows in the counters.
    conn.write_all(b"Content-Length: 2\r\n\r\n{}").unwrap();
    wait_until("the message to be counted", || {
        status(&runtime.0, port)["counters"]["bytes_from_debugger"] == 23
    });
    let s = status(&runtime.0, port);
    check_common(&s, &proxy, port, "connect", "connected", &[&a, &b]);
    assert_eq!(s["backend"]["address"], format!("127.0.0.1:{port}"));
    assert_eq!(s["protocol"], "v8");
    assert_eq!(s["mode"], "session");
    assert_eq!(s["counters"]["debugger_sessions"], 1);
    assert_eq!(s["clients"][0]["bytes_in"], 5);
    list_then_stop(&runtime.0, &mut proxy, port, "connect");
}

#[test]
fn status_of_a_listen_proxy_waiting_then_connected() {
    let runtime = TempDir::new("ctl-listen");
    let port = free_port_pair();
    let mut proxy = proxy_in(
        &runtime.0,
        &["--backend", "listen", "--port", &port.to_string()],
    );
    proxy.wait_ready();
    let (a, b) = two_clients(&mut proxy, port);
    let s = status(&runtime.0, port);
    check_common(&s, &proxy, port, "listen", "waiting", &[&a, &b]);
    assert_eq!(s["mode"], "persistent");
    let mut debugger = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    proxy.wait_log("debugger session 1");
    let s = status(&runtime.0, port);
    assert_eq!(s["backend"]["state"], "connected");
    // The clients' 10 bytes were held for the debugger and went to it.
    assert_eq!(read_n(&mut debugger, 10), b"hellohello");
    assert_eq!(
        status(&runtime.0, port)["counters"]["bytes_to_debugger"],
        10
    );
    list_then_stop(&runtime.0, &mut proxy, port, "listen");
}

#[test]
fn status_of_a_spawn_proxy_names_the_child() {
    let runtime = TempDir::new("ctl-spawn");
    let port = free_port_pair();
    let mut proxy = proxy_in(
        &runtime.0,
        &[
            "--backend",
            "spawn",
            "--port",
            &port.to_string(),
            "--",
            "sh",
            "-c",
            "echo $$; exec cat",
        ],
    );
    proxy.wait_ready();
    let (mut a, b) = two_clients(&mut proxy, port);
    let child = read_pid(&mut a) as u64;
    let s = status(&runtime.0, port);
    check_common(&s, &proxy, port, "spawn", "connected", &[&a, &b]);
    assert_eq!(s["backend"]["pid"], child);
    assert_eq!(
        s["backend"]["command"],
        serde_json::json!(["sh", "-c", "echo $$; exec cat"])
    );
    assert!(s["backend"]["address"].is_null());
    list_then_stop(&runtime.0, &mut proxy, port, "spawn");
}

#[test]
fn list_shows_every_running_proxy_and_stop_ends_one() {
    let runtime = TempDir::new("ctl-list");
    let (p1, p2) = (free_port_pair(), free_port_pair());
    let _d1 = FakeDebugger::listen(p1);
    let _d2 = FakeDebugger::listen(p2);
    let mut one = proxy_in(&runtime.0, &["--port", &p1.to_string()]);
    let mut two = proxy_in(
        &runtime.0,
        &[
            "--backend",
            "dap",
            "--port",
            &p2.to_string(),
            "--mode",
            "persistent",
        ],
    );
    one.wait_ready();
    two.wait_ready();

    let out = dbgproxy(&runtime.0, &["list", "--json"]);
    let all: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut ports: Vec<u64> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["debug_port"].as_u64().unwrap())
        .collect();
    ports.sort();
    let mut want = vec![p1 as u64, p2 as u64];
    want.sort();
    assert_eq!(ports, want);
    let text = String::from_utf8(dbgproxy(&runtime.0, &["list"]).stdout).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(
        text.contains(&format!(
            "port {p2}  clients on 127.0.0.1:{}  connect dap (connected)",
            p2 + 1
        )),
        "{text}"
    );

    let out = dbgproxy(&runtime.0, &["stop", "--port", &p1.to_string()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        one.wait_exit().code(),
        Some(0),
        "stop is a graceful shutdown"
    );
    assert!(
        one.stderr()
            .contains("stop request (dbgproxy stop): shutting down")
    );
    assert!(
        !runtime.0.join(format!("dbgproxy/{}.sock", p1 + 1)).exists(),
        "the socket goes with the proxy"
    );
    let out = dbgproxy(&runtime.0, &["list", "--json"]);
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(two.try_status().is_none());

    let out = dbgproxy(&runtime.0, &["status", "--port", &p1.to_string()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .starts_with("error: no dbgproxy of yours serves clients on port")
    );
}

#[test]
fn the_socket_is_private_and_a_stale_one_is_replaced() {
    let runtime = TempDir::new("ctl-stale");
    let port = free_port_pair();
    let dir = runtime.0.join("dbgproxy");
    std::fs::create_dir(&dir).unwrap();
    // What a crashed proxy leaves: a socket file nobody accepts on.
    drop(std::os::unix::net::UnixListener::bind(dir.join(format!("{}.sock", port + 1))).unwrap());
    let _debugger = FakeDebugger::listen(port);
    let mut proxy = proxy_in(&runtime.0, &["--port", &port.to_string()]);
    proxy.wait_ready();
    proxy.wait_log("replacing stale control socket");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join(format!("{}.sock", port + 1))), 0o600);
    assert_eq!(status(&runtime.0, port)["pid"], proxy.pid());
}

#[test]
fn misbehaving_control_clients_do_not_hurt_the_proxy() {
    let runtime = TempDir::new("ctl-bad");
    let port = free_port_pair();
    let debugger = FakeDebugger::listen(port);
    let mut proxy = proxy_in(&runtime.0, &["--port", &port.to_string()]);
    let mut conn = debugger.accept();
    proxy.wait_ready();
    let socket = runtime.0.join(format!("dbgproxy/{}.sock", port + 1));
    let _silent: Vec<UnixStream> = (0..3)
        .map(|_| UnixStream::connect(&socket).unwrap())
        .collect();
    let mut flood = UnixStream::connect(&socket).unwrap();
    let _ = flood.write_all(&[b'x'; 10_000]);
    let mut odd = UnixStream::connect(&socket).unwrap();
    odd.write_all(b"reboot\n").unwrap();
    let mut reply = String::new();
    odd.read_to_string(&mut reply).unwrap();
    assert!(reply.contains("unknown request"), "{reply}");

    // Status still answers, and the proxy still proxies.
    assert_eq!(status(&runtime.0, port)["pid"], proxy.pid());
    let mut client = Client::connect(port + 1);
    client.send(b"ping");
    assert_eq!(read_n(&mut conn, 4), b"ping");
}

#[test]
fn proxies_started_by_tests_keep_out_of_the_users_runtime_directory() {
    // What dbgproxy would use with this process's environment: the user's own.
    let users = dbgproxy::control::runtime_dir();
    // A port whose socket name is free there: the user's directory may hold
    // stale sockets of other runs, which are not this test's doing.
    let (port, name) = std::iter::repeat_with(free_port_pair)
        .map(|p| (p, format!("{}.sock", p + 1)))
        .find(|(_, name)| !users.join(name).exists())
        .expect("a free port pair");
    let _debugger = FakeDebugger::listen(port);
    let mut proxy = Proxy::start(&["--port", &port.to_string()]);
    proxy.wait_ready();
    assert!(
        runtime_dir().join("dbgproxy").join(&name).exists(),
        "the proxy's socket is in the tests' runtime directory"
    );
    assert!(
        !users.join(&name).exists(),
        "a test proxy put its socket in {}",
        users.display()
    );
    // Killed outright, as many tests do: what it leaves is the tests' own.
    proxy.signal(libc::SIGKILL);
    proxy.wait_exit();
    assert!(!users.join(&name).exists());
}

/// What a proxy killed outright leaves in `runtime`: its socket, nobody on it.
fn dead_socket(runtime: &Path, client_port: u16) -> std::path::PathBuf {
    let dir = runtime.join("dbgproxy");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{client_port}.sock"));
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    path
}

#[test]
fn status_and_list_say_stale_and_remove_a_dead_socket() {
    let runtime = TempDir::new("ctl-dead");
    let port = free_port_pair();
    let socket = dead_socket(&runtime.0, port + 1);
    let out = dbgproxy(&runtime.0, &["status", "--port", &port.to_string()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim_end(),
        format!(
            "error: no dbgproxy serves clients on port {}: its control socket {} was stale (no process), and is removed",
            port + 1,
            socket.display()
        )
    );
    assert!(!socket.exists());

    // `list` next to a live proxy: the live one listed, the dead one removed.
    let other = free_port_pair();
    let socket = dead_socket(&runtime.0, other + 1);
    let _debugger = FakeDebugger::listen(port);
    let mut proxy = proxy_in(&runtime.0, &["--port", &port.to_string()]);
    proxy.wait_ready();
    let out = dbgproxy(&runtime.0, &["list"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with(&format!("port {port} ")), "{text}");
    assert_eq!(text.lines().count(), 1, "{text}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim_end(),
        format!("{}: stale (no process), removed", socket.display())
    );
    assert!(!socket.exists());
    assert!(!err.contains("os error"), "{err}");
}

#[test]
fn status_given_the_client_port_suggests_the_debug_port() {
    let runtime = TempDir::new("ctl-hint");
    let port = free_port_pair();
    let _debugger = FakeDebugger::listen(port);
    let mut proxy = proxy_in(&runtime.0, &["--port", &port.to_string()]);
    proxy.wait_ready();
    for command in ["status", "stop"] {
        let out = dbgproxy(&runtime.0, &[command, "--port", &(port + 1).to_string()]);
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.trim_end().ends_with(&format!(
                "{} is the client port of the dbgproxy for debug port {port}: try --port {port}",
                port + 1
            )),
            "{command}: {err}"
        );
    }
    assert!(
        proxy.try_status().is_none(),
        "stop with the wrong port stopped it"
    );
}
