//! "No hang, no silent loss": the proxy against an environment that
//! misbehaves outside the data path — a stderr nobody reads, a debugger that
//! closes as soon as it is reached, a debugger whose children would outlive
//! it, control connections that never ask anything.

use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::util::cli::*;
use crate::util::tools::TempDir;
use crate::util::*;

// ----- logging never blocks the loop -----

/// A persistent connect proxy whose stderr is a pipe the test holds open and
/// does not read, with its debugger connected.
fn proxy_with_unread_stderr(
    runtime: &Path,
    port: u16,
) -> (Proxy, std::process::ChildStderr, TcpStream) {
    let debugger = FakeDebugger::listen(port);
    let mut cmd = Proxy::command();
    cmd.args(["--port", &port.to_string(), "--mode", "persistent"])
        .env("XDG_RUNTIME_DIR", runtime);
    let (mut proxy, stderr) = Proxy::spawn_stderr_unread(cmd);
    let conn = debugger.accept();
    proxy.wait_ready();
    (proxy, stderr, conn)
}

/// Clients connect and leave, each one logged, until the proxy reports log
/// lines dropped. Before the fix, the loop blocked in the log write after
/// ~250 of them and stopped accepting.
fn flood_until_lines_are_dropped(runtime: &Path, port: u16) -> u64 {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port + 1));
    for round in 1..=40 {
        for _ in 0..500 {
            let client = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
                .unwrap_or_else(|e| panic!("the proxy stopped accepting clients: {e}"));
            drop(client);
        }
        let dropped = status(runtime, port)["counters"]["log_lines_dropped"]
            .as_u64()
            .expect("status counts log_lines_dropped");
        if dropped > 0 {
            return dropped;
        }
        assert!(round < 40, "20000 clients logged and nothing dropped?");
    }
    unreachable!()
}

#[test]
fn a_stderr_nobody_reads_never_stalls_the_proxy() {
    let runtime = TempDir::new("rb-log");
    let port = free_port_pair();
    let (mut proxy, stderr, mut conn) = proxy_with_unread_stderr(&runtime.0, port);
    flood_until_lines_are_dropped(&runtime.0, port);

    // Still proxying, both ways.
    let mut client = Client::connect(port + 1);
    conn.write_all(b"still here").unwrap();
    assert_eq!(client.read_n(10), b"still here");
    client.send(b"ping");
    assert_eq!(read_n(&mut conn, 4), b"ping");

    // Once stderr is read again, the proxy says what it could not write.
    proxy.read_stderr(stderr);
    proxy.wait_log("log lines dropped: stderr was not being read");
    proxy.signal(libc::SIGTERM);
    assert!(proxy.wait_exit().success());
    let log = proxy.stderr();
    assert!(
        log.lines().last().unwrap_or("").contains("exiting:"),
        "{log}"
    );
}

#[test]
fn exit_does_not_hang_on_a_stderr_nobody_reads() {
    let runtime = TempDir::new("rb-log-exit");
    let port = free_port_pair();
    let (mut proxy, _stderr, _conn) = proxy_with_unread_stderr(&runtime.0, port);
    flood_until_lines_are_dropped(&runtime.0, port);
    let asked = Instant::now();
    let out = dbgproxy(&runtime.0, &["stop", "--port", &port.to_string()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(proxy.wait_exit().success());
    // The drain (1 s by default) and a short wait for the log writer.
    assert!(
        asked.elapsed() < Duration::from_secs(8),
        "stopping took {:?}",
        asked.elapsed()
    );
}

// ----- a debugger that goes away as soon as it is reached -----

/// A debugger port that accepts and closes at once, counting connections,
/// until told to hold them (a debugger that has recovered).
struct ClosingDebugger {
    accepts: Arc<AtomicU32>,
    hold: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl ClosingDebugger {
    fn start(port: u16) -> ClosingDebugger {
        let debugger = FakeDebugger::listen(port);
        let accepts = Arc::new(AtomicU32::new(0));
        let hold = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (a, h, s) = (accepts.clone(), hold.clone(), stop.clone());
        thread::spawn(move || {
            let mut held = Vec::new();
            while !s.load(Ordering::SeqCst) {
                match debugger.try_accept() {
                    Some(conn) => {
                        a.fetch_add(1, Ordering::SeqCst);
                        if h.load(Ordering::SeqCst) {
                            held.push(conn);
                        }
                    }
                    None => thread::sleep(Duration::from_millis(1)),
                }
            }
        });
        ClosingDebugger {
            accepts,
            hold,
            stop,
        }
    }

    fn accepts(&self) -> u32 {
        self.accepts.load(Ordering::SeqCst)
    }
}

impl Drop for ClosingDebugger {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

#[test]
fn a_debugger_that_closes_at_once_is_retried_with_a_growing_pause() {
    let port = free_port_pair();
    let debugger = ClosingDebugger::start(port);
    let mut proxy = Proxy::start(&["--port", &port.to_string(), "--mode", "persistent"]);
    proxy.wait_ready();
    proxy.wait_log("closes right after connecting");
    // Without backing off this was 9,000-15,000 connects a second.
    let before = debugger.accepts();
    let window = Instant::now();
    thread::sleep(Duration::from_secs(2));
    let connects = debugger.accepts() - before;
    assert!(
        connects < 10,
        "{connects} connects in {:?}",
        window.elapsed()
    );
    let log = proxy.stderr();
    assert_eq!(
        log.matches("closes right after connecting").count(),
        1,
        "{log}"
    );

    // A debugger that stays connected ends the backing off.
    debugger.hold.store(true, Ordering::SeqCst);
    proxy.wait_log("stayed connected: no longer backing off");
    proxy.signal(libc::SIGTERM);
    assert!(proxy.wait_exit().success());
}

#[test]
fn a_debugger_command_that_exits_at_once_is_restarted_with_a_growing_pause() {
    let port = free_port_pair();
    let mut proxy = Proxy::start(&[
        "--backend",
        "spawn",
        "--port",
        &port.to_string(),
        "--mode",
        "persistent",
        "--",
        "sh",
        "-c",
        "exit 0",
    ]);
    proxy.wait_ready();
    // Two quick exits (restarted after 1 s), reported once; the next pause is 2 s.
    proxy.wait_log("exits right after starting");
    let starts = |p: &Proxy| p.stderr().matches("started debugger").count();
    let before = starts(&proxy);
    thread::sleep(Duration::from_millis(2500));
    let more = starts(&proxy) - before;
    assert!(more <= 1, "{more} restarts in 2.5 s:\n{}", proxy.stderr());
    assert_eq!(
        proxy.stderr().matches("exits right after starting").count(),
        1
    );
    proxy.signal(libc::SIGTERM);
    assert!(proxy.wait_exit().success());
}

#[test]
fn a_debugger_that_connects_in_and_closes_in_a_loop_is_logged_once() {
    let port = free_port_pair();
    let mut proxy = Proxy::start(&["--backend", "listen", "--port", &port.to_string()]);
    proxy.wait_ready();
    for _ in 0..40 {
        drop(TcpStream::connect(("127.0.0.1", port)).expect("connect to the debug port"));
    }
    proxy.wait_log("debugger sessions a second");
    let log = proxy.stderr();
    assert_eq!(
        log.matches("debugger sessions a second").count(),
        1,
        "{log}"
    );
    assert!(
        !log.lines()
            .any(|l| l.contains(" INFO ") && l.contains("debugger connected from")),
        "{log}"
    );
}

// ----- what a spawned debugger starts goes with it -----

/// Kills a test's stray process if the proxy failed to (so that a failing
/// test leaves no `sleep 300` behind).
struct Stray(i32);

impl Drop for Stray {
    fn drop(&mut self) {
        if running(self.0) {
            // SAFETY: kill(2) on a pid this test saw started; no memory involved.
            unsafe {
                libc::kill(self.0, libc::SIGKILL);
            }
        }
    }
}

/// The `nth` pid the debugger script printed on its stderr (`echo $! >&2`),
/// which the proxy logs as `sh stderr: PID`.
fn stderr_pid(proxy: &mut Proxy, nth: usize) -> Stray {
    let pids = |p: &Proxy| -> Vec<i32> {
        p.stderr()
            .lines()
            .filter_map(|l| l.split_once("sh stderr: "))
            .filter_map(|(_, pid)| pid.trim().parse().ok())
            .collect()
    };
    wait_until("the debugger to print a pid", || pids(proxy).len() >= nth);
    let pid = pids(proxy)[nth - 1];
    assert!(running(pid), "{pid} is not running");
    Stray(pid)
}

fn spawn_persistent(port: u16, mode: &str, script: &str) -> Proxy {
    let port = port.to_string();
    let mut proxy = Proxy::start(&[
        "--backend",
        "spawn",
        "--port",
        &port,
        "--mode",
        mode,
        "--",
        "sh",
        "-c",
        script,
    ]);
    proxy.wait_ready();
    proxy
}

#[test]
fn what_the_debugger_started_goes_when_the_proxy_stops() {
    let port = free_port_pair();
    let mut proxy = spawn_persistent(port, "session", "sleep 300 & echo $! >&2; exec cat");
    let sleep = stderr_pid(&mut proxy, 1);
    proxy.signal(libc::SIGTERM);
    assert!(proxy.wait_exit().success());
    wait_until("the debugger's child to be gone", || !running(sleep.0));
}

#[test]
fn what_the_debugger_started_goes_when_it_exits_and_is_restarted() {
    let port = free_port_pair();
    let mut proxy = spawn_persistent(
        port,
        "persistent",
        "sleep 300 & echo $! >&2; read line; echo bye",
    );
    let mut client = Client::connect(port + 1);
    let first = stderr_pid(&mut proxy, 1);
    client.send(b"go\n");
    assert_eq!(client.read_n(4), b"bye\n");
    wait_until("the first debugger's child to be gone", || {
        !running(first.0)
    });
    let second = stderr_pid(&mut proxy, 2);
    assert!(proxy.try_status().is_none(), "{}", proxy.stderr());
    proxy.signal(libc::SIGTERM);
    assert!(proxy.wait_exit().success());
    wait_until("the second debugger's child to be gone", || {
        !running(second.0)
    });
}

#[test]
fn what_the_debugger_started_is_killed_if_it_ignores_sigterm() {
    let port = free_port_pair();
    let mut proxy = spawn_persistent(
        port,
        "session",
        "(trap '' TERM; exec sleep 300) & echo $! >&2; exec cat",
    );
    let stubborn = stderr_pid(&mut proxy, 1);
    proxy.signal(libc::SIGTERM);
    assert!(proxy.wait_exit().success());
    wait_until("the stubborn child to be killed", || !running(stubborn.0));
    // Read by another thread: the last lines may still be on their way.
    proxy.wait_log("ignored SIGTERM: killing them");
}

// ----- the owner's `stop` always gets through -----

#[test]
fn idle_control_connections_cannot_lock_out_status_and_stop() {
    let runtime = TempDir::new("rb-ctl");
    let port = free_port_pair();
    let debugger = FakeDebugger::listen(port);
    let mut cmd = Proxy::command();
    cmd.args(["--port", &port.to_string()])
        .env("XDG_RUNTIME_DIR", &runtime.0);
    let mut proxy = Proxy::spawn(cmd);
    let _conn = debugger.accept();
    proxy.wait_ready();

    // Something keeps 20 control connections open that never ask anything,
    // opening a new one as fast as the proxy closes them.
    let socket = runtime.0.join(format!("dbgproxy/{}.sock", port + 1));
    let opened = Arc::new(AtomicU32::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let pest = {
        let (opened, stop) = (opened.clone(), stop.clone());
        thread::spawn(move || {
            let mut idle = std::collections::VecDeque::new();
            while !stop.load(Ordering::SeqCst) {
                if let Ok(conn) = std::os::unix::net::UnixStream::connect(&socket) {
                    idle.push_back(conn);
                    opened.fetch_add(1, Ordering::SeqCst);
                }
                if idle.len() > 20 {
                    idle.pop_front();
                }
                thread::sleep(Duration::from_millis(5));
            }
        })
    };
    wait_until("the idle connections to pile up", || {
        opened.load(Ordering::SeqCst) >= 40
    });

    for _ in 0..3 {
        assert_eq!(status(&runtime.0, port)["pid"], proxy.pid());
    }
    let out = dbgproxy(&runtime.0, &["stop", "--port", &port.to_string()]);
    assert!(
        out.status.success(),
        "stop failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(proxy.wait_exit().success());
    stop.store(true, Ordering::SeqCst);
    pest.join().unwrap();
}
