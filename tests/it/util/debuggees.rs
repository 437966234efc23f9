//! The real debuggers the shared-session tests drive, each with a small
//! program to debug: node 6 (legacy V8) on a looping script, PHP under
//! Xdebug on a script that can wait for the test between steps, and a C
//! program for gdb. Also `dbgproxy status` against a private control socket
//! directory.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};

use super::tools::{Proc, TempDir, node6, on_path};

// ----- node 6 -----

/// Ticks every 20 ms for as long as it runs.
pub const NODE_SCRIPT: &str = "var counter = 0;\nfunction tick() {\n  counter += 1;\n  var doubled = counter * 2;\n  return doubled;\n}\nsetInterval(tick, 20);\n";
/// `counter += 1`, as V8 counts lines (from 0).
pub const NODE_LINE_TICK: u64 = 2;

/// node 6 with the legacy debugger on `port`. It never exits by itself:
/// `timeout` bounds it even if the test process dies, and dropping the guard
/// stops it (timeout passes SIGTERM on to node).
pub fn node6_under_debug(script: &Path, port: u16) -> Proc {
    let timeout = on_path("timeout", "coreutils");
    Proc::spawn(
        "node",
        Command::new(timeout)
            .arg("60")
            .arg(node6())
            .arg(format!("--debug=127.0.0.1:{port}"))
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
}

// ----- PHP + Xdebug -----

/// Adds 1, 2, 3 to a total through `add`; before each call it reads a line
/// from stdin, so a test holds the script between two stops by writing
/// nothing (EOF lets it run through).
pub const PHP_SCRIPT: &str = r#"<?php
function add($a, $b) {
    $sum = $a + $b;
    return $sum;
}
$total = 0;
for ($i = 1; $i <= 3; $i++) {
    fgets(STDIN);
    $total = add($total, $i);
}
echo "total $total\n";
"#;
/// `$sum = $a + $b;`
pub const PHP_LINE_ADD: u32 = 3;

/// Fails with what to install when PHP has no Xdebug.
pub fn php_with_xdebug() -> PathBuf {
    let php = on_path("php", "php-cli php-xdebug");
    let modules = Command::new(&php).arg("-m").output().expect("php -m");
    assert!(
        String::from_utf8_lossy(&modules.stdout).contains("xdebug"),
        "PHP has no Xdebug: run .ci/deps, or apt-get install php-xdebug"
    );
    php
}

/// One PHP request under Xdebug, connecting to the proxy on `port`.
pub struct Php {
    pub proc: Proc,
    gate: Option<ChildStdin>,
}

impl Php {
    /// With `gated`, the script waits at each `fgets` until `go`; without,
    /// its stdin is empty and it runs straight through (but for breakpoints).
    pub fn start(script: &Path, port: u16, gated: bool) -> Php {
        let mut cmd = Command::new(php_with_xdebug());
        cmd.arg("-dxdebug.mode=debug")
            .arg("-dxdebug.start_with_request=yes")
            .arg("-dxdebug.client_host=127.0.0.1")
            .arg(format!("-dxdebug.client_port={port}"))
            .arg(script)
            .stdin(if gated { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        Php::from_command(cmd)
    }

    /// PHP as `cmd` says (its stdin piped when gated, stdout piped).
    pub fn from_command(mut cmd: Command) -> Php {
        let mut proc = Proc::spawn("php", &mut cmd);
        let gate = proc.child.stdin.take();
        Php { proc, gate }
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// Lets the script past its next `fgets`.
    pub fn go(&mut self) {
        let gate = self.gate.as_mut().expect("a gated PHP");
        gate.write_all(b"\n").expect("write to PHP's stdin");
        gate.flush().unwrap();
    }

    /// Whether it still runs.
    pub fn running(&mut self) -> bool {
        self.proc.try_wait().is_none()
    }

    /// Waits for it to end by itself; returns what it printed.
    pub fn finish(mut self) -> String {
        drop(self.gate.take());
        let status = self.proc.wait_exit();
        assert!(status.success(), "PHP failed: {status}");
        let mut out = String::new();
        let stdout = self.proc.child.stdout.as_mut().unwrap();
        std::io::Read::read_to_string(stdout, &mut out).unwrap();
        out
    }
}

/// `file://` URI of a script, as Xdebug names it.
pub fn file_uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

// ----- gdb -----

/// Calls `add` three times; `spin` never returns (a command that makes gdb
/// call it is never answered).
pub const C_PROGRAM: &str = r#"#include <stdio.h>
int add(int a, int b) {
    int sum = a + b;
    return sum;
}
int spin(void) {
    volatile int forever = 1;
    while (forever) {
    }
    return 0;
}
int main(void) {
    int total = 0;
    for (int i = 1; i <= 3; i++) {
        total = add(total, i);
    }
    printf("total %d\n", total);
    return 0;
}
"#;

/// Compiles `C_PROGRAM` with debug info as `prog` in a scratch directory.
pub fn compiled_program() -> TempDir {
    compile_c("gdb-sessions", C_PROGRAM)
}

/// Compiles `source` with debug info (`-g -O0`) as `prog` in a scratch
/// directory tagged `tag`; returns the directory's guard.
pub fn compile_c(tag: &str, source: &str) -> TempDir {
    let gcc = on_path("gcc", "gcc");
    let dir = TempDir::new(tag);
    let src = dir.write("prog.c", source);
    let status = Command::new(gcc)
        .args(["-g", "-O0", "-o"])
        .arg(dir.0.join("prog"))
        .arg(src)
        .status()
        .expect("run gcc");
    assert!(status.success(), "gcc failed");
    dir
}

/// The gdb command line the proxy spawns (MI3, the program's output away
/// from the MI stream).
pub fn gdb_command() -> Vec<String> {
    let gdb = on_path("gdb", "gdb");
    vec![
        gdb.to_string_lossy().into_owned(),
        "--interpreter=mi3".into(),
        "--quiet".into(),
        "--nx".into(),
        "--tty=/dev/null".into(),
        "./prog".into(),
    ]
}
