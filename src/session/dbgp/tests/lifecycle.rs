//! Goodbyes, the end of an engine connection, joiners.

use super::routing::strip;
use super::*;

const FILE: &str = "file:///tmp/dbgp-rec/loop.php";

#[test]
fn a_goodbye_while_the_script_is_live_is_personal() {
    let mut h = at_break(&[1, 2]);
    let sent = h.client(2, "detach -i 6");
    // Byte for byte what Xdebug answers a detach.
    let xdebugs = find(CONN2, &["command=\"detach\""]);
    assert_eq!(sent, [Sent::Client(2, xdebugs), Sent::Close(2)]);
    h.join(3);
    let sent = h.client(3, "stop -i 3");
    let xdebugs = find(CONN3, &["command=\"stop\"", "status=\"stopped\""]);
    assert_eq!(sent, [Sent::Client(3, xdebugs), Sent::Close(3)]);
}

#[test]
fn a_goodbye_once_the_script_finished_goes_to_xdebug_once() {
    let mut h = H::with(&[1, 2, 3], CONN4);
    h.client(1, "run -i 1");
    let stopping = find(CONN4, &["command=\"run\""]);
    let sent = h.answer(&stopping);
    assert_eq!(to_client(&sent, 2), [&strip(&stopping)[..]]);
    // vscode-php-debug says `stop` as soon as it sees `stopping`.
    assert_eq!(to_debugger(&h.client(1, "stop -i 2")), ["stop -i 2"]);
    assert!(h.client(2, "detach -i 8").is_empty(), "waits for the first");
    let stopped = find(CONN5, &["command=\"stop\""]);
    let sent = h.answer(&stopped);
    assert_eq!(to_debugger(&sent), Vec::<&str>::new());
    assert_eq!(
        attr(to_client(&sent, 1)[0], "status").as_deref(),
        Some("stopped")
    );
    let [_, Sent::Client(2, second)] = &sent[..] else {
        panic!("{sent:?}")
    };
    assert_eq!(attr(second, "transaction_id").as_deref(), Some("8"));
    assert_eq!(attr(second, "command").as_deref(), Some("detach"));
    // Xdebug's last `stopping`, with the stop's id again: nobody's.
    let again = find(CONN1, &["command=\"stop\"", "status=\"stopping\""]);
    assert!(h.engine(&addressed(&again, "2")).is_empty());
    // Client 3 said nothing: it learns that the request ended.
    let sent = h.lost();
    assert_eq!(to_client(&sent, 3).len(), 1);
    assert!(xml(to_client(&sent, 3)[0]).contains(" status=\"stopped\" reason=\"ok\""));
    assert!(to_client(&sent, 1).is_empty() && to_client(&sent, 2).is_empty());
}

#[test]
fn the_last_goodbye_while_live() {
    // One-session mode: forwarded, answered by Xdebug.
    let mut h = H::new(Mode::OneSession, LastGoodbye::Keep);
    h.join(1);
    h.up();
    h.engine(packets(CONN2)[0]);
    assert_eq!(to_debugger(&h.client(1, "detach -i 6")), ["detach -i 1"]);
    let sent = h.answer(&find(CONN2, &["command=\"detach\""]));
    assert_eq!(
        attr(to_client(&sent, 1)[0], "transaction_id").as_deref(),
        Some("6")
    );

    // Persistent, keeping the session: answered here, and Xdebug told to
    // detach (the script runs on undebugged), its answer swallowed; the
    // leaver's breakpoints are forgotten. The client stays for the next
    // request's <init>, as a persistent IDE does.
    let mut h = at_break(&[1]);
    h.client(1, &format!("breakpoint_set -i 7 -t line -f {FILE} -n 4"));
    h.answer(&find(
        CONN1,
        &["command=\"breakpoint_set\" transaction_id=\"7\""],
    ));
    assert_eq!(h.counter("breakpoints_remembered"), 1);
    let sent = h.client(1, "detach -i 6");
    let xdebugs = find(CONN2, &["command=\"detach\""]);
    assert_eq!(
        sent,
        [
            Sent::Client(1, xdebugs.clone()),
            Sent::Debugger("detach -i 3".into())
        ]
    );
    assert_eq!(h.counter("breakpoints_remembered"), 0);
    assert!(h.answer(&xdebugs).is_empty());
    // It has its answer: the end of the request tells it nothing more.
    assert!(h.lost().is_empty());
    h.up();
    assert_eq!(h.engine(packets(CONN2)[0]).len(), 1);

    // `stop` is the explicit "end the script": forwarded.
    let mut h = at_break(&[1]);
    assert_eq!(to_debugger(&h.client(1, "stop -i 3")), ["stop -i 2"]);
}

#[test]
fn losing_the_engine_answers_whoever_waits_and_starts_clean() {
    let mut h = H::with(&[1, 2, 3], CONN1);
    h.client(1, "run -i 10");
    h.client(2, "stack_get -i 5");
    let sent = h.lost();
    let one = to_client(&sent, 1);
    assert!(
        xml(one[0]).contains(
            "command=\"run\" transaction_id=\"10\" status=\"stopped\" reason=\"aborted\""
        )
    );
    let two = to_client(&sent, 2);
    assert!(xml(two[0]).contains("command=\"stack_get\" transaction_id=\"5\"><error code=\"5\">"));
    // Nobody waited on 3 (nor, after its error, on 2): an id-less report.
    assert!(xml(two[1]).contains("<response xmlns=\"urn:debugger_protocol_v1\" xmlns:xdebug=\"https://xdebug.org/dbgp/xdebug\" status=\"stopped\" reason=\"aborted\">"));
    assert_eq!(to_client(&sent, 3), [two[1]]);
    assert_eq!(one.len(), 1);

    // Between requests there is nobody to ask.
    let sent = h.client(1, "stack_get -i 6");
    assert!(xml(to_client(&sent, 1)[0]).contains("<error code=\"5\">"));
    // The next request: its <init> reaches everyone, the first command
    // goes straight in.
    h.up();
    let init = packets(CONN2)[0].to_vec();
    assert_eq!(h.engine(&init), [Sent::All(init.clone())]);
    assert_eq!(to_debugger(&h.client(2, "run -i 1")), ["run -i 2"]);
}

#[test]
fn a_joiner_learns_the_init_and_the_stop() {
    let mut h = at_break(&[1]);
    let brk = find(CONN1, &["command=\"run\" transaction_id=\"10\""]);
    let sent = h.join(2);
    assert_eq!(
        sent,
        [
            Sent::Client(2, packets(CONN1)[0].to_vec()),
            Sent::Client(2, strip(&brk))
        ]
    );
    // What its IDE always does after the <init>: this `run` would resume
    // the script under client 1's feet, so it is answered with the stop.
    let sent = h.client(2, "run -i 3");
    let [Sent::Client(2, answer)] = &sent[..] else {
        panic!("{sent:?}")
    };
    assert_eq!(xml(answer), xml(&addressed(&brk, "3")));
    // Its next continuation is the user's, and goes through.
    assert_eq!(
        to_debugger(&h.client(2, "step_over -i 4")),
        ["step_over -i 2"]
    );
}

#[test]
fn a_joiners_first_run_while_running_waits_for_the_next_stop() {
    let mut h = H::with(&[1], CONN1);
    h.client(1, "run -i 10");
    h.join(2);
    assert!(h.client(2, "step_into -i 1").is_empty());
    let brk = find(CONN1, &["command=\"run\" transaction_id=\"10\""]);
    let sent = h.answer(&brk);
    assert_eq!(to_debugger(&sent), Vec::<&str>::new());
    let two = to_client(&sent, 2);
    // The stop without an id (everyone's), then its own answer.
    assert_eq!(two.len(), 2);
    assert_eq!(two[0], &strip(&brk)[..]);
    assert_eq!(attr(two[1], "transaction_id").as_deref(), Some("1"));
    assert_eq!(attr(two[1], "command").as_deref(), Some("step_into"));
}

#[test]
fn two_ides_starting_together_do_not_run_past_each_others_stop() {
    let mut h = H::with(&[1, 2], CONN1);
    h.client(1, "run -i 10");
    h.client(2, "run -i 10");
    let brk = find(CONN1, &["command=\"run\" transaction_id=\"10\""]);
    let sent = h.answer(&brk);
    assert_eq!(to_debugger(&sent), Vec::<&str>::new());
    assert_eq!(
        attr(to_client(&sent, 2).last().unwrap(), "transaction_id").as_deref(),
        Some("10")
    );
}

#[test]
fn after_xdebug_resumed_on_its_own_a_first_run_waits_for_the_stop() {
    let mut h = at_break(&[1]);
    h.client(1, "xcmd_unknown -i 20");
    h.answer(&find(CONN1, &["<error code=\"4\""]));
    // The script runs with nothing in flight.
    h.join(2);
    assert!(h.client(2, "run -i 7").is_empty());
    assert!(xml(&h.client(2, "status -i 8")[0].bytes()).contains("status=\"running\""));
    let stale = find(CONN1, &["command=\"breakpoint_list\"", "status=\"break\""]);
    let sent = h.engine(&stale);
    assert_eq!(
        sent,
        [
            Sent::Client(
                2,
                Packet::parse(&Message::from_bytes(&stale))
                    .readdressed(Some(b"run"), Some(b"7"))
                    .to_vec()
            ),
            Sent::Client(1, strip(&stale)),
        ]
    );
}
