//! Engines to the IDE of their own key: two keys at once, a registration
//! after the engine came, an unknown key, re-registration and `proxystop`,
//! bad input on the registration port.

use super::*;

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
    // `list` shows the same, one line each.
    let out = crate::util::cli::dbgproxy(&s._runtime.0, &["list"]);
    let list = String::from_utf8_lossy(&out.stdout);
    for key in ["alice", "bob"] {
        assert!(
            list.lines()
                .any(|l| l.contains(&format!("registration '{key}'"))
                    && l.contains("by uid ")
                    && l.contains("multi")),
            "{list}"
        );
        assert!(
            list.lines()
                .any(|l| l.contains(&format!("session '{key}'")) && l.contains(&s.uri)),
            "{list}"
        );
    }
    // Each IDE ends its own request.
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
