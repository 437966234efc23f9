//! Whose a registration is: uid 65534 (run with `setpriv`, as the access
//! tests do; needs root, which CI has) cannot take this uid's key, nor
//! register at all under the same-uid rule; with `--token-file` it
//! registers by passing the token as `-t`.

use super::*;
use crate::access::{NOBODY, TOKEN, as_nobody, root_or_skip, token_file};
use crate::util::cli::status;

impl Setup {
    /// `cmd` sent by uid 65534 (no NUL: the environment cannot carry one,
    /// so the idle pause ends it, as for NetBeans); the reply.
    fn ask_as_nobody(&self, cmd: &str) -> String {
        let scratch = TempDir::new("dbgp-proxy-nobody");
        let target = format!("127.0.0.1:{}", self.reg);
        let (end, got) = as_nobody(&scratch, &target, cmd, 0).finish();
        assert_eq!(end, "eof", "the proxy closes after its reply: {got}");
        got
    }
}

#[test]
fn another_uid_cannot_take_a_key_and_the_holder_keeps_it() {
    if !root_or_skip("another_uid_cannot_take_a_key…") {
        return;
    }
    let s = Setup::new(&["--allow-users", &NOBODY.to_string()]);
    let (mine, theirs) = (Ide::listen(), Ide::listen());
    mine.register(&s, "kim");
    let reply = s.ask_as_nobody(&format!("proxyinit -p {} -k kim -m 1", theirs.port));
    assert!(
        reply.contains("success=\"0\"")
            && reply.contains("error id=\"601\"")
            && reply.contains("registered by uid 0"),
        "{reply}"
    );
    // Nor may it unregister it.
    let reply = s.ask_as_nobody("proxystop -k kim");
    assert!(reply.contains("error id=\"601\""), "{reply}");
    let php = s.php(Some("kim"), false);
    let mut ide = mine.accept("kim");
    ide.init();
    run_to_the_end(&mut ide);
    assert!(php.finish().contains("total 6"));
    assert!(!theirs.dialled(), "the refused registration was dialled");
    let st = status(&s._runtime.0, s.port);
    assert_eq!(st["dbgp_proxy"]["counters"]["refused_taken"], 2, "{st}");
}

#[test]
fn another_uid_is_refused_under_the_same_uid_rule() {
    if !root_or_skip("another_uid_is_refused_under_the_same_uid_rule") {
        return;
    }
    let mut s = Setup::new(&[]);
    let theirs = Ide::listen();
    let reply = s.ask_as_nobody(&format!("proxyinit -p {} -k nob -m 1", theirs.port));
    assert!(
        reply.contains("error id=\"604\"")
            && reply.contains("uid 65534")
            && reply.contains("--allow-users 65534"),
        "{reply}"
    );
    s.proxy.wait_log("proxyinit from 127.0.0.1 refused");
    let st = status(&s._runtime.0, s.port);
    assert_eq!(
        st["dbgp_proxy"]["registrations"].as_array().map(Vec::len),
        Some(0),
        "{st}"
    );
    assert_eq!(st["dbgp_proxy"]["counters"]["refused_access"], 1, "{st}");
}

/// A peer let in only with the token (here uid 65534, as a remote IDE on a
/// non-loopback `--dbgp-proxy` would be) passes it as `-t`.
#[test]
fn a_peer_that_needs_the_token_registers_with_minus_t() {
    if !root_or_skip("a_peer_that_needs_the_token_registers_with_minus_t") {
        return;
    }
    let dir = TempDir::new("dbgp-proxy-token");
    let file = token_file(&dir, 0o600);
    let mut s = Setup::new(&["--token-file", file.to_str().unwrap()]);
    let ide = Ide::listen();
    let reply = s.ask_as_nobody(&format!("proxyinit -p {} -k tok -m 1", ide.port));
    assert!(
        reply.contains("error id=\"604\"") && reply.contains("`-t TOKEN`"),
        "{reply}"
    );
    let reply = s.ask_as_nobody(&format!(
        "proxyinit -p {} -k tok -t wrong-token-0123456789 -m 1",
        ide.port
    ));
    assert!(reply.contains("wrong token (-t)"), "{reply}");
    let reply = s.ask_as_nobody(&format!("proxyinit -t {TOKEN} -p {} -k tok", ide.port));
    assert!(reply.contains("success=\"1\""), "{reply}");
    let st = status(&s._runtime.0, s.port);
    assert_eq!(
        st["dbgp_proxy"]["registrations"][0]["owner"], "a token holder",
        "{st}"
    );
    let php = s.php(Some("tok"), false);
    let mut c = ide.accept("tok");
    c.init();
    run_to_the_end(&mut c);
    assert!(php.finish().contains("total 6"));
    s.proxy.wait_log("proxyinit: idekey 'tok'");
    assert!(!s.proxy.stderr().contains(TOKEN), "the token was logged");
    assert!(!st.to_string().contains(TOKEN), "status shows the token");
}
