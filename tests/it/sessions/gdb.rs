//! Shared GDB/MI sessions end to end (SESSIONS.md "GDB/MI", issue #11): a
//! real gdb spawned by `dbgproxy --backend gdb`, and up to three MI clients
//! at once using the same tokens. Every client checks each result record
//! against the oldest command it has not had answered (`util::mi`), so a
//! result meant for another client fails the test where it arrives. The last
//! test drives the proxy with pygdbmi, a GDB/MI client written by others
//! (`tests/py/gdb_shared.py`).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::cli::status;
use crate::util::debuggees::{compiled_program, gdb_command};
use crate::util::inbox::Framed;
use crate::util::mi::{Mi, field};
use crate::util::tools::{Proc, TempDir, python_with};
use crate::util::*;
use serde_json::Value;

struct Setup {
    proxy: Proxy,
    _dir: TempDir,
    runtime: TempDir,
    port: u16,
}

impl Setup {
    fn new(extra: &[&str]) -> Setup {
        let dir = compiled_program();
        let port = free_port_pair();
        let runtime = TempDir::new("gdb-rt");
        let mut cmd = Proxy::command();
        cmd.current_dir(&dir.0)
            .args(["--backend", "gdb", "--port", &port.to_string()])
            .args(extra)
            .arg("--")
            .args(gdb_command())
            .env("XDG_RUNTIME_DIR", &runtime.0);
        let mut proxy = Proxy::spawn(cmd);
        proxy.wait_ready();
        Setup {
            proxy,
            _dir: dir,
            runtime,
            port,
        }
    }

    /// A client that has read gdb's greeting.
    fn client(&self, name: &str) -> Mi {
        let mut c = Mi::connect(self.port + 1, name);
        c.greeting();
        c
    }

    fn status(&self) -> Value {
        status(&self.runtime.0, self.port)
    }

    fn gdb_pid(&self) -> i32 {
        let st = self.status();
        st["backend"]["pid"]
            .as_i64()
            .unwrap_or_else(|| panic!("no gdb pid in {st}")) as i32
    }
}

/// Waits for the next `*stopped` in `add`; returns `b` there.
fn stopped_in_add(c: &mut Mi) -> String {
    let s = c.record("*stopped");
    assert_eq!(field(&s, "func").as_deref(), Some("add"), "{s}");
    arg(&s, "b")
}

/// The value of argument `name` in a `*stopped` record's frame.
fn arg(stopped: &str, name: &str) -> String {
    let key = format!("{{name=\"{name}\",value=\"");
    let at = stopped
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in {stopped}"))
        + key.len();
    let len = stopped[at..].find('"').unwrap();
    stopped[at..at + len].to_string()
}

fn value(c: &mut Mi, token: &str, expression: &str) -> String {
    let r = c.cmd(token, &format!("-data-evaluate-expression {expression}"));
    field(&r, "value").unwrap_or_else(|| panic!("no value in {r}"))
}

/// A breaks in `add` and runs the program to it; everyone sees the stop.
fn run_to_add(a: &mut Mi, others: &mut [&mut Mi]) {
    let r = a.cmd("1", "-break-insert add");
    assert_eq!(field(&r, "number").as_deref(), Some("1"), "{r}");
    assert!(a.cmd("2", "-exec-run").starts_with("2^running"));
    assert_eq!(stopped_in_add(a), "1");
    for x in others.iter_mut() {
        assert_eq!(stopped_in_add(x), "1");
    }
}

/// Three clients with the same tokens (and none): each gets its own result
/// records and the console output of its own commands; all get the async
/// records.
#[test]
fn colliding_tokens_three_clients() {
    let s = Setup::new(&[]);
    let [mut a, mut b, mut c] = ["A", "B", "C"].map(|n| s.client(n));
    run_to_add(&mut a, &mut [&mut b, &mut c]);

    let mut clients = [a, b, c];
    // Token 3 from all, then no token from all, before any answer is read.
    for (i, x) in clients.iter_mut().enumerate() {
        x.send("3", &format!("-data-evaluate-expression b+{i}0"));
        x.send("", &format!("-data-evaluate-expression b*{}", i + 2));
    }
    for (i, x) in clients.iter_mut().enumerate() {
        let r = x.result("3");
        assert_eq!(field(&r, "value"), Some(format!("{}", i * 10 + 1)), "{r}");
        let r = x.result("");
        assert_eq!(field(&r, "value"), Some(format!("{}", i + 2)), "{r}");
    }
    // A CLI command's console output goes with its answer, to its client.
    let [a, b, c] = &mut clients;
    a.cmd("4", "-interpreter-exec console \"print b * 7\"");
    assert!(
        a.log().iter().any(|l| l.ends_with("= 7\\n\"")),
        "{}",
        a.so_far()
    );
    for x in [&mut *b, &mut *c] {
        assert_eq!(value(x, "4", "b"), "1");
        assert!(!x.log().iter().any(|l| l.contains("= 7")), "{}", x.so_far());
    }

    assert!(c.cmd("5", "-exec-continue").starts_with("5^running"));
    for x in [a, b, c] {
        x.record("*running");
        assert_eq!(stopped_in_add(x), "2", "client {}", x.name());
    }
}

/// gdb tells only the channel that made a breakpoint: the proxy tells the
/// others, with the same number, and a joiner learns the ones that exist.
#[test]
fn breakpoints_are_announced() {
    let s = Setup::new(&[]);
    let [mut a, mut b, mut c] = ["A", "B", "C"].map(|n| s.client(n));
    let r = a.cmd("1", "-break-insert add");
    assert_eq!(field(&r, "number").as_deref(), Some("1"));
    for x in [&mut b, &mut c] {
        let n = x.record("=breakpoint-created");
        assert_eq!(field(&n, "number").as_deref(), Some("1"), "{n}");
        assert_eq!(field(&n, "func").as_deref(), Some("add"), "{n}");
    }
    let r = b.cmd("1", "-break-insert spin");
    assert_eq!(field(&r, "number").as_deref(), Some("2"));
    for x in [&mut a, &mut c] {
        let n = x.record("=breakpoint-created");
        assert_eq!(field(&n, "number").as_deref(), Some("2"), "{n}");
    }
    c.cmd("1", "-break-condition 1 b==3");
    for x in [&mut a, &mut b] {
        let n = x.record("=breakpoint-modified");
        assert_eq!(field(&n, "number").as_deref(), Some("1"), "{n}");
        assert_eq!(field(&n, "cond").as_deref(), Some("b==3"), "{n}");
    }
    a.cmd("2", "-break-delete 2");
    for x in [&mut b, &mut c] {
        let n = x.record("=breakpoint-deleted");
        assert_eq!(n, "=breakpoint-deleted,id=\"2\"");
    }
    // Each heard of the others' breakpoints only: its own came in its answer.
    for (x, others) in [(&a, ["2"].as_slice()), (&b, &["1"]), (&c, &["1", "2"])] {
        let created: Vec<String> = x
            .log()
            .iter()
            .filter(|l| l.starts_with("=breakpoint-created"))
            .filter_map(|l| field(l, "number"))
            .collect();
        assert_eq!(created, others, "{}", x.so_far());
    }

    let mut d = s.client("D");
    let n = d.record("=breakpoint-created");
    assert_eq!(field(&n, "number").as_deref(), Some("1"), "{n}");
    assert_eq!(field(&n, "cond").as_deref(), Some("b==3"), "{n}");
    a.cmd("3", "-exec-run");
    for x in [&mut a, &mut b, &mut c, &mut d] {
        assert_eq!(
            stopped_in_add(x),
            "3",
            "the condition holds for {}",
            x.name()
        );
    }
    assert!(!d.has_record("=breakpoint-created"), "{}", d.so_far());
}

/// `-target-detach`, `-gdb-exit` and `quit` while others remain are answered
/// by the proxy and end (or, for a detach, leave) only that client; gdb and
/// the stopped program stay.
#[test]
fn personal_goodbyes() {
    let mut s = Setup::new(&[]);
    let [mut a, mut b, mut c] = ["A", "B", "C"].map(|n| s.client(n));
    run_to_add(&mut a, &mut [&mut b, &mut c]);
    let gdb = s.gdb_pid();

    assert_eq!(c.cmd("7", "-target-detach"), "7^done");
    assert_eq!(a.cmd("7", "-gdb-exit"), "7^exit");
    a.wait_closed();
    b.send("8", "quit");
    assert_eq!(b.result("8"), "8^exit");
    b.wait_closed();
    // Each goodbye is a line in the log, as DAP's are.
    for (id, what) in [(3, "detach"), (1, "exit"), (2, "exit")] {
        s.proxy.wait_log(&format!(
            " INFO  client #{id}: {what} answered by the proxy (other clients remain)"
        ));
    }

    assert!(running(gdb), "gdb ended with a personal goodbye");
    assert!(s.proxy.try_status().is_none(), "the proxy ended");
    // C, detached in name only, still has the stopped program.
    assert_eq!(value(&mut c, "8", "b"), "1");
    c.cmd("9", "-exec-continue");
    assert_eq!(stopped_in_add(&mut c), "2");
    assert!(running(gdb));
}

/// A client reset while the program is stopped leaves it stopped; one that
/// connects later gets gdb's greeting, then the state ending in the stop,
/// and continues the program.
#[test]
fn leave_and_resume() {
    let s = Setup::new(&[]);
    let mut a = s.client("A");
    let mut watcher = s.client("W");
    run_to_add(&mut a, &mut [&mut watcher]);
    a.reset();

    let mut d = Mi::connect(s.port + 1, "D");
    let greeting = d.greeting();
    assert!(
        greeting[0].starts_with("=thread-group-added"),
        "{greeting:?}"
    );
    assert_eq!(stopped_in_add(&mut d), "1");
    // Everything between the greeting and the stop is state: the program,
    // A's breakpoint; the stop comes last, before any answer.
    assert_eq!(value(&mut d, "1", "b"), "1");
    let log = d.log().to_vec();
    let prompt = log.iter().position(|l| l.starts_with("(gdb)")).unwrap();
    let stop = log.iter().position(|l| l.starts_with("*stopped")).unwrap();
    let state = &log[prompt + 1..stop];
    assert!(
        state.iter().any(|l| l.starts_with("=thread-group-started")),
        "{log:?}"
    );
    assert!(
        state.iter().any(|l| l.starts_with("=breakpoint-created")),
        "{log:?}"
    );
    // (A prompt may follow: gdb's own after that stop, if it came late.)
    let next = log[stop + 1..].iter().find(|l| !l.starts_with("(gdb)"));
    assert!(next.is_some_and(|l| l.starts_with("1^done")), "{log:?}");

    d.cmd("2", "-exec-continue");
    for x in [&mut d, &mut watcher] {
        x.record("*running");
        assert_eq!(stopped_in_add(x), "2", "client {}", x.name());
    }
}

/// gdb killed in persistent mode: the command it never answered gets an
/// error, everyone hears that the program, its breakpoints and gdb are
/// gone, before the next gdb's greeting; the next session starts clean.
#[test]
fn a_debugger_that_goes_away() {
    let s = Setup::new(&["--mode", "persistent"]);
    let mut a = s.client("A");
    let mut b = s.client("B");
    run_to_add(&mut a, &mut [&mut b]);
    // gdb calls spin() in the program, which never returns.
    a.send("9", "-data-evaluate-expression spin()");
    wait_until("A's command with gdb", || {
        s.status()["counters"]["commands_in_flight"] == 1
    });
    let gdb = s.gdb_pid();
    // SAFETY: kill(2) on the gdb the proxy started for this test.
    unsafe {
        libc::kill(gdb, libc::SIGKILL);
    }

    assert_eq!(
        a.result("9"),
        "9^error,msg=\"dbgproxy: the debugger went away\""
    );
    for x in [&mut a, &mut b] {
        x.record("=thread-group-exited");
        assert_eq!(
            x.record("=breakpoint-deleted"),
            "=breakpoint-deleted,id=\"1\""
        );
        let gone = x.record("&");
        assert!(gone.contains("dbgproxy: the debugger exited"), "{gone}");
        x.greeting();
        let told = x
            .log()
            .iter()
            .position(|l| l.contains("the debugger exited"));
        let next = x
            .log()
            .iter()
            .rposition(|l| l.starts_with("=thread-group-added"));
        assert!(told.is_some() && told < next, "{}", x.so_far());
    }
    assert_ne!(s.gdb_pid(), gdb, "a new gdb");

    // A newcomer gets the new greeting and nothing of the last session.
    let mut c = s.client("C");
    let r = c.cmd("1", "-break-list");
    assert!(r.contains("nr_rows=\"0\""), "{r}");
    let mut records = c.log().iter().filter(|l| !l.starts_with("(gdb)"));
    assert!(
        records.nth(2).is_some_and(|l| l.starts_with("1^done")),
        "{}",
        c.so_far()
    );
    run_to_add(&mut c, &mut [&mut a, &mut b]);
}

/// Bad input is answered with `^error` under the line's token (gdb's own
/// for a command it does not know, the proxy's for what is not a command);
/// the others see none of it.
#[test]
fn bad_input_touches_nobody_else() {
    let s = Setup::new(&[]);
    let [mut a, mut b, mut c] = ["A", "B", "C"].map(|n| s.client(n));
    run_to_add(&mut a, &mut [&mut b, &mut c]);

    a.send_raw("7", b"7^done");
    let r = a.result("7");
    assert!(r.starts_with("7^error,msg=\"dbgproxy: "), "{r}");
    a.send_raw("8", b"8-data-evaluate-expression \x01b");
    assert!(a.result("8").starts_with("8^error,msg=\"dbgproxy: "));
    a.send_raw("", b"-data-evaluate-expression \xff\xfe");
    assert!(a.result("").starts_with("^error,msg=\"dbgproxy: "));
    a.send("9", "-no-such-command");
    let r = a.result("9");
    assert!(r.starts_with("9^error,msg=\"Undefined MI command"), "{r}");

    assert_eq!(value(&mut b, "7", "b"), "1");
    assert_eq!(value(&mut a, "10", "b"), "1");
    c.cmd("8", "-exec-continue");
    for x in [&mut a, &mut b, &mut c] {
        assert_eq!(stopped_in_add(x), "2");
    }
    for x in [&b, &c] {
        assert!(
            !x.log().iter().any(|l| l.contains("^error")),
            "{}",
            x.so_far()
        );
    }
}

/// Two pygdbmi clients on one gdb (tests/py/gdb_shared.py).
#[test]
fn pygdbmi_two_clients() {
    let python = python_with(&["pygdbmi"]);
    let s = Setup::new(&[]);
    let py = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/gdb_shared.py");
    let mut run = Proc::spawn(
        "python",
        Command::new(python)
            .arg(py)
            .arg((s.port + 1).to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let end = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = run.try_wait() {
            break Some(status);
        }
        if Instant::now() > end {
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    if status.is_none() {
        let _ = run.child.kill();
        let _ = run.child.wait();
    }
    let (out, err) = run.output();
    assert!(
        status.is_some_and(|s| s.success()),
        "gdb_shared.py: {status:?}\n{out}\n{err}"
    );
    assert!(out.ends_with("ok\n"), "{out}");
}
