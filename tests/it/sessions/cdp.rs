//! CDP end to end (issue #20): node 20's inspector behind the proxy
//! (`--backend inspector`), and clients written by others before it:
//! chrome-remote-interface (tests/js/cdp_clients.mjs), `node inspect`, and
//! plain HTTP requests for discovery and its refusals.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::Value;

use crate::util::cli;
use crate::util::tools::{Proc, TempDir, node, node_modules};
use crate::util::{DEADLINE, Proxy, free_port_pair, wait_until};

/// A line the script runs every few milliseconds (0-based, as CDP counts).
pub(crate) const TICK_LINE: u32 = 2;
pub(crate) const TICKER: &str =
    "let n = 0;\nfunction tick() {\n  n += 1;\n}\nsetInterval(tick, 5);\n";

/// node 20 with its inspector on `port`.
pub(crate) fn inspect(dir: &Path, script: &Path, port: u16, brk: bool) -> Proc {
    let flag = if brk { "--inspect-brk" } else { "--inspect" };
    let mut cmd = Command::new(node());
    cmd.arg(format!("{flag}=127.0.0.1:{port}"))
        .arg(script)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let proc = Proc::spawn("node --inspect", &mut cmd);
    wait_until("node's inspector port", || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    proc
}

pub(crate) fn proxy(runtime: &Path, port: u16) -> Proxy {
    let port = port.to_string();
    let args = [
        "--backend",
        "inspector",
        "--port",
        &port,
        "--mode",
        "persistent",
        "-v",
    ];
    let mut proxy = cli::proxy_in(runtime, &args);
    proxy.wait_ready();
    proxy
}

/// A plain HTTP request to the client port; the whole answer (the proxy closes).
pub(crate) fn http(port: u16, request: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("client port");
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

pub(crate) fn get(port: u16, path: &str, host: &str) -> String {
    http(
        port,
        &format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n"),
    )
}

pub(crate) fn body(answer: &str) -> Value {
    let (_, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {answer}"))
}

pub(crate) fn file_url(path: &Path) -> String {
    format!("file://{}", path.display())
}

#[test]
fn discovery_names_the_proxy_and_refuses_strangers() {
    let dir = TempDir::new("cdp-discovery");
    let script = dir.write("ticker.js", TICKER);
    let port = free_port_pair();
    let _node = inspect(&dir.0, &script, port, false);
    let _proxy = proxy(&dir.0, port);
    let client = port + 1;
    let host = format!("127.0.0.1:{client}");
    // The proxy's own session discovers node's target as the proxy starts.
    let mut list = Value::Null;
    wait_until("the target listed", || {
        list = body(&get(client, "/json/list", &host));
        list[0]["url"] == file_url(&script)
    });
    let id = list[0]["id"].as_str().expect("an id").to_owned();
    assert_eq!(list[0]["title"], script.display().to_string());
    assert_eq!(list[0]["type"], "node");
    assert_eq!(
        list[0]["webSocketDebuggerUrl"],
        format!("ws://{host}/{id}"),
        "the proxy names itself, from the Host sent"
    );
    let localhost = body(&get(client, "/json", "localhost"));
    assert_eq!(
        localhost[0]["webSocketDebuggerUrl"],
        format!("ws://localhost/{id}")
    );
    let version = body(&get(client, "/json/version", &host));
    assert!(
        version["Browser"]
            .as_str()
            .is_some_and(|b| b.starts_with("node.js/")),
        "{version}"
    );
    assert!(version.get("webSocketDebuggerUrl").is_none());
    let schema = body(&get(client, "/json/protocol", &host));
    assert!(schema["domains"].as_array().is_some_and(|d| d.len() > 5));

    // DNS rebinding: a name that is not local is refused, as node does.
    let rebound = get(client, "/json/list", "evil.example");
    assert!(rebound.starts_with("HTTP/1.0 400"), "{rebound}");
    assert!(!rebound.contains(&id), "no target to a stranger: {rebound}");
    // A web page's upgrade: refused by its Origin.
    let upgrade = format!(
        "GET /{id} HTTP/1.1\r\nHost: {host}\r\nOrigin: http://evil.example\r\n\
         Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    let refused = http(client, &upgrade);
    assert!(refused.starts_with("HTTP/1.0 403"), "{refused}");
    // DevTools' own origin is let in: the 101.
    let devtools = upgrade.replace("http://evil.example", "devtools://devtools");
    let mut s = TcpStream::connect(("127.0.0.1", client)).unwrap();
    s.write_all(devtools.as_bytes()).unwrap();
    let mut head = String::new();
    BufReader::new(&s).read_line(&mut head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    // An upgrade on another path: 404.
    let elsewhere = http(
        client,
        &upgrade
            .replace(&format!("/{id}"), "/nope")
            .replace("Origin: http://evil.example\r\n", ""),
    );
    assert!(elsewhere.starts_with("HTTP/1.0 404"), "{elsewhere}");
}

/// Three chrome-remote-interface clients with colliding ids, a breakpoint
/// seen by all, a late joiner, a client leaving while paused, then node
/// killed and started again on the same port: the clients stay connected
/// and the breakpoint set before the restart hits in the new process.
#[test]
fn three_clients_share_node_and_survive_its_restart() {
    let dir = TempDir::new("cdp-three");
    let script = dir.write("ticker.js", TICKER);
    let port = free_port_pair();
    let mut node1 = inspect(&dir.0, &script, port, false);
    let mut proxy = proxy(&dir.0, port);
    let js = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/js/cdp_clients.mjs");
    let mut cmd = Command::new(node());
    cmd.arg(js)
        .arg((port + 1).to_string())
        .arg(file_url(&script))
        .arg(TICK_LINE.to_string())
        .env(
            "DBGPROXY_NODE_MODULES",
            node_modules(&["chrome-remote-interface"]),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut run = Proc::spawn("cdp_clients.mjs", &mut cmd);
    let mut out = BufReader::new(run.child.stdout.take().unwrap());
    let mut said = String::new();
    let end = Instant::now() + DEADLINE;
    loop {
        let mut line = String::new();
        if out.read_line(&mut line).unwrap() == 0 {
            let status = run.wait_exit();
            let (_, err) = run.output();
            panic!(
                "the clients ended ({status}) before the restart:\n{said}{err}\n{}",
                proxy.stderr()
            );
        }
        said.push_str(&line);
        if line.contains("restart now") {
            break;
        }
        assert!(Instant::now() < end, "no restart asked:\n{said}");
    }
    node1.child.kill().unwrap();
    node1.wait_exit();
    let node2 = inspect(&dir.0, &script, port, false);
    let _ = writeln!(run.child.stdin.as_mut().unwrap(), "restarted");
    let status = run.wait_exit();
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    let (_, err) = run.output();
    assert!(
        status.success(),
        "clients: {status}\n{said}{rest}\n{err}\n{}",
        proxy.stderr()
    );
    assert!(
        rest.contains(&format!("new pid {}", node2.pid())),
        "the breakpoint hit in the new process:\n{rest}"
    );
    proxy.wait_log("session removed");
}

/// `node inspect` (node's own CLI debugger) through the proxy on a node
/// started with --inspect-brk: it sees the break on start and goes on.
#[test]
fn node_inspect_breaks_on_start() {
    let dir = TempDir::new("cdp-node-inspect");
    let script = dir.write("ticker.js", TICKER);
    let port = free_port_pair();
    let _node = inspect(&dir.0, &script, port, true);
    let proxy = proxy(&dir.0, port);
    let mut cmd = Command::new(node());
    cmd.arg("inspect")
        .arg(format!("127.0.0.1:{}", port + 1))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut cli = Proc::spawn("node inspect", &mut cmd);
    let mut out = cli.child.stdout.take().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = seen.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let said = || seen.lock().unwrap().clone();
    wait_until("node inspect's break on start", || {
        said().contains("Break on start")
    });
    assert!(said().contains("ticker.js"), "{}", said());
    let stdin = cli.child.stdin.as_mut().unwrap();
    stdin.write_all(b"exec 6 * 7\n").unwrap();
    wait_until("an answer to exec", || said().contains("42"));
    stdin.write_all(b".exit\n").unwrap();
    let _ = cli.wait_exit();
    let _ = proxy;
}

/// A program that ends lets node exit (the proxy closes its sessions to it),
/// while the client stays connected to the proxy (persistent mode).
#[test]
fn a_finished_program_exits_while_its_client_stays() {
    let dir = TempDir::new("cdp-end");
    let script = dir.write("short.js", "console.log('done');\n");
    let port = free_port_pair();
    let mut node1 = inspect(&dir.0, &script, port, true);
    let _proxy = proxy(&dir.0, port);
    let modules = node_modules(&["chrome-remote-interface"]);
    let js = format!(
        "const CDP = require({:?});\n\
         (async () => {{\n\
           const c = await CDP({{host: '127.0.0.1', port: {}}});\n\
           c.on('disconnect', () => {{ console.log('disconnected'); process.exit(3); }});\n\
           await c.Runtime.enable();\n\
           await c.Runtime.runIfWaitingForDebugger();\n\
           console.log('released');\n\
           process.stdin.once('data', async () => {{ await c.close(); process.exit(0); }});\n\
         }})().catch((e) => {{ console.error(e); process.exit(1); }});\n",
        modules
            .join("chrome-remote-interface")
            .display()
            .to_string(),
        port + 1
    );
    let mut cmd = Command::new(node());
    cmd.arg("-e")
        .arg(js)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut client = Proc::spawn("a CRI client", &mut cmd);
    let status = node1.wait_exit();
    assert!(status.success(), "node ended by itself: {status}");
    let st = cli::status(&dir.0, port);
    let clients = st.to_string();
    assert!(
        clients.contains("\"restarts_survived\""),
        "the client is still there: {st:#}"
    );
    client
        .child
        .stdin
        .as_mut()
        .unwrap()
        .write_all(b"bye\n")
        .unwrap();
    let status = client.wait_exit();
    let (out, err) = client.output();
    assert!(status.success(), "client: {status}\n{out}\n{err}");
    assert!(
        out.contains("released") && !out.contains("disconnected"),
        "{out}"
    );
}
