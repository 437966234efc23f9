//! A real debugpy for the shared-session tests: a looping script under
//! `python -m debugpy --listen`, its stdout collected (so a test can see the
//! program run), and its adapter found by pid. debugpy's launcher starts the
//! adapter detached (its parent becomes init); the adapter holds the listening
//! port and exits by itself when the debuggee does, and is killed on drop in
//! case it has not.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::DEADLINE;
use super::tools::{Proc, TempDir, python_with_debugpy};

/// Loops for at most two minutes, so it never outlives a test run; a line
/// per iteration on stdout (a single write: one DAP `output` event).
pub const SCRIPT: &str = "import sys
import time

deadline = time.time() + 120
counter = 0
while time.time() < deadline:
    counter += 1
    doubled = counter * 2
    sys.stdout.write(f\"tick {counter}\\n\")
    sys.stdout.flush()
    time.sleep(0.05)
";
/// Lines of `SCRIPT` that run on every iteration, in order.
pub const LINE_COUNT: u64 = 7;
pub const LINE_DOUBLE: u64 = 8;
pub const LINE_WRITE: u64 = 9;
pub const LINE_FLUSH: u64 = 10;
pub const LINE_SLEEP: u64 = 11;

/// The script, written to a scratch directory.
pub struct Script {
    /// Removed with the script (never read: held for its `Drop`).
    _dir: TempDir,
    pub path: PathBuf,
}

impl Script {
    pub fn new() -> Script {
        let dir = TempDir::new("dap");
        let path = dir.write("loop.py", SCRIPT);
        Script { _dir: dir, path }
    }

    pub fn path_str(&self) -> &str {
        self.path.to_str().expect("a UTF-8 temp path")
    }
}

pub struct Debugpy {
    pub proc: Proc,
    pub port: u16,
    stdout: Arc<Mutex<String>>,
}

impl Debugpy {
    /// `python -m debugpy --listen 127.0.0.1:port --wait-for-client script`.
    pub fn start(script: &Path, port: u16) -> Debugpy {
        let mut proc = Proc::spawn(
            "debugpy",
            Command::new(python_with_debugpy())
                .args(["-Xfrozen_modules=off", "-m", "debugpy", "--listen"])
                .arg(format!("127.0.0.1:{port}"))
                .arg("--wait-for-client")
                .arg(script)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null()),
        );
        let mut from = proc.child.stdout.take().unwrap();
        let stdout = Arc::new(Mutex::new(String::new()));
        let sink = stdout.clone();
        thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = from.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&chunk[..n]));
            }
        });
        Debugpy { proc, port, stdout }
    }

    /// The debuggee's pid (the process `python -m debugpy` runs the script in).
    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// The last `tick N` the program printed, 0 before the first.
    pub fn ticks(&self) -> u64 {
        let out = self.stdout.lock().unwrap();
        out.lines()
            .rev()
            .find_map(|l| l.strip_prefix("tick ").and_then(|n| n.parse().ok()))
            .unwrap_or(0)
    }

    /// Waits until the program has printed `more` ticks past `since`: it runs.
    pub fn wait_running(&self, since: u64, more: u64) {
        let end = Instant::now() + DEADLINE;
        while self.ticks() < since + more {
            assert!(
                Instant::now() < end,
                "the debuggee did not run: tick {} after tick {since}",
                self.ticks()
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// The adapter's pid: the process whose command line is
    /// `…/debugpy/adapter … --port <port>`.
    pub fn adapter_pid(&self) -> Option<i32> {
        let want_port = self.port.to_string();
        std::fs::read_dir("/proc")
            .ok()?
            .flatten()
            .find_map(|entry| {
                let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
                let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
                let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
                let is_adapter = args.iter().any(|a| a.ends_with(b"debugpy/adapter"));
                let on_port = args
                    .windows(2)
                    .any(|w| w[0] == b"--port" && w[1] == want_port.as_bytes());
                (is_adapter && on_port).then_some(pid)
            })
    }

    /// Kills the adapter (the process the proxy is connected to), as if
    /// debugpy crashed.
    pub fn kill_adapter(&self) {
        let end = Instant::now() + DEADLINE;
        let pid = loop {
            if let Some(pid) = self.adapter_pid() {
                break pid;
            }
            assert!(Instant::now() < end, "no debugpy adapter on {}", self.port);
            thread::sleep(Duration::from_millis(10));
        };
        // SAFETY: kill(2) on the adapter our debuggee started.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
        let end = Instant::now() + DEADLINE;
        while super::running(pid) {
            assert!(Instant::now() < end, "the adapter {pid} did not die");
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Debugpy {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Debugpy {
    /// Kills the debuggee and its adapter (if still there); idempotent.
    pub fn stop(&mut self) {
        let adapter = self.adapter_pid();
        if !matches!(self.proc.child.try_wait(), Ok(Some(_))) {
            let _ = self.proc.child.kill();
            let _ = self.proc.child.wait();
        }
        if let Some(pid) = adapter {
            // SAFETY: kill(2) on the adapter our debuggee started.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
}
