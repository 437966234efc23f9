//! The second real engine: Komodo's pydbgp (PyPI `komodo-python3-dbgp`, in
//! `.deps/venv`), routed by the idekey it sends (`-k`) exactly as Xdebug's.
//! It lingers after the IDE closes, so it is killed by pid at the end.

use std::path::Path;

use super::*;
use crate::util::tools::{Proc, python_with};

/// `print` is line 7: reached once, where the break is.
const SCRIPT: &str = "def add(a, b):
    s = a + b
    return s
t = 0
for i in range(1, 4):
    t = add(t, i)
print('total', t)
";
const LINE_PRINT: u32 = 7;

/// pydbgp beside the venv's Python ($DBGPROXY_PYTHON, or .deps/venv), run
/// by that Python (its own `#!` names wherever the venv was made).
fn pydbgp(port: u16, key: &str, script: &Path) -> Proc {
    let python = python_with(&["dbgp"]);
    let pydbgp = python.with_file_name("pydbgp");
    assert!(
        pydbgp.exists(),
        "no pydbgp at {}: run .ci/deps (pip install komodo-python3-dbgp into .deps/venv)",
        pydbgp.display()
    );
    let mut cmd = Command::new(python);
    cmd.arg("-W")
        .arg("ignore")
        .arg(pydbgp)
        .args(["-d", &format!("127.0.0.1:{port}"), "-k", key])
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    Proc::spawn("pydbgp", &mut cmd)
}

#[test]
fn komodo_pydbgp_is_routed_by_its_idekey() {
    let s = Setup::new(&[]);
    let script = s._dir.write("script.py", SCRIPT);
    let uri = file_uri(&script);
    let ide = Ide::listen();
    ide.register(&s, "py");
    let engine = pydbgp(s.port, "py", &script);
    let mut c = ide.accept("py");
    let init = c.init();
    assert_eq!(attr(&init, "idekey").as_deref(), Some("py"), "{init}");
    assert_eq!(attr(&init, "language").as_deref(), Some("python"), "{init}");
    assert_eq!(
        attr(&init, "proxied").as_deref(),
        Some("127.0.0.1"),
        "{init}"
    );
    let r = c.request(&format!("breakpoint_set -t line -f {uri} -n {LINE_PRINT}"));
    assert!(attr(&r, "id").is_some(), "{r}");
    let r = c.request("run");
    assert_eq!(attr(&r, "status").as_deref(), Some("break"), "{r}");
    let r = c.request("stack_get -d 0");
    assert!(r.contains(&format!("lineno=\"{LINE_PRINT}\"")), "{r}");
    let r = c.request("run");
    let status = attr(&r, "status");
    assert!(
        matches!(status.as_deref(), Some("stopping" | "stopped")),
        "{r}"
    );
    drop(c);
    // It lingers once the IDE is gone: Proc's drop ends it by its pid.
    drop(engine);
}
