//! Handshake once, joiners, goodbyes, the debugger going away.

use super::*;

/// `msg` as the proxy replays it: the recorded message with the joiner's seq.
fn replayed(r: &Rig, recorded: i64, seq: i64) -> Value {
    let mut v = decode(&r.rec(recorded));
    v["seq"] = json!(seq);
    v
}

fn with_hits(mut v: Value, ids: Value) -> Value {
    v["body"]["hitBreakpointIds"] = ids;
    v
}

#[test]
fn a_joiner_is_answered_locally_then_told_the_state() {
    let mut r = Rig::new(ATTACH, LastGoodbye::Keep);
    r.first_client_attaches(1);
    assert!(r.join(2).is_empty());
    let sent = r.req(2, 1, "initialize", init_args("other"));
    let caps = decode(&r.rec(4))["body"].clone();
    assert_eq!(
        to(&sent, To::Client(2)),
        vec![
            json!({"seq": 1, "type": "response", "request_seq": 1, "success": true,
                   "command": "initialize", "body": caps}),
            json!({"seq": 2, "type": "event", "event": "initialized"}),
        ]
    );
    assert_eq!(sent.len(), 2, "nothing for the debugger");
    // Until its handshake is through, the joiner hears no events.
    assert_eq!(only(&r.play(17, 17)).0, To::Client(1));
    let (t, v) = only(&r.req(2, 2, "attach", json!({})));
    assert_eq!(t, To::Client(2));
    assert_eq!(
        v,
        json!({"seq": 3, "type": "response", "request_seq": 2, "success": true, "command": "attach"})
    );
    let sent = r.req(2, 3, "configurationDone", json!({}));
    assert_eq!(
        to(&sent, To::Client(2)),
        vec![
            json!({"seq": 4, "type": "response", "request_seq": 3, "success": true, "command": "configurationDone"}),
            // As if heard live: the process, its output, where it stopped.
            replayed(&r, 12, 5),
            replayed(&r, 1, 6),
            replayed(&r, 2, 7),
            // The breakpoint it stopped at is client 1's, none of the
            // joiner's: no ids it was never told.
            with_hits(replayed(&r, 14, 8), json!([])),
        ]
    );
    assert_eq!(sent.len(), 5);
    assert_eq!(r.counter("local_answers"), 3);
    // From now on it hears events with everyone.
    assert_eq!(only(&r.play(17, 17)).0, To::All);
}

#[test]
fn a_second_initialize_waits_for_the_first_answer() {
    let mut r = Rig::new(ATTACH, LastGoodbye::Keep);
    r.join(1);
    r.join(2);
    assert_eq!(
        only(&r.req(1, 1, "initialize", init_args("a"))).0,
        To::Debugger
    );
    assert!(r.req(2, 1, "initialize", init_args("b")).is_empty());
    // Both were there before the handshake: they hear debugpy's greeting live.
    assert!(
        r.play(1, 3)
            .iter()
            .all(|s| matches!(s, Sent::Msg(To::All, _)))
    );
    let sent = r.play(4, 4);
    let (a, b) = (to(&sent, To::Client(1)), to(&sent, To::Client(2)));
    assert_eq!(
        (a.len(), b.len()),
        (1, 1),
        "no initialized before debugpy's: {sent:#?}"
    );
    assert_eq!(a[0]["body"], b[0]["body"]);
    assert_eq!(
        (a[0]["request_seq"].clone(), b[0]["request_seq"].clone()),
        (json!(1), json!(1))
    );
    r.req(1, 2, "attach", json!({}));
    let sent = r.play(5, 6);
    assert_eq!(to(&sent, To::All).len(), 1);
    assert_eq!(to(&sent, To::Client(1))[0]["event"], "initialized");
    assert_eq!(to(&sent, To::Client(2))[0]["event"], "initialized");
    // The session is started: the second attach is answered by the proxy.
    assert_eq!(only(&r.req(2, 2, "attach", json!({}))).0, To::Client(2));
}

/// The first client leaves with its initialize in flight: the answer is
/// still kept, and whoever waited for it is answered.
#[test]
fn a_held_initialize_is_answered_though_the_first_asker_left() {
    let mut r = Rig::new(ATTACH, LastGoodbye::Keep);
    r.join(1);
    r.join(2);
    r.req(1, 1, "initialize", init_args("a"));
    r.req(2, 1, "initialize", init_args("b"));
    r.leave(1);
    r.play(1, 3);
    let (t, v) = only(&r.play(4, 4));
    assert_eq!(
        (t, v["command"].clone(), v["success"].clone()),
        (To::Client(2), json!("initialize"), json!(true))
    );
    assert_eq!(r.counter("orphan_responses_dropped"), 0);
    // Client 2 goes on: its attach is the first.
    assert_eq!(only(&r.req(2, 2, "attach", json!({}))).0, To::Debugger);
}

#[test]
fn a_personal_goodbye_is_answered_and_closes_that_client_only() {
    let mut r = Rig::new(ATTACH, LastGoodbye::Forward);
    r.first_client_attaches(1);
    r.join(2);
    r.req(2, 1, "initialize", init_args("b"));
    // Its goodbye and a request after it, in one read.
    let goodbye = request(
        2,
        "disconnect",
        json!({"restart": false, "terminateDebuggee": false}),
    );
    let sent = r.read(2, &[goodbye, request(3, "threads", json!({}))]);
    assert_eq!(
        sent,
        vec![
            Sent::Msg(
                To::Client(2),
                json!({"seq": 3, "type": "response", "request_seq": 2, "success": true, "command": "disconnect"})
            ),
            Sent::Close(2),
        ],
        "the request after its goodbye ignored"
    );
    // Client 1 carries on, stopped where it was.
    assert_eq!(r.dap().debugger.memory.stopped_thread(), Some(Some(1)));
    assert_eq!(only(&r.req(1, 7, "threads", json!({}))).0, To::Debugger);
}

/// Ending the debuggee is an explicit ask: forwarded even with others there.
#[test]
fn terminate_and_terminate_debuggee_are_forwarded() {
    let mut r = Rig::new(ATTACH, LastGoodbye::Keep);
    r.first_client_attaches(1);
    r.joiner(2);
    r.joiner(3);
    let (t, v) = only(&r.req(2, 5, "terminate", json!({})));
    assert_eq!(
        (t, v["command"].clone()),
        (To::Debugger, json!("terminate"))
    );
    let (t, v) = only(&r.req(3, 5, "disconnect", json!({"terminateDebuggee": true})));
    assert_eq!(
        (t, v["arguments"].clone()),
        (To::Debugger, json!({"terminateDebuggee": true}))
    );
    // debugpy's terminated then reaches everyone.
    let terminated = framed(&json!({"seq": 90, "type": "event", "event": "terminated"}));
    assert_eq!(only(&r.debugger(terminated)).0, To::All);
}

/// Persistent mode: the last goodbye drops the leaver's breakpoints (the
/// proxy's own requests, whose answers are swallowed), resumes the stopped
/// debuggee, answers locally; the next client finds the session.
#[test]
fn the_last_goodbye_keeps_the_session() {
    let mut r = Rig::new(ATTACH, LastGoodbye::Keep);
    r.first_client_attaches(1);
    let sent = r.req(1, 7, "disconnect", json!({"restart": false}));
    assert_eq!(
        to(&sent, To::Debugger),
        vec![
            json!({"seq": 7, "type": "request", "command": "setBreakpoints",
                   "arguments": {"source": {"path": TARGET}, "breakpoints": []}}),
            json!({"seq": 8, "type": "request", "command": "setExceptionBreakpoints",
                   "arguments": {"filters": []}}),
            json!({"seq": 9, "type": "request", "command": "continue",
                   "arguments": {"threadId": 1, "singleThread": false}}),
        ]
    );
    assert_eq!(unseq(to(&sent, To::Client(1))[0].clone())["success"], true);
    assert_eq!(sent.last(), Some(&Sent::Close(1)));
    assert!(r.debugger(answering(&r.rec(29), 7)).is_empty());
    assert!(r.debugger(answering(&r.rec(9), 8)).is_empty());
    assert!(r.debugger(answering(&r.rec(26), 9)).is_empty());
    assert_eq!(r.counter("orphan_responses_dropped"), 0);
    assert_eq!(r.counter("internal_requests"), 3);
    assert_eq!(r.dap().debugger.memory.stopped_thread(), None, "resumed");
    // The next client: answered locally throughout, told the state.
    r.join(3);
    let mut sent = r.req(3, 1, "initialize", init_args("c"));
    sent.extend(r.req(3, 2, "attach", json!({})));
    sent.extend(r.req(3, 3, "configurationDone", json!({})));
    assert!(to(&sent, To::Debugger).is_empty());
    let events: Vec<Value> = to(&sent, To::Client(3))
        .into_iter()
        .filter(|v| v["type"] == "event")
        .collect();
    let names: Vec<&str> = events
        .iter()
        .map(|v| v["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["initialized", "process", "output", "output"],
        "running: no stopped"
    );
}

/// The launch transcript: a debugger that exits and goes away.
#[test]
fn a_lost_debugger_fails_requests_and_the_next_one_starts_clean() {
    let mut r = Rig::new(LAUNCH, LastGoodbye::Keep);
    r.join(1);
    r.req(1, 1, "initialize", init_args("vscode"));
    r.play(1, 4);
    r.req(
        1,
        2,
        "launch",
        json!({"program": TARGET, "console": "integratedTerminal"}),
    );
    r.play(5, 7);
    r.send(
        1,
        json!({"seq": 3, "type": "response", "request_seq": 7, "success": true,
                     "command": "runInTerminal", "body": {"processId": 1}}),
    );
    r.play(8, 9);
    r.req(
        1,
        4,
        "setBreakpoints",
        bp_args(TARGET, json!([{"line": 4}])),
    );
    r.req(1, 5, "configurationDone", json!({}));
    let sent = r.play(10, 15);
    assert_eq!(
        to(&sent, To::Client(1)).len(),
        3,
        "three answers: {sent:#?}"
    );
    // A joiner mid-handshake, and a request in flight.
    r.join(2);
    r.req(2, 1, "initialize", init_args("b"));
    r.req(1, 6, "threads", json!({}));
    assert_eq!(
        only(&r.play(19, 19)).0,
        To::Client(1),
        "exited: the joiner is not through"
    );
    assert_eq!(only(&r.play(20, 20)).0, To::Client(1));
    let sent = r.lost();
    assert_eq!(
        sent,
        vec![
            Sent::Msg(
                To::Client(1),
                json!({"seq": 1, "type": "response", "request_seq": 6, "success": false,
                                            "command": "threads", "message": "the debugger went away"})
            ),
            // Client 1 heard terminated and exited from debugpy; client 2 did not.
            Sent::Msg(
                To::Client(2),
                json!({"seq": 3, "type": "event", "event": "terminated"})
            ),
            Sent::Msg(
                To::Client(2),
                json!({"seq": 4, "type": "event", "event": "exited", "body": {"exitCode": 247}})
            ),
        ]
    );
    assert_eq!(r.counter("requests_failed_debugger_lost"), 1);
    assert_eq!(r.dap().debugger.memory.stopped_thread(), None);
    // Late answers of the old debugger are orphans.
    assert!(r.debugger(answering(&r.rec(16), 6)).is_empty());
    assert!(r.up().is_empty());
    let (t, v) = only(&r.req(2, 2, "initialize", init_args("b")));
    assert_eq!(
        (t, v["command"].clone()),
        (To::Debugger, json!("initialize"))
    );
    let (t, v) = only(&r.req(2, 3, "launch", json!({"program": TARGET})));
    assert_eq!((t, v["command"].clone()), (To::Debugger, json!("launch")));
}

/// Requests sent while no debugger is up are queued by the loop: a
/// `debugger_up` after them must not forget their handshake steps.
#[test]
fn debugger_up_keeps_requests_queued_before_it() {
    let mut r = Rig::new(ATTACH, LastGoodbye::Keep);
    r.join(1);
    r.req(1, 1, "initialize", init_args("a"));
    r.up();
    r.play(1, 3);
    assert_eq!(only(&r.play(4, 4)).0, To::Client(1));
    r.join(2);
    assert_eq!(
        to(&r.req(2, 1, "initialize", init_args("b")), To::Client(2)).len(),
        1
    );
}
