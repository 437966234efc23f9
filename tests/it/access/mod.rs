//! Who reaches the debugger, against the real binary: another uid refused
//! over TCP and over a Unix socket, and let in with `--allow-users`; the
//! token right, wrong, absent and slow; a listener beyond loopback without a
//! token refused at start; Unix sockets with `--daemon` and `status`.
//!
//! The other-uid tests run a client as uid 65534 (`setpriv`), which needs
//! root: without it they print why and return (CI runs as root). That client
//! is this test binary itself, running its `helper_client_of_another_user`
//! "test" with the target in its environment (DBGp proxy mode's
//! registration tests run it too). The token is in `token`, Unix-socket
//! clients in `unix_sockets`.

mod cdp;
mod token;
mod unix_sockets;

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::util::cli::*;
use crate::util::tools::{TempDir, on_path};
use crate::util::*;

pub(crate) const NOBODY: u32 = 65534;
pub(crate) const TOKEN: &str = "t0ken-for-the-tests-0123456789";

fn me() -> u32 {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}

/// Whether this test can run a client as another uid; says why not otherwise.
pub(crate) fn root_or_skip(test: &str) -> bool {
    if me() == 0 {
        return true;
    }
    eprintln!(
        "SKIPPED {test}: running a client as another uid (setpriv) needs root; CI runs as root"
    );
    false
}

// ----- the other user's client -----

/// Not a test by itself: the client `as_nobody` runs as uid 65534. It
/// connects to `DBGPROXY_HELPER_TARGET` (`HOST:PORT` or `unix:PATH`), sends
/// `DBGPROXY_HELPER_SEND`, reads until `DBGPROXY_HELPER_WANT` bytes, the end
/// or 10 s, and prints one `HELPER …` line saying what came.
#[test]
fn helper_client_of_another_user() {
    let Ok(target) = std::env::var("DBGPROXY_HELPER_TARGET") else {
        return;
    };
    let send = std::env::var("DBGPROXY_HELPER_SEND").unwrap_or_default();
    let want: usize = std::env::var("DBGPROXY_HELPER_WANT")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(0);
    let timeout = Some(Duration::from_secs(10));
    let (mut reader, mut writer): (Box<dyn Read>, Box<dyn Write>) =
        match target.strip_prefix("unix:") {
            Some(path) => {
                let s = UnixStream::connect(path).expect("helper: connect");
                s.set_read_timeout(timeout).unwrap();
                (Box::new(s.try_clone().unwrap()), Box::new(s))
            }
            None => {
                let s = TcpStream::connect(&target).expect("helper: connect");
                s.set_read_timeout(timeout).unwrap();
                (Box::new(s.try_clone().unwrap()), Box::new(s))
            }
        };
    // A refused client may be closed before it writes: that is an answer too.
    let _ = writer.write_all(send.as_bytes());
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    let end = loop {
        if want > 0 && got.len() >= want {
            break "enough";
        }
        match reader.read(&mut buf) {
            Ok(0) => break "eof",
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => break "eof",
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break "timeout",
            Err(_) => break "error",
        }
    };
    println!(
        "HELPER uid={} end={end} got={}",
        me(),
        String::from_utf8_lossy(&got)
    );
}

/// This test binary where uid 65534 can run it: in place if every directory
/// above it lets others in, else a copy in a scratch directory.
fn helper_binary(scratch: &TempDir) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let reachable = exe
        .ancestors()
        .all(|p| std::fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o001 != 0));
    if reachable {
        return exe;
    }
    std::fs::set_permissions(&scratch.0, std::fs::Permissions::from_mode(0o755)).unwrap();
    let copy = scratch.0.join("helper");
    std::fs::copy(&exe, &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    copy
}

/// The helper's test name as the harness knows it: its module path without
/// the crate's name.
fn helper_test() -> &'static str {
    let path = concat!(module_path!(), "::helper_client_of_another_user");
    path.split_once("::").map_or(path, |(_, name)| name)
}

/// A client running as uid 65534; `finish` says what it got.
pub(crate) struct OtherUser(Child);

pub(crate) fn as_nobody(scratch: &TempDir, target: &str, send: &str, want: usize) -> OtherUser {
    let child = Command::new(on_path("setpriv", "util-linux"))
        .args([
            format!("--reuid={NOBODY}"),
            format!("--regid={NOBODY}"),
            "--clear-groups".into(),
        ])
        .arg(helper_binary(scratch))
        .args(["--exact", helper_test(), "--nocapture", "--test-threads=1"])
        .env("DBGPROXY_HELPER_TARGET", target)
        .env("DBGPROXY_HELPER_SEND", send)
        .env("DBGPROXY_HELPER_WANT", want.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the other user's client");
    OtherUser(child)
}

impl OtherUser {
    /// `(end, got)`: how its reading ended ("eof", "enough", "timeout") and what came.
    pub(crate) fn finish(self) -> (String, String) {
        let out = self.0.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text
            .lines()
            .find_map(|l| l.split_once("HELPER ").map(|(_, rest)| rest))
            .unwrap_or_else(|| {
                panic!(
                    "the other user's client said nothing:\n{text}\n{}",
                    String::from_utf8_lossy(&out.stderr)
                )
            });
        assert!(
            line.starts_with(&format!("uid={NOBODY} ")),
            "not run as {NOBODY}: {line}"
        );
        let rest = line.split_once(" end=").unwrap().1;
        let (end, got) = rest.split_once(" got=").unwrap();
        (end.to_string(), got.to_string())
    }
}

// ----- small helpers -----

pub(crate) fn token_file(dir: &TempDir, mode: u32) -> PathBuf {
    let path = dir.write("token", &format!("{TOKEN}\n"));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

/// The log lines about refused clients.
fn refusals(proxy: &Proxy) -> Vec<String> {
    proxy
        .stderr()
        .lines()
        .filter(|l| l.contains("refusing client"))
        .map(String::from)
        .collect()
}

/// Nothing more has reached the debugger: a client of ours is the next to speak.
fn debugger_hears_only(conn: &mut TcpStream, client: &mut impl Write, what: &[u8]) {
    client.write_all(what).unwrap();
    assert_eq!(
        read_n(conn, what.len()),
        what,
        "something else reached the debugger first"
    );
    conn.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut extra = [0u8; 64];
    match conn.read(&mut extra) {
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) => {}
        other => panic!("unexpected bytes at the debugger: {other:?} {extra:?}"),
    }
    conn.set_read_timeout(Some(DEADLINE)).unwrap();
}

/// Reads what a refused client is told, to the end (a reset counts as the end).
fn told(stream: &mut impl Read) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("reading the refusal: {e} after {got:?}"),
        }
    }
    String::from_utf8(got).unwrap()
}

// ----- another uid -----

#[test]
fn another_uid_is_refused_over_tcp_and_nothing_reaches_the_debugger() {
    if !root_or_skip("another_uid_is_refused_over_tcp…") {
        return;
    }
    let scratch = TempDir::new("uid-tcp");
    let port = free_port_pair();
    let debugger = FakeDebugger::listen(port);
    let mut proxy = proxy_in(&scratch.0, &["--port", &port.to_string()]);
    let mut conn = debugger.accept();
    proxy.wait_ready();

    let target = format!("127.0.0.1:{}", port + 1);
    let (end, got) = as_nobody(&scratch, &target, "print(secrets)\n", 1).finish();
    assert_eq!((end.as_str(), got.as_str()), ("eof", ""), "closed at once");
    proxy.wait_log("refusing client");
    let lines = refusals(&proxy);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("WARN")
            && lines[0].contains("uid 65534")
            && lines[0].contains("--allow-users 65534"),
        "{}",
        lines[0]
    );
    let mut mine = Client::connect(port + 1);
    debugger_hears_only(&mut conn, &mut mine.stream, b"mine");
    let s = status(&scratch.0, port);
    assert_eq!(s["counters"]["refused_other_uid"], 1, "{s}");
    assert_eq!(s["clients"].as_array().unwrap().len(), 1, "{s}");
    assert_eq!(s["clients"][0]["uid"], me(), "{s}");
    assert_eq!(s["clients"][0]["admitted_by"], "uid", "{s}");
}

#[test]
fn another_uid_is_let_in_with_allow_users_by_uid_name_or_any() {
    if !root_or_skip("another_uid_is_let_in_with_allow_users…") {
        return;
    }
    for allow in ["65534", "nobody", "any"] {
        let scratch = TempDir::new("uid-allow");
        let port = free_port_pair();
        let debugger = FakeDebugger::listen(port);
        let mut proxy = proxy_in(
            &scratch.0,
            &["--port", &port.to_string(), "--allow-users", allow],
        );
        let mut conn = debugger.accept();
        proxy.wait_ready();
        let target = format!("127.0.0.1:{}", port + 1);
        let nobody = as_nobody(&scratch, &target, "from nobody", 6);
        assert_eq!(
            read_n(&mut conn, 11),
            b"from nobody",
            "--allow-users {allow}"
        );
        let s = status(&scratch.0, port);
        let row = &s["clients"][0];
        if allow == "any" {
            // Not looked up at all.
            assert!(row["uid"].is_null(), "{s}");
            assert_eq!(row["admitted_by"], "--allow-users any");
        } else {
            assert_eq!(row["uid"], NOBODY, "{s}");
            assert_eq!(row["admitted_by"], "uid");
        }
        conn.write_all(b"answer").unwrap();
        let (end, got) = nobody.finish();
        assert_eq!((end.as_str(), got.as_str()), ("enough", "answer"));
        assert!(refusals(&proxy).is_empty());
    }
}

/// The socket is 0600, so another uid cannot even connect, unless someone
/// loosens the mode (an admin, `SocketMode=` in a unit): then `SO_PEERCRED`
/// still refuses it. The test loosens it with chmod to get that far.
#[test]
fn another_uid_over_a_unix_socket_is_refused_unless_allowed() {
    if !root_or_skip("another_uid_over_a_unix_socket…") {
        return;
    }
    for allow in [None, Some("65534")] {
        let scratch = TempDir::new("uid-unix");
        std::fs::set_permissions(&scratch.0, std::fs::Permissions::from_mode(0o755)).unwrap();
        let sock = scratch.0.join("c.sock");
        let port = free_port_pair();
        let debugger = FakeDebugger::listen(port);
        let mut args = vec![
            "--port".to_string(),
            port.to_string(),
            "--listen".into(),
            format!("unix:{}", sock.display()),
        ];
        if let Some(uid) = allow {
            args.extend(["--allow-users".into(), uid.into()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut proxy = proxy_in(&scratch.0, &args);
        let mut conn = debugger.accept();
        proxy.wait_ready();
        let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o666)).unwrap();
        let target = format!("unix:{}", sock.display());
        match allow {
            None => {
                let (end, got) = as_nobody(&scratch, &target, "print(secrets)\n", 1).finish();
                assert_eq!((end.as_str(), got.as_str()), ("eof", ""));
                proxy.wait_log("refusing client");
                let lines = refusals(&proxy);
                assert!(
                    lines.len() == 1
                        && lines[0].contains("unix:uid=65534")
                        && lines[0].contains("--allow-users 65534"),
                    "{lines:?}"
                );
                let mut mine = UnixStream::connect(&sock).unwrap();
                debugger_hears_only(&mut conn, &mut mine, b"mine");
            }
            Some(_) => {
                let nobody = as_nobody(&scratch, &target, "from nobody", 6);
                assert_eq!(read_n(&mut conn, 11), b"from nobody");
                conn.write_all(b"answer").unwrap();
                let (end, got) = nobody.finish();
                assert_eq!((end.as_str(), got.as_str()), ("enough", "answer"));
            }
        }
    }
}

/// Beyond loopback, a local user of another uid may still come in with the
/// token (the uid rule lets the owner in without one).
#[test]
fn another_uid_with_the_token_is_let_in_on_an_exposed_listener() {
    if !root_or_skip("another_uid_with_the_token…") {
        return;
    }
    let scratch = TempDir::new("uid-token");
    let token = token_file(&scratch, 0o600);
    let port = free_port_pair();
    let debugger = FakeDebugger::listen(port);
    let mut proxy = proxy_in(
        &scratch.0,
        &[
            "--port",
            &port.to_string(),
            "--listen",
            "0.0.0.0",
            "--token-file",
            token.to_str().unwrap(),
        ],
    );
    let mut conn = debugger.accept();
    proxy.wait_ready();
    let target = format!("127.0.0.1:{}", port + 1);
    // The owner's unmodified IDE: no token needed.
    let mut mine = Client::connect(port + 1);
    mine.send(b"mine");
    assert_eq!(read_n(&mut conn, 4), b"mine");
    // Another uid without it: asked, refused.
    let (end, got) = as_nobody(&scratch, &target, "print(secrets)\n", 1000).finish();
    assert_eq!(end, "eof");
    assert!(
        got.starts_with("dbgproxy: access refused: send `dbgproxy-token"),
        "{got}"
    );
    // With it: in.
    let line = format!("dbgproxy-token {TOKEN}\nfrom nobody");
    let nobody = as_nobody(&scratch, &target, &line, 6);
    assert_eq!(read_n(&mut conn, 11), b"from nobody");
    let s = status(&scratch.0, port);
    let row = s["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["uid"] == NOBODY)
        .cloned()
        .unwrap_or_else(|| panic!("{s}"));
    assert_eq!(row["admitted_by"], "token");
    assert_eq!(s["counters"]["refused_no_token"], 1, "{s}");
    assert_eq!(s["counters"]["admitted_by_token"], 1, "{s}");
    conn.write_all(b"answer").unwrap();
    assert_eq!(nobody.finish(), ("enough".into(), "answer".into()));
}
