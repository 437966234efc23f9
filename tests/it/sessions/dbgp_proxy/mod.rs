//! DBGp proxy mode end to end (issue #21, shared/DBGP-PROXY.md): real PHP
//! under Xdebug connects to the shared engine port, an emulated PHP IDE
//! registers with `proxyinit` on the registration port, listens, and is
//! dialled by the proxy for each engine of its key (as VS Code php-debug,
//! PhpStorm and the others do; none of them can run in CI).
//!
//! - `routing`: keys to their IDEs, held engines, re-registration, bad input;
//! - `sharing`: several engines of one key (`-m 1`, `-m 0`), an IDE that
//!   cannot be reached, `status` and `list`;
//! - `owners`: registrations of another uid, and the token (`-t`);
//! - `pydbgp`: Komodo's Python engine, the second real DBGp engine.

mod clients;
mod owners;
mod pydbgp;
mod routing;
mod sharing;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::util::dbgp::{Dbgp, attr};
use crate::util::debuggees::{PHP_LINE_ADD, PHP_SCRIPT, Php, file_uri, php_with_xdebug};
use crate::util::inbox::Inbox;
use crate::util::tools::TempDir;
use crate::util::*;

struct Setup {
    proxy: Proxy,
    script: PathBuf,
    uri: String,
    _dir: TempDir,
    _runtime: TempDir,
    /// The engine port.
    port: u16,
    /// The registration port.
    reg: u16,
}

impl Setup {
    fn new(extra: &[&str]) -> Setup {
        let dir = TempDir::new("dbgp-proxy");
        let script = dir.write("script.php", PHP_SCRIPT);
        let port = free_port_pair();
        let reg = free_port_pair();
        let runtime = TempDir::new("dbgp-proxy-rt");
        let mut cmd = Proxy::command();
        cmd.args(["--backend", "xdebug", "--port", &port.to_string()])
            .args(["--dbgp-proxy", &reg.to_string()])
            .args(extra)
            .env("XDG_RUNTIME_DIR", &runtime.0);
        let mut proxy = Proxy::spawn(cmd);
        proxy.wait_ready();
        Setup {
            proxy,
            uri: file_uri(&script),
            script,
            _dir: dir,
            _runtime: runtime,
            port,
            reg,
        }
    }

    /// One registration-port exchange: `bytes` sent, the reply read until
    /// the proxy closes.
    fn ask(&self, bytes: &[u8]) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", self.reg)).expect("registration port");
        s.set_read_timeout(Some(DEADLINE)).unwrap();
        s.write_all(bytes).unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out)
            .expect("the proxy closes after its reply");
        String::from_utf8_lossy(&out).into_owned()
    }

    /// PHP under Xdebug with idekey `key` (`None`: no key), held at each
    /// `fgets` when `gated`.
    fn php(&self, key: Option<&str>, gated: bool) -> Php {
        let mut cmd = Command::new(php_with_xdebug());
        cmd.arg("-dxdebug.mode=debug")
            .arg("-dxdebug.start_with_request=yes")
            .arg("-dxdebug.client_host=127.0.0.1")
            .arg(format!("-dxdebug.client_port={}", self.port));
        if let Some(key) = key {
            cmd.arg(format!("-dxdebug.idekey={key}"));
        }
        cmd.arg(&self.script)
            .stdin(if gated { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        Php::from_command(cmd)
    }
}

/// An emulated PHP IDE: it listens, registers, and takes the proxy's dial.
struct Ide {
    listener: TcpListener,
    port: u16,
}

impl Ide {
    fn listen() -> Ide {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        Ide { listener, port }
    }

    /// `proxyinit` as Xdebug's dbgpClient sends it; the reply must say yes.
    fn register(&self, s: &Setup, key: &str) {
        self.register_m(s, key, 1);
    }

    /// The same, with `-m multi`.
    fn register_m(&self, s: &Setup, key: &str, multi: u8) {
        let reply = s.ask(format!("proxyinit -p {} -k {key} -m {multi}\0", self.port).as_bytes());
        assert!(
            reply.contains("success=\"1\"") && reply.contains(&format!("idekey=\"{key}\"")),
            "proxyinit {key}: {reply}"
        );
    }

    /// The proxy's connection for an engine, if one comes by the deadline.
    fn accept(&self, name: &str) -> Dbgp {
        let end = Instant::now() + DEADLINE;
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    stream.set_nonblocking(false).unwrap();
                    return Dbgp::over(Inbox::over(stream, name));
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(Instant::now() < end, "IDE {name}: the proxy never dialled");
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(e) => panic!("accept: {e}"),
            }
        }
    }

    /// Whether the proxy has dialled (without waiting).
    fn dialled(&self) -> bool {
        match self.listener.accept() {
            Ok(_) => true,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => false,
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// The IDE's side of a session up to the break in `add`: `<init>` (marked
/// `proxied`, with the engine's idekey), a breakpoint, `run`.
fn to_the_break(s: &Setup, ide: &mut Dbgp, key: &str) -> u64 {
    let init = ide.init();
    assert_eq!(attr(&init, "idekey").as_deref(), Some(key), "{init}");
    assert_eq!(
        attr(&init, "proxied").as_deref(),
        Some("127.0.0.1"),
        "{init}"
    );
    ide.request(&format!(
        "breakpoint_set -t line -f {} -n {PHP_LINE_ADD}",
        s.uri
    ));
    ide.send("run")
}

/// `run` to the script's end, then the `stop` Xdebug waits for, as IDEs do.
fn run_to_the_end(ide: &mut Dbgp) {
    let r = ide.request("run");
    assert_eq!(attr(&r, "status").as_deref(), Some("stopping"), "{r}");
    ide.send("stop");
}
