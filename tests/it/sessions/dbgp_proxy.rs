//! DBGp proxy mode end to end (issue #21, shared/DBGP-PROXY.md): real PHP
//! under Xdebug connects to the shared engine port, an emulated PHP IDE
//! registers with `proxyinit` on the registration port, listens, and is
//! dialled by the proxy for each engine of its key (as VS Code php-debug,
//! PhpStorm and the others do; none of them can run in CI).

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
        let reply = s.ask(format!("proxyinit -p {} -k {key} -m 1\0", self.port).as_bytes());
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

#[test]
fn two_keys_two_ides_both_stopped_at_once() {
    let s = Setup::new(&[]);
    let (alice, bob) = (Ide::listen(), Ide::listen());
    alice.register(&s, "alice");
    bob.register(&s, "bob");
    let mut php_a = s.php(Some("alice"), true);
    let mut php_b = s.php(Some("bob"), true);
    let mut a = alice.accept("alice");
    let mut b = bob.accept("bob");
    let run_a = to_the_break(&s, &mut a, "alice");
    let run_b = to_the_break(&s, &mut b, "bob");
    php_a.go();
    php_b.go();
    // Both stopped at once, each in its own session, before either goes on.
    let stop_a = a.ok(run_a);
    let stop_b = b.ok(run_b);
    assert_eq!(
        attr(&stop_a, "status").as_deref(),
        Some("break"),
        "{stop_a}"
    );
    assert_eq!(
        attr(&stop_b, "status").as_deref(),
        Some("break"),
        "{stop_b}"
    );
    let st = crate::util::cli::status(&s._runtime.0, s.port);
    let sessions = st["dbgp_proxy"]["sessions"].as_array().expect("sessions");
    let keys: Vec<&str> = sessions.iter().filter_map(|r| r["key"].as_str()).collect();
    assert!(keys.contains(&"alice") && keys.contains(&"bob"), "{st}");
    assert!(
        sessions
            .iter()
            .all(|r| r["file"].as_str() == Some(s.uri.as_str())),
        "{st}"
    );
    let regs = st["dbgp_proxy"]["registrations"]
        .as_array()
        .expect("registrations");
    assert_eq!(regs.len(), 2, "{st}");
    // Each IDE ends its own request.
    a.send("stop");
    b.send("stop");
}

/// A line from the client port, up to the proxy's close.
fn told(port: u16, send: &[u8]) -> String {
    let mut c = TcpStream::connect(("127.0.0.1", port)).expect("client port");
    c.set_read_timeout(Some(DEADLINE)).unwrap();
    c.write_all(send).unwrap();
    let mut out = Vec::new();
    c.read_to_end(&mut out)
        .expect("the proxy closes after its line");
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn client_port_clients_join_the_one_session_or_name_one() {
    let s = Setup::new(&["--token-timeout", "400"]);
    let clients = s.port + 1;
    let (alice, bob) = (Ide::listen(), Ide::listen());
    alice.register(&s, "alice");
    bob.register(&s, "bob");

    // One session live: a client joins it at once, told its <init>.
    let mut php_a = s.php(Some("alice"), true);
    let mut a = alice.accept("alice");
    let run_a = to_the_break(&s, &mut a, "alice");
    let mut watcher = Dbgp::connect(clients, "watcher");
    let init = watcher.init();
    assert_eq!(attr(&init, "idekey").as_deref(), Some("alice"), "{init}");

    // Two live: a client names one with its first line.
    let mut php_b = s.php(Some("bob"), true);
    let mut b = bob.accept("bob");
    let run_b = to_the_break(&s, &mut b, "bob");
    let mut chooser = Dbgp::connect(clients, "chooser");
    chooser.send_raw(
        b"dbgproxy-session bob
",
    );
    let init = chooser.init();
    assert_eq!(attr(&init, "idekey").as_deref(), Some("bob"), "{init}");
    php_b.go();
    let stop_b = b.ok(run_b);
    assert_eq!(
        attr(&stop_b, "status").as_deref(),
        Some("break"),
        "{stop_b}"
    );
    // The chooser drives bob's request, not alice's.
    let st = chooser.request("status");
    assert_eq!(attr(&st, "status").as_deref(), Some("break"), "{st}");
    let stack = chooser.request("stack_get");
    assert!(stack.contains("where=\"add\""), "{stack}");

    // Saying nothing, a wrong line, or an unknown key: told what to send.
    let silent = told(clients, b"");
    assert!(silent.contains("send `dbgproxy-session <key>`"), "{silent}");
    let wrong = told(clients, b"status -i 1\0");
    assert!(wrong.contains("send `dbgproxy-session <key>`"), "{wrong}");
    let unknown = told(clients, b"dbgproxy-session zed\n");
    assert!(
        unknown.contains("no DBGp session 'zed' is live (live: ")
            && unknown.contains("alice")
            && unknown.contains("bob"),
        "{unknown}"
    );

    // The sessions went on meanwhile.
    php_a.go();
    let stop_a = a.ok(run_a);
    assert_eq!(
        attr(&stop_a, "status").as_deref(),
        Some("break"),
        "{stop_a}"
    );
    a.send("stop");
    b.send("stop");
}

#[test]
fn a_late_registration_still_gets_the_engine() {
    let mut s = Setup::new(&["--dbgp-hold", "15000"]);
    let carol = Ide::listen();
    let mut php = s.php(Some("carol"), true);
    s.proxy.wait_log("held for up to 15000ms");
    carol.register(&s, "carol");
    let mut c = carol.accept("carol");
    let run = to_the_break(&s, &mut c, "carol");
    php.go();
    let stop = c.ok(run);
    assert_eq!(attr(&stop, "status").as_deref(), Some("break"), "{stop}");
}

#[test]
fn an_unknown_key_runs_on_undebugged() {
    let mut s = Setup::new(&["--dbgp-hold", "200"]);
    let alice = Ide::listen();
    alice.register(&s, "alice");
    let php = s.php(Some("mallory"), false);
    let out = php.finish();
    assert!(out.contains("total 6"), "PHP printed {out:?}");
    // Never given to another key's IDE.
    assert!(
        !alice.dialled(),
        "alice's IDE was dialled for mallory's engine"
    );
    s.proxy
        .wait_log("no IDE is registered for idekey 'mallory'");
}

#[test]
fn re_registration_replaces_and_proxystop_ends_routing() {
    let s = Setup::new(&["--dbgp-hold", "200"]);
    let (old, new) = (Ide::listen(), Ide::listen());
    old.register(&s, "dave");
    new.register(&s, "dave");
    let php = s.php(Some("dave"), false);
    let mut ide = new.accept("dave");
    let init = ide.init();
    assert_eq!(attr(&init, "idekey").as_deref(), Some("dave"), "{init}");
    run_to_the_end(&mut ide);
    assert!(php.finish().contains("total 6"));
    assert!(!old.dialled(), "the replaced registration was dialled");

    let reply = s.ask(b"proxystop -k dave\0");
    assert!(reply.contains("success=\"1\""), "proxystop: {reply}");
    let php = s.php(Some("dave"), false);
    assert!(php.finish().contains("total 6"));
    assert!(!new.dialled(), "dialled after proxystop");
}

#[test]
fn bad_input_on_the_registration_port_is_answered_and_harmless() {
    let s = Setup::new(&["--token-timeout", "300"]);
    for (input, want) in [
        (&b"\x01\x02garbage\xff\0"[..], "success=\"0\""),
        (b"proxyfoo -k x\0", "success=\"0\""),
        (b"proxyinit -p 9000 -m 1\0", "success=\"0\""),
        (b"proxystop -k nobody\0", "success=\"0\""),
    ] {
        let reply = s.ask(input);
        assert!(
            reply.contains(want) && reply.contains("<error"),
            "{:?} got {reply:?}",
            String::from_utf8_lossy(input)
        );
    }
    // A silent connection is answered and closed within the bound.
    let reply = s.ask(b"");
    assert!(reply.contains("<error"), "silent: {reply:?}");
    // A command without a NUL ends at the idle pause (NetBeans, Eclipse).
    let ide = Ide::listen();
    let reply = s.ask(format!("proxyinit -k erin -p {} -m 1", ide.port).as_bytes());
    assert!(reply.contains("success=\"1\""), "no NUL: {reply}");
    // Still serving engines.
    let php = s.php(Some("erin"), false);
    let mut c = ide.accept("erin");
    c.init();
    run_to_the_end(&mut c);
    assert!(php.finish().contains("total 6"));
}

#[test]
fn dbgp_proxy_mode_needs_a_dbgp_listen_backend() {
    for args in [
        &["--port", "9", "--dbgp-proxy", "10"][..],
        &[
            "--port",
            "9",
            "--backend",
            "xdebug",
            "--protocol",
            "raw",
            "--dbgp-proxy",
            "10",
        ],
        &[
            "--port",
            "9",
            "--backend",
            "xdebug",
            "--dbgp-default-key",
            "k",
        ],
    ] {
        let out = dbgproxy_command()
            .args(args)
            .output()
            .expect("run dbgproxy");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("--dbgp-"), "{args:?}: {err}");
    }
}
