//! Breakpoint ids are each client's own (issue #18), end to end: two
//! clients set breakpoints in one file, through the proxy, on a real debugpy
//! and on lldb's DAP adapter; each checks that the ids in its
//! `setBreakpoints` answers, in the `stopped` events' `hitBreakpointIds` and
//! in any `breakpoint` event it hears are ids it was given, for its own
//! breakpoints only, and that they stay the same while the other client's
//! requests make the debugger renumber its breakpoints.

use std::collections::HashMap;

use crate::util::dap::Dap;
use crate::util::debuggees::compile_c;
use crate::util::debugpy::*;
use crate::util::inbox::Framed;
use crate::util::tools::TempDir;
use crate::util::*;
use serde_json::{Value, json};

/// One client and the ids it was given, by line (0: its function
/// breakpoint).
struct Client {
    dap: Dap,
    ids: HashMap<u64, i64>,
    /// lldb 14's `stopped` has no `hitBreakpointIds`.
    lldb: bool,
    /// `breakpoint` events heard about its breakpoints.
    events: usize,
}

impl Client {
    fn new(port: u16, name: &str) -> Client {
        Client {
            dap: Dap::connect(port, name),
            ids: HashMap::new(),
            events: 0,
            lldb: false,
        }
    }

    /// Sets `lines` in `path`; the answer's ids are its own: the ones it
    /// already had for lines it keeps, none that another line holds.
    fn set(&mut self, path: &str, lines: &[u64]) {
        let bps: Vec<Value> = lines.iter().map(|l| json!({"line": l})).collect();
        let r = self.dap.request(
            "setBreakpoints",
            json!({"source": {"path": path}, "breakpoints": bps}),
        );
        let got = r["body"]["breakpoints"].as_array().expect("breakpoints");
        assert_eq!(got.len(), lines.len(), "{r}");
        let mut ids: HashMap<u64, i64> = self
            .ids
            .iter()
            .filter(|(l, _)| **l == 0)
            .map(|(l, i)| (*l, *i))
            .collect();
        for (line, b) in lines.iter().zip(got) {
            assert_eq!(b["verified"], true, "{r}");
            let id = b["id"].as_i64().unwrap_or_else(|| panic!("no id: {r}"));
            if let Some(had) = self.ids.get(line) {
                assert_eq!(
                    id,
                    *had,
                    "client {}: line {line}'s id changed: {r}",
                    self.name()
                );
            }
            ids.insert(*line, id);
        }
        let mut distinct: Vec<i64> = ids.values().copied().collect();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), ids.len(), "one id per line: {r}");
        self.ids = ids;
    }

    /// One function breakpoint, kept as line 0.
    fn set_function(&mut self, name: &str) {
        let r = self.dap.request(
            "setFunctionBreakpoints",
            json!({"breakpoints": [{"name": name}]}),
        );
        let id = r["body"]["breakpoints"][0]["id"].as_i64();
        let id = id.unwrap_or_else(|| panic!("no id: {r}"));
        assert!(!self.ids.values().any(|&i| i == id), "{r}");
        self.ids.insert(0, id);
    }

    fn name(&self) -> String {
        self.dap.name().to_string()
    }

    /// The next stop, at `line`: its hit ids, if the debugger tells them
    /// (lldb 14 does not), are this client's ids of `hits`.
    fn stopped_at(&mut self, line: u64, hits: &[u64]) -> Value {
        let e = self.dap.event("stopped");
        let want: Vec<Value> = hits.iter().map(|l| json!(self.ids[l])).collect();
        if e["body"].get("hitBreakpointIds").is_some() || !self.lldb {
            assert_eq!(
                e["body"]["hitBreakpointIds"],
                Value::Array(want),
                "client {} (ids {:?}): {e}",
                self.name(),
                self.ids
            );
        }
        let thread = e["body"]["threadId"].clone();
        let st = self
            .dap
            .request("stackTrace", json!({"threadId": thread, "levels": 1}));
        assert_eq!(st["body"]["stackFrames"][0]["line"], line, "{st}");
        self.check_breakpoint_events();
        thread
    }

    /// Every `breakpoint` event heard so far names one of its breakpoints.
    fn check_breakpoint_events(&mut self) {
        while self.dap.has_event("breakpoint") {
            let e = self.dap.event("breakpoint");
            if let Some(id) = e["body"]["breakpoint"]["id"].as_i64() {
                assert!(
                    self.ids.values().any(|&own| own == id),
                    "client {} (ids {:?}) told of another's breakpoint: {e}",
                    self.name(),
                    self.ids
                );
                self.events += 1;
            }
        }
    }
}

fn initialize(c: &mut Client, adapter: &str) {
    let name = c.name();
    c.dap.request(
        "initialize",
        json!({"clientID": format!("test-{name}"), "adapterID": adapter, "pathFormat": "path",
               "linesStartAt1": true, "columnsStartAt1": true}),
    );
}

/// debugpy renumbers every breakpoint of a file each time the file is set,
/// so A's ids at the debugger change when B sets its own: A must not see it.
#[test]
fn debugpy_two_clients_one_file() {
    let script = Script::new();
    let port = free_port_pair();
    let _debugpy = Debugpy::start(&script.path, port);
    let mut cmd = Proxy::command();
    cmd.args(["--backend", "dap", "--mode", "persistent"])
        .args(["--port", &port.to_string(), "--retry-interval", "50"]);
    let mut proxy = Proxy::spawn(cmd);
    proxy.wait_ready();
    let path = script.path_str();

    let mut a = Client::new(port + 1, "A");
    initialize(&mut a, "debugpy");
    let attach = a.dap.send("attach", json!({"justMyCode": false}));
    a.dap.event("initialized");
    a.set(path, &[LINE_COUNT]);
    a.dap.request("configurationDone", Value::Null);
    a.dap.ok(attach);
    let thread = a.stopped_at(LINE_COUNT, &[LINE_COUNT]);

    let mut b = Client::new(port + 1, "B");
    initialize(&mut b, "debugpy");
    b.dap.request("attach", json!({"justMyCode": false}));
    b.set(path, &[LINE_SLEEP]);
    b.dap.request("configurationDone", Value::Null);
    // The stop it joins is at A's breakpoint: none of B's ids.
    b.stopped_at(LINE_COUNT, &[]);

    let step = |a: &mut Client, b: &mut Client, line, a_hits: &[u64], b_hits: &[u64]| {
        a.dap.request("continue", json!({"threadId": thread}));
        a.stopped_at(line, a_hits);
        b.stopped_at(line, b_hits);
    };
    step(&mut a, &mut b, LINE_SLEEP, &[], &[LINE_SLEEP]);
    // The issue: debugpy now calls A's breakpoint by another number.
    step(&mut a, &mut b, LINE_COUNT, &[LINE_COUNT], &[]);
    // A re-sends its line with a new one: the old line keeps its id.
    a.set(path, &[LINE_WRITE, LINE_COUNT]);
    step(&mut a, &mut b, LINE_WRITE, &[LINE_WRITE], &[]);
    b.set(path, &[LINE_SLEEP, LINE_COUNT]);
    step(&mut a, &mut b, LINE_SLEEP, &[], &[LINE_SLEEP]);
    step(&mut a, &mut b, LINE_COUNT, &[LINE_COUNT], &[LINE_COUNT]);
}

const C_LOOP: &str = r#"#include <stdio.h>
static int add(int a, int b) {
    return a + b;
}
static int twice(int a) {
    return a * 2;
}
int main(void) {
    int total = 0;
    for (int i = 1; i <= 3; i++) {
        total = add(total, i);
        total = twice(total);
    }
    printf("total %d\n", total);
    return 0;
}
"#;
const C_ADD: u64 = 3;
const C_TWICE: u64 = 6;
const C_START: u64 = 9;

/// lldb's adapter keeps its ids when a file is set again, but numbers all
/// breakpoints in one space: B's breakpoint must never reach A by lldb's
/// number, nor A's reach B. A line both set is each one's own id.
#[test]
fn lldb_two_clients_one_file() {
    let dir: TempDir = compile_c("dap-ids", C_LOOP);
    let program = dir.0.join("prog");
    let source = dir.0.join("prog.c");
    let source = source.to_str().expect("a UTF-8 path");
    let port = free_port_pair();
    let _proxy = Proxy::lldb(&dir.0, port);

    let mut a = Client::new(port + 1, "A");
    a.lldb = true;
    initialize(&mut a, "lldb");
    let launch = a
        .dap
        .send("launch", json!({"program": program, "cwd": dir.0}));
    a.dap.event("initialized");
    a.set(source, &[C_START, C_ADD]);
    // Resolved once libc loads: lldb says so in `breakpoint` events.
    a.set_function("printf");
    a.dap.ok(launch);

    // B configures too, and its configurationDone is the one that starts
    // the program: both hear lldb's `breakpoint` events, each of its own.
    let mut b = Client::new(port + 1, "B");
    b.lldb = true;
    initialize(&mut b, "lldb");
    b.dap.request("launch", json!({"program": program}));
    b.set(source, &[C_TWICE, C_ADD]);
    b.dap.request("configurationDone", Value::Null);
    a.dap.request("configurationDone", Value::Null);
    let thread = a.stopped_at(C_START, &[C_START]);
    b.stopped_at(C_START, &[]);

    let step = |a: &mut Client, b: &mut Client, line, a_hits: &[u64], b_hits: &[u64]| {
        a.dap.request("continue", json!({"threadId": thread}));
        a.stopped_at(line, a_hits);
        b.stopped_at(line, b_hits);
    };
    for _ in 0..2 {
        step(&mut a, &mut b, C_ADD, &[C_ADD], &[C_ADD]);
        step(&mut a, &mut b, C_TWICE, &[], &[C_TWICE]);
    }
    // A drops its line 9 and keeps 3: its id for 3 stays.
    a.set(source, &[C_ADD]);
    step(&mut a, &mut b, C_ADD, &[C_ADD], &[C_ADD]);
    a.check_breakpoint_events();
    b.check_breakpoint_events();
    assert!(a.events > 0, "lldb told A of its breakpoints");
    assert!(b.events > 0, "lldb told B of its breakpoints");
}
