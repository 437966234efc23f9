//! `--daemon`: returns once the detached proxy is ready, detaches for real,
//! guards its pidfile, reports failures in the foreground, reopens its log.

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Instant;

use crate::util::tools::TempDir;
use crate::util::*;

/// A daemon started by a test: SIGKILLed on drop if it is still there.
struct Daemon(i32);

impl Drop for Daemon {
    fn drop(&mut self) {
        // SAFETY: kill(2) on a pid this test started.
        unsafe {
            libc::kill(self.0, libc::SIGKILL);
        }
    }
}

/// Runs `dbgproxy --daemon …` in `dir` and waits for the foreground to return.
fn run_daemon(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Proxy::command();
    cmd.current_dir(dir)
        .arg("--daemon")
        .args(args)
        .env("RUST_LOG", "debug")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().expect("start dbgproxy --daemon");
    let end = Instant::now() + DEADLINE;
    let output = child.wait_with_output().expect("wait for the foreground");
    assert!(Instant::now() < end);
    output
}

/// (session id, controlling tty) of a process, from /proc/PID/stat.
fn session_and_tty(pid: i32) -> (i64, i64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let f: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    (f[3].parse().unwrap(), f[4].parse().unwrap())
}

#[test]
fn daemon_returns_when_ready_detaches_and_cleans_up() {
    let dir = TempDir::new("daemon");
    let port = free_port_pair();
    let debugger = FakeDebugger::listen(port);
    // Relative paths: the daemon runs in `/`, so they must be made absolute first.
    let out = run_daemon(
        &dir.0,
        &[
            "--port",
            &port.to_string(),
            "--pidfile",
            "p.pid",
            "--log-file",
            "d.log",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        out.stdout, MARKER,
        "the foreground prints the marker and nothing else"
    );
    let pid: i32 = std::fs::read_to_string(dir.0.join("p.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let _guard = Daemon(pid);
    assert!(running(pid), "the pidfile names a live process");
    let (session, tty) = session_and_tty(pid);
    // SAFETY: getsid(0) asks for our own session id.
    assert_ne!(
        session,
        unsafe { libc::getsid(0) } as i64,
        "the daemon is in a session of its own"
    );
    assert_eq!(tty, 0, "the daemon has no controlling terminal");

    let mut conn = debugger.accept();
    let mut client = Client::connect(port + 1);
    client.send(b"from the ide");
    assert_eq!(read_n(&mut conn, 12), b"from the ide");

    let stop = crate::util::cli::dbgproxy(runtime_dir(), &["stop", "--port", &port.to_string()]);
    assert!(
        stop.status.success(),
        "{}",
        String::from_utf8_lossy(&stop.stderr)
    );
    assert!(
        !running(pid),
        "`dbgproxy stop` returns once the daemon is gone"
    );
    assert!(
        !dir.0.join("p.pid").exists(),
        "the pidfile is removed on a clean exit"
    );
    let log = std::fs::read_to_string(dir.0.join("d.log")).unwrap();
    assert!(
        log.contains(&format!("running as a daemon, pid {pid}")),
        "{log}"
    );
    // Where clients connect: said by the daemon, into its log.
    assert!(
        log.contains(&format!(
            "dbgproxy[{pid}] INFO  listening for clients on 127.0.0.1:{}",
            port + 1
        )),
        "{log}"
    );
    assert!(
        log.contains("stop request (dbgproxy stop): shutting down"),
        "{log}"
    );
}

#[test]
fn a_second_daemon_on_the_same_pidfile_fails_clearly() {
    let dir = TempDir::new("daemon2");
    let port = free_port_pair();
    let _debugger = FakeDebugger::listen(port);
    let out = run_daemon(
        &dir.0,
        &[
            "--port",
            &port.to_string(),
            "--pidfile",
            "p.pid",
            "--log-file",
            "a.log",
        ],
    );
    assert!(out.status.success());
    let pid: i32 = std::fs::read_to_string(dir.0.join("p.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let _guard = Daemon(pid);

    let other = free_port_pair();
    let _other_debugger = FakeDebugger::listen(other);
    let out = run_daemon(
        &dir.0,
        &[
            "--port",
            &other.to_string(),
            "--pidfile",
            "p.pid",
            "--log-file",
            "b.log",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let want = format!(
        "error: pidfile {} is locked: another dbgproxy daemon is running with it, pid {pid}",
        dir.0.join("p.pid").display()
    );
    assert_eq!(err.lines().last().unwrap_or_default(), want, "{err}");
    assert!(out.stdout.is_empty());
    assert_eq!(
        std::fs::read_to_string(dir.0.join("p.pid")).unwrap().trim(),
        pid.to_string(),
        "not overwritten"
    );
    assert!(running(pid));
}

#[test]
fn a_daemon_whose_debugger_never_comes_up_fails_in_the_foreground() {
    let dir = TempDir::new("daemon3");
    let port = free_port_pair();
    let args = [
        "--port",
        &port.to_string(),
        "--retries",
        "3",
        "--retry-interval",
        "20",
        "--pidfile",
        "p.pid",
        "--log-file",
        "d.log",
    ];
    let out = run_daemon(&dir.0, &args);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(&format!(
            "error: debugger at 127.0.0.1:{port} not reachable after 3 tries"
        )),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "no marker without a debugger");
    wait_until("the failed daemon's pidfile to go", || {
        !dir.0.join("p.pid").exists()
    });
}

#[test]
fn a_port_clash_is_reported_before_detaching() {
    let dir = TempDir::new("daemon4");
    let port = free_port_pair();
    let _taken = std::net::TcpListener::bind(("127.0.0.1", port + 1)).unwrap();
    let out = run_daemon(
        &dir.0,
        &[
            "--port",
            &port.to_string(),
            "--pidfile",
            "p.pid",
            "--log-file",
            "d.log",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("address already in use"));
    assert!(!dir.0.join("p.pid").exists(), "nothing was forked");
}

#[test]
fn sighup_reopens_the_log_file_and_a_spawned_debugger_keeps_the_start_directory() {
    let dir = TempDir::new("daemon5");
    let port = free_port_pair();
    let args = [
        "--backend",
        "spawn",
        "--port",
        &port.to_string(),
        "--pidfile",
        "p.pid",
        "--log-file",
        "d.log",
        "--",
        "sh",
        "-c",
        "pwd; exec cat",
    ];
    let out = run_daemon(&dir.0, &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pid: i32 = std::fs::read_to_string(dir.0.join("p.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let _guard = Daemon(pid);
    let mut client = Client::connect(port + 1);
    let cwd = format!("{}\n", dir.0.canonicalize().unwrap().display());
    assert_eq!(String::from_utf8(client.read_n(cwd.len())).unwrap(), cwd);

    // logrotate moves the file away, then signals.
    std::fs::rename(dir.0.join("d.log"), dir.0.join("d.log.1")).unwrap();
    // SAFETY: kill(2) on the daemon this test started.
    unsafe { libc::kill(pid, libc::SIGHUP) };
    wait_until("a new log file with the status line", || {
        std::fs::read_to_string(dir.0.join("d.log")).is_ok_and(|l| {
            l.contains("SIGHUP: log file reopened")
                && l.contains("status: debugger connected, 1 client(s)")
        })
    });
    let old = std::fs::read_to_string(dir.0.join("d.log.1")).unwrap();
    assert!(!old.contains("SIGHUP"), "the old file got the new lines");
}
