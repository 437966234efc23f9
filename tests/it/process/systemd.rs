//! Running under systemd: the unit files verify, socket activation hands the
//! proxy its listeners (for real, through systemd-socket-activate), and
//! readiness reaches NOTIFY_SOCKET.

use std::io::Write;
use std::net::TcpStream;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::Path;
use std::process::Command;

use crate::util::tools::{TempDir, on_path};
use crate::util::*;

#[test]
fn every_unit_file_passes_systemd_analyze_verify() {
    let analyze = on_path("systemd-analyze", "systemd");
    let dir = TempDir::new("units");
    let units = Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd");
    // verify checks that ExecStart's program exists: point it at the build.
    let binary = env!("CARGO_BIN_EXE_dbgproxy");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&units).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !(name.ends_with(".service") || name.ends_with(".socket")) {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("/usr/local/bin/dbgproxy", binary);
        // Templates are verified as instances.
        let instance = match name.as_str() {
            "dbgproxy@.service" => "dbgproxy@5858.service".to_string(),
            other => other.replace("@.", "@5859."),
        };
        dir.write(&instance, &text);
        names.push(instance);
    }
    assert!(names.len() >= 3, "unit files missing: {names:?}");
    let out = Command::new(analyze)
        .arg("verify")
        .arg("--man=no")
        .args(names.iter().map(|n| dir.0.join(n)))
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "systemd-analyze verify:\n{said}"
    );
}

#[test]
fn socket_activation_passes_the_client_listener() {
    let activate = on_path("systemd-socket-activate", "systemd");
    let port = free_port_pair();
    let other = free_port_pair(); // the passed socket's port, deliberately not port + 1
    let debugger = FakeDebugger::listen(port);
    let mut cmd = Command::new(activate);
    cmd.arg("-l")
        .arg(format!("127.0.0.1:{other}"))
        .arg(format!("-EXDG_RUNTIME_DIR={}", runtime_dir().display()))
        .arg(env!("CARGO_BIN_EXE_dbgproxy"))
        .args(["--port", &port.to_string()]);
    let mut proxy = Proxy::spawn(cmd);
    wait_until("the activation socket", || {
        TcpStream::connect(("127.0.0.1", other)).is_ok()
    });
    // That probe started the proxy; it took the socket systemd passed.
    let mut conn = debugger.accept();
    proxy.wait_ready();
    proxy.wait_log("using the client socket passed by systemd");
    assert!(
        TcpStream::connect(("127.0.0.1", port + 1)).is_err(),
        "it bound its own port too"
    );
    let mut client = Client::connect(other);
    client.send(b"through the passed fd");
    assert_eq!(read_n(&mut conn, 21), b"through the passed fd");
}

#[test]
fn socket_activation_passes_a_unix_client_socket() {
    let activate = on_path("systemd-socket-activate", "systemd");
    let dir = TempDir::new("activate-unix");
    let sock = dir.0.join("clients.sock");
    let port = free_port_pair();
    let debugger = FakeDebugger::listen(port);
    let mut cmd = Command::new(activate);
    // systemd-socket-activate passes on only the variables named with -E.
    cmd.arg("-l")
        .arg(&sock)
        .arg("--fdname=clients-unix")
        .arg(format!("-EXDG_RUNTIME_DIR={}", dir.0.display()))
        .arg(env!("CARGO_BIN_EXE_dbgproxy"))
        .args(["--port", &port.to_string()]);
    let mut proxy = Proxy::spawn(cmd);
    wait_until("the activation socket", || sock.exists());
    // Connecting starts the proxy, which takes the Unix socket as its only listener.
    let mut client = UnixStream::connect(&sock).unwrap();
    let mut conn = debugger.accept();
    proxy.wait_ready();
    proxy.wait_log(&format!(
        "using the client socket passed by systemd: unix:{}",
        sock.display()
    ));
    assert!(
        TcpStream::connect(("127.0.0.1", port + 1)).is_err(),
        "it bound a TCP port too"
    );
    client.write_all(b"through the passed unix fd").unwrap();
    assert_eq!(read_n(&mut conn, 26), b"through the passed unix fd");
    // Unix clients only: the control socket is named after the debug port.
    assert!(dir.0.join(format!("dbgproxy/{port}.sock")).exists());
    proxy.signal(libc::SIGTERM);
    assert!(proxy.wait_exit().success());
    assert!(
        sock.exists(),
        "systemd's socket file is systemd's to remove"
    );
}

#[test]
fn socket_activation_tells_two_sockets_apart_by_name() {
    let activate = on_path("systemd-socket-activate", "systemd");
    let port = free_port_pair();
    let mut cmd = Command::new(activate);
    // The debugger's socket first: names, not order, decide.
    cmd.arg("-l")
        .arg(format!("127.0.0.1:{port}"))
        .arg("-l")
        .arg(format!("127.0.0.1:{}", port + 1))
        .arg("--fdname=debugger:clients")
        .arg(format!("-EXDG_RUNTIME_DIR={}", runtime_dir().display()))
        .arg(env!("CARGO_BIN_EXE_dbgproxy"))
        .args(["--backend", "listen", "--port", &port.to_string()]);
    let mut proxy = Proxy::spawn(cmd);
    wait_until("the activation sockets", || {
        TcpStream::connect(("127.0.0.1", port + 1)).is_ok()
    });
    proxy.wait_ready();
    let mut client = Client::connect(port + 1);
    proxy.wait_log("client #2");
    let mut debugger = TcpStream::connect(("127.0.0.1", port)).unwrap();
    debugger.set_read_timeout(Some(DEADLINE)).unwrap();
    debugger.write_all(b"<init/>").unwrap();
    assert_eq!(client.read_n(7), b"<init/>");
    client.send(b"run");
    assert_eq!(read_n(&mut debugger, 3), b"run");
}

#[test]
fn readiness_status_and_stopping_reach_notify_socket() {
    let dir = TempDir::new("notify");
    let path = dir.0.join("notify.sock");
    let notify = UnixDatagram::bind(&path).unwrap();
    notify.set_read_timeout(Some(DEADLINE)).unwrap();
    let recv = || {
        let mut buf = [0u8; 512];
        let n = notify.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let port = free_port_pair();
    let mut cmd = Proxy::command();
    // A spawned debugger must not inherit NOTIFY_SOCKET and talk to systemd.
    cmd.args([
        "--backend",
        "spawn",
        "--port",
        &port.to_string(),
        "--",
        "sh",
        "-c",
        "echo ${NOTIFY_SOCKET:-unset}; exec cat",
    ])
    .env("NOTIFY_SOCKET", &path);
    let mut proxy = Proxy::spawn(cmd);
    proxy.wait_ready();
    assert_eq!(recv(), "READY=1");
    assert_eq!(recv(), "STATUS=debugger connected, 0 clients");
    let mut client = Client::connect(port + 1);
    assert_eq!(recv(), "STATUS=debugger connected, 1 client");
    assert_eq!(client.read_n(6), b"unset\n");
    proxy.signal(libc::SIGTERM);
    let mut rest = Vec::new();
    while !rest.iter().any(|m: &String| m == "STOPPING=1") {
        rest.push(recv());
    }
    assert!(proxy.wait_exit().success());
}
