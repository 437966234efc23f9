//! Ids, the one command in flight, stops nobody asked for, bad input.

use super::*;

#[test]
fn colliding_ids_each_get_only_their_own_answer_reframed() {
    let mut h = at_break(&[1, 2]);
    // Both IDEs number their commands the same way.
    let sent = h.client(1, "stack_get -i 12345");
    assert_eq!(to_debugger(&sent), ["stack_get -i 2"]);
    let sent = h.client(2, "eval -i 12345 -- JHN1bSArIDE=");
    assert!(sent.is_empty(), "one command in flight: {sent:?}");
    assert_eq!(h.counter("commands_queued"), 3);

    let stack = find(CONN1, &["command=\"stack_get\" transaction_id=\"11\""]);
    let sent = h.answer(&stack);
    let [Sent::Client(1, answer), Sent::Debugger(eval)] = &sent[..] else {
        panic!("{sent:?}")
    };
    assert_eq!(attr(answer, "transaction_id").as_deref(), Some("12345"));
    assert!(xml(answer).contains("<stack where=\"{main}\""));
    // Only the id changed, and the length prefix with it.
    assert_eq!(xml(answer), xml(&addressed(&stack, "12345")));
    assert_eq!(eval, "eval -i 3 -- JHN1bSArIDE=");

    let sent = h.answer(&find(CONN1, &["command=\"eval\" transaction_id=\"12\""]));
    let [Sent::Client(2, answer)] = &sent[..] else {
        panic!("{sent:?}")
    };
    assert_eq!(attr(answer, "transaction_id").as_deref(), Some("12345"));
    assert!(xml(answer).contains("<property type=\"int\">"));
}

#[test]
fn a_command_waits_for_a_run_and_is_answered_to_its_client() {
    let mut h = H::with(&[1, 2, 3], CONN1);
    assert_eq!(to_debugger(&h.client(1, "run -i 10")), ["run -i 1"]);
    assert!(h.client(2, "stack_get -i 7").is_empty());
    // Xdebug would answer `status` only when the script stops.
    let sent = h.client(3, "status -i 4");
    let [Sent::Client(3, status)] = &sent[..] else {
        panic!("{sent:?}")
    };
    assert!(xml(status).contains("command=\"status\" transaction_id=\"4\" status=\"running\""));

    let brk = find(CONN1, &["command=\"run\" transaction_id=\"10\""]);
    let sent = h.answer(&brk);
    // The stop: to client 1 with its id, to the others without one; then
    // client 2's command goes in.
    assert_eq!(
        sent[..3],
        [
            Sent::Client(1, addressed(&brk, "10")),
            Sent::Client(2, strip(&brk)),
            Sent::Client(3, strip(&brk)),
        ]
    );
    assert_eq!(to_debugger(&sent), ["stack_get -i 2"]);
    let sent = h.answer(&find(CONN1, &["command=\"stack_get\""]));
    assert_eq!(to_client(&sent, 2).len(), 1);
    assert_eq!(
        attr(to_client(&sent, 2)[0], "transaction_id").as_deref(),
        Some("7")
    );
    assert!(to_client(&sent, 1).is_empty() && to_client(&sent, 3).is_empty());
}

pub fn strip(packet: &[u8]) -> Vec<u8> {
    Packet::parse(&Message::from_bytes(packet))
        .readdressed(None, None)
        .to_vec()
}

#[test]
fn a_departed_clients_commands_are_dropped_and_its_answer_counted() {
    let mut h = H::with(&[1, 2], CONN1);
    h.client(1, "run -i 10");
    h.client(2, "stack_get -i 3");
    h.client(2, "eval -i 4 -- JHN1bSArIDE=");
    assert_eq!(h.dbgp().client_status(2)["dbgp_commands_queued"], 2);
    h.leave(2);
    assert_eq!(h.counter("queued_commands_dropped"), 2);
    let sent = h.answer(&find(CONN1, &["command=\"run\" transaction_id=\"10\""]));
    assert_eq!(to_debugger(&sent), Vec::<&str>::new());

    // In flight when its client leaves: the answer goes to nobody.
    h.join(3);
    h.client(3, "stack_get -i 9");
    h.leave(3);
    let sent = h.answer(&find(CONN1, &["command=\"stack_get\""]));
    assert!(sent.is_empty(), "{sent:?}");
    assert_eq!(h.counter("orphan_responses_dropped"), 1);
}

#[test]
fn stops_nobody_asked_for_go_to_all() {
    // An unknown command: Xdebug answers error 4 and resumes the script.
    let mut h = H::with(&[1, 2], CONN5);
    assert_eq!(
        to_debugger(&h.client(1, "xcmd_unknown -i 1")),
        ["xcmd_unknown -i 1"]
    );
    let sent = h.answer(&find(CONN5, &["<error code=\"4\""]));
    assert_eq!(to_client(&sent, 1).len(), 1);
    assert!(to_client(&sent, 2).is_empty());
    // Running now: `status` is answered here.
    assert!(xml(to_client(&h.client(2, "status -i 5"), 2)[0]).contains("status=\"running\""));
    // Its next report carries no id: everyone's.
    let idless = find(CONN5, &["status=\"stopping\""]);
    assert_eq!(h.engine(&idless), [Sent::All(idless.clone())]);

    // The same, reported with the stale id of the last command Xdebug knew
    // (breakpoint_list): to all, without that id.
    let mut h = at_break(&[1, 2]);
    h.client(1, "xcmd_unknown -i 20");
    h.answer(&find(CONN1, &["<error code=\"4\""]));
    let stale = find(CONN1, &["command=\"breakpoint_list\"", "status=\"break\""]);
    assert_eq!(h.engine(&stale), [Sent::All(strip(&stale))]);
    assert!(!xml(&strip(&stale)).contains("transaction_id"));
}

#[test]
fn break_is_answered_here_as_xdebug_would_without_resuming() {
    let mut h = at_break(&[1]);
    let sent = h.client(1, "break -i 15");
    let xdebugs = find(CONN1, &["command=\"break\" transaction_id=\"15\""]);
    assert_eq!(sent, [Sent::Client(1, xdebugs)]);
}

#[test]
fn streams_and_notifies_go_to_all_unchanged() {
    let mut h = H::with(&[1, 2], CONN1);
    let stream = find(CONN1, &["<stream"]);
    assert_eq!(h.engine(&stream), [Sent::All(stream.clone())]);
    let notify = find(CONN1, &["<notify"]);
    assert_eq!(h.engine(&notify), [Sent::All(notify.clone())]);
}

#[test]
fn bad_input_is_answered_or_closed_and_the_others_are_untouched() {
    let mut h = at_break(&[1, 2]);
    h.client(2, "stack_get -i 1");
    // No -i: answered as Xdebug answers it (error 3, no transaction_id).
    let sent = h.client(1, "status");
    let [Sent::Client(1, answer)] = &sent[..] else {
        panic!("{sent:?}")
    };
    let xdebugs = xml(&find(CONN1, &["command=\"status\"><error code=\"3\">"]));
    let cut = xdebugs.find("invalid or missing options").unwrap();
    assert_eq!(xml(answer)[..cut], xdebugs[..cut]);
    // A transaction id that is not a number is echoed back.
    let sent = h.client(1, "status -i abc");
    let [Sent::Client(1, answer)] = &sent[..] else {
        panic!("{sent:?}")
    };
    assert_eq!(attr(answer, "transaction_id").as_deref(), Some("abc"));
    assert!(xml(answer).contains("<error code=\"3\">"));
    assert!(xml(&h.client(1, "eval -i 13 -x \"unterminated")[0].bytes()).contains("code=\"3\""));
    // Not a command at all: the client is closed.
    // (A command after it in the same read is not taken.)
    assert_eq!(
        h.read(1, &["\x16\x03\x01", "status -i 3"]),
        [Sent::Close(1)],
        "closed"
    );
    assert_eq!(h.counter("bad_client_messages"), 4);
    // Client 2's command is still answered to it.
    let sent = h.answer(&find(CONN1, &["command=\"stack_get\""]));
    assert_eq!(
        attr(to_client(&sent, 2)[0], "transaction_id").as_deref(),
        Some("1")
    );
}

#[test]
fn the_queue_is_bounded_per_client() {
    let mut h = H::with(&[1, 2], CONN1);
    h.client(1, "run -i 1");
    for i in 0..super::super::MAX_QUEUED_PER_CLIENT {
        assert!(h.client(2, &format!("stack_get -i {i}")).is_empty());
    }
    let sent = h.client(2, "stack_get -i 99");
    let [Sent::Client(2, refused)] = &sent[..] else {
        panic!("{sent:?}")
    };
    assert!(xml(refused).contains("transaction_id=\"99\"><error code=\"5\">"));
    assert_eq!(h.counter("commands_refused_queue_full"), 1);
}

impl Sent {
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            Sent::Client(_, b) | Sent::All(b) => b.clone(),
            other => panic!("no bytes in {other:?}"),
        }
    }
}
