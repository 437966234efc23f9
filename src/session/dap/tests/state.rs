//! Breakpoints, state for joiners, status.

use super::*;

fn lines(v: &Value) -> Vec<Value> {
    v["breakpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["line"].clone())
        .collect()
}

/// Two clients, one file, overlapping lines: the debugger gets the union;
/// each answer lists only the asker's breakpoints, in its order. A client
/// that drops keeps its breakpoints until the source is set again.
#[test]
fn breakpoints_are_merged_and_split() {
    let mut r = Rig::new(ATTACH, LastGoodbye::Keep);
    r.first_client_attaches(1);
    // Client 1's breakpoints from the handshake: lines 4 and 3 (if i > 1).
    r.joiner(2);
    r.joiner(3);
    let cond = json!({"line": 3, "condition": "i > 1"});
    let sent = r.req(
        2,
        4,
        "setBreakpoints",
        bp_args(TARGET, json!([cond, {"line": 4}, {"line": 3}])),
    );
    let (t, req) = only(&sent);
    assert_eq!(t, To::Debugger);
    assert_eq!(req["arguments"]["source"], json!({"path": TARGET}));
    assert_eq!(
        req["arguments"]["breakpoints"],
        json!([{"line": 4}, cond, {"line": 3}])
    );
    // debugpy answers the union in its order.
    let mut answer = decode(&r.rec(7));
    answer["request_seq"] = req["seq"].clone();
    let bp = |id: i64, line: i64| json!({"verified": true, "id": id, "source": {"path": TARGET}, "line": line});
    answer["body"]["breakpoints"] = json!([bp(0, 4), bp(1, 3), bp(2, 3)]);
    let (t, mine) = only(&r.debugger(framed(&answer)));
    assert_eq!(t, To::Client(2));
    assert_eq!(mine["request_seq"], 4);
    assert_eq!(
        mine["body"]["breakpoints"],
        json!([bp(1, 3), bp(0, 4), bp(2, 3)])
    );

    // Client 1 drops: nothing changes for the debugger.
    assert!(r.leave(1).is_empty());
    // Client 2 says goodbye: the union loses its lines, keeps client 1's.
    let sent = r.req(2, 5, "disconnect", json!({}));
    let reqs = to(&sent, To::Debugger);
    assert_eq!(reqs.len(), 1, "{sent:#?}");
    assert_eq!(
        reqs[0]["arguments"]["breakpoints"],
        json!([{"line": 4}, cond])
    );
    r.leave(2);
    // Client 3 sets the source: client 1's are replaced with it.
    let (_, req) = only(&r.req(
        3,
        4,
        "setBreakpoints",
        bp_args(TARGET, json!([{"line": 5}])),
    ));
    assert_eq!(lines(&req["arguments"]), vec![json!(5)]);
    // The departed client's exception filter went with no one's setting it:
    // client 3's setting replaces it.
    let (_, req) = only(&r.req(
        3,
        5,
        "setExceptionBreakpoints",
        json!({"filters": ["raised"]}),
    ));
    assert_eq!(req["arguments"], json!({"filters": ["raised"]}));
}

#[test]
fn function_and_exception_breakpoints_are_unions() {
    let mut r = Rig::new(ATTACH, LastGoodbye::Keep);
    r.first_client_attaches(1);
    r.joiner(2);
    r.req(
        1,
        7,
        "setFunctionBreakpoints",
        json!({"breakpoints": [{"name": "f"}]}),
    );
    let (_, req) = only(&r.req(
        2,
        4,
        "setFunctionBreakpoints",
        json!({"breakpoints": [{"name": "g"}, {"name": "f", "condition": "x"}]}),
    ));
    assert_eq!(
        req["arguments"]["breakpoints"],
        json!([{"name": "f"}, {"name": "g"}])
    );
    let answer = json!({"seq": 70, "type": "response", "request_seq": req["seq"], "success": true,
                        "command": "setFunctionBreakpoints",
                        "body": {"breakpoints": [{"verified": true, "id": 5}, {"verified": false, "id": 6}]}});
    let (_, mine) = only(&r.debugger(framed(&answer)));
    assert_eq!(
        mine["body"]["breakpoints"],
        json!([{"verified": false, "id": 6}, {"verified": true, "id": 5}])
    );

    // Client 1 has "uncaught" from its handshake.
    let args = json!({"filters": ["raised", "uncaught"], "filterOptions": [{"filterId": "userUnhandled"}]});
    let (_, req) = only(&r.req(2, 5, "setExceptionBreakpoints", args));
    assert_eq!(
        req["arguments"],
        json!({"filters": ["uncaught", "raised"], "filterOptions": [{"filterId": "userUnhandled"}]})
    );
    // debugpy's answer has no body: passed with the asker's request_seq.
    let (t, mine) = only(&r.debugger(answering(&r.rec(9), req["seq"].as_i64().unwrap())));
    assert_eq!(
        (t, mine["request_seq"].clone(), mine["success"].clone()),
        (To::Client(2), json!(5), json!(true))
    );
}

#[test]
fn stopped_is_cleared_by_a_successful_step_or_continued() {
    let mut r = Rig::new(ATTACH, LastGoodbye::Keep);
    r.first_client_attaches(1);
    r.req(1, 7, "threads", json!({}));
    r.req(1, 8, "stackTrace", json!({"threadId": 1}));
    r.req(1, 9, "scopes", json!({"frameId": 2}));
    r.play(15, 18);
    r.req(1, 10, "next", json!({"threadId": 1}));
    let failed = framed(
        &json!({"seq": 80, "type": "response", "request_seq": 10, "success": false, "command": "next"}),
    );
    r.debugger(failed);
    assert_eq!(
        r.dap().debugger.memory.stopped_thread(),
        Some(Some(1)),
        "a failed step leaves it stopped"
    );
    r.req(1, 10, "next", json!({"threadId": 1}));
    r.debugger(answering(&r.rec(19), 11));
    assert_eq!(r.dap().debugger.memory.stopped_thread(), None);
    r.play(20, 25);
    assert_eq!(r.dap().debugger.memory.stopped_thread(), Some(Some(1)));
    r.play(27, 27);
    assert_eq!(r.dap().debugger.memory.stopped_thread(), None, "continued");
}

#[test]
fn the_output_tail_is_bounded() {
    let mut r = Rig::new(ATTACH, LastGoodbye::Keep);
    for i in 0..100 {
        r.debugger(framed(&json!({"seq": i, "type": "event", "event": "output", "body": {"output": "x".repeat(100)}})));
    }
    let big = "y".repeat(40 * 1024);
    r.debugger(framed(
        &json!({"seq": 100, "type": "event", "event": "output", "body": {"output": big}}),
    ));
    let kept = r.dap().debugger.memory.replay();
    let bytes: usize = kept.iter().map(|m| m.len).sum();
    assert!(
        kept.len() <= 64 && bytes <= 64 * 1024,
        "{} events, {bytes} bytes",
        kept.len()
    );
    assert_eq!(decode(kept.last().unwrap())["seq"], 100);
    assert_eq!(
        r.counter("output_events_forgotten") as usize,
        101 - kept.len()
    );
}

#[test]
fn status_names_the_client_and_its_requests() {
    let mut r = Rig::new(ATTACH, LastGoodbye::Keep);
    r.first_client_attaches(1);
    r.req(1, 7, "threads", json!({}));
    r.req(1, 8, "evaluate", json!({"expression": "1"}));
    let s = r.dap().client_status(1);
    assert_eq!(s["clientID"], "vscode");
    assert_eq!(s["clientName"], "vscode IDE");
    assert_eq!(s["requests_in_flight"], 2);
    assert_eq!(s["requests"], json!(["threads", "evaluate"]));
    let counters = r.dap().counters();
    for name in [
        "orphan_responses_dropped",
        "local_answers",
        "bad_client_messages",
    ] {
        assert_eq!(counters[name], 0, "{name}");
    }
}
