//! Nothing lost, nothing hung (issue #12), the parts that live in the event
//! loop: a message larger than a client's buffer, a client that stops
//! reading (dropped after `--stall-timeout`) or pauses (kept), a debugger
//! that reads slowly, the bounds on client input, and what a raw client
//! learns when the debugger goes. Each drives the real binary over real
//! sockets.

use std::io::Write;
use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use crate::util::wire::Wire;
use crate::util::*;

fn status(port: u16) -> serde_json::Value {
    crate::util::cli::status(runtime_dir(), port)
}

fn framed(body: &[u8]) -> Vec<u8> {
    let mut m = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    m.extend_from_slice(body);
    m
}

#[test]
fn a_message_larger_than_the_client_buffer_reaches_every_client_whole() {
    // 9 MiB against the default 8 MiB --client-buffer: every client's queue
    // is empty when it comes, so every client must get it.
    let port = free_port_pair();
    let debugger = FakeDebugger::listen(port);
    let mut proxy = Proxy::start(&["--backend", "dap", "--port", &port.to_string()]);
    let mut conn = debugger.accept();
    proxy.wait_ready();
    let mut clients: Vec<Wire> = (0..3).map(|_| Wire::connect(port + 1)).collect();
    proxy.wait_log("client #3");
    let text = "y".repeat(9 << 20);
    let body = format!(
        "{{\"seq\":1,\"type\":\"event\",\"event\":\"output\",\"body\":{{\"output\":\"{text}\"}}}}"
    );
    conn.write_all(&framed(body.as_bytes())).unwrap();
    for (i, c) in clients.iter_mut().enumerate() {
        let (_, got) = c.framed();
        assert_eq!(got.len(), body.len(), "client {i}");
        assert!(got == body, "client {i} got a different message");
    }
    assert!(!proxy.stderr().contains("too slow"), "{}", proxy.stderr());
}

#[test]
fn a_message_larger_than_the_backlog_is_kept_whole_for_the_next_client() {
    let port = free_port_pair();
    let debugger = FakeDebugger::listen(port);
    let mut proxy = Proxy::start(&[
        "--protocol",
        "gdb-mi",
        "--port",
        &port.to_string(),
        "--backlog-bytes",
        "1048576",
    ]);
    let mut conn = debugger.accept();
    proxy.wait_ready();
    // The greeting, then a 3 MiB record while nobody is connected.
    conn.write_all(b"=thread-group-added,id=\"i1\"\n(gdb) \n")
        .unwrap();
    let big = format!("~\"{}\"\n", "z".repeat(3 << 20));
    conn.write_all(big.as_bytes()).unwrap();
    conn.write_all(b"=library-loaded,id=\"x\"\n").unwrap();
    proxy.wait_log("dropping the oldest whole messages");
    // The small record pushed the big one out, whole; the small one stays.
    let mut late = Wire::connect(port + 1);
    let until = || std::time::Instant::now() + DEADLINE;
    assert_eq!(late.mi_line(until()), "=thread-group-added,id=\"i1\"");
    assert_eq!(late.mi_line(until()), "(gdb)");
    assert_eq!(late.mi_line(until()), "=library-loaded,id=\"x\"");
    drop(late);
    proxy.wait_log("left after");

    // A record over the bound, alone: kept whole for the next client.
    conn.write_all(big.as_bytes()).unwrap();
    wait_until("the record to be kept", || {
        status(port)["counters"]["backlog_bytes"].as_u64() == Some(big.len() as u64)
    });
    let mut later = Wire::connect(port + 1);
    assert_eq!(later.mi_line(until()), "=thread-group-added,id=\"i1\"");
    assert_eq!(later.mi_line(until()), "(gdb)");
    assert_eq!(later.mi_line(until()).len(), big.len() - 1);
}

#[test]
fn a_client_that_stops_reading_is_dropped_after_the_stall_timeout() {
    // The fast client is never more than one step behind (256 KiB, well within
    // its 1 MiB allowance); the one that never reads must overflow the kernel's
    // loopback buffers (at most ~10 MiB) plus its allowance within 32 MiB.
    // Then the debugger waits for it, for --stall-timeout, and it is dropped.
    const STEP: usize = 256 << 10;
    const STEPS: usize = 128;
    let port = free_port_pair();
    let debugger = FakeDebugger::listen(port);
    let mut proxy = Proxy::start(&[
        "--port",
        &port.to_string(),
        "--retry-interval",
        "20",
        "--client-buffer",
        "1048576",
        "--stall-timeout",
        "300",
    ]);
    let mut conn = debugger.accept();
    proxy.wait_ready();
    let mut slow = Client::connect(port + 1);
    let mut fast = Client::connect(port + 1);
    slow.send(b"s");
    fast.send(b"f");
    read_n(&mut conn, 2);

    let data = pattern(STEP * STEPS, 9);
    let (progress, steps) = std::sync::mpsc::channel();
    let reader = thread::spawn(move || {
        let mut got = Vec::with_capacity(STEP * STEPS);
        for _ in 0..STEPS {
            got.extend(fast.read_n(STEP));
            progress.send(()).unwrap();
        }
        got
    });
    for chunk in data.chunks(STEP) {
        conn.write_all(chunk).unwrap();
        steps.recv().expect("the fast client stopped reading");
    }
    assert_eq!(checksum(&reader.join().unwrap()), checksum(&data));
    proxy.wait_log("too slow: took nothing for 300ms");
    // The slow one got a prefix of the stream, then the end.
    let got = slow.read_to_end();
    assert!(got.len() < data.len(), "the slow client was not cut off");
    assert_eq!(got, data[..got.len()]);
}

#[test]
fn a_debugger_that_reads_slowly_backpressures_clients_without_losing_input() {
    const LEN: usize = 4 << 20;
    let port = free_port_pair();
    let debugger = FakeDebugger::listen(port);
    let mut proxy = Proxy::start(&[
        "--port",
        &port.to_string(),
        "--retry-interval",
        "20",
        "--backlog-bytes",
        "65536",
    ]);
    let mut conn = debugger.accept();
    proxy.wait_ready();
    let mut client = Client::connect(port + 1);
    let data = pattern(LEN, 11);
    let sent = data.clone();
    let writer = thread::spawn(move || {
        client.send(&sent);
        client
    });
    // The debugger does not read until the proxy had to stop reading the client.
    proxy.wait_log("not reading clients");
    assert_eq!(checksum(&read_n(&mut conn, LEN)), checksum(&data));
    let _client = writer.join().unwrap();
}

#[test]
fn a_client_that_pauses_is_not_cut_off() {
    // Both clients take 48 MiB through a 1 MiB --client-buffer; one pauses
    // for half a second on the way. The debugger waits for it (bounded by
    // --stall-timeout), nobody is dropped, everybody gets every byte.
    const TOTAL: usize = 48 << 20;
    const STEP: usize = 1 << 20;
    let port = free_port_pair();
    let debugger = FakeDebugger::listen(port);
    let mut proxy = Proxy::start(&["--port", &port.to_string(), "--client-buffer", "1048576"]);
    let mut conn = debugger.accept();
    proxy.wait_ready();
    let readers: Vec<_> = [false, true]
        .into_iter()
        .map(|pauses| {
            let mut c = Client::connect(port + 1);
            thread::spawn(move || {
                let mut sum = Vec::with_capacity(TOTAL);
                while sum.len() < TOTAL {
                    sum.extend(c.read_n(STEP));
                    if pauses && sum.len() == 8 * STEP {
                        // The pause under test, not a synchronisation.
                        thread::sleep(Duration::from_millis(500));
                    }
                }
                checksum(&sum)
            })
        })
        .collect();
    proxy.wait_log("client #2");
    let data = pattern(TOTAL, 12);
    conn.write_all(&data).unwrap();
    for r in readers {
        assert_eq!(r.join().unwrap(), checksum(&data));
    }
    let log = proxy.stderr();
    assert!(!log.contains("too slow"), "{log}");
    assert!(log.contains("the debugger waits for it"), "{log}");
    let s = status(port);
    assert_eq!(s["counters"]["clients_dropped_slow"], 0);
    assert!(s["counters"]["debugger_waits_for_slow_clients"].as_u64() >= Some(1));
}

#[test]
fn client_input_has_its_own_limit_and_a_total_cap() {
    let port = free_port_pair();
    let debugger = FakeDebugger::listen(port);
    let mut proxy = Proxy::start(&[
        "--protocol",
        "gdb-mi",
        "--port",
        &port.to_string(),
        "--client-input-total",
        "4194304",
    ]);
    let mut conn = debugger.accept();
    proxy.wait_ready();

    // Over the 1 MiB default for one client message: that client goes.
    let mut big = Client::connect(port + 1);
    big.send(&vec![b'x'; 2 << 20]);
    assert!(big.read_to_end().is_empty());
    proxy.wait_log("(--max-client-message)");

    // Six clients each holding 900 KiB of an unfinished line: 5.4 MiB is
    // over the 4 MiB cap, so the largest holders go until it is under.
    let hogs: Vec<Client> = (0..6)
        .map(|i| {
            let mut c = Client::connect(port + 1);
            c.send(&vec![b'a' + i as u8; 900 << 10]);
            c
        })
        .collect();
    proxy.wait_log("(--client-input-total)");
    let s = status(port);
    let dropped = s["counters"]["clients_dropped_input_cap"].as_u64().unwrap();
    assert!((1..=2).contains(&dropped), "{s}");

    // The proxy and a well-behaved client carry on.
    let mut good = Client::connect(port + 1);
    good.send(b"1-exec-next\n");
    assert_eq!(read_n(&mut conn, 12), b"1-exec-next\n");
    conn.write_all(b"1^running\n").unwrap();
    assert_eq!(good.read_n(10), b"1^running\n");
    drop(hogs);
}

#[test]
fn hangup_clients_tells_raw_clients_the_debugger_went() {
    let port = free_port_pair();
    let debugger = FakeDebugger::listen(port);
    let mut proxy = Proxy::start(&[
        "--port",
        &port.to_string(),
        "--mode",
        "persistent",
        "--hangup-clients",
        "--retry-interval",
        "20",
    ]);
    let conn = debugger.accept();
    proxy.wait_ready();
    let mut c = Client::connect(port + 1);
    proxy.wait_log("client #1 (");
    drop(conn);
    assert_eq!(c.read_to_end(), b"", "EOF when the debugger goes");
    proxy.wait_log("--hangup-clients");
    // The proxy itself stays, and serves the next debugger.
    let _next = debugger.accept();
    let mut c2 = Client::connect(port + 1);
    c2.send(b"x");
    assert!(proxy.try_status().is_none());
}

#[test]
fn without_hangup_a_raw_client_can_ask_status_whether_the_debugger_is_there() {
    let port = free_port_pair();
    let debugger = FakeDebugger::listen(port);
    let mut proxy = Proxy::start(&[
        "--port",
        &port.to_string(),
        "--mode",
        "persistent",
        "--retry-interval",
        "20",
    ]);
    let conn = debugger.accept();
    proxy.wait_ready();
    let _c = Client::connect(port + 1);
    assert_eq!(status(port)["backend"]["state"], "connected");
    drop(conn);
    drop(debugger); // nothing listens any more: the proxy keeps trying
    proxy.wait_log("disconnected");
    wait_until("status to say connecting", || {
        status(port)["backend"]["state"] == "connecting"
    });
    let _ = TcpStream::connect(("127.0.0.1", port + 1)).expect("still serving clients");
}
