//! `dbgproxy attach` (issue #14): the IDE's side of the proxy, run as a
//! process the way an editor runs its debug adapter: stdin and stdout are
//! its pipes to the IDE. Each test has its own runtime directory (control
//! sockets, pidfiles, logs) and stops the proxies it caused to start.
//! The last test drives it with two VS Code `DebugClient`s against a real
//! debugpy, across a restart of the proxy.

use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::process::{ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::util::debugpy::{Debugpy, LINE_COUNT, LINE_FLUSH, Script};
use crate::util::tools::{TempDir, node, node_modules};
use crate::util::{DEADLINE, FakeDebugger, Proxy, collect, free_port_pair, read_n, wait_until};
use serde_json::Value;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_dbgproxy")
}

/// `dbgproxy attach ARGS`, with piped stdin/stdout/stderr and the runtime
/// directory `rt`: the test harness's `Proxy` (output collected by threads,
/// killed on drop) plus the pipe to its stdin.
struct Attach {
    process: Proxy,
    stdin: Option<ChildStdin>,
}

impl Attach {
    fn start(rt: &TempDir, args: &[&str]) -> Attach {
        let mut cmd = Command::new(bin());
        cmd.arg("attach")
            .args(args)
            .env("XDG_RUNTIME_DIR", &rt.0)
            // What attach itself says, without debug lines.
            .env_remove("RUST_LOG");
        let (process, stdin) = Proxy::spawn_with_stdin(cmd);
        Attach {
            process,
            stdin: Some(stdin),
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        stdin.write_all(bytes).expect("write to attach");
        stdin.flush().unwrap();
    }

    fn stdout(&self) -> Vec<u8> {
        self.process.stdout()
    }

    fn stderr(&self) -> String {
        self.process.stderr()
    }

    fn wait_stdout(&self, want: &[u8]) {
        let end = Instant::now() + DEADLINE;
        while !self.stdout().windows(want.len()).any(|w| w == want) {
            assert!(
                Instant::now() < end,
                "attach never wrote {:?}; stdout {:?}, stderr:\n{}",
                String::from_utf8_lossy(want),
                String::from_utf8_lossy(&self.stdout()),
                self.stderr()
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    fn wait_stderr(&mut self, want: &str) {
        self.process.wait_log(want);
    }

    fn close_stdin(&mut self) {
        self.stdin = None;
    }

    fn running(&mut self) -> bool {
        self.process.try_status().is_none()
    }

    fn wait_exit(&mut self) -> ExitStatus {
        self.process.wait_exit()
    }
}

/// A runtime directory, and `dbgproxy stop` for the proxy on `port` when
/// the test ends, however it ends.
struct Runtime {
    dir: TempDir,
    port: u16,
}

impl Runtime {
    fn new(port: u16) -> Runtime {
        Runtime {
            dir: TempDir::new("attach-rt"),
            port,
        }
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new(bin())
            .args(args)
            .env("XDG_RUNTIME_DIR", &self.dir.0)
            .stdin(Stdio::null())
            .output()
            .expect("run dbgproxy")
    }

    fn status(&self) -> Option<Value> {
        let out = self.run(&["status", "--port", &self.port.to_string()]);
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).expect("status is JSON"))
    }

    fn list(&self) -> Vec<Value> {
        let out = self.run(&["list", "--json"]);
        assert!(out.status.success());
        match serde_json::from_slice(&out.stdout).expect("list is JSON") {
            Value::Array(all) => all,
            other => panic!("list --json: {other}"),
        }
    }

    fn stop(&self) {
        let out = self.run(&["stop", "--port", &self.port.to_string()]);
        assert!(
            out.status.success(),
            "stop: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A replacement proxy, as a plain daemon: returns once it is ready.
    fn start_proxy(&self, extra: &[&str]) {
        let pidfile = self.dir.0.join("replacement.pid");
        let out = Command::new(bin())
            .args(["--port", &self.port.to_string(), "--mode", "persistent"])
            .args(extra)
            .arg("--daemon")
            .arg("--pidfile")
            .arg(&pidfile)
            // Else the daemon keeps our stderr pipe open, and `output` waits for ever.
            .arg("--log-file")
            .arg(self.dir.0.join("replacement.log"))
            .env("XDG_RUNTIME_DIR", &self.dir.0)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .output()
            .expect("start a proxy");
        assert!(
            out.status.success(),
            "replacement proxy: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn clients(&self) -> usize {
        self.status()
            .map_or(0, |s| s["clients"].as_array().map_or(0, Vec::len))
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // Whatever runs on the port goes; nothing running is fine.
        let _ = self.run(&["stop", "--port", &self.port.to_string()]);
    }
}

/// No proxy: attach starts one (a daemon, seen by `status`, its pidfile in
/// the runtime directory), bridges both ways with nothing else on stdout,
/// and on stdin EOF exits 0, leaving the proxy running.
#[test]
fn starts_a_proxy_and_leaves_it_running_at_stdin_eof() {
    let port = free_port_pair();
    let rt = Runtime::new(port);
    let debugger = FakeDebugger::listen(port);
    let mut at = Attach::start(
        &rt.dir,
        &["--port", &port.to_string(), "--mode", "persistent"],
    );
    let mut d = debugger.accept();
    d.write_all(b"hello from the debugger\n").unwrap();
    at.wait_stdout(b"hello from the debugger\n");
    at.send(b"ping\n");
    assert_eq!(read_n(&mut d, 5), b"ping\n");

    let status = rt.status().expect("the proxy answers status");
    assert_eq!(status["clients"].as_array().unwrap().len(), 1, "{status}");
    let pidfile = rt.dir.0.join(format!("dbgproxy/{}.pid", port + 1));
    let pid: u64 = std::fs::read_to_string(&pidfile)
        .expect("attach gives the daemon a pidfile")
        .trim()
        .parse()
        .unwrap();
    assert_eq!(status["pid"], pid);
    assert!(
        at.stderr().contains("no proxy on 127.0.0.1:") && at.stderr().contains("starting one"),
        "{}",
        at.stderr()
    );

    at.close_stdin();
    let code = at.wait_exit();
    assert!(code.success(), "{code}\n{}", at.stderr());
    assert_eq!(
        at.stdout(),
        b"hello from the debugger\n",
        "stdout holds the bridged bytes only (no ready marker)"
    );
    wait_until("the proxy to see the client go", || rt.clients() == 0);
    assert_eq!(rt.status().unwrap()["pid"], pid, "the proxy runs on");
    // The debugger's connection too.
    d.write_all(b"still there\n").unwrap();
}

/// Something that is not a dbgproxy holds the client port: one line saying
/// which port and what holds it, exit 1, nothing on stdout.
#[test]
fn a_port_held_by_something_else_fails_clearly() {
    let port = free_port_pair();
    let rt = Runtime::new(port);
    let squatter = TcpListener::bind(("127.0.0.1", port + 1)).unwrap();
    let mut at = Attach::start(&rt.dir, &["--port", &port.to_string()]);
    let code = at.wait_exit();
    assert_eq!(code.code(), Some(1), "{}", at.stderr());
    let err = at.stderr();
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.contains(&format!("127.0.0.1:{}", port + 1))
            && err.contains("not by a dbgproxy")
            && err.contains(&format!("pid {}", std::process::id())),
        "{err}"
    );
    assert!(at.stdout().is_empty());
    drop(squatter);
}

/// Two attach started at once on a port with no proxy: one proxy, both
/// connected to it.
#[test]
fn two_racing_attach_end_with_one_proxy() {
    let port = free_port_pair();
    let rt = Runtime::new(port);
    let debugger = FakeDebugger::listen(port);
    let args = ["--port", &port.to_string(), "--mode", "persistent"];
    let mut a = Attach::start(&rt.dir, &args);
    let mut b = Attach::start(&rt.dir, &args);
    let mut d = debugger.accept();
    wait_until("both attach connected to one proxy", || rt.clients() == 2);
    let proxies = rt.list();
    assert_eq!(proxies.len(), 1, "{proxies:?}");
    assert!(debugger.try_accept().is_none(), "one proxy, one connection");
    // Both are bridged.
    d.write_all(b"to both\n").unwrap();
    a.wait_stdout(b"to both\n");
    b.wait_stdout(b"to both\n");
    a.send(b"from a\n");
    assert_eq!(read_n(&mut d, 7), b"from a\n");
    b.send(b"from b\n");
    assert_eq!(read_n(&mut d, 7), b"from b\n");
    for x in [&mut a, &mut b] {
        assert!(x.running(), "{}", x.stderr());
        x.close_stdin();
        assert!(x.wait_exit().success(), "{}", x.stderr());
    }
}

/// The proxy is stopped and another one started: attach says it is away,
/// holds what the IDE sends meanwhile, says it is back, and delivers it.
#[test]
fn holds_input_while_the_proxy_is_away() {
    let port = free_port_pair();
    let rt = Runtime::new(port);
    let debugger = FakeDebugger::listen(port);
    let mut at = Attach::start(
        &rt.dir,
        &["--port", &port.to_string(), "--mode", "persistent"],
    );
    let mut d = debugger.accept();
    at.send(b"one\n");
    assert_eq!(read_n(&mut d, 4), b"one\n");

    rt.stop();
    at.wait_stderr(&format!("proxy on 127.0.0.1:{} away (", port + 1));
    at.send(b"two\n");
    rt.start_proxy(&[]);
    let mut d = debugger.accept();
    assert_eq!(read_n(&mut d, 4), b"two\n", "held while away, then sent");
    at.wait_stderr(&format!("proxy on 127.0.0.1:{} back after ", port + 1));
    d.write_all(b"three\n").unwrap();
    at.wait_stdout(b"three\n");
    assert!(at.running());
    at.close_stdin();
    assert!(at.wait_exit().success(), "{}", at.stderr());
}

/// A proxy gone for good: attach gives up after --reconnect-timeout, with
/// a message, exit 1.
#[test]
fn gives_up_when_the_proxy_stays_gone() {
    let port = free_port_pair();
    let rt = Runtime::new(port);
    let _debugger = FakeDebugger::listen(port);
    let mut at = Attach::start(
        &rt.dir,
        &["--port", &port.to_string(), "--reconnect-timeout", "1"],
    );
    wait_until("attach connected", || rt.clients() == 1);
    rt.stop();
    let code = at.wait_exit();
    assert_eq!(code.code(), Some(1), "{}", at.stderr());
    let err = at.stderr();
    assert!(
        err.contains("away (") && err.contains("gone for 1s") && err.contains("giving up"),
        "{err}"
    );
}

/// `--no-start` (a proxy that systemd runs): attach starts nothing, waits
/// for the proxy, joins it when it comes; and it joins what serves the port
/// even when no control socket of ours answers for it.
#[test]
fn no_start_waits_for_a_proxy_it_does_not_run() {
    let port = free_port_pair();
    let rt = Runtime::new(port);
    let debugger = FakeDebugger::listen(port);
    let mut at = Attach::start(&rt.dir, &["--port", &port.to_string(), "--no-start"]);
    at.wait_stderr(&format!("waiting for a proxy on 127.0.0.1:{}", port + 1));
    at.send(b"early\n");
    assert!(rt.list().is_empty(), "attach started nothing");
    rt.start_proxy(&[]);
    let mut d = debugger.accept();
    assert_eq!(read_n(&mut d, 6), b"early\n");
    at.wait_stderr(&format!("proxy on 127.0.0.1:{} up after ", port + 1));
    d.write_all(b"hi\n").unwrap();
    at.wait_stdout(b"hi\n");
    at.close_stdin();
    assert!(at.wait_exit().success(), "{}", at.stderr());
    rt.stop();

    // Someone else's service: no control socket answers, attach joins anyway.
    let service = TcpListener::bind(("127.0.0.1", port + 1)).unwrap();
    let mut at = Attach::start(&rt.dir, &["--port", &port.to_string(), "--no-start"]);
    let (mut conn, _) = service.accept().unwrap();
    conn.set_read_timeout(Some(DEADLINE)).unwrap();
    conn.write_all(b"from the service\n").unwrap();
    at.wait_stdout(b"from the service\n");
    at.send(b"to it\n");
    assert_eq!(read_n(&mut conn, 6), b"to it\n");
    at.close_stdin();
    assert!(at.wait_exit().success(), "{}", at.stderr());
}

/// A proxy that asks even its own user for the token (`--allow-users
/// none`): attach, given the same `--token-file`, sends the token line first
/// on every connection (it never reaches the debugger); with a wrong token
/// it ends with the proxy's refusal.
#[test]
fn sends_the_token_when_the_proxy_asks_for_it() {
    use std::os::unix::fs::PermissionsExt;
    let port = free_port_pair();
    let rt = Runtime::new(port);
    let debugger = FakeDebugger::listen(port);
    let token_file = |name: &str, token: &str| {
        let path = rt.dir.write(name, token);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        path.to_str().unwrap().to_string()
    };
    let good = token_file("token", "s3cret-t0ken-for-attach\n");
    let access = ["--allow-users", "none", "--token-file", good.as_str()];
    let p = port.to_string();
    let mut args = vec!["--port", &p, "--mode", "persistent"];
    args.extend(access);
    let mut at = Attach::start(&rt.dir, &args);
    let mut d = debugger.accept();
    at.send(b"hello\n");
    assert_eq!(read_n(&mut d, 6), b"hello\n");
    d.write_all(b"hi\n").unwrap();
    at.wait_stdout(b"hi\n");

    rt.stop();
    at.wait_stderr("away (");
    rt.start_proxy(&access);
    let mut d = debugger.accept();
    at.send(b"again\n");
    assert_eq!(read_n(&mut d, 6), b"again\n", "the token went first again");
    let st = rt.status().unwrap();
    assert_eq!(st["clients"][0]["admitted_by"], "token", "{st}");

    let wrong = token_file("wrong", "not-the-right-token-at-all");
    let mut bad = Attach::start(
        &rt.dir,
        &[
            "--port",
            &p,
            "--allow-users",
            "none",
            "--token-file",
            &wrong,
        ],
    );
    assert_eq!(bad.wait_exit().code(), Some(1), "{}", bad.stderr());
    assert!(
        bad.stderr().contains("access refused: wrong token"),
        "{}",
        bad.stderr()
    );
    at.close_stdin();
    assert!(at.wait_exit().success(), "{}", at.stderr());
}

/// A proxy serving clients on a Unix socket only: attach starts it and
/// joins it there.
#[test]
fn joins_a_unix_socket_listener() {
    let port = free_port_pair();
    let rt = Runtime::new(port);
    let debugger = FakeDebugger::listen(port);
    let sockets = TempDir::new("attach-unix");
    let listen = format!("unix:{}", sockets.0.join("clients.sock").display());
    let p = port.to_string();
    let mut at = Attach::start(&rt.dir, &["--port", &p, "--listen", &listen]);
    let mut d = debugger.accept();
    at.send(b"over unix\n");
    assert_eq!(read_n(&mut d, 10), b"over unix\n");
    d.write_all(b"back\n").unwrap();
    at.wait_stdout(b"back\n");
    let st = rt.status().expect("the proxy runs");
    assert_eq!(st["client_addr"], listen, "{st}");
    at.close_stdin();
    assert!(at.wait_exit().success(), "{}", at.stderr());
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["--reconnect-timeout", "5"][..],
        &["--port", "5678", "--reconnect-timeout", "soon"],
        &["--port", "5678", "--no-such-option"],
    ] {
        let out = Command::new(bin())
            .arg("attach")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty());
    }
    // What clap finds in the proxy's options shows attach's usage line.
    for args in [
        &["--port", "5678", "--no-such-option"][..],
        &["--backend", "dap"],
        &["--port", "5678", "--backend", "spawn"],
    ] {
        let out = Command::new(bin())
            .arg("attach")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        let usage = err.lines().find(|l| l.starts_with("Usage: "));
        assert_eq!(
            usage,
            Some(
                "Usage: dbgproxy attach --port N [--reconnect-timeout SECS] [--no-start] [PROXY OPTIONS…] [-- COMMAND…]"
            ),
            "{args:?}: {err}"
        );
    }
}

/// Two `DebugClient`s, each starting `dbgproxy attach … --backend dap` as
/// its adapter executable against one real debugpy: the first one's attach
/// starts the proxy, they share the session, the proxy is restarted under
/// them (debugpy outlives its client, so the session goes on) and both keep
/// working. See tests/js/attach_adapter.mjs.
#[test]
fn two_debug_clients_through_attach_survive_a_proxy_restart() {
    let node = node();
    let modules = node_modules(&["@vscode/debugadapter-testsupport", "@vscode/debugprotocol"]);
    let script = Script::new();
    let port = free_port_pair();
    let rt = Runtime::new(port);
    let _debugpy = Debugpy::start(&script.path, port);
    let js = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js/attach_adapter.mjs");
    let mut run = Command::new(node)
        .arg(js)
        .arg(bin())
        .arg(port.to_string())
        .arg(&script.path)
        .arg(LINE_COUNT.to_string())
        .arg(LINE_FLUSH.to_string())
        .env("DBGPROXY_NODE_MODULES", &modules)
        .env("XDG_RUNTIME_DIR", &rt.dir.0)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start node");
    let out = collect(run.stdout.take().unwrap());
    let err = collect(run.stderr.take().unwrap());
    // The script gives up by itself after 60 s.
    let end = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = run.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > end {
            let _ = run.kill();
            break run.wait().unwrap();
        }
        thread::sleep(Duration::from_millis(20));
    };
    wait_until("node's pipes to close", || {
        Arc::strong_count(&out) == 1 && Arc::strong_count(&err) == 1
    });
    let text = |b: &Arc<Mutex<Vec<u8>>>| String::from_utf8_lossy(&b.lock().unwrap()).into_owned();
    let log = std::fs::read_to_string(rt.dir.0.join(format!("dbgproxy/{}.log", port + 1)))
        .unwrap_or_default();
    let replacement =
        std::fs::read_to_string(rt.dir.0.join("dbgproxy/replacement.log")).unwrap_or_default();
    assert!(
        status.success(),
        "node: {status}\n{}\n{}\n--- the first proxy's log ---\n{log}\n\
         --- the replacement's log ---\n{replacement}",
        text(&out),
        text(&err)
    );
    // The replacement proxy still runs, its debugpy session kept for the next IDE.
    let st = rt.status().expect("the replacement proxy runs");
    assert_eq!(st["backend"]["state"], "connected", "{st}");
}

/// Issue #18, item 4: attach starts a persistent DAP proxy before debugpy
/// exists. The proxy is ready once its client port is bound (it waits for
/// the debugger as long as it runs), so attach joins at once; the IDE's
/// `initialize` waits in the proxy and gets through when debugpy comes.
#[test]
fn a_persistent_proxy_started_before_its_debugger_lets_attach_in() {
    let port = free_port_pair();
    let rt = Runtime::new(port);
    // No --mode: the proxy attach starts is persistent unless told otherwise.
    let mut at = Attach::start(&rt.dir, &["--port", &port.to_string(), "--backend", "dap"]);
    wait_until("attach joined a proxy with no debugger yet", || {
        rt.clients() == 1
    });
    assert_eq!(rt.status().unwrap()["mode"], "persistent");
    assert_eq!(
        rt.status().unwrap()["backend"]["state"],
        "connecting",
        "no debugger yet"
    );
    let body = br#"{"seq":1,"type":"request","command":"initialize","arguments":{"adapterID":"dbgproxy-test"}}"#;
    at.send(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    at.send(body);

    let script = Script::new();
    let _debugpy = Debugpy::start(&script.path, port);
    at.wait_stdout(br#""command": "initialize""#);
    let out = String::from_utf8_lossy(&at.stdout()).into_owned();
    assert!(out.contains(r#""success": true"#), "{out}");
    let log = std::fs::read_to_string(rt.dir.0.join(format!("dbgproxy/{}.log", port + 1)))
        .expect("the proxy's log");
    assert_eq!(
        log.matches("waiting for the debugger at").count(),
        1,
        "{log}"
    );
    assert_eq!(log.matches("connected after").count(), 1, "{log}");
}
