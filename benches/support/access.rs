//! Accepting with the access check on (issue #13): how fast the proxy takes
//! in connections, and how long one connect takes to reach the debugger,
//! with the same-uid check (by sock_diag, and by the /proc/net/tcp fallback)
//! against `--allow-users any` (no check), in the same run — with the
//! machine's socket table as it is, and with 5000 more connections open.
//! `BENCH_ONLY=access` runs just this.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use super::{Row, free_port, median, note, rounds, start_proxy};

const CONNECTS: usize = 200;
const EXTRA_CONNECTIONS: usize = 5000;

struct Proxy {
    child: Child,
    port: u16,
    /// The proxy's connection to the backend, where each client's byte arrives.
    conn: TcpStream,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(backend: &TcpListener, args: &[&str], proc_lookup: bool) -> Proxy {
    let backend_port = backend.local_addr().unwrap().port();
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dbgproxy"));
    cmd.args([
        "--port",
        &backend_port.to_string(),
        "--client-port",
        &port.to_string(),
        "--max-clients",
        "20000",
        "-q",
    ])
    .args(args);
    if proc_lookup {
        cmd.env("DBGPROXY_PEER_LOOKUP", "proc");
    }
    let (child, conn) = start_proxy(&mut cmd, backend);
    Proxy { child, port, conn }
}

/// Closes with RST, so that the bench does not fill the socket table with
/// TIME_WAIT entries that would slow the /proc reads it measures.
fn reset(stream: TcpStream) {
    let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
}

/// Connect → its first byte at the backend, one client at a time: the delay
/// a user could see. Median in µs.
fn latency(p: &mut Proxy) -> f64 {
    let mut samples = Vec::with_capacity(CONNECTS);
    let mut byte = [0u8; 1];
    for _ in 0..CONNECTS {
        let t = Instant::now();
        let mut c = TcpStream::connect(("127.0.0.1", p.port)).unwrap();
        c.write_all(b"a").unwrap();
        p.conn.read_exact(&mut byte).unwrap();
        samples.push(t.elapsed().as_secs_f64() * 1e6);
        reset(c);
    }
    median(&samples)
}

/// A burst of connects, each sending one byte: connections admitted per
/// second, until the last byte is at the backend.
fn rate(p: &mut Proxy) -> f64 {
    let t = Instant::now();
    let clients: Vec<TcpStream> = (0..CONNECTS)
        .map(|_| {
            let mut c = TcpStream::connect(("127.0.0.1", p.port)).unwrap();
            c.write_all(b"b").unwrap();
            c
        })
        .collect();
    let mut got = vec![0u8; CONNECTS];
    p.conn.read_exact(&mut got).unwrap();
    let per_sec = CONNECTS as f64 / t.elapsed().as_secs_f64();
    clients.into_iter().for_each(reset);
    per_sec
}

fn table_size() -> usize {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .map(|f| {
            std::fs::read_to_string(f)
                .map(|t| t.lines().count().saturating_sub(1))
                .unwrap_or(0)
        })
        .sum()
}

pub fn rows() -> Vec<Row> {
    let backend = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut any = start(&backend, &["--allow-users", "any"], false);
    let mut diag = start(&backend, &[], false);
    let mut procfs = start(&backend, &[], true);
    let mut rows = Vec::new();
    // Idle connections held by this process: both ends are in the table.
    let sink = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut extra = Vec::new();
    for more in [false, true] {
        if more {
            for _ in 0..EXTRA_CONNECTIONS {
                let c = TcpStream::connect(sink.local_addr().unwrap()).unwrap();
                extra.push((c, sink.accept().unwrap().0));
            }
        }
        let sockets = table_size();
        let label = format!("{sockets} sockets in the table");
        let (mut l_any, mut l_diag, mut l_proc) = (Vec::new(), Vec::new(), Vec::new());
        let (mut r_any, mut r_diag, mut r_proc) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds() {
            l_any.push(latency(&mut any));
            l_diag.push(latency(&mut diag));
            l_proc.push(latency(&mut procfs));
            r_any.push(rate(&mut any));
            r_diag.push(rate(&mut diag));
            r_proc.push(rate(&mut procfs));
        }
        let (la, ld, lp) = (median(&l_any), median(&l_diag), median(&l_proc));
        let (ra, rd, rp) = (median(&r_any), median(&r_diag), median(&r_proc));
        note(format!(
            "access, {label}: connect → first byte p50 {la:.0} µs unchecked, {ld:.0} µs by sock_diag, \
             {lp:.0} µs by /proc/net/tcp; bursts of {CONNECTS}: {ra:.0}, {rd:.0}, {lp_rate:.0} connections/s",
            lp_rate = rp
        ));
        for (how, l, r) in [("sock_diag", ld, rd), ("/proc/net/tcp", lp, rp)] {
            let latency_met = l - la <= 50.0;
            rows.push(Row {
                figure: format!(
                    "accept: connect → first byte at the debugger, p50, same-uid check by {how}, \
                     {label} (direct column: --allow-users any)"
                ),
                unit: "µs",
                direct: Some(la),
                proxy: Some(l),
                socat: None,
                ratio: Some(l / la),
                target: "≤ +50 µs".into(),
                met: Some(latency_met),
            });
            rows.push(Row {
                figure: format!(
                    "accept rate, same-uid check by {how} vs --allow-users any (direct column), \
                     bursts of {CONNECTS}, {label}"
                ),
                unit: "conn/s",
                direct: Some(ra),
                proxy: Some(r),
                socat: None,
                ratio: Some(r / ra),
                target: if how == "sock_diag" {
                    "≥ 0.8×".into()
                } else {
                    "(fallback)".into()
                },
                met: (how == "sock_diag").then_some(r / ra >= 0.8),
            });
        }
    }
    drop(extra);
    rows
}
