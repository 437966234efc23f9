//! dbgproxy against a direct connection and socat, side by side, in one run.
//!
//! `cargo bench` builds the release binary and runs this. The backend is a
//! TCP server inside this process (echo for round trips, a blaster for
//! streams). Each path — the client talking to the backend directly, through
//! dbgproxy, through `socat TCP-LISTEN:…,fork TCP:…` — is measured in
//! alternating rounds, and the report gives medians over rounds and the ratio
//! to direct, since absolute times on a shared machine mean little. Results
//! are printed and written to BENCHMARKS.md. Nothing here asserts a timing;
//! a wrong byte, though, fails the run loudly.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use mio::net::TcpStream as MioStream;

#[path = "support/access.rs"]
mod access;
#[path = "support/cdp.rs"]
mod cdp;
#[path = "support/dbgp_proxy.rs"]
mod dbgp_proxy;
#[path = "support/routed.rs"]
mod routed;
use mio::{Events, Interest, Poll, Token};

thread_local! {
    /// Measurements that explain the figures (CPU use), for the report.
    static NOTES: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn note(text: String) {
    eprintln!("note: {text}");
    NOTES.with(|n| n.borrow_mut().push(text));
}

/// CPU time of the whole machine (busy, total) in clock ticks, from /proc/stat.
fn machine_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap();
    let first = stat.lines().next().unwrap();
    let v: Vec<u64> = first
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let idle = v[3] + v.get(4).copied().unwrap_or(0);
    let total: u64 = v.iter().take(8).sum();
    (total - idle, total)
}

/// Time a (single-threaded) process has spent on a CPU, in nanoseconds
/// (/proc/PID/schedstat: exact, where /proc/PID/stat counts 10 ms ticks).
fn process_cpu_ns(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/schedstat")).unwrap();
    stat.split_whitespace().next().unwrap().parse().unwrap()
}

/// Tracks CPU use between `start` and `stop`.
struct CpuMeter {
    machine: (u64, u64),
    proxy: Option<(u32, u64)>,
}

impl CpuMeter {
    fn start(proxy_pid: Option<u32>) -> CpuMeter {
        CpuMeter {
            machine: machine_ticks(),
            proxy: proxy_pid.map(|p| (p, process_cpu_ns(p))),
        }
    }

    /// (share of all cores busy, proxy CPU seconds)
    fn stop(&self) -> (f64, f64) {
        let (busy, total) = machine_ticks();
        let share = (busy - self.machine.0) as f64 / (total - self.machine.1).max(1) as f64;
        let proxy = self
            .proxy
            .map_or(0.0, |(pid, t0)| (process_cpu_ns(pid) - t0) as f64 / 1e9);
        (share, proxy)
    }
}

fn rounds() -> usize {
    std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5)
}

/// `BENCH_ONLY=rtt,throughput,fanout,routed,cdp,dbgp-proxy,access,idle,start,memory` runs a subset (for
/// profiling); the report is written only for a full run.
fn wanted(part: &str) -> bool {
    std::env::var("BENCH_ONLY").map_or(true, |only| only.split(',').any(|p| p == part))
}
const RTT_ITERS: usize = 2000;
const RTT_ITERS_LARGE: usize = 300;
const STREAM: usize = 512 << 20;
const FANOUT_STREAM: usize = 64 << 20;
const IDLE_CLIENTS: usize = 10_000;
/// The proxy's per-client allowance in the bench: a client reading a 512 MiB
/// blast at full speed must not be dropped as slow when it is scheduled out
/// for a moment on a 2-core machine.
const CLIENT_BUFFER: &str = "268435456";
/// A period of pseudo-random bytes; streams repeat it so a reader can verify
/// every byte with memcmp at full speed.
const PERIOD: usize = 1 << 20;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Path {
    Direct,
    Proxy,
    Socat,
}

impl Path {
    fn name(self) -> &'static str {
        match self {
            Path::Direct => "direct",
            Path::Proxy => "dbgproxy",
            Path::Socat => "socat",
        }
    }
}

fn main() {
    raise_fd_limit();
    let socat = Command::new("socat")
        .arg("-V")
        .stdout(Stdio::null())
        .status()
        .is_ok();
    let paths: Vec<Path> = if socat {
        vec![Path::Direct, Path::Proxy, Path::Socat]
    } else {
        eprintln!("socat is not installed: measuring direct and dbgproxy only");
        vec![Path::Direct, Path::Proxy]
    };
    let started = Instant::now();
    let mut rows = Vec::new();
    for framed in [false, true] {
        let mode = if framed { "framed (dap)" } else { "raw" };
        eprintln!("== {mode}");
        let mut setups: Vec<Setup> = paths.iter().map(|&p| Setup::new(p, framed)).collect();
        if wanted("rtt") {
            rows.extend(rtt_rows(&mut setups, 64, RTT_ITERS, framed, mode));
            rows.extend(rtt_rows(
                &mut setups,
                64 << 10,
                RTT_ITERS_LARGE,
                framed,
                mode,
            ));
        }
        if wanted("throughput") {
            rows.push(throughput_row(&mut setups, framed, mode));
        }
        if wanted("fanout") {
            for n in [10, 100] {
                rows.push(fanout_row(&mut setups, n, framed, mode));
            }
        }
    }
    // Framing must not cost a noticeable share of the speed.
    for size in ["64 B", "64 KiB"] {
        let p50 = |mode: &str| {
            rows.iter()
                .find(|r| r.figure == format!("RTT {size} p50 ({mode})"))
                .and_then(|r| r.proxy)
        };
        if let (Some(raw), Some(framed)) = (p50("raw"), p50("framed (dap)")) {
            let ratio = framed / raw;
            rows.push(Row::single(
                format!("RTT {size} p50 through dbgproxy: framed ÷ raw"),
                "×",
                ratio,
                "≤ 1.1",
                ratio <= 1.1,
            ));
        }
    }
    if wanted("routed") {
        rows.extend(routed::rows());
    }
    if wanted("cdp") {
        rows.extend(cdp::rows());
    }
    if wanted("dbgp-proxy") {
        rows.extend(dbgp_proxy::rows());
    }
    if wanted("access") {
        rows.extend(access::rows());
    }
    if wanted("idle") {
        rows.extend(idle_rows());
    }
    if wanted("start") {
        rows.push(start_row());
    }
    if wanted("memory") {
        rows.push(memory_row(socat));
    }
    let report = render(&rows, started.elapsed());
    println!("{report}");
    if std::env::var_os("BENCH_ONLY").is_none() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/BENCHMARKS.md");
        std::fs::write(path, report).expect("write BENCHMARKS.md");
        eprintln!("written to {path}");
    }
}

// ----- the three paths -----

struct Setup {
    path: Path,
    framed: bool,
    backend: TcpListener,
    port: u16,
    child: Option<Child>,
    /// The proxy's one connection to the backend, kept across rounds.
    proxy_conn: Option<TcpStream>,
}

impl Setup {
    fn new(path: Path, framed: bool) -> Setup {
        let backend = TcpListener::bind("127.0.0.1:0").unwrap();
        let backend_port = backend.local_addr().unwrap().port();
        let mut setup = Setup {
            path,
            framed,
            backend,
            port: backend_port,
            child: None,
            proxy_conn: None,
        };
        match path {
            Path::Direct => {}
            Path::Proxy => {
                let client_port = free_port();
                let mut args = vec![
                    "--port".to_string(),
                    backend_port.to_string(),
                    "--client-port".into(),
                    client_port.to_string(),
                    "--client-buffer".into(),
                    CLIENT_BUFFER.into(),
                    "--max-clients".into(),
                    "20000".into(),
                    "-q".into(),
                ];
                if framed {
                    // Framing alone: the bytes here are not DAP messages, and
                    // the session layer's cost is measured by the routed rows.
                    args.extend(["--protocol".into(), "dap".into(), "--passthrough".into()]);
                }
                // For experiments: `BENCH_PROXY_ARGS="--busy-poll 0" cargo bench`.
                if let Ok(extra) = std::env::var("BENCH_PROXY_ARGS") {
                    args.extend(extra.split_whitespace().map(String::from));
                }
                let mut command = Command::new(env!("CARGO_BIN_EXE_dbgproxy"));
                command.args(&args);
                let (child, conn) = start_proxy(&mut command, &setup.backend);
                setup.proxy_conn = Some(conn);
                setup.port = client_port;
                setup.child = Some(child);
            }
            Path::Socat => {
                let port = free_port();
                let child = Command::new("socat")
                    .arg(format!("TCP-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr"))
                    .arg(format!("TCP:127.0.0.1:{backend_port}"))
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("start socat");
                wait_port(port);
                // The probe made socat connect to the backend: take that one away.
                drop(setup.backend.accept().unwrap());
                setup.port = port;
                setup.child = Some(child);
            }
        }
        setup
    }

    /// A client connected through this path, and the backend's end of it.
    /// Returns once the client is known to be registered: its first message
    /// reached the backend.
    fn pair(&mut self) -> (TcpStream, TcpStream) {
        let mut client = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        client.set_nodelay(true).unwrap();
        let mut server = match &self.proxy_conn {
            Some(conn) => conn.try_clone().unwrap(),
            None => {
                let s = self.backend.accept().unwrap().0;
                s.set_nodelay(true).unwrap();
                s
            }
        };
        let hello = frame(b"hi", self.framed);
        client.write_all(&hello).unwrap();
        let mut got = vec![0; hello.len()];
        server.read_exact(&mut got).unwrap();
        assert_eq!(got, hello);
        (client, server)
    }

    fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn frame(body: &[u8], framed: bool) -> Vec<u8> {
    if framed {
        [
            format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes(),
            body,
        ]
        .concat()
    } else {
        body.to_vec()
    }
}

// ----- round trips -----

fn rtt_rows(setups: &mut [Setup], size: usize, iters: usize, framed: bool, mode: &str) -> Vec<Row> {
    let label = if size >= 1024 {
        format!("{} KiB", size >> 10)
    } else {
        format!("{size} B")
    };
    let msg = frame(&pattern(size), framed);
    let mut p50: Vec<Vec<f64>> = vec![Vec::new(); setups.len()];
    let mut proxy_rtt_cpu: Vec<f64> = Vec::new();
    let mut p99: Vec<Vec<f64>> = vec![Vec::new(); setups.len()];
    for _ in 0..rounds() {
        for (i, setup) in setups.iter_mut().enumerate() {
            let (mut client, mut server) = setup.pair();
            let len = msg.len();
            // socat needs ~88 ms per large round trip (Nagle + delayed ACK):
            // a few are enough to show it, and keep the run short.
            let iters = if setup.path == Path::Socat && size >= 1024 {
                20
            } else {
                iters
            };
            let echo = thread::spawn(move || {
                let mut buf = vec![0; len];
                for _ in 0..iters {
                    server.read_exact(&mut buf).unwrap();
                    server.write_all(&buf).unwrap();
                }
            });
            let mut samples = Vec::with_capacity(iters);
            let mut buf = vec![0; len];
            let metered = setup.path == Path::Proxy && size >= 1024;
            let meter = CpuMeter::start(setup.pid().filter(|_| metered));
            for _ in 0..iters {
                let t = Instant::now();
                client.write_all(&msg).unwrap();
                client.read_exact(&mut buf).unwrap();
                samples.push(t.elapsed().as_secs_f64() * 1e6);
            }
            assert!(
                buf == msg,
                "{}: the echo came back different",
                setup.path.name()
            );
            if metered {
                let (_, cpu) = meter.stop();
                proxy_rtt_cpu.push(cpu * 1e6 / iters as f64);
            }
            echo.join().unwrap();
            samples.sort_by(f64::total_cmp);
            p50[i].push(samples[samples.len() / 2]);
            p99[i].push(samples[samples.len() * 99 / 100]);
        }
    }
    if !proxy_rtt_cpu.is_empty() {
        note(format!(
            "RTT {label} ({mode}): dbgproxy's own CPU time per round trip: {:.0} µs (averaged over {iters} trips; includes any busy-poll window)",
            median(&proxy_rtt_cpu)
        ));
    }
    let names: Vec<Path> = setups.iter().map(|s| s.path).collect();
    let target = if size == 64 {
        "p50 ≤ 1.3× direct"
    } else {
        "≤ 1.5× direct"
    };
    let limit = if size == 64 { 1.3 } else { 1.5 };
    vec![
        Row::compare(
            format!("RTT {label} p50 ({mode})"),
            "µs",
            &names,
            &p50,
            target,
            Goal::AtMost(limit),
        ),
        Row::compare(
            format!("RTT {label} p99 ({mode})"),
            "µs",
            &names,
            &p99,
            "",
            Goal::None,
        ),
    ]
}

// ----- one stream -----

fn throughput_row(setups: &mut [Setup], framed: bool, mode: &str) -> Row {
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); setups.len()];
    let mut busy: Vec<Vec<f64>> = vec![Vec::new(); setups.len()];
    let mut proxy_cpu = Vec::new();
    for _ in 0..rounds() {
        for (i, setup) in setups.iter_mut().enumerate() {
            let (client, server) = setup.pair();
            let is_proxy = setup.path == Path::Proxy;
            let meter = CpuMeter::start(setup.pid().filter(|_| is_proxy));
            let (bytes, elapsed) = stream(server, vec![client], STREAM, framed);
            let (share, proxy) = meter.stop();
            rates[i].push(bytes as f64 / elapsed / 1e6);
            busy[i].push(share * 100.0);
            if is_proxy {
                proxy_cpu.push(proxy / elapsed * 100.0);
            }
        }
    }
    let shares: Vec<String> = setups
        .iter()
        .zip(&busy)
        .map(|(s, b)| format!("{} {:.0} %", s.path.name(), median(b)))
        .collect();
    note(format!(
        "throughput ({mode}): share of both cores busy during the stream: {}; dbgproxy itself used {:.0} % of one core",
        shares.join(", "),
        median(&proxy_cpu)
    ));
    let names: Vec<Path> = setups.iter().map(|s| s.path).collect();
    Row::compare(
        format!("throughput, 512 MiB ({mode})"),
        "MB/s",
        &names,
        &rates,
        "≥ 0.7× direct",
        Goal::AtLeast(0.7),
    )
}

/// Fan-out: dbgproxy only (direct and socat have no fan-out); compared with
/// the direct single-stream rate measured in the same run.
fn fanout_row(setups: &mut [Setup], clients: usize, framed: bool, mode: &str) -> Row {
    let mut direct = Vec::new();
    let mut proxy = Vec::new();
    for _ in 0..rounds().min(3) {
        for setup in setups.iter_mut() {
            match setup.path {
                Path::Direct => {
                    let (client, server) = setup.pair();
                    let (bytes, elapsed) = stream(server, vec![client], FANOUT_STREAM, framed);
                    direct.push(bytes as f64 / elapsed / 1e6);
                }
                Path::Proxy => {
                    let pairs: Vec<(TcpStream, TcpStream)> =
                        (0..clients).map(|_| setup.pair()).collect();
                    let server = pairs[0].1.try_clone().unwrap();
                    let readers = pairs.into_iter().map(|(c, _)| c).collect();
                    let (bytes, elapsed) = stream(server, readers, FANOUT_STREAM, framed);
                    proxy.push(bytes as f64 / elapsed / 1e6);
                }
                Path::Socat => {}
            }
        }
    }
    let d = median(&direct);
    let p = median(&proxy);
    eprintln!("fan-out {clients} ({mode}): direct {d:.0} proxy {p:.0}");
    Row {
        figure: format!("fan-out, {clients} clients × 64 MiB, aggregate ({mode})"),
        unit: "MB/s",
        direct: Some(d),
        proxy: Some(p),
        socat: None,
        ratio: Some(p / d),
        target: if clients == 100 {
            "≥ 1× direct single stream".into()
        } else {
            String::new()
        },
        met: (clients == 100).then_some(p / d >= 1.0),
    }
}

/// The backend sends `len` payload bytes on `server`; every reader must get
/// all of them, verified. Returns (bytes delivered in all, seconds).
fn stream(
    mut server: TcpStream,
    readers: Vec<TcpStream>,
    len: usize,
    framed: bool,
) -> (usize, f64) {
    let body = pattern(PERIOD);
    // Framed: 64 KiB messages; the reader checks the whole framed stream.
    let unit: Vec<u8> = if framed {
        let mut u = Vec::new();
        for piece in body.chunks(64 << 10) {
            u.extend(frame(piece, true));
        }
        u
    } else {
        body
    };
    let units = len.div_ceil(PERIOD);
    let total = unit.len() * units;
    let start = Instant::now();
    let writer = {
        let unit = unit.clone();
        thread::spawn(move || {
            for _ in 0..units {
                server.write_all(&unit).unwrap();
            }
            server
        })
    };
    let (delivered, _readers) = read_all(readers, &unit, total);
    let elapsed = start.elapsed().as_secs_f64();
    let _server = writer.join().unwrap();
    (delivered, elapsed)
}

/// Reads `total` bytes on every stream with one mio loop, checking each byte
/// against the repeating `unit`. Fails loudly on a short or wrong stream.
/// Returns the bytes delivered in all, and the streams (blocking again).
fn read_all(readers: Vec<TcpStream>, unit: &[u8], total: usize) -> (usize, Vec<TcpStream>) {
    let mut poll = Poll::new().unwrap();
    let mut streams: Vec<(MioStream, usize)> = readers
        .into_iter()
        .map(|s| {
            s.set_nonblocking(true).unwrap();
            (MioStream::from_std(s), 0)
        })
        .collect();
    for (i, (s, _)) in streams.iter_mut().enumerate() {
        poll.registry()
            .register(s, Token(i), Interest::READABLE)
            .unwrap();
    }
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 256 << 10];
    let mut done = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut ready: Vec<usize> = (0..streams.len()).collect();
    while done < streams.len() {
        for i in std::mem::take(&mut ready) {
            let (s, got) = &mut streams[i];
            loop {
                match s.read(&mut buf) {
                    Ok(0) => panic!("stream {i} ended after {got} of {total} bytes"),
                    Ok(n) => {
                        let mut off = 0;
                        while off < n {
                            let at = (*got + off) % unit.len();
                            let take = (unit.len() - at).min(n - off);
                            assert!(
                                buf[off..off + take] == unit[at..at + take],
                                "stream {i}: wrong bytes at {}",
                                *got + off
                            );
                            off += take;
                        }
                        *got += n;
                        assert!(*got <= total, "stream {i}: more than {total} bytes");
                        if *got == total {
                            done += 1;
                            break;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => panic!("stream {i}: {e}"),
                }
            }
        }
        if done == streams.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "readers stalled: {done} of {} complete",
            streams.len()
        );
        poll.poll(&mut events, Some(Duration::from_secs(5)))
            .unwrap();
        ready.extend(events.iter().map(|e| e.token().0));
    }
    let delivered = total * streams.len();
    let streams = streams
        .into_iter()
        .map(|(s, _)| {
            let s = TcpStream::from(std::os::fd::OwnedFd::from(s));
            s.set_nonblocking(false).unwrap();
            s
        })
        .collect();
    (delivered, streams)
}

// ----- idle clients, start-up, memory -----

fn idle_rows() -> Vec<Row> {
    let mut setup = Setup::new(Path::Proxy, false);
    let pid = setup.pid().unwrap();
    let (_first, mut server) = setup.pair();
    let before = rss_kib(pid);
    let mut clients = Vec::with_capacity(IDLE_CLIENTS);
    for i in 0..IDLE_CLIENTS {
        let c = TcpStream::connect(("127.0.0.1", setup.port))
            .unwrap_or_else(|e| panic!("client {i}: {e}"));
        clients.push(c);
    }
    // Each says one byte: when the backend has them all, all are registered.
    for c in clients.iter_mut() {
        c.write_all(b"i").unwrap();
    }
    let mut got = vec![0u8; IDLE_CLIENTS];
    server.read_exact(&mut got).unwrap();
    let after = rss_kib(pid);
    let per_client = (after - before) as f64 * 1024.0 / IDLE_CLIENTS as f64;
    let mut deliveries = Vec::new();
    let meter = CpuMeter::start(Some(pid));
    for _ in 0..rounds() {
        let msg = pattern(100);
        let t = Instant::now();
        server.write_all(&msg).unwrap();
        let (_, back) = read_all(clients, &msg, msg.len());
        deliveries.push(t.elapsed().as_secs_f64() * 1e3);
        clients = back;
    }
    let (share, proxy_cpu) = meter.stop();
    let per_round = proxy_cpu / rounds() as f64;
    note(format!(
        "idle scale: delivering 100 B to {IDLE_CLIENTS} clients cost dbgproxy {:.0} ms of CPU per round \
         ({:.1} µs per client: one writev each), with both cores {:.0} % busy (the readers in this process take the rest)",
        per_round * 1e3,
        per_round * 1e6 / IDLE_CLIENTS as f64,
        share * 100.0
    ));
    vec![
        Row::single(
            format!("idle scale: RSS growth per idle client ({IDLE_CLIENTS} clients)"),
            "bytes",
            per_client,
            "≤ 2 KiB",
            per_client <= 2048.0,
        ),
        Row::single(
            format!("idle scale: 100 B from the backend reaches all {IDLE_CLIENTS}"),
            "ms",
            median(&deliveries),
            "≤ 50 ms",
            median(&deliveries) <= 50.0,
        ),
    ]
}

/// Spawn → `ß` on stdout with the backend already listening; `/bin/echo ß`
/// spawned and read the same way is the machine's floor for comparison.
fn start_row() -> Row {
    let backend = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = backend.local_addr().unwrap().port();
    let mut proxy_times = Vec::new();
    let mut echo_times = Vec::new();
    for _ in 0..30 {
        let client_port = free_port();
        let t = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_dbgproxy"))
            .args([
                "--port",
                &port.to_string(),
                "--client-port",
                &client_port.to_string(),
                "-q",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        proxy_times.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(line, "ß\n");
        let _ = child.kill();
        let _ = child.wait();
        let _ = backend.accept();

        let t = Instant::now();
        let mut echo = Command::new("/bin/echo")
            .arg("ß")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(echo.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        echo_times.push(t.elapsed().as_secs_f64() * 1e3);
        let _ = echo.wait();
    }
    let p = median(&proxy_times);
    let e = median(&echo_times);
    Row {
        figure: "start: spawn → ß on stdout (direct column: /bin/echo ß)".into(),
        unit: "ms",
        direct: Some(e),
        proxy: Some(p),
        socat: None,
        ratio: Some(p / e),
        target: "≤ 3 ms median".into(),
        met: Some(p <= 3.0),
    }
}

fn memory_row(socat: bool) -> Row {
    let mut proxy = Setup::new(Path::Proxy, false);
    let _pair = proxy.pair();
    let p = rss_kib(proxy.pid().unwrap()) as f64 / 1024.0;
    let s = socat.then(|| {
        let mut socat = Setup::new(Path::Socat, false);
        let _pair = socat.pair();
        rss_kib(socat.pid().unwrap()) as f64 / 1024.0
    });
    Row {
        figure: "memory: RSS with one idle client (socat: its listening parent)".into(),
        unit: "MiB",
        direct: None,
        proxy: Some(p),
        socat: s,
        ratio: None,
        target: "≤ 3 MiB".into(),
        met: Some(p <= 3.0),
    }
}

// ----- the report -----

enum Goal {
    AtMost(f64),
    AtLeast(f64),
    None,
}

struct Row {
    figure: String,
    unit: &'static str,
    direct: Option<f64>,
    proxy: Option<f64>,
    socat: Option<f64>,
    ratio: Option<f64>,
    target: String,
    met: Option<bool>,
}

impl Row {
    fn compare(
        figure: String,
        unit: &'static str,
        paths: &[Path],
        rounds: &[Vec<f64>],
        target: &str,
        goal: Goal,
    ) -> Row {
        let get = |p: Path| {
            paths
                .iter()
                .position(|&x| x == p)
                .map(|i| median(&rounds[i]))
        };
        let (d, p, s) = (get(Path::Direct), get(Path::Proxy), get(Path::Socat));
        let ratio = match (p, d) {
            (Some(p), Some(d)) => Some(p / d),
            _ => None,
        };
        let met = match (goal, ratio) {
            (Goal::AtMost(x), Some(r)) => Some(r <= x),
            (Goal::AtLeast(x), Some(r)) => Some(r >= x),
            _ => None,
        };
        eprintln!("{figure}: direct {d:?} proxy {p:?} socat {s:?}");
        Row {
            figure,
            unit,
            direct: d,
            proxy: p,
            socat: s,
            ratio,
            target: target.into(),
            met,
        }
    }

    fn single(figure: String, unit: &'static str, value: f64, target: &str, met: bool) -> Row {
        eprintln!("{figure}: {value:.1}");
        Row {
            figure,
            unit,
            direct: None,
            proxy: Some(value),
            socat: None,
            ratio: None,
            target: target.into(),
            met: Some(met),
        }
    }
}

fn render(rows: &[Row], took: Duration) -> String {
    let cores = thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let date = Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d %H:%M UTC")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let fmt = |v: Option<f64>| {
        v.map(|v| {
            if v >= 100.0 {
                format!("{v:.0}")
            } else {
                format!("{v:.2}")
            }
        })
        .unwrap_or_else(|| "–".into())
    };
    let mut out = format!(
        "# Benchmarks\n\nProduced by `cargo bench` (benches/proxy.rs) on {date}: {cores} cores, Linux {}, \
         {} alternating rounds per figure ({} for the routed rows, whose figure is the median of \
         the rounds' ratios), medians over rounds; the run took {:.0} s.\n\n\
         | figure | unit | direct | dbgproxy | socat | dbgproxy ÷ direct | target | met |\n|---|---|---|---|---|---|---|---|\n",
        kernel.trim(),
        rounds(),
        routed::rounds(),
        took.as_secs_f64()
    );
    for r in rows {
        let met = match r.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "",
        };
        out += &format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.figure,
            r.unit,
            fmt(r.direct),
            fmt(r.proxy),
            fmt(r.socat),
            r.ratio
                .map(|x| format!("{x:.2}×"))
                .unwrap_or_else(|| "–".into()),
            r.target,
            met
        );
    }
    let notes = NOTES.with(|n| n.borrow().clone());
    if !notes.is_empty() {
        out += "\n## CPU measured during the runs\n\n";
        for n in notes {
            out += &format!("- {n}\n");
        }
    }
    out += ANALYSIS;
    out
}

/// What bounds the figures that miss their targets; the numbers it cites are
/// in the table and the CPU notes above, measured in the same run.
const ANALYSIS: &str = include_str!("analysis.md");

// ----- small things -----

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn pattern(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e3779b97f4a7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b'a' + (x % 26) as u8
        })
        .collect()
}

/// Starts the dbgproxy `command` describes, stdout piped, and waits until
/// it is ready: its connection to `backend` accepted (TCP_NODELAY set) and
/// its `ß` marker read.
fn start_proxy(command: &mut Command, backend: &TcpListener) -> (Child, TcpStream) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start dbgproxy");
    let (conn, _) = backend.accept().expect("the proxy connects to the backend");
    conn.set_nodelay(true).unwrap();
    let mut marker = [0u8; 3];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut marker)
        .unwrap();
    assert_eq!(&marker, "ß\n".as_bytes());
    (child, conn)
}

fn free_port() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if port < 65535 {
            return port;
        }
    }
}

fn wait_port(port: u16) {
    let end = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < end, "port {port} never opened");
        thread::sleep(Duration::from_millis(5));
    }
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit on our own process with a valid struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}
