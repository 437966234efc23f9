//! Helpers for driving the real `dbgproxy` binary over real sockets.
//!
//! Nothing here sleeps to synchronise: waits poll a condition (a marker on
//! stdout, a line on stderr, a port that accepts, bytes read) until a deadline,
//! and fail with what the proxy logged when the deadline passes.

pub mod cli;
pub mod dap;
pub mod dbgp;
pub mod debuggees;
pub mod debugpy;
pub mod inbox;
pub mod mi;
pub mod tools;
pub mod wire;

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Child, ChildStderr, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

pub const MARKER: &[u8] = b"\xC3\x9F\n";
pub const DEADLINE: Duration = Duration::from_secs(20);

/// Waits for `cond` until `DEADLINE`, polling every few milliseconds.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + DEADLINE;
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(5));
    }
}

/// A port `p` such that `p` and `p + 1` are both free right now: the debug port
/// and the client port. Ports are handed out from a per-process sequence of
/// 100 ports at a pid-derived offset, so parallel tests and parallel test
/// binaries do not race for the same pair, and below Linux's ephemeral range
/// (32768 and up), where outgoing connections take their local ports.
pub fn free_port_pair() -> u16 {
    const BASE: u16 = 10000;
    const SPAN: u16 = 100;
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let start = BASE + (std::process::id() % 220) as u16 * SPAN;
    let _ = NEXT.compare_exchange(0, start, Ordering::SeqCst, Ordering::SeqCst);
    loop {
        let mut p = NEXT.fetch_add(2, Ordering::SeqCst);
        if p >= 32766 {
            p = BASE + (p - BASE) % (32766 - BASE);
        }
        if TcpListener::bind(("127.0.0.1", p)).is_ok()
            && TcpListener::bind(("127.0.0.1", p + 1)).is_ok()
        {
            return p;
        }
    }
}

/// The real binary, its stdout and stderr collected by threads; killed on drop.
pub struct Proxy {
    child: Child,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    status: Option<ExitStatus>,
}

pub fn collect(from: impl Read + Send + 'static) -> Arc<Mutex<Vec<u8>>> {
    let buf = Arc::new(Mutex::new(Vec::new()));
    collect_into(from, buf.clone());
    buf
}

fn collect_into(mut from: impl Read + Send + 'static, sink: Arc<Mutex<Vec<u8>>>) {
    thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(n) = from.read(&mut chunk) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&chunk[..n]);
        }
    });
}

/// This test binary's runtime directory (what `XDG_RUNTIME_DIR` names for
/// every dbgproxy it starts, unless a test gives its own): the control
/// sockets of proxies a test kills outright stay there, not among the user's
/// real ones. Removed when the test binary exits.
pub fn runtime_dir() -> &'static std::path::Path {
    static DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir =
            std::env::temp_dir().join(format!("dbgproxy-test-{}-runtime", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the tests' runtime directory");
        extern "C" fn remove() {
            if let Some(dir) = DIR.get() {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
        // SAFETY: registers a plain function; the test harness ends with exit(3).
        unsafe { libc::atexit(remove) };
        dir
    })
}

/// `dbgproxy` (the proxy or a control command) with this test binary's
/// runtime directory; a test that sets `XDG_RUNTIME_DIR` itself overrides it.
pub fn dbgproxy_command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dbgproxy"));
    cmd.env("XDG_RUNTIME_DIR", runtime_dir());
    cmd
}

impl Proxy {
    pub fn command() -> Command {
        dbgproxy_command()
    }

    pub fn start(args: &[&str]) -> Proxy {
        let mut cmd = Proxy::command();
        cmd.args(args);
        Proxy::spawn(cmd)
    }

    pub fn spawn(cmd: Command) -> Proxy {
        let (mut proxy, stderr) = Proxy::spawn_stderr_unread(cmd);
        proxy.read_stderr(stderr);
        proxy
    }

    /// A persistent proxy over lldb's DAP adapter (stdio), run in `dir`
    /// (where the tests compile their C program), ready.
    pub fn lldb(dir: &std::path::Path, port: u16) -> Proxy {
        let mut cmd = Proxy::command();
        cmd.current_dir(dir)
            .args([
                "--backend",
                "spawn",
                "--protocol",
                "dap",
                "--mode",
                "persistent",
            ])
            .args(["--port", &port.to_string(), "--"])
            .arg(tools::lldb_dap());
        let mut proxy = Proxy::spawn(cmd);
        proxy.wait_ready();
        proxy
    }

    /// Starts the binary (`dbgproxy attach`, say) with a pipe to its stdin,
    /// returned with it; stdout and stderr are collected as by `spawn`.
    pub fn spawn_with_stdin(mut cmd: Command) -> (Proxy, ChildStdin) {
        cmd.stdin(Stdio::piped());
        let (mut proxy, stderr) = Proxy::launch(cmd);
        proxy.read_stderr(stderr);
        let stdin = proxy.child.stdin.take().expect("a piped stdin");
        (proxy, stdin)
    }

    /// Starts the binary with its stderr a pipe that nobody reads yet, as an
    /// IDE that never reads it would: the read end is returned, open.
    pub fn spawn_stderr_unread(mut cmd: Command) -> (Proxy, ChildStderr) {
        cmd.stdin(Stdio::null());
        Proxy::launch(cmd)
    }

    fn launch(mut cmd: Command) -> (Proxy, ChildStderr) {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let set_by_test = cmd.get_envs().any(|(k, _)| k == "RUST_LOG");
        if !set_by_test && std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "debug");
        }
        let mut child = cmd.spawn().expect("start dbgproxy");
        let stdout = collect(child.stdout.take().unwrap());
        let stderr = child.stderr.take().unwrap();
        let proxy = Proxy {
            child,
            stdout,
            stderr: Arc::new(Mutex::new(Vec::new())),
            status: None,
        };
        (proxy, stderr)
    }

    /// Starts reading the proxy's stderr (what `stderr()` returns).
    pub fn read_stderr(&mut self, pipe: ChildStderr) {
        collect_into(pipe, self.stderr.clone());
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stdout(&self) -> Vec<u8> {
        self.stdout.lock().unwrap().clone()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// Waits for the ready marker; fails with the proxy's logs if it never comes.
    pub fn wait_ready(&mut self) {
        let end = Instant::now() + DEADLINE;
        loop {
            let out = self.stdout();
            if out.starts_with(MARKER) {
                assert_eq!(out, MARKER, "stdout must hold the marker only");
                return;
            }
            assert!(
                out.is_empty() || MARKER.starts_with(&out),
                "unexpected stdout: {out:?}"
            );
            if let Some(status) = self.try_status() {
                panic!(
                    "dbgproxy exited ({status}) before ready:\n{}",
                    self.stderr()
                );
            }
            assert!(Instant::now() < end, "no ready marker:\n{}", self.stderr());
            thread::sleep(Duration::from_millis(2));
        }
    }

    /// Waits until stderr contains `needle`.
    pub fn wait_log(&mut self, needle: &str) {
        let end = Instant::now() + DEADLINE;
        while !self.stderr().contains(needle) {
            assert!(
                Instant::now() < end,
                "no log line with {needle:?}:\n{}",
                self.stderr()
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().expect("try_wait");
        }
        self.status
    }

    /// Waits for the process to exit; fails with its logs at the deadline.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let end = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.try_status() {
                // Let the collector threads take the last bytes of the pipes.
                wait_until("the pipes to close", || {
                    Arc::strong_count(&self.stderr) == 1 && Arc::strong_count(&self.stdout) == 1
                });
                return status;
            }
            assert!(
                Instant::now() < end,
                "dbgproxy did not exit:\n{}",
                self.stderr()
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on a pid we own; no memory is involved.
        let rc = unsafe { libc::kill(self.child.id() as i32, sig) };
        assert_eq!(rc, 0, "kill failed");
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if self.try_status().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if thread::panicking() {
            eprintln!("--- dbgproxy stderr ---\n{}", self.stderr());
        }
    }
}

/// A test client: a blocking socket with a read timeout, so no read hangs.
pub struct Client {
    pub stream: TcpStream,
}

impl Client {
    pub fn connect(port: u16) -> Client {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the proxy");
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        stream.set_nodelay(true).unwrap();
        Client { stream }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("client write");
    }

    /// Reads exactly `n` bytes, or fails at the deadline.
    pub fn read_n(&mut self, n: usize) -> Vec<u8> {
        let mut buf = vec![0; n];
        self.stream
            .read_exact(&mut buf)
            .unwrap_or_else(|e| panic!("client wanted {n} bytes: {e}"));
        buf
    }

    /// Reads until the proxy closes the connection.
    pub fn read_to_end(&mut self) -> Vec<u8> {
        let mut buf = Vec::new();
        match self.stream.read_to_end(&mut buf) {
            Ok(_) => buf,
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => buf,
            Err(e) => panic!("client read to end: {e} after {} bytes", buf.len()),
        }
    }

    /// Closes with RST instead of FIN (SO_LINGER 0), like a crashed IDE.
    pub fn reset(self) {
        reset_stream(&self.stream);
    }

    pub fn half_close(&self) {
        self.stream.shutdown(Shutdown::Write).unwrap();
    }
}

/// Binds a port `free_port_pair` handed out. Something outside the test run
/// can hold it for a moment (seen once in CI); wait a little, and if it
/// stays taken, fail naming what holds it.
fn bind_retrying(port: u16) -> TcpListener {
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        match TcpListener::bind(("127.0.0.1", port)) {
            Ok(listener) => return listener,
            Err(e) if e.kind() == io::ErrorKind::AddrInUse && Instant::now() < end => {
                thread::sleep(Duration::from_millis(20));
            }
            Err(e) => {
                let holders = std::process::Command::new("ss")
                    .args(["-tanp", &format!("( sport = :{port} )")])
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                    .unwrap_or_default();
                panic!("binding the debug port {port}: {e}; sockets on it:\n{holders}");
            }
        }
    }
}

/// Plays the debugger for the connect backend: a listener on the debug port.
pub struct FakeDebugger {
    listener: TcpListener,
}

impl FakeDebugger {
    pub fn listen(port: u16) -> FakeDebugger {
        let listener = bind_retrying(port);
        listener.set_nonblocking(true).unwrap();
        FakeDebugger { listener }
    }

    /// A connection from the proxy if one is waiting, without waiting.
    pub fn try_accept(&self) -> Option<TcpStream> {
        match self.listener.accept() {
            Ok((stream, _)) => Some(stream),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
            Err(e) => panic!("accept: {e}"),
        }
    }

    /// Waits for the proxy to connect.
    pub fn accept(&self) -> TcpStream {
        let end = Instant::now() + DEADLINE;
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    stream.set_nonblocking(false).unwrap();
                    stream.set_read_timeout(Some(DEADLINE)).unwrap();
                    stream.set_nodelay(true).unwrap();
                    return stream;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    assert!(Instant::now() < end, "the proxy never connected");
                    thread::sleep(Duration::from_millis(2));
                }
                Err(e) => panic!("accept: {e}"),
            }
        }
    }
}

/// Whether `pid` still runs: gone, or a zombie waiting for a reaper, is not.
pub fn running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

/// Reads one line a test debugger printed (`echo $$`) as a pid.
pub fn read_pid(client: &mut Client) -> i32 {
    let mut line = Vec::new();
    while !line.ends_with(b"\n") {
        line.extend(client.read_n(1));
    }
    String::from_utf8(line)
        .unwrap()
        .trim()
        .parse()
        .expect("a pid line")
}

/// Deterministic pseudo-random bytes (xorshift), so that misordering shows.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// FNV-1a: a checksum that is cheap and order-sensitive.
pub fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x100000001b3)
    })
}

/// Reads exactly `n` bytes from any stream or fails at its read timeout.
pub fn read_n(stream: &mut impl Read, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    stream
        .read_exact(&mut buf)
        .unwrap_or_else(|e| panic!("wanted {n} bytes: {e}"));
    buf
}

/// Makes closing `stream` send RST instead of FIN (SO_LINGER 0), like a
/// crashed IDE; the caller drops it.
pub fn reset_stream(stream: &TcpStream) {
    socket2::SockRef::from(stream)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
}

/// What one read with a deadline gave the protocol clients (`dap.rs`,
/// `dbgp.rs`, `mi.rs`), which parse `buf` between reads.
pub enum Filled {
    /// Bytes were appended to `buf`.
    Data,
    /// The proxy closed the connection (FIN or RST).
    Closed,
    /// Nothing came before `until`.
    TimedOut,
}

/// Reads once from `stream` into `buf`, waiting at most until `until`.
pub fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>, until: Instant) -> io::Result<Filled> {
    let left = until.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Ok(Filled::TimedOut);
    }
    stream.set_read_timeout(Some(left.max(Duration::from_millis(1))))?;
    let mut chunk = [0u8; 65536];
    match stream.read(&mut chunk) {
        Ok(0) => Ok(Filled::Closed),
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            Ok(Filled::Data)
        }
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            Ok(Filled::TimedOut)
        }
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => Ok(Filled::Closed),
        Err(e) => Err(e),
    }
}
