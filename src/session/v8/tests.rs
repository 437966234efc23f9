//! The legacy V8 rules, on transcripts of node 6.17.1 `--debug` recorded
//! with the scenario lines the test kit reads (see `session::testkit`). A
//! client line is `{body} @N`: the body with the client's seq, and the seq
//! V8 got instead.

use super::V8;
use crate::config::{LastGoodbye, Mode};
use crate::framing::Protocol;
use crate::session::Settings;
use crate::session::testkit::{Run, count, settings};

const SHARED: &str = include_str!("transcripts/shared.v8");
const FORWARD: &str = include_str!("transcripts/forward.v8");

const GREETING: &str = "Type: connect\r\nV8-Version: 5.1.281.111\r\nProtocol-Version: 1\r\nEmbedding-Host: node v6.17.1\r\nContent-Length: 0\r\n\r\n";

fn frame(body: &str) -> Vec<u8> {
    format!("Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
}

/// `{"seq":1,…} @5` → what the client sent (seq 1), what V8 got (seq 5).
fn line(text: &str) -> (Vec<u8>, Vec<u8>) {
    let Some((body, proxy)) = text.rsplit_once(" @") else {
        return (frame(text), frame(text));
    };
    let mut got = body.to_string();
    let end = got.find(',').unwrap();
    got.replace_range(..end, &format!("{{\"seq\":{proxy}"));
    (frame(body), frame(&got))
}

/// A V8 session under test.
fn run(mode: Mode, last_goodbye: LastGoodbye, backlog_bytes: usize) -> Run<V8> {
    let settings = Settings {
        backlog_bytes,
        ..settings(Protocol::V8, mode, last_goodbye)
    };
    Run::new(V8::new(&settings), Protocol::V8)
}

fn played(transcript: &str, mode: Mode, last_goodbye: LastGoodbye) -> Run<V8> {
    let mut r = run(mode, last_goodbye, 1 << 16);
    r.play(transcript, line);
    r.check_forwarded("V8");
    r
}

fn shared() -> Run<V8> {
    played(SHARED, Mode::Persistent, LastGoodbye::Keep)
}

#[test]
fn colliding_seqs_each_get_only_their_own_answers() {
    let r = shared();
    let (a, b) = (r.text("A"), r.text("B"));
    // Both sent seq 1 twice; each response carries the sender's own seq.
    assert_eq!(
        count(
            &a,
            "\"request_seq\":1,\"type\":\"response\",\"command\":\"version\""
        ),
        1
    );
    assert_eq!(
        count(
            &b,
            "\"request_seq\":1,\"type\":\"response\",\"command\":\"version\""
        ),
        1
    );
    assert!(a.contains("\"request_seq\":1,\"type\":\"response\",\"command\":\"evaluate\",\"success\":true,\"body\":{\"handle\":4,\"type\":\"number\",\"value\":1,"));
    assert!(b.contains("\"command\":\"evaluate\",\"success\":true,\"body\":{\"handle\":11,\"type\":\"number\",\"value\":17,"));
    assert!(!a.contains("\"value\":17") && !b.contains("\"handle\":4,"));
    assert!(
        r.text("C")
            .contains("\"request_seq\":7,\"type\":\"response\",\"command\":\"backtrace\"")
    );
    assert_eq!(
        count(&r.text("C"), "\"type\":\"response\""),
        2,
        "its backtrace and its refused request"
    );
    // Re-framed: every response's Content-Length is its body's length.
    for m in r.messages("A") {
        let text = String::from_utf8_lossy(m);
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        if let Some(n) = head.strip_prefix("Content-Length: ") {
            assert_eq!(n.parse::<usize>().unwrap(), body.len());
        }
    }
}

#[test]
fn events_go_to_all_and_a_joiner_gets_the_greeting_then_the_break() {
    let r = shared();
    for who in ["A", "B"] {
        assert_eq!(count(&r.text(who), "\"event\":\"break\""), 2, "{who}");
        assert!(r.text(who).starts_with(GREETING), "{who}");
    }
    // C joined while stopped at the first break.
    let c = r.messages("C");
    assert_eq!(String::from_utf8_lossy(&c[0]), GREETING);
    assert!(
        String::from_utf8_lossy(&c[1])
            .contains("{\"seq\":3,\"type\":\"event\",\"event\":\"break\"")
    );
    // D joined while stopped at the second: only that one is replayed.
    let d = r.text("D");
    assert!(d.starts_with(GREETING) && count(&d, "\"event\":\"break\"") == 1);
    assert!(d.contains("{\"seq\":8,\"type\":\"event\",\"event\":\"break\""));
    // E joined after the kept session resumed the debuggee: the greeting
    // only, and no event but the proxy's own when the debugger went away.
    assert_eq!(String::from_utf8_lossy(&r.messages("E")[0]), GREETING);
    assert_eq!(count(&r.text("E"), "\"type\":\"event\""), 1);
    assert!(r.text("E").contains("\"event\":\"dbgproxyDebuggerLost\""));
}

#[test]
fn a_disconnect_while_others_remain_is_personal() {
    let r = shared();
    assert!(r.text("B").ends_with("{\"seq\":0,\"request_seq\":3,\"type\":\"response\",\"command\":\"disconnect\",\"success\":true,\"running\":false}"));
    assert!(r.closed().contains(&"B"));
    // Nothing of it reached V8 (checked by `played`); A carried on.
    assert!(!r.closed().contains(&"C"));
}

#[test]
fn the_last_disconnect_in_a_kept_session_clears_its_breakpoints_and_resumes() {
    let r = shared();
    // A was last (C left, B and D were closed): clearbreakpoint 1 (A's) and
    // continue went to V8 with proxy seqs, their answers to nobody.
    assert!(r.text("A").ends_with("\"request_seq\":1,\"type\":\"response\",\"command\":\"disconnect\",\"success\":true,\"running\":false}"));
    assert!(r.closed().contains(&"A"));
    for who in ["A", "B", "C", "D", "E"] {
        assert!(!r.text(who).contains("clearbreakpoint"), "{who}");
    }
}

#[test]
fn the_last_disconnect_is_forwarded_with_forward_and_in_session_mode() {
    for (mode, last) in [
        (Mode::Persistent, LastGoodbye::Forward),
        (Mode::OneSession, LastGoodbye::Keep),
    ] {
        let r = played(FORWARD, mode, last);
        assert!(r.text("A").ends_with("{\"seq\":2,\"request_seq\":3,\"type\":\"response\",\"command\":\"disconnect\",\"success\":true,\"running\":true}"));
        assert!(r.closed().is_empty());
    }
}

#[test]
fn bad_input_is_answered_or_closed_and_empty_messages_are_dropped() {
    let r = shared();
    assert!(r.text("C").contains("{\"seq\":0,\"request_seq\":8,\"type\":\"response\",\"command\":\"\",\"success\":false,\"message\":\"dbgproxy: no command\""));
    assert!(r.closed().contains(&"D"));
    assert_eq!(r.counter("bad_client_messages"), 2);
    assert_eq!(r.counter("empty_v8_messages_dropped"), 1);
}

#[test]
fn losing_v8_fails_requests_in_flight_and_the_next_greeting_comes_live() {
    let mut r = shared();
    let e = r.text("E");
    assert!(e.contains("\"request_seq\":1,\"type\":\"response\",\"command\":\"suspend\""));
    // Its request in flight fails, then every client hears the proxy's event.
    let failed = "{\"seq\":0,\"request_seq\":2,\"type\":\"response\",\"command\":\"evaluate\",\"success\":false,\"message\":\"dbgproxy: the debugger went away\",\"running\":false}";
    let lost = e
        .rfind("\"event\":\"dbgproxyDebuggerLost\"")
        .expect("the lost event");
    assert!(e.find(failed).is_some_and(|at| at < lost), "{e}");
    assert_eq!(r.counter("requests_in_flight"), 0);
    let before = e.len();
    r.up();
    r.debugger_says(GREETING.as_bytes());
    assert_eq!(&r.text("E")[before..], GREETING);
}

#[test]
fn orphans_and_departed_clients_answers_are_dropped() {
    let mut r = run(Mode::Persistent, LastGoodbye::Keep, 0);
    r.join("A");
    r.join("B");
    r.debugger_says(GREETING.as_bytes());
    r.client_sends_bytes(
        "A",
        &frame("{\"seq\":1,\"type\":\"request\",\"command\":\"version\"}"),
    );
    r.leave("A");
    let answer = "{\"seq\":0,\"request_seq\":1,\"type\":\"response\",\"command\":\"version\",\"success\":true,\"running\":true}";
    r.debugger_says(&frame(answer));
    r.debugger_says(&frame(answer));
    assert_eq!(r.counter("answers_to_departed_clients_dropped"), 1);
    assert_eq!(r.counter("orphan_responses_dropped"), 1);
    assert_eq!(r.text("B"), GREETING);
}

#[test]
fn a_request_split_across_reads_is_rewritten_and_broken_json_with_a_seq_is_answered() {
    let mut r = run(Mode::Persistent, LastGoodbye::Keep, 0);
    r.join("A");
    let bytes = frame("{\"seq\":41,\"type\":\"request\",\"command\":\"version\"}");
    let (one, two) = bytes.split_at(30);
    let parts = vec![
        crate::net::queue::Chunk::copy_from(one),
        crate::net::queue::Chunk::copy_from(two),
    ];
    r.client_sends("A", crate::framing::Message::from_parts(parts));
    assert_eq!(
        r.sim.to_debugger,
        [frame(
            "{\"seq\":1,\"type\":\"request\",\"command\":\"version\"}"
        )]
    );
    r.client_sends_bytes(
        "A",
        &frame("{\"seq\":42,\"type\":\"request\",\"command\":\"evaluate\",\"arguments\":{"),
    );
    assert_eq!(r.sim.to_debugger.len(), 1);
    assert!(r.text("A").contains("{\"seq\":0,\"request_seq\":42,\"type\":\"response\",\"command\":\"evaluate\",\"success\":false,\"message\":\"dbgproxy: not a JSON object"));
    assert!(r.closed().is_empty());
}

#[test]
fn a_break_nobody_heard_is_read_once_by_the_next_client() {
    let mut r = run(Mode::Persistent, LastGoodbye::Keep, 1 << 16);
    let start = FORWARD
        .find("{\"seq\":1,\"type\":\"event\",\"event\":\"break\"")
        .unwrap();
    let end = start + FORWARD[start..].find('\n').unwrap();
    let event = frame(&FORWARD[start..end]);
    r.debugger_says(GREETING.as_bytes());
    r.debugger_says(&event);
    r.join("A");
    assert_eq!(
        r.text("A"),
        format!("{GREETING}{}", String::from_utf8_lossy(&event))
    );
    r.join("B");
    assert_eq!(r.text("B"), r.text("A"), "the stop, replayed as state");
}
