//! Breakpoint ids per client (issue #18): answers, `stopped` hit ids and
//! `breakpoint` events in each client's own ids, stable across merges,
//! re-sends, goodbyes and debugger restarts.

use super::*;

fn bp(id: i64, line: i64) -> Value {
    json!({"verified": true, "id": id, "source": {"path": TARGET}, "line": line})
}

/// The debugger's answer to the request `req` (as the proxy sent it).
fn answer(req: &Value, breakpoints: Value) -> Message {
    framed(
        &json!({"seq": 900, "type": "response", "request_seq": req["seq"],
                   "success": true, "command": req["command"],
                   "body": {"breakpoints": breakpoints}}),
    )
}

fn stopped(hits: Value) -> Message {
    framed(&json!({"seq": 901, "type": "event", "event": "stopped",
                   "body": {"reason": "breakpoint", "threadId": 1, "hitBreakpointIds": hits}}))
}

fn bp_event(reason: &str, breakpoint: Value) -> Message {
    framed(&json!({"seq": 902, "type": "event", "event": "breakpoint",
                   "body": {"reason": reason, "breakpoint": breakpoint}}))
}

fn ids(v: &Value) -> Vec<Value> {
    v["body"]["breakpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].clone())
        .collect()
}

/// The hit ids each client was told, by client.
fn hits(sent: &[Sent]) -> Vec<(To, Value)> {
    sent.iter()
        .map(|s| match s {
            Sent::Msg(t, v) => (*t, v["body"]["hitBreakpointIds"].clone()),
            other => panic!("{other:?}"),
        })
        .collect()
}

/// Client 1 holds lines 4 and 3 (ids 0 and 1, from the recorded handshake);
/// client 2 joins and sets line 5 in the same file.
fn two_clients_one_file() -> Rig {
    let mut r = Rig::new(ATTACH, LastGoodbye::Keep);
    r.first_client_attaches(1);
    r.joiner(2);
    let (_, req) = only(&r.req(
        2,
        4,
        "setBreakpoints",
        bp_args(TARGET, json!([{"line": 5}])),
    ));
    // debugpy numbers the whole file again.
    let sent = r.debugger(answer(&req, json!([bp(2, 4), bp(3, 3), bp(4, 5)])));
    let (t, mine) = only(&sent);
    assert_eq!(t, To::Client(2));
    assert_eq!(ids(&mine), vec![json!(4)]);
    r
}

/// The case: a stop at client 1's line tells client 1 the id it was
/// given (0), not the debugger's new one (2), and client 2 none of it.
#[test]
fn a_stop_names_each_clients_own_ids() {
    let mut r = two_clients_one_file();
    let sent = r.debugger(stopped(json!([2])));
    assert_eq!(
        hits(&sent),
        vec![(To::Client(1), json!([0])), (To::Client(2), json!([]))]
    );
    let sent = r.debugger(stopped(json!([4])));
    assert_eq!(
        hits(&sent),
        vec![(To::Client(1), json!([])), (To::Client(2), json!([4]))]
    );
    // Without hit ids: one shared buffer, as before.
    let (t, _) = only(&r.play(25, 25));
    assert_eq!(t, To::All);
}

/// debugpy can report the stop at a breakpoint before it answers the
/// `setBreakpoints` that set it (the program runs meanwhile): the stop waits
/// for that answer, then names the setter's own id.
#[test]
fn a_stop_before_its_breakpoints_answer_waits_for_it() {
    let mut r = two_clients_one_file();
    let (_, req) = only(&r.req(
        2,
        5,
        "setBreakpoints",
        bp_args(TARGET, json!([{"line": 5}, {"line": 9}])),
    ));
    // The new breakpoint (debugger id 7) is hit before the answer comes.
    assert!(
        r.debugger(stopped(json!([7]))).is_empty(),
        "told before its ids were bound"
    );
    let sent = r.debugger(answer(
        &req,
        json!([bp(5, 4), bp(6, 3), bp(8, 5), bp(7, 9)]),
    ));
    let (answered, stops): (Vec<_>, Vec<_>) = sent.into_iter().partition(|s| match s {
        Sent::Msg(_, v) => v["type"] == "response",
        _ => false,
    });
    assert_eq!(answered.len(), 1, "{answered:?}");
    let Sent::Msg(_, mine) = &answered[0] else {
        unreachable!()
    };
    let line9 = ids(mine)[1].clone();
    assert_eq!(
        hits(&stops),
        vec![(To::Client(1), json!([])), (To::Client(2), json!([line9]))]
    );
    // With nothing in flight, a stop at an id nobody holds is told at once.
    assert_eq!(hits(&r.debugger(stopped(json!([99])))).len(), 2);
}

/// debugpy, given two `setBreakpoints` for one file while the program runs,
/// may stop at the breakpoint under the id of the first answer after the
/// second renumbered it: the old id still names the client's breakpoint.
#[test]
fn a_stop_under_a_breakpoints_former_id_names_it() {
    let mut r = two_clients_one_file();
    // Client 1's line 4 was debugger id 2; a re-send renumbers it to 6.
    let (_, req) = only(&r.req(
        2,
        5,
        "setBreakpoints",
        bp_args(TARGET, json!([{"line": 5}])),
    ));
    r.debugger(answer(&req, json!([bp(6, 4), bp(7, 3), bp(8, 5)])));
    assert_eq!(
        hits(&r.debugger(stopped(json!([2])))),
        vec![(To::Client(1), json!([0])), (To::Client(2), json!([]))]
    );
    assert_eq!(
        hits(&r.debugger(stopped(json!([6])))),
        vec![(To::Client(1), json!([0])), (To::Client(2), json!([]))]
    );
}

/// A `breakpoint` event goes to the clients that hold it, in their ids; one
/// nobody holds goes to all unchanged; `removed` ends the binding.
#[test]
fn breakpoint_events_go_to_their_holders_in_their_ids() {
    let mut r = two_clients_one_file();
    let (t, v) = only(&r.debugger(bp_event("changed", bp(3, 3))));
    assert_eq!(t, To::Client(1));
    assert_eq!(v["body"]["breakpoint"]["id"], 1);
    assert_eq!(v["body"]["breakpoint"]["line"], 3);
    let (t, v) = only(&r.debugger(bp_event("changed", bp(4, 6))));
    assert_eq!(
        (t, v["body"]["breakpoint"]["id"].clone()),
        (To::Client(2), json!(4))
    );
    // Both hold line 4 once client 2 sets it too.
    let (_, req) = only(&r.req(
        2,
        5,
        "setBreakpoints",
        bp_args(TARGET, json!([{"line": 4}, {"line": 5}])),
    ));
    let (_, mine) = only(&r.debugger(answer(&req, json!([bp(7, 4), bp(8, 3), bp(9, 5)]))));
    assert_eq!(ids(&mine), vec![json!(7), json!(4)]);
    let sent = r.debugger(bp_event("changed", bp(7, 4)));
    let told: Vec<(To, Value)> = sent
        .iter()
        .map(|s| match s {
            Sent::Msg(t, v) => (*t, v["body"]["breakpoint"]["id"].clone()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        told,
        vec![(To::Client(1), json!(0)), (To::Client(2), json!(7))]
    );
    // One the debugger made itself: everyone, as it came.
    let (t, v) = only(&r.debugger(bp_event("new", bp(50, 9))));
    assert_eq!(
        (t, v["body"]["breakpoint"]["id"].clone()),
        (To::All, json!(50))
    );
    let (t, _) = only(&r.debugger(bp_event("changed", json!({"verified": false}))));
    assert_eq!(t, To::All);
    // Removed: told once, then nobody holds it.
    let (t, v) = only(&r.debugger(bp_event("removed", bp(9, 5))));
    assert_eq!(
        (t, v["body"]["breakpoint"]["id"].clone()),
        (To::Client(2), json!(4))
    );
    assert_eq!(
        hits(&r.debugger(stopped(json!([9])))),
        vec![(To::Client(1), json!([])), (To::Client(2), json!([]))]
    );
}

/// Re-sending the same list, or another client's goodbye re-sending the
/// union, renumbers the debugger's breakpoints: the client's stay.
#[test]
fn ids_survive_resends_and_others_goodbyes() {
    let mut r = two_clients_one_file();
    let list = json!([{"line": 4}, {"line": 3, "condition": "i > 1"}]);
    let (_, req) = only(&r.req(1, 7, "setBreakpoints", bp_args(TARGET, list)));
    let (_, mine) = only(&r.debugger(answer(&req, json!([bp(10, 4), bp(11, 3), bp(12, 5)]))));
    assert_eq!(ids(&mine), vec![json!(0), json!(1)]);
    // Client 1 drops line 4 and adds 7: line 3 keeps its id; line 7 gets
    // the debugger's 13, free in client 1's space.
    let list = json!([{"line": 7}, {"line": 3, "condition": "i > 1"}]);
    let (_, req) = only(&r.req(1, 8, "setBreakpoints", bp_args(TARGET, list)));
    let (_, mine) = only(&r.debugger(answer(&req, json!([bp(13, 7), bp(14, 3), bp(15, 5)]))));
    assert_eq!(ids(&mine), vec![json!(13), json!(1)]);
    // Client 2's goodbye: the proxy's own request, its answer binds client 1.
    let sent = r.req(2, 9, "disconnect", json!({}));
    let req = to(&sent, To::Debugger).remove(0);
    assert_eq!(
        req["arguments"]["breakpoints"],
        json!([{"line": 7}, {"line": 3, "condition": "i > 1"}])
    );
    assert!(
        r.debugger(answer(&req, json!([bp(20, 7), bp(21, 3)])))
            .is_empty()
    );
    r.leave(2);
    assert_eq!(
        hits(&r.debugger(stopped(json!([21, 20])))),
        vec![(To::Client(1), json!([1, 13]))]
    );
}

/// After a debugger restart the IDE sets the same breakpoints again; the
/// new debugger's ids map onto the ids it holds.
#[test]
fn ids_survive_a_debugger_restart() {
    let mut r = Rig::new(ATTACH, LastGoodbye::Keep);
    r.first_client_attaches(1);
    r.lost();
    r.up();
    let list = json!([{"line": 3, "condition": "i > 1"}, {"line": 9}, {"line": 4}]);
    let (_, req) = only(&r.req(1, 20, "setBreakpoints", bp_args(TARGET, list)));
    let (_, mine) = only(&r.debugger(answer(&req, json!([bp(0, 3), bp(1, 9), bp(2, 4)]))));
    // Line 9 is new: the debugger's 1 is line 3's here, so it gets another.
    assert_eq!(ids(&mine), vec![json!(1), json!(2), json!(0)]);
    assert_eq!(
        hits(&r.debugger(stopped(json!([2])))),
        vec![(To::Client(1), json!([0]))]
    );
}

/// Data and instruction breakpoints are merged per client like function
/// breakpoints, and their answers split, in each client's ids.
#[test]
fn data_and_instruction_breakpoints_are_merged() {
    let mut r = two_clients_one_file();
    let data = |id: &str| json!({"dataId": id, "accessType": "write"});
    let (_, req) = only(&r.req(
        1,
        7,
        "setDataBreakpoints",
        json!({"breakpoints": [data("x")]}),
    ));
    r.debugger(answer(&req, json!([{"verified": true, "id": 30}])));
    let (_, req) = only(&r.req(
        2,
        5,
        "setDataBreakpoints",
        json!({"breakpoints": [data("y"), data("x")]}),
    ));
    assert_eq!(
        req["arguments"]["breakpoints"],
        json!([data("x"), data("y")])
    );
    let (t, mine) = only(&r.debugger(answer(
        &req,
        json!([{"verified": true, "id": 31}, {"verified": true, "id": 32}]),
    )));
    assert_eq!(t, To::Client(2));
    assert_eq!(ids(&mine), vec![json!(32), json!(31)]);
    assert_eq!(
        hits(&r.debugger(stopped(json!([31])))),
        vec![(To::Client(1), json!([30])), (To::Client(2), json!([31]))]
    );

    let insn = |at: &str, offset: i64| json!({"instructionReference": at, "offset": offset});
    r.req(
        1,
        8,
        "setInstructionBreakpoints",
        json!({"breakpoints": [insn("0x10", 0)]}),
    );
    let (_, req) = only(&r.req(
        2,
        6,
        "setInstructionBreakpoints",
        json!({"breakpoints": [insn("0x10", 4), insn("0x10", 0)]}),
    ));
    assert_eq!(
        req["arguments"]["breakpoints"],
        json!([insn("0x10", 0), insn("0x10", 4)])
    );
    let (_, mine) = only(&r.debugger(answer(
        &req,
        json!([{"verified": true, "id": 40}, {"verified": false}]),
    )));
    assert_eq!(
        mine["body"]["breakpoints"],
        json!([{"verified": false}, {"verified": true, "id": 40}])
    );
}

/// Past `MAX_IDS` breakpoints with ids, a client's further ones are answered
/// without one, counted.
#[test]
fn ids_are_bounded_per_client() {
    let mut r = Rig::new(ATTACH, LastGoodbye::Keep);
    r.first_client_attaches(1);
    let n = super::super::ids::MAX_IDS; // client 1 holds 2 already
    let names: Vec<Value> = (0..n).map(|i| json!({"name": format!("f{i}")})).collect();
    let (_, req) = only(&r.req(
        1,
        7,
        "setFunctionBreakpoints",
        json!({"breakpoints": names}),
    ));
    let answers: Vec<Value> = (0..n)
        .map(|i| json!({"verified": true, "id": 100 + i}))
        .collect();
    let (_, mine) = only(&r.debugger(answer(&req, Value::Array(answers))));
    let got = ids(&mine);
    assert_eq!(got[0], json!(100));
    assert_eq!(got[n - 3], json!(100 + n - 3));
    assert_eq!(got[n - 2..], [Value::Null, Value::Null]);
    assert_eq!(r.counter("breakpoint_ids_dropped"), 2);
}
