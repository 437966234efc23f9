//! Shared DBGp sessions end to end (SESSIONS.md "DBGp", issue #11): PHP
//! under Xdebug connecting to `dbgproxy --backend xdebug` (persistent), and
//! up to three IDE clients at once, each numbering its transaction ids from
//! one. Every client checks each answer that carries an id against what it
//! sent (`util::dbgp`), so an answer meant for another client fails the
//! test where it arrives. The script can be held at a `fgets(STDIN)` before
//! each call to `add` (`Php::go` lets it on), so "while a `run` is
//! outstanding" is a state the test makes, not a race it hopes to win.

use std::path::PathBuf;

use crate::util::cli::status;
use crate::util::dbgp::{Dbgp, attr, base64};
use crate::util::debuggees::{PHP_LINE_ADD, PHP_SCRIPT, Php, file_uri};
use crate::util::inbox::Framed;
use crate::util::tools::TempDir;
use crate::util::*;
use serde_json::Value;

struct Setup {
    proxy: Proxy,
    script: PathBuf,
    uri: String,
    _dir: TempDir,
    runtime: TempDir,
    port: u16,
}

impl Setup {
    fn new() -> Setup {
        let dir = TempDir::new("dbgp-sessions");
        let script = dir.write("script.php", PHP_SCRIPT);
        let port = free_port_pair();
        let runtime = TempDir::new("dbgp-rt");
        let mut cmd = Proxy::command();
        cmd.args(["--backend", "xdebug", "--port", &port.to_string()])
            .env("XDG_RUNTIME_DIR", &runtime.0);
        let mut proxy = Proxy::spawn(cmd);
        // Both ports are bound: PHP may start.
        proxy.wait_ready();
        Setup {
            proxy,
            uri: file_uri(&script),
            script,
            _dir: dir,
            runtime,
            port,
        }
    }

    fn client(&self, name: &str) -> Dbgp {
        Dbgp::connect(self.port + 1, name)
    }

    fn php(&self, gated: bool) -> Php {
        Php::start(&self.script, self.port, gated)
    }

    fn status(&self) -> Value {
        status(&self.runtime.0, self.port)
    }

    /// Waits until a client's `command` is with Xdebug, unanswered.
    fn wait_in_flight(&self, command: &str) {
        wait_until(&format!("a {command} in flight"), || {
            let st = self.status();
            st["clients"]
                .as_array()
                .is_some_and(|cs| cs.iter().any(|c| c["dbgp_command_in_flight"] == command))
        });
    }

    fn breakpoint_at_add(&self, c: &mut Dbgp) -> String {
        let r = c.request(&format!(
            "breakpoint_set -t line -f {} -n {PHP_LINE_ADD}",
            self.uri
        ));
        attr(&r, "id").expect("a breakpoint id")
    }
}

/// The `<init>` of the PHP process `php`.
fn init_of(c: &mut Dbgp, php: &Php) -> String {
    let init = c.init();
    assert_eq!(
        attr(&init, "appid"),
        Some(php.pid().to_string()),
        "client {}: {init}",
        c.name()
    );
    init
}

/// A stop in `add` (the answer to a continuation, or a report without id).
fn at_add(packet: &str) {
    assert_eq!(attr(packet, "status").as_deref(), Some("break"), "{packet}");
    assert_eq!(
        attr(packet, "lineno"),
        Some(PHP_LINE_ADD.to_string()),
        "{packet}"
    );
}

/// `$b` where the script is stopped.
fn b_value(c: &mut Dbgp) -> String {
    let r = c.request(&format!("eval -- {}", base64("$b")));
    cdata(&r)
}

fn cdata(packet: &str) -> String {
    let at = packet.find("<![CDATA[").expect("a CDATA value") + 9;
    let len = packet[at..].find("]]>").unwrap();
    packet[at..at + len].to_string()
}

/// Three IDEs using the same transaction ids at once: each gets only its own
/// answers, under its own ids; a stop reaches all of them.
#[test]
fn colliding_ids_three_clients() {
    let s = Setup::new();
    let mut clients = ["A", "B", "C"].map(|n| s.client(n));
    let php = s.php(false);
    for x in clients.iter_mut() {
        let init = init_of(x, &php);
        assert_eq!(attr(&init, "fileuri").as_deref(), Some(&*s.uri), "{init}");
    }
    // Id 1 from all three before any answer is read.
    for x in clients.iter_mut() {
        assert_eq!(x.send("feature_get -n max_depth"), 1);
    }
    for x in clients.iter_mut() {
        assert!(x.ok(1).contains("feature_name=\"max_depth\""));
    }
    let [a, b, c] = &mut clients;
    s.breakpoint_at_add(a);
    for x in [&mut *b, &mut *c] {
        let st = x.request("status");
        assert_eq!(attr(&st, "status").as_deref(), Some("starting"), "{st}");
    }
    let run = a.request("run");
    at_add(&run);
    for x in [&mut *b, &mut *c] {
        at_add(&x.stop_report());
        // Their IDE's start after <init>: answered with the stop, under
        // their own id, and the script stays where it is.
        let run = x.request("run");
        assert_eq!(attr(&run, "transaction_id").as_deref(), Some("3"));
        at_add(&run);
    }

    // The same ids again, different questions.
    for (i, x) in clients.iter_mut().enumerate() {
        assert_eq!(x.send("stack_get -d 0"), 4);
        x.send(&format!("eval -- {}", base64(&format!("$b + {}0", i + 1))));
    }
    for (i, x) in clients.iter_mut().enumerate() {
        let stack = x.ok(4);
        assert!(stack.contains("where=\"add\""), "{stack}");
        assert_eq!(
            cdata(&x.ok(5)),
            format!("{}1", i + 1),
            "client {}",
            x.name()
        );
    }
    // One moves on: everyone hears the next stop.
    let [a, b, c] = &mut clients;
    at_add(&c.request("run"));
    for x in [&mut *a, &mut *b] {
        at_add(&x.stop_report());
    }
    for x in [a, b, c] {
        assert_eq!(b_value(x), "2", "client {}", x.name());
    }
}

/// Xdebug answers a `run` only when the script stops. Meanwhile another
/// client's command waits, and is answered after the stop, to that client,
/// under its id; a `status` is answered at once, and a newcomer's first
/// `run` with the stop.
#[test]
fn a_command_queued_behind_a_long_run() {
    let s = Setup::new();
    let [mut a, mut b, mut c] = ["A", "B", "C"].map(|n| s.client(n));
    let mut php = s.php(true);
    for x in [&mut a, &mut b, &mut c] {
        init_of(x, &php);
    }
    s.breakpoint_at_add(&mut a);
    // The script runs into its fgets and waits there.
    let run = a.send("run");
    s.wait_in_flight("run");

    let st = c.request("status");
    assert_eq!(attr(&st, "status").as_deref(), Some("running"), "{st}");
    let stack = b.send("stack_get");
    assert_eq!(stack, 1, "the same id as C's status");
    // C's IDE starts too: its first run must not move the script on.
    let c_run = c.send("run");
    wait_until("B's stack_get and C's run queued", || {
        s.status()["counters"]["commands_waiting"] == 2
    });
    assert!(!b.has_answer(stack) && !c.has_answer(c_run));

    php.go();
    at_add(&a.ok(run));
    let answer = b.ok(stack);
    assert!(
        answer.contains("where=\"add\"") && answer.contains(&format!("lineno=\"{PHP_LINE_ADD}\"")),
        "answered after the stop: {answer}"
    );
    // B heard of the stop before its answer came.
    let stop_at = b
        .log()
        .iter()
        .position(|p| attr(p, "status").as_deref() == Some("break"));
    let answer_at = b.log().iter().position(|p| p == &answer);
    assert!(stop_at.is_some() && stop_at < answer_at, "{}", b.so_far());
    at_add(&b.stop_report());
    at_add(&c.stop_report());
    // C's run was answered with the stop, under its id, and went no further.
    at_add(&c.ok(c_run));
    assert_eq!(b_value(&mut c), "1");
}

/// A client that drops while its `run` is with Xdebug wedges nobody: the
/// stop that answers it reaches the others, its answer is dropped.
#[test]
fn a_client_that_drops_mid_run() {
    let s = Setup::new();
    let [mut a, mut b] = ["A", "B"].map(|n| s.client(n));
    let mut php = s.php(true);
    for x in [&mut a, &mut b] {
        init_of(x, &php);
    }
    s.breakpoint_at_add(&mut a);
    a.send("run");
    s.wait_in_flight("run");
    let stack = b.send("stack_get");
    a.reset();
    wait_until("A gone", || {
        s.status()["clients"].as_array().map(Vec::len) == Some(1)
    });

    php.go();
    at_add(&b.stop_report());
    assert!(b.ok(stack).contains("where=\"add\""));
    let st = s.status();
    assert_eq!(st["counters"]["orphan_responses_dropped"], 1, "{st}");
    // B drives on (its IDE's start first, answered with the stop).
    at_add(&b.request("run"));
    let run = b.send("run");
    php.go();
    at_add(&b.ok(run));
    assert_eq!(b_value(&mut b), "2");
}

/// `detach` and `stop` while the script is live and others remain end only
/// that client; PHP stays, and the last client finishes the request.
#[test]
fn personal_goodbyes_while_the_script_is_live() {
    let s = Setup::new();
    let [mut a, mut b, mut c] = ["A", "B", "C"].map(|n| s.client(n));
    let mut php = s.php(false);
    for x in [&mut a, &mut b, &mut c] {
        init_of(x, &php);
    }
    s.breakpoint_at_add(&mut a);
    at_add(&a.request("run"));
    for x in [&mut b, &mut c] {
        at_add(&x.stop_report());
    }

    let r = a.request("detach");
    assert_eq!(attr(&r, "status").as_deref(), Some("stopping"), "{r}");
    a.wait_closed();
    assert!(php.running(), "a personal detach let PHP go");
    let r = b.request("stop");
    assert_eq!(attr(&r, "status").as_deref(), Some("stopped"), "{r}");
    b.wait_closed();
    assert!(php.running(), "a personal stop ended PHP");

    // C still has the script where it was, and drives it to its end.
    assert_eq!(b_value(&mut c), "1");
    at_add(&c.request("run")); // its IDE's start: the current stop
    assert_eq!(b_value(&mut c), "1");
    for b in ["2", "3"] {
        at_add(&c.request("run"));
        assert_eq!(b_value(&mut c), b);
    }
    let end = c.request("run");
    assert_eq!(attr(&end, "status").as_deref(), Some("stopping"), "{end}");
    // The script has finished: this goodbye ends the request.
    c.request("stop");
    assert_eq!(php.finish(), "total 6\n");
}

/// A client reset while the script is stopped leaves it stopped; one that
/// connects later gets `<init>`, then the stop, and moves the script on.
#[test]
fn leave_and_resume() {
    let s = Setup::new();
    let mut a = s.client("A");
    let mut watcher = s.client("W");
    let php = s.php(false);
    init_of(&mut a, &php);
    init_of(&mut watcher, &php);
    s.breakpoint_at_add(&mut a);
    at_add(&a.request("run"));
    at_add(&watcher.stop_report());
    assert_eq!(b_value(&mut a), "1");
    a.reset();

    let mut d = s.client("D");
    init_of(&mut d, &php);
    at_add(&d.stop_report());
    assert!(d.log()[0].contains("<init "), "{}", d.so_far());
    assert_eq!(d.log().len(), 2, "{}", d.so_far());
    // What an IDE does on connect; the first run is answered with the stop.
    d.request("feature_set -n max_depth -v 2");
    at_add(&d.request("run"));
    assert_eq!(b_value(&mut d), "1", "stopped while nobody was there");
    at_add(&d.request("run"));
    assert_eq!(b_value(&mut d), "2");
    at_add(&watcher.stop_report());
    assert_eq!(b_value(&mut watcher), "2");
}

/// A breakpoint set once is hit in two PHP requests in a row: the second
/// request's engine gets it from the proxy, not from the client. A client
/// that only watched hears the first request end before the second begins.
#[test]
fn breakpoints_replayed_to_the_next_request() {
    let s = Setup::new();
    let mut a = s.client("A");
    let mut watcher = s.client("W");
    let first = s.php(false);
    init_of(&mut a, &first);
    init_of(&mut watcher, &first);
    let id = s.breakpoint_at_add(&mut a);
    for b in ["1", "2", "3"] {
        at_add(&a.request("run"));
        at_add(&watcher.stop_report());
        assert_eq!(b_value(&mut a), b);
    }
    let end = a.request("run");
    assert_eq!(attr(&end, "status").as_deref(), Some("stopping"), "{end}");
    let end = watcher.stop_report();
    assert_eq!(attr(&end, "status").as_deref(), Some("stopping"), "{end}");
    // The script has finished: A's goodbye ends the request.
    a.request("stop");
    assert_eq!(first.finish(), "total 6\n");
    let ended = watcher.other("the end of the request", |p| {
        attr(p, "status").as_deref() == Some("stopped")
    });
    assert!(!ended.contains("transaction_id"), "{ended}");

    let second = s.php(false);
    for x in [&mut a, &mut watcher] {
        init_of(x, &second);
    }
    let list = a.request("breakpoint_list");
    assert!(
        list.contains(&format!("id=\"{id}\""))
            && list.contains(&format!("lineno=\"{PHP_LINE_ADD}\"")),
        "the breakpoint, under the id A knows: {list}"
    );
    at_add(&a.request("run"));
    at_add(&watcher.stop_report());
    assert_eq!(b_value(&mut a), "1");
    let st = s.status();
    assert_eq!(st["counters"]["breakpoints_replayed"], 1, "{st}");
    assert_eq!(st["counters"]["debugger_sessions"], 2, "{st}");
}

/// PHP dies with a `run` outstanding: the clients are told in DBGp (the
/// run's answer, a stop report to the others) before the next request's
/// `<init>` reaches them, and the next request starts clean.
#[test]
fn a_request_that_dies() {
    let s = Setup::new();
    let mut a = s.client("A");
    let mut b = s.client("B");
    let php = s.php(true);
    init_of(&mut a, &php);
    init_of(&mut b, &php);
    s.breakpoint_at_add(&mut a);
    let run = a.send("run");
    s.wait_in_flight("run");
    drop(php);

    let r = a.answer(run);
    assert_eq!(attr(&r, "status").as_deref(), Some("stopped"), "{r}");
    assert_eq!(attr(&r, "reason").as_deref(), Some("aborted"), "{r}");
    let r = b.stop_report();
    assert_eq!(attr(&r, "status").as_deref(), Some("stopped"), "{r}");

    let next = s.php(false);
    for x in [&mut a, &mut b] {
        init_of(x, &next);
        let told = x
            .log()
            .iter()
            .position(|p| p.contains("status=\"stopped\""));
        let init = x.log().iter().rposition(|p| p.contains("<init "));
        assert!(told.is_some() && told < init, "{}", x.so_far());
    }
    // A newcomer gets this request's <init> and nothing of the last one.
    let mut c = s.client("C");
    init_of(&mut c, &next);
    let st = c.request("status");
    assert_eq!(attr(&st, "status").as_deref(), Some("starting"), "{st}");
    assert_eq!(c.log().len(), 2, "{}", c.so_far());
    at_add(&a.request("run"));
    for x in [&mut b, &mut c] {
        at_add(&x.stop_report());
    }
}

/// Bad input is answered in DBGp (an `<error>`) or, when it is not even a
/// command, by closing that client; the script and the others go on.
#[test]
fn bad_input_touches_nobody_else() {
    let mut s = Setup::new();
    let mut a = s.client("A");
    let mut b = s.client("B");
    let php = s.php(false);
    init_of(&mut a, &php);
    init_of(&mut b, &php);
    s.breakpoint_at_add(&mut a);
    at_add(&a.request("run"));
    at_add(&b.stop_report());

    let mut x = s.client("X");
    init_of(&mut x, &php);
    x.send_raw(b"<not a command>");
    x.wait_closed();

    let mut y = s.client("Y");
    init_of(&mut y, &php);
    at_add(&y.stop_report());
    // No transaction id: an error without one.
    y.send_raw(b"stack_get -d 0");
    let e = y.other("an error", |p| p.contains("<error "));
    assert_eq!(attr(&e, "code").as_deref(), Some("3"), "{e}");
    // `break` would make Xdebug resume the script: refused here.
    let txn = y.send("break");
    let e = y.answer(txn);
    assert_eq!(attr(&e, "code").as_deref(), Some("4"), "{e}");
    assert_eq!(b_value(&mut y), "1");

    // The script stayed where it was; the others go on.
    assert_eq!(b_value(&mut b), "1");
    at_add(&a.request("run"));
    for x in [&mut b, &mut y] {
        at_add(&x.stop_report());
    }
    assert_eq!(b_value(&mut b), "2");
    s.proxy.wait_log("not a DBGp command");
}

/// Issue #18, item 3: a client drives the script to its end (Xdebug reports
/// `stopping`) and goes without `stop`, as a crashed IDE does. With nobody
/// left to end the request, the proxy does after `--dbgp-hold`: PHP exits
/// (a web server's worker is let go), and the proxy says why.
#[test]
fn a_finished_request_is_let_go_when_its_last_client_drops() {
    let mut s = Setup::new();
    let mut a = s.client("A");
    let php = s.php(false);
    init_of(&mut a, &php);
    let end = a.request("run");
    assert_eq!(attr(&end, "status").as_deref(), Some("stopping"), "{end}");
    a.reset();
    // PHP's own exit status says the request ended cleanly.
    assert_eq!(php.finish(), "total 6\n");
    s.proxy.wait_log("nobody is left to end it");
}
