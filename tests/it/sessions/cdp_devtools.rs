//! Chromium's own DevTools through the proxy (issue #20): headless chromium
//! opens its bundled frontend on the proxy's `ws=` URL
//! (tests/js/devtools.mjs), and the test checks from outside what a user
//! would see: the page shows the pause in the script's function, and the
//! proxy's `status` lists a client that is Chromium. The screenshot stays as
//! the test's artefact under target/test-artifacts/.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::cdp::{body, get, inspect, proxy};
use crate::util::tools::{Proc, TempDir, node, node_modules};
use crate::util::{cli, collect, free_port_pair, wait_until};

const PAUSER: &str =
    "let n = 0;\nfunction tick() {\n  n += 1;\n  debugger;\n}\nsetInterval(tick, 100);\n";
/// DevTools loads a large frontend: more than the usual deadline under load.
const DEVTOOLS_DEADLINE: Duration = Duration::from_secs(60);

/// Chromium, if installed: $DBGPROXY_CHROMIUM, else `chromium` on PATH.
fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("DBGPROXY_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join("chromium"))
        .find(|p| p.is_file())
}

/// Kills a whole process group (the script and the chromium it started,
/// with chromium's own children) whatever way the test ends.
struct Group(i32);

impl Drop for Group {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the group this test made (its leader's pid).
        unsafe {
            libc::kill(-self.0, libc::SIGKILL);
        }
    }
}

/// Every `user_agent` in the status, wherever it sits.
fn user_agents(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                match v {
                    Value::String(s) if k == "user_agent" => out.push(s.clone()),
                    _ => user_agents(v, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| user_agents(v, out)),
        _ => {}
    }
}

#[test]
fn chromium_devtools_shows_the_pause_through_the_proxy() {
    let Some(chromium) = chromium() else {
        println!("SKIPPED: chromium is not installed (apt-get install chromium, or .ci/deps)");
        return;
    };
    let dir = TempDir::new("cdp-devtools");
    let script = dir.write("pauser.js", PAUSER);
    let port = free_port_pair();
    let _node = inspect(&dir.0, &script, port, false);
    let proxy = proxy(&dir.0, port);
    let client = port + 1;
    let host = format!("127.0.0.1:{client}");
    let mut ws = String::new();
    wait_until("the target listed", || {
        let list = body(&get(client, "/json/list", &host));
        ws = list[0]["webSocketDebuggerUrl"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        list[0]["url"]
            .as_str()
            .is_some_and(|u| u.ends_with("pauser.js"))
    });
    let ws = ws.strip_prefix("ws://").expect("a ws:// URL").to_owned();
    assert!(ws.starts_with(&host), "{ws}");

    let artifacts = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target directory")
        .join("test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join("devtools-paused.png");
    let _ = std::fs::remove_file(&shot);

    let js = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/js/devtools.mjs");
    let mut cmd = Command::new(node());
    cmd.arg(js)
        .arg(&ws)
        .arg("tick")
        .arg(&shot)
        .env("DBGPROXY_CHROMIUM", &chromium)
        .env(
            "DBGPROXY_NODE_MODULES",
            node_modules(&["chrome-remote-interface"]),
        )
        .process_group(0)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut run = Proc::spawn("devtools.mjs", &mut cmd);
    let _group = Group(run.pid() as i32);
    let out = collect(run.child.stdout.take().unwrap());
    let err = collect(run.child.stderr.take().unwrap());
    let said = || {
        let text = |b: &std::sync::Mutex<Vec<u8>>| {
            String::from_utf8_lossy(&b.lock().unwrap()).into_owned()
        };
        (text(&out), text(&err))
    };
    let end = Instant::now() + DEVTOOLS_DEADLINE;
    while !said().0.contains("step: waiting") {
        let (o, e) = said();
        if let Some(status) = run.try_wait() {
            panic!(
                "devtools.mjs ended ({status}):\n{o}\n{e}\n{}",
                proxy.stderr()
            );
        }
        assert!(
            Instant::now() < end,
            "DevTools never showed the pause:\n{o}\n{e}\n{}",
            proxy.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let (o, _) = said();
    let shown = o
        .lines()
        .find_map(|l| l.strip_prefix("shown: "))
        .expect("the page's text");
    assert!(shown.contains("Debugger paused"), "{shown}");
    assert!(shown.contains("tick"), "the paused function: {shown}");
    let png = std::fs::read(&shot).expect("the screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG at {}", shot.display());
    println!("screenshot: {}", shot.display());
    println!("DevTools showed: {shown}");

    // DevTools is still attached: the proxy knows it as Chromium.
    let st = cli::status(&dir.0, port);
    let mut agents = Vec::new();
    user_agents(&st, &mut agents);
    assert!(
        agents.iter().any(|a| a.contains("HeadlessChrome")),
        "no Chromium among the clients {agents:?}: {st:#}"
    );

    let _ = writeln!(run.child.stdin.as_mut().unwrap(), "done");
    let status = run.wait_exit();
    let (o, e) = said();
    assert!(status.success(), "devtools.mjs: {status}\n{o}\n{e}");
}
