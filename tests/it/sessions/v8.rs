//! Shared legacy V8 sessions end to end (SESSIONS.md "Legacy V8", issue #11):
//! a real node 6 (`--debug`) behind `dbgproxy --backend v8 --mode
//! persistent`, and up to three clients at once, each numbering its requests
//! from 1. Every client checks each response it receives against what it
//! sent (`util::dap` in V8 mode), so an answer meant for another client fails
//! the test where it arrives.

use std::path::PathBuf;

use crate::util::cli::status;
use crate::util::dap::Dap;
use crate::util::debuggees::{NODE_LINE_TICK, NODE_SCRIPT, node6_under_debug};
use crate::util::inbox::Framed;
use crate::util::tools::{Proc, TempDir};
use crate::util::*;
use serde_json::{Value, json};

struct Setup {
    proxy: Proxy,
    node: Option<Proc>,
    script: PathBuf,
    _dir: TempDir,
    /// A private control socket directory, for `dbgproxy status`.
    runtime: TempDir,
    port: u16,
}

impl Setup {
    /// node first, then the proxy (it retries until node listens).
    fn new() -> Setup {
        let dir = TempDir::new("v8-sessions");
        let script = dir.write("loop.js", NODE_SCRIPT);
        let port = free_port_pair();
        let node = node6_under_debug(&script, port);
        let runtime = TempDir::new("v8-rt");
        let mut cmd = Proxy::command();
        cmd.args(["--backend", "v8", "--mode", "persistent"])
            .args(["--port", &port.to_string(), "--retry-interval", "50"])
            .env("XDG_RUNTIME_DIR", &runtime.0);
        let mut proxy = Proxy::spawn(cmd);
        proxy.wait_ready();
        Setup {
            proxy,
            node: Some(node),
            script,
            _dir: dir,
            runtime,
            port,
        }
    }

    fn status(&self) -> Value {
        status(&self.runtime.0, self.port)
    }

    /// A client that has read V8's greeting.
    fn client(&self, name: &str) -> Dap {
        let mut c = Dap::connect_v8(self.port + 1, name);
        let head = c.greeting();
        assert!(head.starts_with("Type: connect\r\n"), "{head}");
        assert!(head.contains("Embedding-Host: node v6"), "{head}");
        c
    }

    fn path(&self) -> &str {
        self.script.to_str().expect("a UTF-8 temp path")
    }

    fn node_alive(&mut self) -> bool {
        self.node.as_mut().is_some_and(|n| n.try_wait().is_none())
    }
}

/// A breakpoint on the line every tick runs.
fn set_breakpoint(c: &mut Dap, s: &Setup) -> Value {
    let r = c.request(
        "setbreakpoint",
        json!({"type": "script", "target": s.path(), "line": NODE_LINE_TICK}),
    );
    assert!(r["body"]["breakpoint"].is_u64(), "{r}");
    r
}

/// Waits for the next `break` event, at the tick line.
fn stopped(c: &mut Dap) {
    let b = c.event("break");
    assert_eq!(
        b["body"]["sourceLine"],
        NODE_LINE_TICK,
        "client {}: {b}",
        c.name()
    );
}

/// `counter` in the top frame (the debuggee is stopped).
fn counter(c: &mut Dap) -> i64 {
    let r = c.request("evaluate", json!({"expression": "counter", "frame": 0}));
    r["body"]["value"].as_i64().expect("a number")
}

/// Three clients numbering from 1 at once: each gets only its own answers,
/// under its own `request_seq`s; all get the events.
#[test]
fn colliding_seqs_three_clients() {
    let s = Setup::new();
    let mut clients = ["A", "B", "C"].map(|n| s.client(n));
    // Same seqs 1 and 2 from all three, sent before any answer is read.
    for x in clients.iter_mut() {
        assert_eq!(x.send("version", Value::Null), 1);
        let expression = format!("'{}' + 1", x.name());
        x.send(
            "evaluate",
            json!({"expression": expression, "global": true}),
        );
    }
    for x in clients.iter_mut() {
        assert!(x.ok(1)["body"]["V8Version"].is_string());
        assert_eq!(x.ok(2)["body"]["value"], format!("{}1", x.name()));
    }

    set_breakpoint(&mut clients[0], &s);
    for x in clients.iter_mut() {
        stopped(x);
    }
    // Different commands under the same seqs: A's 4 is an evaluate, B's and
    // C's 4 a backtrace; a misrouted answer fails its command check.
    for x in clients.iter_mut() {
        if x.name() != "A" {
            x.send("backtrace", json!({"fromFrame": 0, "toFrame": 1}));
        }
        let expression = format!("counter + '{}'", x.name());
        x.send("evaluate", json!({"expression": expression, "frame": 0}));
    }
    let mut seen = Vec::new();
    for x in clients.iter_mut() {
        let last = x.next_seq() - 1;
        if x.name() != "A" {
            let bt = x.ok(last - 1);
            assert!(bt["body"]["totalFrames"].as_u64() >= Some(1), "{bt}");
        }
        let value = x.ok(last)["body"]["value"].as_str().unwrap().to_string();
        assert!(value.ends_with(&x.name()), "client {}: {value}", x.name());
        seen.push(value.trim_end_matches(&x.name()).to_string());
    }
    assert!(seen.iter().all(|v| v == &seen[0]), "one stop: {seen:?}");

    // One continues: everyone sees the next stop.
    let before = counter(&mut clients[1]);
    clients[2].request("continue", Value::Null);
    for x in clients.iter_mut() {
        stopped(x);
    }
    for x in clients.iter_mut() {
        assert_eq!(counter(x), before + 1, "client {}", x.name());
    }
}

/// A `disconnect` while others remain ends only that client: the others keep
/// the stopped debuggee, and node keeps running.
#[test]
fn personal_disconnect() {
    let mut s = Setup::new();
    let [mut a, mut b, mut c] = ["A", "B", "C"].map(|n| s.client(n));
    set_breakpoint(&mut a, &s);
    for x in [&mut a, &mut b, &mut c] {
        stopped(x);
    }
    let at = counter(&mut a);
    let r = a.request("disconnect", Value::Null);
    assert_eq!(r["command"], "disconnect");
    a.wait_closed();

    assert!(s.node_alive(), "node ended with a personal disconnect");
    // Still stopped where A left it, for B and C alike.
    assert_eq!(counter(&mut b), at);
    assert_eq!(counter(&mut c), at);
    b.request("continue", Value::Null);
    for x in [&mut b, &mut c] {
        stopped(x);
    }
    assert_eq!(counter(&mut c), at + 1);

    b.request("disconnect", Value::Null);
    b.wait_closed();
    // C, the last, still drives the session: the breakpoint A set is V8's.
    c.request("continue", Value::Null);
    stopped(&mut c);
    assert_eq!(counter(&mut c), at + 2);
    assert!(s.node_alive());
}

/// A client reset while the debuggee is stopped leaves it stopped; one that
/// connects later gets the greeting, then the stop, and resumes it.
#[test]
fn leave_and_resume() {
    let s = Setup::new();
    let mut a = s.client("A");
    let mut watcher = s.client("W");
    set_breakpoint(&mut a, &s);
    stopped(&mut a);
    stopped(&mut watcher);
    let at = counter(&mut a);
    a.reset();

    let mut d = s.client("D");
    // Its first two messages: V8's greeting, then the break it missed.
    stopped(&mut d);
    assert!(d.log()[0].starts_with("[headers] Type: connect"));
    assert!(d.log()[1].contains("\"event\":\"break\""), "{:?}", d.log());
    assert_eq!(counter(&mut d), at, "stopped while nobody was there");
    d.request("continue", Value::Null);
    for x in [&mut d, &mut watcher] {
        stopped(x);
    }
    assert_eq!(counter(&mut d), at + 1);
    assert_eq!(counter(&mut watcher), at + 1);
}

/// node goes away (persistent mode): a request it never answered is
/// answered with an error, before the next node's greeting reaches the
/// clients; the next session starts clean.
#[test]
fn a_debugger_that_goes_away() {
    let mut s = Setup::new();
    let mut a = s.client("A");
    let mut b = s.client("B");
    set_breakpoint(&mut a, &s);
    stopped(&mut a);
    stopped(&mut b);
    // Never answered: V8 runs it in the stopped debuggee until node dies.
    let hung = a.send(
        "evaluate",
        json!({"expression": "while (true) {}", "frame": 0}),
    );
    wait_until("A's evaluate on its way to node", || {
        s.status()["counters"]["requests_in_flight"] == 1
    });
    drop(s.node.take());

    let r = a.answer(hung);
    assert_eq!(r["success"], false, "{r}");
    assert_eq!(r["command"], "evaluate");
    assert_eq!(r["message"], "dbgproxy: the debugger went away", "{r}");

    s.node = Some(node6_under_debug(&s.script, s.port));
    for x in [&mut a, &mut b] {
        let head = x.greeting();
        assert!(head.starts_with("Type: connect\r\n"), "{head}");
    }
    let error_at = a.log().iter().position(|m| m.contains("went away"));
    let error_at = error_at.expect("the error in A's log");
    let greeting_at = a.log().iter().rposition(|m| m.starts_with("[headers]"));
    assert!(Some(error_at) < greeting_at, "{:?}", a.log());

    // A new client gets the new greeting and nothing of the old stop.
    let mut c = s.client("C");
    c.request("version", Value::Null);
    assert_eq!(c.log().len(), 2, "{:?}", c.log());
    // The new node runs, without the old breakpoint, until C sets one.
    let r = b.request("listbreakpoints", Value::Null);
    assert_eq!(r["body"]["breakpoints"], json!([]), "{r}");
    assert_eq!(r["running"], true, "{r}");
    set_breakpoint(&mut c, &s);
    for x in [&mut a, &mut b, &mut c] {
        stopped(x);
    }
    assert_eq!(counter(&mut a), counter(&mut b));
}

/// Bad input is answered in V8's terms (an error response when the request
/// can be named, else the connection closed), never reaches node, and
/// touches nobody else.
#[test]
fn bad_input_touches_nobody_else() {
    let mut s = Setup::new();
    let mut a = s.client("A");
    let mut b = s.client("B");
    set_breakpoint(&mut b, &s);
    for x in [&mut a, &mut b] {
        stopped(x);
    }

    // Nothing to answer: closed.
    let mut x = s.client("X").unchecked();
    x.send_raw(b"not json!");
    x.wait_closed();
    // A request that can be named, in a body that is not JSON, and a
    // message that is not a request: error responses, the connection kept.
    let mut y = s.client("Y");
    y.send_raw_request(
        1,
        "evaluate",
        br#"{"seq":1,"type":"request","command":"evaluate","arguments":{"expression":"1",}}"#,
    );
    y.send_raw_request(2, "", br#"{"seq":2,"type":"event","event":"break"}"#);
    for seq in [1, 2] {
        let r = y.answer(seq);
        assert_eq!(r["success"], false, "{r}");
        assert!(
            r["message"].as_str().unwrap().starts_with("dbgproxy: "),
            "{r}"
        );
    }
    // An empty message would make V8 drop every breakpoint: never forwarded.
    a.send_raw(b"");
    assert_eq!(a.request("version", Value::Null)["command"], "version");

    // The others go on, with node's connection and B's breakpoint intact.
    let at = counter(&mut a);
    b.request("continue", Value::Null);
    for x in [&mut a, &mut b] {
        stopped(x);
    }
    assert_eq!(counter(&mut b), at + 1);
    let r = y.request("evaluate", json!({"expression": "6 * 7", "global": true}));
    assert_eq!(r["body"]["value"], 42);
    s.proxy.wait_log("not a JSON object");
}
