//! Whole debug sessions with real debuggers through the proxy: gdb (spawn),
//! PHP Xdebug (listen), debugpy (connect, DAP) and node 6 (connect, legacy V8).
//! In each, a bystander client is reset (RST) mid-session and must not disturb
//! the debugger or the client driving it.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::util::debuggees::{NODE_SCRIPT, node6_under_debug};
use crate::util::tools::{Proc, TempDir, on_path, python_with_debugpy};
use crate::util::wire::Wire;
use crate::util::*;
use serde_json::{Value, json};

const C_PROGRAM: &str = r#"#include <stdio.h>
int add(int a, int b) {
    int sum = a + b;
    return sum;
}
int main(void) {
    int r = add(2, 3);
    printf("result %d\n", r);
    return 0;
}
"#;

/// Compiles the C program with debug info; returns its directory guard.
fn compiled_program() -> TempDir {
    crate::util::debuggees::compile_c("gdb", C_PROGRAM)
}

fn gdb_proxy(dir: &Path, port: u16, extra: &[&str]) -> Proxy {
    let gdb = on_path("gdb", "gdb");
    let mut cmd = Proxy::command();
    cmd.current_dir(dir)
        .args(["--backend", "spawn", "--port", &port.to_string()])
        .args(extra)
        .arg("--")
        .arg(gdb)
        .args([
            "--interpreter=mi3",
            "--quiet",
            "--nx",
            "--tty=/dev/null",
            "./prog",
        ]);
    let mut proxy = Proxy::spawn(cmd);
    proxy.wait_ready();
    proxy
}

fn mi_record<'a>(line: &'a str, field: &str) -> &'a str {
    let key = format!("{field}=\"");
    let start = line
        .find(&key)
        .unwrap_or_else(|| panic!("no {field} in {line}"))
        + key.len();
    let len = line[start..].find('"').unwrap();
    &line[start..start + len]
}

#[test]
fn gdb_over_spawn_a_whole_session() {
    let dir = compiled_program();
    let port = free_port_pair();
    let mut proxy = gdb_proxy(&dir.0, port, &[]);

    let mut ide = Wire::connect(port + 1);
    // gdb's start-up records were kept for the first client.
    let first = ide.mi_until("the first prompt", |l| l == "(gdb)");
    assert_eq!(first, "(gdb)");
    assert!(String::from_utf8_lossy(&ide.transcript).starts_with("=thread-group-added"));
    let bystander = Wire::connect(port + 1);
    proxy.wait_log("client #2");

    ide.send(b"1-break-insert add\n");
    let bkpt = ide.mi_until("the breakpoint", |l| l.starts_with("1^"));
    assert!(bkpt.starts_with("1^done,bkpt="), "{bkpt}");
    ide.send(b"2-exec-run\n");
    let stopped = ide.mi_until("the stop", |l| l.starts_with("*stopped"));
    assert_eq!(mi_record(&stopped, "reason"), "breakpoint-hit");
    assert_eq!(mi_record(&stopped, "func"), "add");

    bystander.reset();
    ide.send(b"3-data-evaluate-expression a\n");
    assert_eq!(
        ide.mi_until("a", |l| l.starts_with("3^")),
        "3^done,value=\"2\""
    );
    ide.send(b"4-stack-list-locals 1\n");
    let locals = ide.mi_until("the locals", |l| l.starts_with("4^"));
    assert!(
        locals.starts_with("4^done,locals=[{name=\"sum\""),
        "{locals}"
    );
    ide.send(b"5-exec-continue\n");
    let exited = ide.mi_until("the exit", |l| l.starts_with("*stopped"));
    assert_eq!(mi_record(&exited, "reason"), "exited-normally");
    ide.send(b"6-gdb-exit\n");
    ide.mi_until("the goodbye", |l| l.starts_with("6^exit"));

    // Session mode: gdb exited 0, so the proxy closes the client and exits 0.
    ide.read_to_end();
    let status = proxy.wait_exit();
    assert!(status.success(), "{status}\n{}", proxy.stderr());
    assert_eq!(proxy.stdout(), MARKER);
}

#[test]
fn gdb_with_several_clients_in_raw_mode() {
    let dir = compiled_program();
    let port = free_port_pair();
    let mut proxy = gdb_proxy(&dir.0, port, &[]);

    let mut a = Wire::connect(port + 1);
    a.mi_until("the first prompt", |l| l == "(gdb)");
    let mut b = Wire::connect(port + 1);
    proxy.wait_log("client #2");

    a.send(b"1-break-insert add\n2-exec-run\n");
    a.mi_until("the stop", |l| l.starts_with("*stopped"));
    b.mi_until("the stop, for b", |l| l.starts_with("*stopped"));

    // A client joining mid-session can drive it, and everybody sees the answer.
    let mut late = Wire::connect(port + 1);
    proxy.wait_log("client #3");
    late.send(b"3-data-evaluate-expression b\n");
    for w in [&mut a, &mut b, &mut late] {
        assert_eq!(
            w.mi_until("the value", |l| l.starts_with("3^")),
            "3^done,value=\"3\""
        );
        w.mi_until("the prompt", |l| l == "(gdb)");
    }

    // One leaving mid-session disturbs nobody.
    let b_saw = b.transcript.clone();
    drop(b);
    proxy.wait_log("client #2 (");
    a.send(b"4-exec-continue\n");
    a.mi_until("the exit", |l| l.contains("exited-normally"));
    late.mi_until("the exit, for late", |l| l.contains("exited-normally"));
    a.send(b"5-gdb-exit\n");
    a.read_to_end();
    late.read_to_end();
    assert!(proxy.wait_exit().success());

    // Every byte gdb said while a client was connected reached that client.
    assert!(
        a.transcript.ends_with(&late.transcript),
        "late's bytes differ from a's"
    );
    assert!(late.transcript.len() > 40);
    let at = a
        .transcript
        .windows(b_saw.len())
        .position(|w| w == b_saw.as_slice());
    assert!(at.is_some(), "b's bytes are not a run of a's");
    assert!(String::from_utf8_lossy(&b_saw).contains("*stopped"));
}

const PHP_SCRIPT: &str = r#"<?php
function add($a, $b) {
    $sum = $a + $b;
    return $sum;
}
$x = add(2, 3);
echo "result $x\n";
"#;

fn php_under_xdebug(script: &Path, port: u16) -> Proc {
    let php = on_path("php", "php-cli php-xdebug");
    let mut cmd = Command::new(php);
    cmd.arg("-dxdebug.mode=debug")
        .arg("-dxdebug.start_with_request=yes")
        .arg("-dxdebug.client_host=127.0.0.1")
        .arg(format!("-dxdebug.client_port={port}"))
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    Proc::spawn("php", &mut cmd)
}

#[test]
fn php_xdebug_over_listen_two_requests_one_client() {
    let php = on_path("php", "php-cli php-xdebug");
    let modules = Command::new(&php).arg("-m").output().expect("php -m");
    assert!(
        String::from_utf8_lossy(&modules.stdout).contains("xdebug"),
        "PHP has no Xdebug: run .ci/deps, or apt-get install php-xdebug"
    );
    let dir = TempDir::new("php");
    let script = dir.write("script.php", PHP_SCRIPT);
    let uri = format!("file://{}", script.display());
    let port = free_port_pair();
    // The marker comes as soon as both ports are bound: PHP may start then.
    let mut proxy = Proxy::start(&["--backend", "listen", "--port", &port.to_string()]);
    proxy.wait_ready();
    let mut ide = Wire::connect(port + 1);
    let bystander = Wire::connect(port + 1);
    proxy.wait_log("client #2");

    let mut first = php_under_xdebug(&script, port);
    let init = ide.dbgp_packet();
    assert!(
        init.contains("<init ") && init.contains(&format!("fileuri=\"{uri}\"")),
        "{init}"
    );
    let bp = ide.dbgp(1, &format!("breakpoint_set -t line -f {uri} -n 3"));
    assert!(bp.contains("id=\""), "{bp}");
    let run = ide.dbgp(2, "run");
    assert!(run.contains("status=\"break\""), "{run}");
    bystander.reset();
    let stack = ide.dbgp(3, "stack_get");
    assert!(
        stack.contains("where=\"add\"") && stack.contains("lineno=\"3\""),
        "{stack}"
    );
    let context = ide.dbgp(4, "context_get");
    assert!(
        context
            .contains(r#"<property name="$a" fullname="$a" type="int"><![CDATA[2]]></property>"#),
        "{context}"
    );
    // base64("$a + $b")
    let eval = ide.dbgp(5, "eval -- JGEgKyAkYg==");
    assert!(eval.contains("<![CDATA[5]]>"), "{eval}");
    let detach = ide.dbgp(6, "detach");
    assert!(detach.contains("status=\"stopping\""), "{detach}");
    assert!(first.wait_exit().success(), "the first PHP run failed");
    let mut out = String::new();
    std::io::Read::read_to_string(first.child.stdout.as_mut().unwrap(), &mut out).unwrap();
    assert_eq!(out, "result 5\n");

    // Persistent: the next request is the next debug session, same client.
    proxy.wait_log("waiting for the next debugger");
    let mut second = php_under_xdebug(&script, port);
    let init2 = ide.dbgp_packet();
    assert!(init2.contains("<init "), "{init2}");
    assert!(
        init2.contains(&format!("appid=\"{}\"", second.pid())),
        "not the second PHP: {init2}"
    );
    ide.dbgp(7, "detach");
    assert!(second.wait_exit().success());
    assert!(
        proxy.try_status().is_none(),
        "the proxy must outlive its debuggers"
    );
}

fn json_body(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// A DAP/V8 request on the wire.
fn request(seq: u64, command: &str, arguments: Value) -> String {
    json!({"seq": seq, "type": "request", "command": command, "arguments": arguments}).to_string()
}

/// Waits for the response to request `seq`; fails on `success: false`.
fn response(w: &mut Wire, seq: u64) -> Value {
    let body = w.framed_until(&format!("the response to request {seq}"), |b| {
        let v = json_body(b);
        v["type"] == "response" && v["request_seq"] == seq
    });
    let v = json_body(&body);
    assert_eq!(v["success"], true, "request {seq} failed: {body}");
    v
}

fn event(w: &mut Wire, name: &str) -> Value {
    let body = w.framed_until(&format!("the {name} event"), |b| {
        let v = json_body(b);
        v["type"] == "event" && v["event"] == name
    });
    json_body(&body)
}

const PY_SCRIPT: &str =
    "def add(a, b):\n    total = a + b\n    return total\n\n\nprint(\"result\", add(2, 3))\n";

#[test]
fn debugpy_over_connect_started_after_the_proxy() {
    let python = python_with_debugpy();
    let dir = TempDir::new("py");
    let script = dir.write("script.py", PY_SCRIPT);
    let port = free_port_pair();
    let mut proxy = Proxy::start(&["--port", &port.to_string(), "--retry-interval", "100"]);
    // The proxy is up and retrying before debugpy exists.
    wait_until("the client port", || {
        TcpStream::connect(("127.0.0.1", port + 1)).is_ok()
    });
    proxy.wait_log("connection refused (attempt 1)");

    let mut debugpy = Proc::spawn(
        "debugpy",
        Command::new(python)
            .args(["-Xfrozen_modules=off", "-m", "debugpy", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--wait-for-client")
            .arg(&script)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    proxy.wait_ready();
    let mut ide = Wire::connect(port + 1);
    let mut bystander = Wire::connect(port + 1);
    proxy.wait_log("client #3"); // #1 was the port probe

    // debugpy speaks first: its telemetry events were kept for the first client.
    assert_eq!(event(&mut ide, "output")["body"]["category"], "telemetry");
    ide.send_framed(&request(
        1,
        "initialize",
        json!({
            "clientID": "dbgproxy-test", "adapterID": "debugpy", "pathFormat": "path",
            "linesStartAt1": true, "columnsStartAt1": true
        }),
    ));
    response(&mut ide, 1);
    ide.send_framed(&request(2, "attach", json!({"justMyCode": false})));
    event(&mut ide, "initialized");
    let path = script.to_str().unwrap();
    ide.send_framed(&request(
        3,
        "setBreakpoints",
        json!({
            "source": {"path": path}, "breakpoints": [{"line": 2}]
        }),
    ));
    let bps = response(&mut ide, 3);
    assert_eq!(bps["body"]["breakpoints"][0]["verified"], true, "{bps}");
    ide.send_framed(&request(4, "configurationDone", json!({})));
    response(&mut ide, 4);
    response(&mut ide, 2); // attach is answered after configurationDone
    let stopped = event(&mut ide, "stopped");
    assert_eq!(stopped["body"]["reason"], "breakpoint");
    // The bystander saw the same stop, then crashes.
    event(&mut bystander, "stopped");
    bystander.reset();

    let thread = stopped["body"]["threadId"].clone();
    ide.send_framed(&request(5, "stackTrace", json!({"threadId": thread})));
    let frame = response(&mut ide, 5)["body"]["stackFrames"][0].clone();
    assert_eq!(frame["name"], "add");
    assert_eq!(frame["line"], 2);
    ide.send_framed(&request(6, "scopes", json!({"frameId": frame["id"]})));
    let scope = response(&mut ide, 6)["body"]["scopes"][0].clone();
    ide.send_framed(&request(
        7,
        "variables",
        json!({"variablesReference": scope["variablesReference"]}),
    ));
    let vars = response(&mut ide, 7)["body"]["variables"].clone();
    let a = vars
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "a")
        .expect("a local named a");
    assert_eq!(a["value"], "2");
    ide.send_framed(&request(8, "continue", json!({"threadId": thread})));
    response(&mut ide, 8);
    event(&mut ide, "terminated");
    ide.send_framed(&request(9, "disconnect", json!({})));
    response(&mut ide, 9);

    assert!(debugpy.wait_exit().success());
    let mut out = String::new();
    std::io::Read::read_to_string(debugpy.child.stdout.as_mut().unwrap(), &mut out).unwrap();
    assert_eq!(out, "result 5\n");
    // Session mode: the debugger went away, so does the proxy, cleanly.
    ide.read_to_end();
    assert!(proxy.wait_exit().success(), "{}", proxy.stderr());
}

#[test]
fn node6_legacy_v8_over_connect() {
    let dir = TempDir::new("node");
    let script = dir.write("loop.js", NODE_SCRIPT);
    let port = free_port_pair();
    let _node = node6_under_debug(&script, port);
    let mut proxy = Proxy::start(&["--port", &port.to_string(), "--retry-interval", "50"]);
    proxy.wait_ready();
    let mut ide = Wire::connect(port + 1);
    let mut bystander = Wire::connect(port + 1);
    proxy.wait_log("client #2");

    let (head, body) = ide.framed();
    assert!(head.starts_with("Type: connect\r\n"), "{head}");
    assert!(head.contains("Embedding-Host: node v6"), "{head}");
    assert_eq!(body, "");

    ide.send_framed(&request(
        1,
        "setbreakpoint",
        json!({
            "type": "script", "target": script.to_str().unwrap(), "line": 2
        }),
    ));
    response(&mut ide, 1);
    let brk = event(&mut ide, "break");
    assert_eq!(brk["body"]["sourceLine"], 2, "{brk}"); // V8 lines count from 0
    event(&mut bystander, "break");
    bystander.reset();

    ide.send_framed(&request(
        2,
        "evaluate",
        json!({"expression": "counter", "frame": 0}),
    ));
    let value = response(&mut ide, 2);
    assert_eq!(value["body"]["type"], "number", "{value}");
    assert!(value["body"]["value"].as_i64().unwrap() >= 0);
    ide.send_framed(&request(3, "continue", json!({})));
    response(&mut ide, 3);
    // The breakpoint stays: the next tick stops again.
    event(&mut ide, "break");
    ide.send_framed(&request(4, "clearbreakpoint", json!({"breakpoint": 1})));
    response(&mut ide, 4);
    ide.send_framed(&request(5, "disconnect", json!({})));
    response(&mut ide, 5);
    assert!(proxy.try_status().is_none());
}

// ----- late joiners: the greeting is replayed (issue: framing) -----

#[test]
fn xdebug_late_joiner_gets_init_first_and_drives_the_session() {
    let dir = TempDir::new("php-late");
    let script = dir.write("script.php", PHP_SCRIPT);
    let uri = format!("file://{}", script.display());
    let port = free_port_pair();
    let mut proxy = Proxy::start(&["--backend", "xdebug", "--port", &port.to_string()]);
    proxy.wait_ready();
    let mut early = Wire::connect(port + 1);
    proxy.wait_log("client #1");
    let mut php = php_under_xdebug(&script, port);
    let init = early.dbgp_packet();
    assert!(init.contains("<init "), "{init}");

    // Joins after <init>: gets it first, then drives the whole session.
    let mut late = Wire::connect(port + 1);
    assert_eq!(
        late.dbgp_packet(),
        init,
        "the late client's first packet is the same <init>"
    );
    let bystander = Wire::connect(port + 1);
    proxy.wait_log("client #3");
    late.dbgp(1, &format!("breakpoint_set -t line -f {uri} -n 3"));
    assert!(late.dbgp(2, "run").contains("status=\"break\""));
    bystander.reset();
    assert!(late.dbgp(3, "stack_get").contains("where=\"add\""));
    assert!(
        late.dbgp(4, "eval -- JGEgKyAkYg==")
            .contains("<![CDATA[5]]>")
    );
    // The early client is still there: the late one's goodbye is personal,
    // and the script stays where it is.
    assert!(late.dbgp(5, "detach").contains("status=\"stopping\""));
    assert!(php.try_wait().is_none(), "a personal detach let PHP go");
    // The early client learnt of the stop, saw none of the late one's
    // answers, and got <init> once; its own detach, the last, lets PHP go.
    early.dbgp(7, "detach");
    assert!(php.wait_exit().success());
    let seen = String::from_utf8_lossy(&early.transcript).into_owned();
    assert_eq!(
        seen.matches("<init ").count(),
        1,
        "init delivered twice to the early client"
    );
    assert!(seen.contains("status=\"break\""), "{seen}");
    for txn in 1..=5 {
        assert!(
            !seen.contains(&format!("transaction_id=\"{txn}\"")),
            "the early client got the late one's answer {txn}: {seen}"
        );
    }
}

#[test]
fn node6_late_joiner_gets_type_connect_first() {
    let dir = TempDir::new("node-late");
    let script = dir.write("loop.js", NODE_SCRIPT);
    let port = free_port_pair();
    let _node = node6_under_debug(&script, port);
    let mut proxy = Proxy::start(&[
        "--backend",
        "v8",
        "--port",
        &port.to_string(),
        "--retry-interval",
        "50",
    ]);
    proxy.wait_ready();
    let mut first = Wire::connect(port + 1);
    let (hello, _) = first.framed();
    assert!(hello.starts_with("Type: connect\r\n"), "{hello}");
    first.send_framed(&request(1, "version", json!({})));
    response(&mut first, 1);

    let mut late = Wire::connect(port + 1);
    let (head, body) = late.framed();
    assert_eq!(
        head, hello,
        "the late client's first message is V8's handshake"
    );
    assert_eq!(body, "");
    late.send_framed(&request(
        2,
        "evaluate",
        json!({"expression": "1 + 1", "global": true}),
    ));
    assert_eq!(response(&mut late, 2)["body"]["value"], 2);
    // The first client's next answer is its own: it never sees the late
    // one's response (the session routes answers), nor the handshake again.
    first.send_framed(&request(3, "version", json!({})));
    let own = first.framed_until("its own response", |b| b.contains("\"response\""));
    assert!(own.contains("\"request_seq\":3"), "{own}");
    assert!(!String::from_utf8_lossy(&first.transcript).contains("\"request_seq\":2"));
    assert_eq!(
        String::from_utf8_lossy(&first.transcript)
            .matches("Type: connect")
            .count(),
        1
    );
}

#[test]
fn gdb_late_joiner_gets_the_startup_records_and_prompt() {
    let dir = compiled_program();
    let port = free_port_pair();
    let gdb = on_path("gdb", "gdb");
    let mut cmd = Proxy::command();
    cmd.current_dir(&dir.0)
        .args(["--backend", "gdb", "--port", &port.to_string(), "--"])
        .arg(gdb)
        .args([
            "--interpreter=mi3",
            "--quiet",
            "--nx",
            "--tty=/dev/null",
            "./prog",
        ]);
    let mut proxy = Proxy::spawn(cmd);
    proxy.wait_ready();
    let mut first = Wire::connect(port + 1);
    first.mi_until("the prompt", |l| l == "(gdb)");
    let greeting = first.transcript.clone();
    first.send(b"1-break-insert add\n");
    first.mi_until("the breakpoint", |l| l.starts_with("1^done"));
    first.mi_until("the prompt", |l| l == "(gdb)");

    let mut late = Wire::connect(port + 1);
    late.mi_until("the replayed prompt", |l| l == "(gdb)");
    assert!(
        late.transcript.starts_with(&greeting),
        "the late client starts with gdb's start-up records"
    );
    // Then the state: the breakpoint the first client made.
    let bkpt = late.mi_until("the breakpoint", |l| l.starts_with("=breakpoint-created"));
    assert_eq!(mi_record(&bkpt, "func"), "add");
    late.send(b"2-exec-run\n");
    for w in [&mut first, &mut late] {
        let stopped = w.mi_until("the stop", |l| l.starts_with("*stopped"));
        assert_eq!(mi_record(&stopped, "func"), "add");
    }
    // The late client's goodbye is personal: the first is still there.
    late.send(b"3-gdb-exit\n");
    late.mi_until("the goodbye", |l| l.starts_with("3^exit"));
    assert!(
        proxy.try_status().is_none(),
        "a personal -gdb-exit ended gdb"
    );
    first.send(b"4-gdb-exit\n");
    first.mi_until("the last goodbye", |l| l.starts_with("4^exit"));
    assert!(proxy.wait_exit().success());
    assert_eq!(
        String::from_utf8_lossy(&first.transcript)
            .matches("=thread-group-added")
            .count(),
        1
    );
}
