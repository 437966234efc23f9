//! Several engines of one key: with `-m 1` each gets a dial of its own and
//! a row of its own (`K`, `K#2`); with `-m 0` the second waits for the
//! first. An IDE whose port is closed: the engine runs on, the registration
//! goes.

use super::*;
use crate::util::cli::status;

/// `status`'s `dbgp_proxy` object.
fn dbgp_status(s: &Setup) -> serde_json::Value {
    status(&s._runtime.0, s.port)["dbgp_proxy"].clone()
}

#[test]
fn multi_one_gives_each_engine_its_own_dial_and_row() {
    let s = Setup::new(&[]);
    let ide = Ide::listen();
    ide.register_m(&s, "kay", 1);
    let mut php1 = s.php(Some("kay"), true);
    let mut first = ide.accept("kay");
    let run1 = to_the_break(&s, &mut first, "kay");
    let mut php2 = s.php(Some("kay"), true);
    let mut second = ide.accept("kay#2");
    let run2 = to_the_break(&s, &mut second, "kay");
    php1.go();
    php2.go();
    // Both stopped at once, each on its own connection.
    for (ide, run) in [(&mut first, run1), (&mut second, run2)] {
        let stop = ide.ok(run);
        assert_eq!(attr(&stop, "status").as_deref(), Some("break"), "{stop}");
    }
    let st = dbgp_status(&s);
    let mut rows: Vec<&str> = st["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .filter_map(|r| r["key"].as_str())
        .collect();
    rows.sort_unstable();
    assert_eq!(rows, ["kay", "kay#2"], "{st}");
    assert_eq!(
        st["registrations"].as_array().map(Vec::len),
        Some(1),
        "{st}"
    );
    first.send("stop");
    second.send("stop");
}

#[test]
fn multi_zero_holds_the_second_engine_until_the_first_ends() {
    let mut s = Setup::new(&["--dbgp-hold", "20000"]);
    let ide = Ide::listen();
    ide.register_m(&s, "solo", 0);
    // The first engine stays at its <init> until its IDE runs it.
    let php1 = s.php(Some("solo"), false);
    let mut first = ide.accept("solo");
    first.init();
    let php2 = s.php(Some("solo"), false);
    s.proxy
        .wait_log("takes one session at a time (-m 0) and has one");
    assert!(!ide.dialled(), "dialled for a second session under -m 0");
    assert_eq!(dbgp_status(&s)["engines_held"], 1);
    // The first request ends: the second engine comes to the same IDE.
    run_to_the_end(&mut first);
    assert!(php1.finish().contains("total 6"));
    let mut second = ide.accept("solo (second)");
    let init = second.init();
    assert_eq!(attr(&init, "idekey").as_deref(), Some("solo"), "{init}");
    run_to_the_end(&mut second);
    assert!(php2.finish().contains("total 6"));
    let st = dbgp_status(&s);
    assert_eq!(st["engines_held"], 0, "{st}");
    assert_eq!(st["counters"]["held"], 1, "{st}");
    assert_eq!(st["counters"]["detached"], 0, "{st}");
}

#[test]
fn an_ide_that_cannot_be_reached_loses_its_registration_and_php_runs_on() {
    let mut s = Setup::new(&[]);
    let closed = {
        let gone = Ide::listen();
        gone.port
    };
    let reply = s.ask(format!("proxyinit -p {closed} -k ghost -m 1\0").as_bytes());
    assert!(reply.contains("success=\"1\""), "{reply}");
    let php = s.php(Some("ghost"), false);
    assert!(php.finish().contains("total 6"), "PHP did not run on");
    s.proxy.wait_log("registration dropped");
    let line = s
        .proxy
        .stderr()
        .lines()
        .find(|l| l.contains("registration dropped"))
        .map(String::from)
        .unwrap_or_default();
    assert!(
        line.contains("WARN") && line.contains("'ghost'") && line.contains(&format!(":{closed}")),
        "{line}"
    );
    let st = dbgp_status(&s);
    assert_eq!(
        st["registrations"].as_array().map(Vec::len),
        Some(0),
        "{st}"
    );
    assert_eq!(st["counters"]["dials_failed"], 1, "{st}");
    assert_eq!(st["counters"]["dropped_unreachable"], 1, "{st}");
    // Nor does `list`.
    let out = crate::util::cli::dbgproxy(&s._runtime.0, &["list"]);
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("'ghost'"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
