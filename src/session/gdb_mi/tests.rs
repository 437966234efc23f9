//! The GDB/MI rules, on transcripts of gdb 13 (`--interpreter=mi3` and
//! `mi2`, `--tty=/dev/null`) recorded with the scenario lines the test kit
//! reads (see `session::testkit`).

use super::GdbMi;
use crate::config::{LastGoodbye, Mode};
use crate::framing::{Message, Protocol};
use crate::session::Settings;
use crate::session::testkit::{Run, count, settings};

const SHARED: &str = include_str!("transcripts/shared.mi");
const MI2_QUIT: &str = include_str!("transcripts/mi2_quit.mi");
const EXIT: &str = include_str!("transcripts/exit.mi");

fn run(mode: Mode, last_goodbye: LastGoodbye) -> Run<GdbMi> {
    let settings = Settings {
        backlog_bytes: 1 << 16,
        ..settings(Protocol::GdbMi, mode, last_goodbye)
    };
    Run::new(GdbMi::new(&settings), Protocol::GdbMi)
}

fn line(s: &str) -> (Vec<u8>, Vec<u8>) {
    let b = format!("{s}\n").into_bytes();
    (b.clone(), b)
}

fn played(transcript: &str, mode: Mode, last_goodbye: LastGoodbye) -> Run<GdbMi> {
    let mut r = run(mode, last_goodbye);
    r.play(transcript, line);
    r.check_forwarded("gdb");
    r
}

fn shared() -> Run<GdbMi> {
    played(SHARED, Mode::Persistent, LastGoodbye::Keep)
}

const GREETING: &str =
    "=thread-group-added,id=\"i1\"\n~\"Reading symbols from ./prog...\\n\"\n(gdb) \n";

#[test]
fn colliding_tokens_each_get_only_their_own_answers() {
    let r = shared();
    let (a, b) = (r.text("A"), r.text("B"));
    assert_eq!(count(&a, "5^done,value=\"2\"\n(gdb) \n"), 1);
    assert_eq!(count(&a, "5^done,value=\"4\""), 0);
    assert_eq!(count(&b, "5^done,value=\"4\"\n(gdb) \n"), 1);
    assert_eq!(count(&b, "5^done,value=\"2\""), 0);
    assert!(a.contains("1^done,bkpt={number=\"1\"") && !a.contains("1^done,bkpt={number=\"2\""));
    assert!(b.contains("1^done,bkpt={number=\"2\"") && !b.contains("1^done,bkpt={number=\"1\""));
    // A CLI command's console output is its sender's.
    assert!(a.contains("~\"Num     Type"));
    assert!(!b.contains("~\"Num     Type") && !r.text("C").contains("~\"Num"));
}

#[test]
fn async_records_and_stop_output_go_to_all() {
    let r = shared();
    for who in ["A", "B"] {
        let t = r.text(who);
        assert!(t.contains("=thread-group-started,id=\"i1\""), "{who}");
        assert!(t.contains("*running,thread-id=\"all\""), "{who}");
        assert!(
            t.contains("~\"Breakpoint 2, main () at prog.c:14\\n\""),
            "{who}"
        );
        assert!(
            t.contains("*stopped,reason=\"breakpoint-hit\",disp=\"keep\",bkptno=\"2\""),
            "{who}"
        );
    }
    // B ran the program: the result and its prompt are B's alone.
    assert!(r.text("B").contains("3^running\n"));
    assert!(!r.text("A").contains("3^running"));
    // After E's interrupt, gdb reports the stop with nothing in flight.
    for who in ["D", "E"] {
        assert!(r.text(who).contains("received signal SIGINT"), "{who}");
        assert!(
            r.text(who).contains("*stopped,reason=\"signal-received\""),
            "{who}"
        );
    }
    assert!(!r.text("D").contains("15^done"));
}

#[test]
fn mi_breakpoint_changes_are_announced_to_the_others() {
    let r = shared();
    let (a, b, c) = (r.text("A"), r.text("B"), r.text("C"));
    // Created: from the result's tuple, to everyone but its maker.
    assert_eq!(
        count(
            &b,
            "=breakpoint-created,bkpt={number=\"1\",type=\"breakpoint\",disp=\"keep\",enabled=\"y\",addr=\"0x0000000000001150\",func=\"work\""
        ),
        1
    );
    assert_eq!(count(&a, "=breakpoint-created,bkpt={number=\"2\""), 1);
    assert_eq!(count(&a, "=breakpoint-created,bkpt={number=\"1\""), 0);
    assert_eq!(count(&a, "=breakpoint-created,bkpt={number=\"3\""), 1);
    assert_eq!(count(&c, "=breakpoint-created,bkpt={number=\"3\""), 0);
    // Deleted: one notification per id, not to the deleter.
    assert_eq!(count(&a, "=breakpoint-deleted,id=\"2\"\n"), 1);
    assert_eq!(count(&c, "=breakpoint-deleted,id=\"2\"\n"), 1);
    assert_eq!(count(&b, "=breakpoint-deleted,id=\"2\""), 0);
    // Modified: gdb's own tuple, asked with -break-info, not to the changer.
    for who in [&b, &c] {
        assert_eq!(
            count(
                who,
                "=breakpoint-modified,bkpt={number=\"1\",type=\"breakpoint\",disp=\"keep\",enabled=\"n\""
            ),
            1
        );
        assert_eq!(count(who, "cond=\"n>2\""), 1);
    }
    assert_eq!(count(&a, "enabled=\"n\""), 0);
    assert_eq!(count(&a, "cond=\"n>2\""), 0);
    // The proxy's own questions are answered to nobody.
    for who in ["A", "B", "C", "D", "E"] {
        assert!(!r.text(who).contains("BreakpointTable"), "{who}");
    }
}

#[test]
fn a_joiner_gets_the_greeting_then_the_state() {
    let r = shared();
    let c = r.messages("C");
    let text: Vec<String> = c
        .iter()
        .map(|m| String::from_utf8_lossy(m).into_owned())
        .collect();
    assert_eq!(text[..3].concat(), GREETING);
    assert!(text[3].starts_with("=thread-group-started,id=\"i1\""));
    assert!(text[4].starts_with("=breakpoint-created,bkpt={number=\"1\""));
    assert!(text[5].starts_with("=breakpoint-created,bkpt={number=\"2\""));
    assert!(text[6].starts_with("*stopped,reason=\"breakpoint-hit\",disp=\"keep\",bkptno=\"2\""));
    // B, there from the greeting's end, got it replayed; A got it live.
    assert!(r.text("A").starts_with(GREETING) && r.text("B").starts_with(GREETING));
    // D joins a kept session stopped at breakpoint 1 (condition n>2): the
    // leaver's breakpoint 3 is gone, 2 was deleted.
    let d = r.text("D");
    assert!(d.starts_with(GREETING));
    assert!(d.contains("=breakpoint-created,bkpt={number=\"1\"") && d.contains("cond=\"n>2\""));
    assert!(!d.contains("number=\"2\"") && !d.contains("number=\"3\""));
    // What gdb said while nobody was connected came from the backlog, the
    // stop once; the answers to the proxy's own commands never.
    assert!(d.contains("~\"Breakpoint 1, work (n=3) at prog.c:8\\n\""));
    assert_eq!(count(&d, "*stopped,reason=\"breakpoint-hit\""), 1);
    assert!(d.contains("*stopped,reason=\"breakpoint-hit\",disp=\"keep\",bkptno=\"1\""));
    assert!(!d.contains("\n^running") && !d.contains("BreakpointTable"));
    // E joins while the debuggee runs.
    let e = r.messages("E");
    assert_eq!(
        String::from_utf8_lossy(&e[4]),
        "*running,thread-id=\"all\"\n"
    );
}

#[test]
fn goodbyes_while_others_remain_are_personal() {
    let r = shared();
    // B's -gdb-exit: answered here, B closed, nothing reached gdb (checked
    // by `played`), the others carry on.
    assert!(r.text("B").ends_with("9^exit\n"));
    assert!(r.closed().contains(&"B"));
    // A's -target-detach: answered, A stays.
    assert!(r.text("A").ends_with("10^done\n(gdb) \n"));
    assert!(!r.closed().contains(&"A"));
    assert!(r.text("C").contains("=breakpoint-modified") && r.text("C").ends_with("11^exit\n"));
}

#[test]
fn the_last_goodbye_in_a_kept_session_drops_its_breakpoints_and_resumes() {
    let r = shared();
    // C was the last client: `-break-delete 3` (C's) and `-exec-continue
    // --all` went to gdb (checked by `played`), answered to nobody.
    assert!(r.closed().contains(&"C"));
    assert!(r.text("C").ends_with("11^exit\n"));
    for who in ["A", "B", "C", "D", "E"] {
        assert!(!r.text(who).contains("\n^running"), "{who}");
    }
    // Its goodbye is answered before the proxy's clean-up runs.
    assert!(!r.text("C").contains("*running,thread-id=\"all\"\n11^exit"));
}

#[test]
fn bad_and_empty_lines_are_answered_here() {
    let r = shared();
    assert!(
        r.text("B")
            .contains("^error,msg=\"dbgproxy: an output record, not a command\"\n(gdb) \n")
    );
    assert!(r.text("C").contains("\n^done\n(gdb) \n12^done\n(gdb) \n"));
    assert_eq!(r.counter("bad_client_lines"), 1);
}

#[test]
fn losing_gdb_fails_what_is_in_flight_and_the_next_greeting_comes_live() {
    let mut r = shared();
    for (who, token) in [("D", "16"), ("E", "17")] {
        let t = r.text(who);
        assert!(
            t.contains(&format!(
                "{token}^error,msg=\"dbgproxy: the debugger went away\"\n(gdb) \n"
            )),
            "{who}"
        );
        assert!(t.contains("=thread-group-exited,id=\"i1\"\n"), "{who}");
        assert!(
            t.contains("&\"dbgproxy: the debugger exited\\n\"\n"),
            "{who}"
        );
    }
    assert_eq!(r.counter("commands_in_flight"), 0);
    let before = r.text("D").len();
    r.up();
    r.debugger_says(GREETING.as_bytes());
    assert_eq!(&r.text("D")[before..], GREETING);
    r.join("F");
    assert_eq!(r.text("F"), GREETING, "nothing of the last gdb's state");
}

#[test]
fn the_last_goodbye_is_forwarded_in_session_mode_and_with_forward() {
    for (mode, last) in [
        (Mode::OneSession, LastGoodbye::Keep),
        (Mode::Persistent, LastGoodbye::Forward),
    ] {
        let r = played(EXIT, mode, last);
        assert!(r.text("A").contains("3^exit\n"));
        assert_eq!(r.closed(), ["A"]);
    }
}

#[test]
fn mi2_multi_location_breakpoints_and_a_forwarded_quit() {
    let r = played(MI2_QUIT, Mode::Persistent, LastGoodbye::Forward);
    let b = r.text("B");
    let created = b
        .lines()
        .find(|l| l.starts_with("=breakpoint-created"))
        .unwrap();
    assert!(created.starts_with("=breakpoint-created,bkpt={number=\"1\",type=\"breakpoint\",disp=\"keep\",enabled=\"y\",addr=\"<MULTIPLE>\""));
    assert_eq!(count(created, "},{number=\"1."), 2);
    assert!(r.text("A").contains("=breakpoint-deleted,id=\"1\"\n"));
    assert!(b.ends_with("3^exit\n"));
    // gdb answers `quit` by exiting: A's console output of it is A's, and A
    // is closed without an error.
    let a = r.text("A");
    assert!(a.contains("&\"quit\\n\"") && a.contains("Quit anyway?"));
    assert!(!a.contains("went away"));
    assert_eq!(r.closed(), ["B", "A"]);
}

#[test]
fn orphan_results_are_dropped_and_counted() {
    let mut r = run(Mode::Persistent, LastGoodbye::Keep);
    r.join("A");
    r.debugger_says(GREETING.as_bytes());
    r.debugger_says(b"^done,value=\"1\"\n(gdb) \n");
    assert_eq!(r.counter("orphan_results_dropped"), 1);
    assert_eq!(r.text("A"), format!("{GREETING}(gdb) \n"));
}

#[test]
fn a_departed_clients_answers_are_dropped() {
    let mut r = run(Mode::Persistent, LastGoodbye::Keep);
    r.join("A");
    r.join("B");
    r.debugger_says(GREETING.as_bytes());
    r.client_sends("A", Message::from_bytes(b"1-data-evaluate-expression 1\n"));
    r.client_sends("A", Message::from_bytes(b"info break\n"));
    r.leave("A");
    r.debugger_says(b"1^done,value=\"1\"\n(gdb) \n&\"info break\\n\"\n~\"No breakpoints or watchpoints.\\n\"\n^done\n(gdb) \n");
    assert_eq!(r.text("B"), GREETING);
    assert_eq!(r.counter("answers_to_departed_clients_dropped"), 2);
}

#[test]
fn local_answers_keep_the_clients_order() {
    let mut r = run(Mode::Persistent, LastGoodbye::Keep);
    r.join("A");
    r.debugger_says(GREETING.as_bytes());
    r.client_sends("A", Message::from_bytes(b"1-data-evaluate-expression 1\n"));
    r.client_sends("A", Message::from_bytes(b"2\x01\xff\n"));
    r.client_sends("A", Message::from_bytes(b"\n"));
    assert_eq!(r.text("A"), GREETING);
    r.debugger_says(b"1^done,value=\"1\"\n(gdb) \n");
    assert_eq!(
        r.text("A"),
        format!(
            "{GREETING}1^done,value=\"1\"\n(gdb) \n2^error,msg=\"dbgproxy: not UTF-8 text\"\n(gdb) \n^done\n(gdb) \n"
        )
    );
    assert_eq!(
        r.sim.to_debugger,
        [b"1-data-evaluate-expression 1\n".to_vec()]
    );
}
