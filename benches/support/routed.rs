//! Round trips routed by the session layer, against raw mode carrying the
//! same bytes, in the same run (issues #10 and #11: routing must cost little).
//!
//! A backend in this process answers each request with a response carrying
//! the request's id (DAP and V8: `request_seq`; GDB/MI: the token). Each
//! client sends its own requests one at a time and waits for its own answer.
//! Through the session layer, a client gets only its own answers; in raw mode
//! every client gets every answer and skips the others', as a raw client
//! must. Ids are disjoint across clients so that raw mode can be matched too;
//! the session layer rewrites them all the same.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::Instant;

use super::{Row, free_port, median, note, start_proxy};

/// Rounds for these rows: at least 9 whatever `BENCH_ROUNDS` says, because
/// their ratio is a median over rounds, and each round costs well under a
/// second.
pub fn rounds() -> usize {
    super::rounds().max(9)
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Dap,
    V8,
    GdbMi,
}

impl Dialect {
    fn name(self) -> &'static str {
        match self {
            Dialect::Dap => "dap",
            Dialect::V8 => "v8",
            Dialect::GdbMi => "gdb-mi",
        }
    }

    fn greeting(self) -> &'static [u8] {
        match self {
            Dialect::Dap => b"",
            Dialect::V8 => b"Type: connect\r\nV8-Version: 5.1.281.111\r\nProtocol-Version: 1\r\nEmbedding-Host: node v6.17.1\r\nContent-Length: 0\r\n\r\n",
            Dialect::GdbMi => b"=thread-group-added,id=\"i1\"\n(gdb) \n",
        }
    }

    fn request(self, id: u64, pad: &str) -> Vec<u8> {
        match self {
            Dialect::Dap | Dialect::V8 => framed(format!(
                "{{\"seq\":{id},\"type\":\"request\",\"command\":\"evaluate\",\"arguments\":{{\"expression\":\"{pad}\"}}}}"
            )),
            Dialect::GdbMi => format!("{id}-data-evaluate-expression \"{pad}\"\n").into_bytes(),
        }
    }

    fn response(self, seq: u64, id: &str, pad: &str) -> Vec<u8> {
        match self {
            Dialect::Dap => framed(format!(
                "{{\"seq\":{seq},\"type\":\"response\",\"request_seq\":{id},\"success\":true,\"command\":\"evaluate\",\"body\":{{\"result\":\"{pad}\",\"variablesReference\":0}}}}"
            )),
            Dialect::V8 => framed(format!(
                "{{\"seq\":{seq},\"request_seq\":{id},\"type\":\"response\",\"command\":\"evaluate\",\"success\":true,\"body\":{{\"value\":\"{pad}\"}},\"running\":false}}"
            )),
            Dialect::GdbMi => format!("{id}^done,value=\"{pad}\"\n(gdb) \n").into_bytes(),
        }
    }
}

fn framed(body: String) -> Vec<u8> {
    let mut m = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    m.extend_from_slice(body.as_bytes());
    m
}

/// Reads one message: a Content-Length frame's body, or one line; `None`
/// when the stream ends.
fn read_message(r: &mut BufReader<TcpStream>, dialect: Dialect) -> Option<Vec<u8>> {
    if dialect == Dialect::GdbMi {
        let mut line = Vec::new();
        r.read_until(b'\n', &mut line).ok()?;
        return (!line.is_empty()).then_some(line);
    }
    let mut len = 0;
    loop {
        let mut header = String::new();
        if r.read_line(&mut header).ok()? == 0 {
            return None;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some(v) = header.strip_prefix("Content-Length:") {
            len = v.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some(body)
}

/// The id a request or response carries, as text.
fn find_id<'a>(message: &'a [u8], dialect: Dialect, key: &str) -> Option<&'a str> {
    let text = std::str::from_utf8(message).ok()?;
    if dialect == Dialect::GdbMi {
        let end = text.find(|c: char| !c.is_ascii_digit())?;
        return (end > 0).then(|| &text[..end]);
    }
    let at = text.find(key)? + key.len();
    let rest = &text[at..];
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

/// Where these rows run: the proxy under test alone on the last CPU this
/// process may use, this process's threads (clients and backend) on the
/// others, for raw and routed alike. Left to the scheduler, on two cores,
/// one proxy spinning in its busy-poll window and three or more threads of
/// this process change places from one round to the next, and a round
/// where the proxy shares a core with a client is a third slower whatever
/// the proxy does: pinned, a round's ratio repeats within a few per cent.
/// `BENCH_PIN=0` turns it off; with one CPU there is nothing to place.
#[derive(Clone, Copy)]
struct Placement {
    proxy: usize,
    others: libc::cpu_set_t,
}

fn placement() -> Option<Placement> {
    if std::env::var("BENCH_PIN").is_ok_and(|v| v == "0") {
        return None;
    }
    // The CPUs this process may use: in a container that may be any few.
    // SAFETY: the set is a local, zeroed cpu_set_t of the size passed.
    let allowed = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        let rc = libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set);
        (rc == 0).then_some(set)
    }?;
    let cpus: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
        // SAFETY: c is below CPU_SETSIZE, the set's size.
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &allowed) })
        .collect();
    let (&proxy, others) = cpus.split_last()?;
    if others.is_empty() {
        return None;
    }
    Some(Placement {
        proxy,
        others: cpu_set(others),
    })
}

fn cpu_set(cpus: &[usize]) -> libc::cpu_set_t {
    // SAFETY: a zeroed cpu_set_t is the empty set; CPU_SET checks the
    // index against the set's size.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &cpu in cpus {
            libc::CPU_SET(cpu, &mut set);
        }
        set
    }
}

/// Restricts the calling thread (`pid` 0) or process to `set`.
fn pin(pid: libc::pid_t, set: &libc::cpu_set_t) -> std::io::Result<()> {
    // SAFETY: the pointer and size passed are those of `set`.
    let rc = unsafe { libc::sched_setaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), set) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Pins the calling thread to the CPUs the proxy does not have.
fn pin_here(place: Option<Placement>) {
    if let Some(p) = place {
        pin(0, &p.others).expect("pin a bench thread");
    }
}

/// A proxy with an answering backend behind it.
struct Path {
    child: Child,
    port: u16,
    place: Option<Placement>,
}

impl Drop for Path {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dialect: Dialect, routed: bool, pad: Arc<str>, place: Option<Placement>) -> Path {
    let backend = TcpListener::bind("127.0.0.1:0").unwrap();
    let backend_port = backend.local_addr().unwrap().port();
    let port = free_port();
    let protocol = if routed { dialect.name() } else { "raw" };
    let mut command = Command::new(env!("CARGO_BIN_EXE_dbgproxy"));
    if let Some(p) = place {
        // SAFETY: between fork and exec only sched_setaffinity runs, a
        // plain system call that allocates nothing.
        unsafe {
            let alone = cpu_set(&[p.proxy]);
            command.pre_exec(move || pin(0, &alone));
        }
    }
    command
        .args(["--port", &backend_port.to_string()])
        .args(["--client-port", &port.to_string()])
        .args(["--protocol", protocol, "--mode", "persistent", "-q"])
        .args(
            std::env::var("BENCH_ROUTED_ARGS")
                .unwrap_or_default()
                .split_whitespace()
                .filter(|_| routed),
        );
    let (child, conn) = start_proxy(&mut command, &backend);
    thread::spawn(move || {
        pin_here(place);
        answer(conn, dialect, &pad)
    });
    Path { child, port, place }
}

/// The backend: answers every request with its id, until the proxy goes.
fn answer(conn: TcpStream, dialect: Dialect, pad: &str) {
    let mut out = conn.try_clone().unwrap();
    if out.write_all(dialect.greeting()).is_err() {
        return;
    }
    let mut r = BufReader::new(conn);
    let mut seq = 1;
    while let Some(message) = read_message(&mut r, dialect) {
        let Some(id) = find_id(&message, dialect, "\"seq\":") else {
            continue;
        };
        seq += 1;
        if out.write_all(&dialect.response(seq, id, pad)).is_err() {
            return;
        }
    }
}

/// Each of `clients` makes `iters` round trips; returns every sample (µs)
/// and how many answers to other clients they were given.
fn run(path: &Path, dialect: Dialect, clients: usize, iters: usize, pad: &str) -> (Vec<f64>, u64) {
    let place = path.place;
    let foreign = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            let stream = TcpStream::connect(("127.0.0.1", path.port)).unwrap();
            stream.set_nodelay(true).unwrap();
            let pad = pad.to_string();
            let foreign = foreign.clone();
            thread::spawn(move || {
                pin_here(place);
                let mut w = stream.try_clone().unwrap();
                let mut r = BufReader::new(stream);
                let mut samples = Vec::with_capacity(iters);
                for k in 0..iters {
                    let id = ((c as u64 + 1) * 1_000_000 + k as u64).to_string();
                    let request = dialect.request(id.parse().unwrap(), &pad);
                    let t = Instant::now();
                    w.write_all(&request).unwrap();
                    loop {
                        let m = read_message(&mut r, dialect).expect("the proxy closed");
                        match find_id(&m, dialect, "\"request_seq\":") {
                            Some(got) if got == id => break,
                            Some(_) => {
                                foreign.fetch_add(1, Ordering::Relaxed);
                            }
                            None => {} // a greeting, a prompt
                        }
                    }
                    samples.push(t.elapsed().as_secs_f64() * 1e6);
                }
                samples
            })
        })
        .collect();
    let samples = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    (samples, foreign.load(Ordering::Relaxed))
}

fn p50(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The rows: per dialect, size and client count, the median over rounds of
/// routed ÷ raw of the p50s measured side by side.
pub fn rows() -> Vec<Row> {
    let mut rows = Vec::new();
    // `BENCH_DIALECTS=v8,gdb-mi` measures only those (for experiments).
    let only = std::env::var("BENCH_DIALECTS").ok();
    let place = placement();
    if let Some(p) = place {
        note(format!(
            "routed rows: each proxy pinned to CPU {}, the clients and the backend to the other CPUs this process may use (BENCH_PIN=0: unpinned)",
            p.proxy
        ));
    }
    for dialect in [Dialect::Dap, Dialect::V8, Dialect::GdbMi] {
        if only
            .as_ref()
            .is_some_and(|o| !o.split(',').any(|d| d == dialect.name()))
        {
            continue;
        }
        for size in [64usize, 64 << 10] {
            let pad: Arc<str> = "p".repeat(size).into();
            let raw = start(dialect, false, pad.clone(), place);
            let routed = start(dialect, true, pad.clone(), place);
            for clients in [1usize, 10] {
                let iters = match (size, clients) {
                    (64, 1) => 2000,
                    (64, _) => 200,
                    (_, 1) => 1000,
                    _ => 40,
                };
                // Raw and routed take turns, round by round, and the first
                // to go alternates: this VM's speed drifts by a third from
                // one moment to the next, and a round's two halves are
                // measured close together, so the ratio within a round is
                // what drift disturbs least. (Turns trip by trip would be
                // closer still, but then each proxy's busy-poll window runs
                // out while the other works, and every trip pays a wake-up
                // that neither pays when used alone.)
                // Untimed: connections made and buffers grown before the rounds.
                run(&raw, dialect, clients, iters / 10, &pad);
                run(&routed, dialect, clients, iters / 10, &pad);
                let mut ratios = Vec::new();
                let (mut raw_p50, mut routed_p50) = (Vec::new(), Vec::new());
                let mut foreign_routed = 0;
                for round in 0..rounds() {
                    let measure_raw = || p50(run(&raw, dialect, clients, iters, &pad).0);
                    let mut measure_routed = || {
                        let (samples, foreign) = run(&routed, dialect, clients, iters, &pad);
                        foreign_routed += foreign;
                        p50(samples)
                    };
                    let (raw_us, routed_us) = if round % 2 == 0 {
                        let raw_us = measure_raw();
                        (raw_us, measure_routed())
                    } else {
                        let routed_us = measure_routed();
                        (measure_raw(), routed_us)
                    };
                    ratios.push(routed_us / raw_us);
                    if std::env::var_os("BENCH_TRACE").is_some() {
                        eprintln!(
                            "{} {size} B {clients} client(s), round {round}: raw {raw_us:.1} µs, routed {routed_us:.1} µs",
                            dialect.name()
                        );
                    }
                    raw_p50.push(raw_us);
                    routed_p50.push(routed_us);
                }
                let label = if size >= 1024 {
                    format!("{} KiB", size >> 10)
                } else {
                    format!("{size} B")
                };
                let (raw_us, routed_us) = (median(&raw_p50), median(&routed_p50));
                let ratio = median(&ratios);
                let (low, high) = ratios
                    .iter()
                    .fold((f64::MAX, 0.0f64), |(l, h), &r| (l.min(r), h.max(r)));
                note(format!(
                    "routed RTT {label}, {}, {clients} client(s): raw p50 {raw_us:.0} µs, routed p50 {routed_us:.0} µs; routed ÷ raw per round {low:.2}–{high:.2} over {} rounds of {iters} trips, median {ratio:.2}; answers to other clients seen through the session layer: {foreign_routed}",
                    dialect.name(),
                    ratios.len()
                ));
                rows.push(Row::single(
                    format!(
                        "routed RTT {label} p50, {}, {clients} client(s): session layer ÷ raw",
                        dialect.name()
                    ),
                    "×",
                    ratio,
                    "≤ 1.15",
                    ratio <= 1.15 && foreign_routed == 0,
                ));
            }
        }
    }
    rows
}
