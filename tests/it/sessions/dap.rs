//! Shared DAP sessions end to end (SESSIONS.md, issue #10): a real debugpy
//! behind `dbgproxy --backend dap --mode persistent`, and several clients at
//! once, each numbering its requests from 1 as every IDE does. Each client
//! checks every response it receives against what it sent (`util::dap`), so
//! any answer meant for another client fails the test where it arrives.
//! The last test drives the proxy with `DebugClient`, the DAP test client of
//! `@vscode/debugadapter-testsupport`, from node.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::cli::status;
use crate::util::dap::Dap;
use crate::util::debugpy::*;
use crate::util::inbox::Framed;
use crate::util::tools::{TempDir, node, node_modules};
use crate::util::*;
use serde_json::{Value, json};

/// debugpy, its script and a proxy in front of it, with a private control
/// socket directory for `dbgproxy status`.
struct Setup {
    proxy: Proxy,
    debugpy: Debugpy,
    script: Script,
    runtime: TempDir,
    port: u16,
}

impl Setup {
    /// debugpy first, then the proxy (it retries until debugpy listens).
    fn new(extra: &[&str]) -> Setup {
        let script = Script::new();
        let port = free_port_pair();
        let debugpy = Debugpy::start(&script.path, port);
        let runtime = TempDir::new("dap-rt");
        let mut cmd = Proxy::command();
        cmd.args(["--backend", "dap", "--mode", "persistent"])
            .args(["--port", &port.to_string(), "--retry-interval", "50"])
            .args(extra)
            .env("XDG_RUNTIME_DIR", &runtime.0);
        let mut proxy = Proxy::spawn(cmd);
        proxy.wait_ready();
        Setup {
            proxy,
            debugpy,
            script,
            runtime,
            port,
        }
    }

    fn client(&self, name: &str) -> Dap {
        Dap::connect(self.port + 1, name)
    }

    fn status(&self) -> Value {
        status(&self.runtime.0, self.port)
    }
}

fn initialize_args(name: &str) -> Value {
    json!({
        "clientID": format!("test-{name}"), "clientName": format!("Test client {name}"),
        "adapterID": "debugpy", "pathFormat": "path",
        "linesStartAt1": true, "columnsStartAt1": true,
        "supportsVariableType": true, "supportsRunInTerminalRequest": false
    })
}

/// debugpy refuses an attach without arguments; every client sends these.
fn attach_args() -> Value {
    json!({"justMyCode": false, "redirectOutput": true})
}

fn breakpoints(script: &Script, lines: &[u64]) -> Value {
    let bps: Vec<Value> = lines.iter().map(|l| json!({"line": l})).collect();
    json!({"source": {"path": script.path_str()}, "breakpoints": bps})
}

/// What VS Code does on connect: initialize, attach, (on `initialized`) its
/// breakpoints for each source that has some, configurationDone; the attach
/// response comes last (debugpy answers it after configurationDone).
/// Returns the initialize response and the setBreakpoints one.
fn handshake(c: &mut Dap, script: &Script, lines: Option<&[u64]>) -> (Value, Option<Value>) {
    let name = c.name().to_string();
    let init = c.request("initialize", initialize_args(&name));
    let attach = c.send("attach", attach_args());
    c.event("initialized");
    let bps = lines.map(|lines| {
        let r = c.request("setBreakpoints", breakpoints(script, lines));
        assert_eq!(
            bp_lines(&r),
            lines,
            "client {name}: its own breakpoints: {r}"
        );
        r
    });
    c.request("configurationDone", Value::Null);
    c.ok(attach);
    (init, bps)
}

/// The lines of a setBreakpoints response, all verified.
fn bp_lines(r: &Value) -> Vec<u64> {
    let bps = r["body"]["breakpoints"].as_array().expect("breakpoints");
    bps.iter()
        .map(|b| {
            assert_eq!(b["verified"], true, "{r}");
            b["line"].as_u64().expect("a line")
        })
        .collect()
}

struct Stop {
    thread: Value,
    line: u64,
    frame: Value,
}

/// Waits for the next `stopped` event, then asks where.
fn stopped(c: &mut Dap) -> Stop {
    let event = c.event("stopped");
    let thread = event["body"]["threadId"].clone();
    let st = c.request("stackTrace", json!({"threadId": thread, "levels": 1}));
    let frame = st["body"]["stackFrames"][0].clone();
    Stop {
        thread,
        line: frame["line"].as_u64().expect("a line"),
        frame: frame["id"].clone(),
    }
}

fn evaluate(c: &mut Dap, expression: &str, frame: &Value) -> String {
    let r = c.request(
        "evaluate",
        json!({"expression": expression, "frameId": frame, "context": "repl"}),
    );
    r["body"]["result"].as_str().expect("a result").to_string()
}

/// Three clients that all number from 1: each gets only its own answers,
/// under its own `request_seq`s; all get the events.
#[test]
fn colliding_seqs_three_clients() {
    let s = Setup::new(&[]);
    let mut a = s.client("A");
    let (init_a, _) = handshake(&mut a, &s.script, Some(&[LINE_COUNT]));
    assert_eq!(stopped(&mut a).line, LINE_COUNT);

    let mut b = s.client("B");
    let mut c = s.client("C");
    for x in [&mut b, &mut c] {
        // Same seqs as A's: 1 initialize, 2 attach, 3 setBreakpoints (none
        // of their own in this file), 4 configurationDone, 5 stackTrace.
        let (init, bps) = handshake(x, &s.script, Some(&[]));
        assert_eq!(
            init["body"], init_a["body"],
            "the capabilities, from the cache"
        );
        assert_eq!(bp_lines(&bps.unwrap()), Vec::<u64>::new());
        // The stop happened before they came: they learn it.
        assert_eq!(stopped(x).line, LINE_COUNT);
    }

    // All three send the same seqs at once, then read their answers.
    let mut clients = [a, b, c];
    for x in clients.iter_mut() {
        assert_eq!(x.send("stackTrace", json!({"threadId": 1, "levels": 1})), 6);
    }
    let frames: Vec<Value> = clients
        .iter_mut()
        .map(|x| x.ok(6)["body"]["stackFrames"][0]["id"].clone())
        .collect();
    for (x, frame) in clients.iter_mut().zip(&frames) {
        assert_eq!(x.send("threads", Value::Null), 7);
        let expression = format!("'{}' * 2", x.name());
        x.send(
            "evaluate",
            json!({"expression": expression, "frameId": frame, "context": "repl"}),
        );
        x.send("scopes", json!({"frameId": frame}));
    }
    for x in clients.iter_mut() {
        let threads = x.ok(7);
        assert!(threads["body"]["threads"][0]["id"].is_u64(), "{threads}");
        let result = x.ok(8)["body"]["result"].clone();
        assert_eq!(result, format!("'{0}{0}'", x.name()), "client {}", x.name());
        assert!(x.ok(9)["body"]["scopes"].is_array());
    }

    // One continues: everyone sees the program run and stop again.
    let [a, b, c] = &mut clients;
    let thread = json!(1);
    a.request("continue", json!({"threadId": thread}));
    for x in [a, b, c] {
        x.event_where("output", |e| {
            e["body"]["output"]
                .as_str()
                .is_some_and(|o| o.starts_with("tick"))
        });
        let again = x.event("stopped");
        assert_eq!(again["body"]["reason"], "breakpoint", "client {}", x.name());
    }
    let [a, b, c] = &mut clients;
    for x in [a, b, c] {
        let stop = stopped_again(x);
        assert_eq!(stop, LINE_COUNT, "client {}", x.name());
    }
}

/// The top frame's line at the current stop (the event already taken).
fn stopped_again(c: &mut Dap) -> u64 {
    let st = c.request("stackTrace", json!({"threadId": 1, "levels": 1}));
    st["body"]["stackFrames"][0]["line"]
        .as_u64()
        .expect("a line")
}

/// A client that crashes leaves the debuggee stopped; one that connects
/// later does what VS Code does, gets success answers, learns the stop, and
/// can resume the program.
#[test]
fn leave_and_resume() {
    let s = Setup::new(&[]);
    let mut a = s.client("A");
    handshake(&mut a, &s.script, Some(&[LINE_COUNT]));
    let stop = stopped(&mut a);
    assert_eq!(stop.line, LINE_COUNT);
    let counter = evaluate(&mut a, "counter", &stop.frame);
    let mut watcher = s.client("W");
    handshake(&mut watcher, &s.script, None);
    watcher.event("stopped");
    a.reset();

    // The program stays where A left it.
    let ticks = s.debugpy.ticks();
    let mut b = s.client("B");
    handshake(&mut b, &s.script, Some(&[LINE_COUNT]));
    let stop = stopped(&mut b);
    assert_eq!(stop.line, LINE_COUNT);
    assert_eq!(evaluate(&mut b, "counter", &stop.frame), counter);
    let threads = b.request("threads", Value::Null);
    assert_eq!(threads["body"]["threads"][0]["id"], stop.thread);
    assert_eq!(s.debugpy.ticks(), ticks, "stopped while nobody was there");

    // B resumes it: it runs one iteration and stops again.
    b.request("continue", json!({"threadId": stop.thread}));
    let next = stopped(&mut b);
    assert_eq!(next.line, LINE_COUNT);
    let later: u64 = evaluate(&mut b, "counter", &next.frame).parse().unwrap();
    assert_eq!(later, counter.parse::<u64>().unwrap() + 1);
    // The watcher saw all of it and still gets answers.
    watcher.event("stopped");
    watcher.request("threads", Value::Null);
}

/// A goodbye while others remain ends only that client.
#[test]
fn personal_goodbye() {
    let s = Setup::new(&[]);
    let mut a = s.client("A");
    handshake(&mut a, &s.script, Some(&[LINE_COUNT]));
    let stop = stopped(&mut a);
    let mut b = s.client("B");
    handshake(&mut b, &s.script, Some(&[LINE_SLEEP]));
    stopped(&mut b);
    let mut c = s.client("C");
    handshake(&mut c, &s.script, None);
    stopped(&mut c);

    a.request("disconnect", json!({"restart": false}));
    a.wait_closed();

    // B and C still get answers; the debuggee is still stopped and lives on.
    let threads = b.request("threads", Value::Null);
    assert_eq!(threads["body"]["threads"][0]["id"], stop.thread);
    evaluate(&mut c, "counter", &stop.frame);
    let ticks = s.debugpy.ticks();
    b.request("continue", json!({"threadId": stop.thread}));
    for x in [&mut b, &mut c] {
        x.event("stopped");
    }
    // B's own breakpoint after the print: the program ran a line of output.
    assert_eq!(stopped_again(&mut b), LINE_SLEEP);
    s.debugpy.wait_running(ticks, 1);
    b.request("continue", json!({"threadId": stop.thread}));
    c.event("stopped");
    c.request("threads", Value::Null);
}

/// Breakpoints of three clients in one file: debugpy gets the union, each
/// client's answer lists only its own, in its order, and one client
/// clearing its own removes nobody else's.
#[test]
fn merged_breakpoints() {
    let s = Setup::new(&[]);
    let mut a = s.client("A");
    handshake(&mut a, &s.script, Some(&[LINE_COUNT]));
    assert_eq!(stopped(&mut a).line, LINE_COUNT);
    let mut b = s.client("B");
    handshake(&mut b, &s.script, Some(&[LINE_SLEEP]));
    let mut c = s.client("C");
    // Its own order, not the file's.
    handshake(&mut c, &s.script, Some(&[LINE_FLUSH, LINE_DOUBLE]));
    for x in [&mut b, &mut c] {
        assert_eq!(stopped(x).line, LINE_COUNT);
    }

    let mut clients = [a, b, c];
    let step = |clients: &mut [Dap; 3], want: u64| {
        clients[2].request("continue", json!({"threadId": 1}));
        for x in clients.iter_mut() {
            x.event("stopped");
            assert_eq!(stopped_again(x), want, "client {} after continue", x.name());
        }
    };
    for line in [LINE_DOUBLE, LINE_FLUSH, LINE_SLEEP, LINE_COUNT] {
        step(&mut clients, line);
    }
    // B clears its breakpoints: A's and C's stay.
    let r = clients[1].request("setBreakpoints", breakpoints(&s.script, &[]));
    assert_eq!(bp_lines(&r), Vec::<u64>::new());
    for line in [LINE_DOUBLE, LINE_FLUSH, LINE_COUNT] {
        step(&mut clients, line);
    }
    // A re-sets its own: the answer lists A's only, C's still hit.
    let r = clients[0].request("setBreakpoints", breakpoints(&s.script, &[LINE_WRITE]));
    assert_eq!(bp_lines(&r), [LINE_WRITE]);
    for line in [LINE_DOUBLE, LINE_WRITE, LINE_FLUSH, LINE_DOUBLE] {
        step(&mut clients, line);
    }
}

/// Persistent mode: the only client's goodbye keeps the session, drops its
/// breakpoints and resumes the program; the next client debugs as usual.
#[test]
fn last_goodbye_keeps_the_session() {
    let s = Setup::new(&[]);
    let mut a = s.client("A");
    handshake(&mut a, &s.script, Some(&[LINE_COUNT]));
    stopped(&mut a);
    let ticks = s.debugpy.ticks();
    a.request("disconnect", json!({"restart": false}));
    drop(a);

    // Resumed, and A's breakpoint is gone: it runs on without stopping.
    s.debugpy.wait_running(ticks, 5);
    let st = s.status();
    assert_eq!(st["backend"]["state"], "connected", "{st}");
    assert_eq!(st["counters"]["debugger_sessions"], 1, "{st}");

    let mut b = s.client("B");
    handshake(&mut b, &s.script, Some(&[LINE_DOUBLE]));
    let stop = stopped(&mut b);
    assert_eq!(stop.line, LINE_DOUBLE);
    b.request("continue", json!({"threadId": stop.thread}));
    assert_eq!(stopped(&mut b).line, LINE_DOUBLE);
}

/// `--last-goodbye forward`: the last client's disconnect goes to debugpy,
/// which says `terminated` to it and ends its session; the proxy reconnects.
#[test]
fn last_goodbye_forwarded() {
    let s = Setup::new(&["--last-goodbye", "forward"]);
    let mut a = s.client("A");
    handshake(&mut a, &s.script, Some(&[LINE_COUNT]));
    stopped(&mut a);
    let ticks = s.debugpy.ticks();
    let seq = a.send("disconnect", json!({"restart": false}));
    a.event("terminated");
    a.ok(seq);
    // debugpy resumes the program and drops the connection; the adapter
    // stays and the proxy connects again.
    s.debugpy.wait_running(ticks, 5);
    wait_until("the proxy's second debugger session", || {
        let st = s.status();
        st["counters"]["debugger_sessions"] == 2 && st["backend"]["state"] == "connected"
    });
}

/// A body that is not JSON: that client is answered with an error where DAP
/// allows one (its seq and command can be read), else closed with a log
/// line; debugpy never sees it (it would drop the connection, ending everyone's
/// session), and the others go on.
#[test]
fn bad_input_touches_nobody_else() {
    let mut s = Setup::new(&[]);
    let mut a = s.client("A");
    handshake(&mut a, &s.script, None);
    let mut b = s.client("B");
    handshake(&mut b, &s.script, None);
    let ticks = s.debugpy.ticks();

    // Nothing to answer: closed, or (if the proxy reads a seq anyway) refused.
    for (i, body) in [&b"not json!"[..], br#"{"seq": 1, "type": "requ"#]
        .into_iter()
        .enumerate()
    {
        let mut x = s.client(&format!("X{i}")).unchecked();
        let peer = x.stream().local_addr().unwrap().to_string();
        x.send_raw(body);
        let end = Instant::now() + DEADLINE;
        while !x.is_closed() && x.any_response().is_none() {
            assert!(
                Instant::now() < end,
                "neither an error nor a close for {body:?}"
            );
            x.pump(Duration::from_millis(50));
        }
        if let Some(r) = x.any_response() {
            assert_eq!(r["success"], false, "{r}");
        } else {
            s.proxy.wait_log(&format!("({peer}): closing"));
        }
    }
    // A request whose seq and command read fine, in a body that is not JSON
    // (a trailing comma): an error response to that request.
    let mut y = s.client("Y").unchecked();
    y.send_raw(
        br#"{"seq": 1, "type": "request", "command": "evaluate", "arguments": {"expression": "1",}}"#,
    );
    let end = Instant::now() + DEADLINE;
    while y.any_response().is_none() {
        assert!(
            Instant::now() < end && !y.is_closed(),
            "no error response to a malformed request\n{}",
            y.so_far()
        );
        y.pump(Duration::from_millis(50));
    }
    let r = y.any_response().unwrap();
    assert_eq!(
        (&r["request_seq"], &r["command"], &r["success"]),
        (&json!(1), &json!("evaluate"), &json!(false)),
        "{r}"
    );

    s.debugpy.wait_running(ticks, 3);
    a.request("threads", Value::Null);
    b.request("threads", Value::Null);
    let r = a.request(
        "evaluate",
        json!({"expression": "6 * 7", "context": "repl"}),
    );
    assert_eq!(r["body"]["result"], "42");
    let r = b.request("setBreakpoints", breakpoints(&s.script, &[LINE_DOUBLE]));
    assert_eq!(bp_lines(&r), [LINE_DOUBLE]);
    for x in [&mut a, &mut b] {
        assert_eq!(stopped(x).line, LINE_DOUBLE);
    }
    let st = s.status();
    assert_eq!(
        st["counters"]["debugger_sessions"], 1,
        "debugpy kept its connection: {st}"
    );
}

/// debugpy dies under two clients: both hear `terminated`, status shows no
/// debugger, and a new debugpy on the port gets the next handshake itself.
#[test]
fn a_debugger_that_goes_away() {
    let mut s = Setup::new(&[]);
    let mut a = s.client("A");
    handshake(&mut a, &s.script, Some(&[LINE_COUNT]));
    stopped(&mut a);
    let mut b = s.client("B");
    handshake(&mut b, &s.script, None);
    b.event("stopped");

    s.debugpy.kill_adapter();
    for x in [&mut a, &mut b] {
        x.event("terminated");
    }
    let mut sessions = 0;
    wait_until("status to show no debugger", || {
        let st = s.status();
        sessions = st["counters"]["debugger_sessions"].as_u64().unwrap();
        st["backend"]["state"] == "connecting"
    });

    // A new debugpy, a new program, on the same port. (Sessions are counted
    // from here: the proxy's first reconnect can meet the dying adapter's
    // listener once more, for a session that ends at once.)
    s.debugpy.stop();
    s.debugpy = Debugpy::start(&s.script.path, s.port);
    wait_until("the proxy's next debugger session", || {
        let st = s.status();
        st["counters"]["debugger_sessions"].as_u64() > Some(sessions)
            && st["backend"]["state"] == "connected"
    });
    let mut c = s.client("C");
    handshake(&mut c, &s.script, Some(&[LINE_DOUBLE]));
    let process = c.event("process");
    assert_eq!(process["body"]["systemProcessId"], s.debugpy.pid());
    // Breakpoints set in the old debugger session (A's line) are not the new
    // one's: it starts clean.
    assert_eq!(
        stopped(&mut c).line,
        LINE_DOUBLE,
        "the new debugpy has only C's breakpoint"
    );
}

/// `dbgproxy status` names each client by its initialize and shows its
/// requests in flight; an answer to a client that left is dropped, counted,
/// and never reaches the client that reused its seq.
#[test]
fn status_shows_clients_and_dropped_answers() {
    let s = Setup::new(&[]);
    let mut clients: Vec<Dap> = ["A", "B", "C"].iter().map(|n| s.client(n)).collect();
    for x in clients.iter_mut() {
        handshake(x, &s.script, None);
    }
    let row_of = |st: &Value, x: &Dap| -> Value {
        let peer = x.stream().local_addr().unwrap().to_string();
        st["clients"]
            .as_array()
            .expect("clients")
            .iter()
            .find(|r| r["peer"] == peer)
            .unwrap_or_else(|| panic!("no client {peer} in {st}"))
            .clone()
    };
    let st = s.status();
    for x in &clients {
        let row = row_of(&st, x);
        assert_eq!(row["clientID"], format!("test-{}", x.name()), "{row}");
        assert_eq!(
            row["clientName"],
            format!("Test client {}", x.name()),
            "{row}"
        );
    }

    // C asks something slow, then crashes before the answer.
    let mut c = clients.pop().unwrap();
    let slow = c.send(
        "evaluate",
        json!({"expression": "__import__('time').sleep(1.5) or 'slow'", "context": "repl"}),
    );
    wait_until("C's evaluate in flight in status", || {
        let row = row_of(&s.status(), &c);
        row["requests_in_flight"] == 1 && row["requests"] == json!(["evaluate"])
    });
    let dropped_before = orphans(&s.status());
    c.reset();
    // A reuses that seq meanwhile: its answer is its own.
    let a = &mut clients[0];
    while a.next_seq() < slow {
        a.send("threads", Value::Null);
    }
    let mine = a.send(
        "evaluate",
        json!({"expression": "6 * 7", "context": "repl"}),
    );
    assert_eq!(mine, slow);
    assert_eq!(a.ok(mine)["body"]["result"], "42");
    wait_until("the orphan answer counted", || {
        orphans(&s.status()) > dropped_before
    });
    for x in clients.iter_mut() {
        x.request("threads", Value::Null);
    }
}

/// The counter of answers dropped because their client had left.
fn orphans(st: &Value) -> u64 {
    st["counters"]["orphan_responses_dropped"]
        .as_u64()
        .unwrap_or_else(|| panic!("no counter orphan_responses_dropped in {st}"))
}

/// Two `DebugClient`s (`@vscode/debugadapter-testsupport`) on one session.
#[test]
fn two_vscode_debug_clients() {
    let node = node();
    let modules = node_modules(&["@vscode/debugadapter-testsupport", "@vscode/debugprotocol"]);
    let s = Setup::new(&[]);
    let js = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js/shared_session.mjs");
    let mut cmd = Command::new(node);
    cmd.arg(js)
        .arg((s.port + 1).to_string())
        .arg(&s.script.path)
        .arg(LINE_COUNT.to_string())
        .arg(LINE_FLUSH.to_string())
        .env("DBGPROXY_NODE_MODULES", &modules)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut run = crate::util::tools::Proc::spawn("node", &mut cmd);
    let status = run.wait_exit();
    let (out, err) = run.output();
    assert!(status.success(), "node: {status}\n{out}\n{err}");
}
