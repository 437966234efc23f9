//! `--inspect-brk` across a restart with two clients (issue #20): node
//! runs on the first session's release, so the proxy lets the new process
//! run only once every client's setup is replayed (the release gate):
//! each client's breakpoint on an early line hits in the new process, in
//! the order the lines run (tests/js/cdp_brk.mjs, chrome-remote-interface).

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use super::cdp::{file_url, inspect, proxy};
use crate::util::tools::{Proc, TempDir, node, node_modules};
use crate::util::{DEADLINE, free_port_pair};

const EARLY: &str = "let hits = 0;\nhits += 1;\nhits += 2;\nsetInterval(() => {}, 1000);\n";
const LINE_A: u32 = 1;
const LINE_B: u32 = 2;

#[test]
fn both_clients_early_breakpoints_hit_after_an_inspect_brk_restart() {
    let dir = TempDir::new("cdp-brk");
    let script = dir.write("early.js", EARLY);
    let port = free_port_pair();
    let mut node1 = inspect(&dir.0, &script, port, true);
    let proxy = proxy(&dir.0, port);
    let js = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/js/cdp_brk.mjs");
    let mut cmd = Command::new(node());
    cmd.arg(js)
        .arg((port + 1).to_string())
        .arg(file_url(&script))
        .arg(LINE_A.to_string())
        .arg(LINE_B.to_string())
        .env(
            "DBGPROXY_NODE_MODULES",
            node_modules(&["chrome-remote-interface"]),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut run = Proc::spawn("cdp_brk.mjs", &mut cmd);
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
    let node2 = inspect(&dir.0, &script, port, true);
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
    let pid = node2.pid();
    assert!(
        rest.contains(&format!("pid {pid} at line {LINE_A}")),
        "A's breakpoint hit in the new process:\n{rest}"
    );
    assert!(rest.contains(&format!("new pid {pid}")), "{rest}");
}
