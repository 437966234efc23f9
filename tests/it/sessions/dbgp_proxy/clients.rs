//! The client port in DBGp proxy mode: a client joins the one live
//! session at once, or names one (`dbgproxy-session <key>`).

use super::*;

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
