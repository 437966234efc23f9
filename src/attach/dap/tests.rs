//! The DAP rejoin on the messages VS Code and debugpy exchange: nothing is
//! touched in the normal flow; a drop answers what is waiting; a reconnect
//! replays the handshake with attach's own seqs and hides its answers.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::*;

fn msg(v: Value) -> Message {
    framed(&v)
}

fn req(seq: i64, command: &str, arguments: Value) -> Message {
    msg(json!({"seq": seq, "type": "request", "command": command, "arguments": arguments}))
}

fn resp(request_seq: i64, command: &str) -> Message {
    msg(
        json!({"seq": 900, "type": "response", "request_seq": request_seq,
               "command": command, "success": true, "body": {"x": [1, {"y": 2}]}}),
    )
}

fn event(name: &str, body: Value) -> Message {
    msg(json!({"seq": 901, "type": "event", "event": name, "body": body}))
}

fn parse(m: &Message) -> Value {
    let bytes = m.to_vec();
    let text = String::from_utf8(bytes).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("headers");
    assert_eq!(head, format!("Content-Length: {}", body.len()));
    serde_json::from_str(body).unwrap()
}

fn bodies(ms: &[Message]) -> Vec<Value> {
    ms.iter().map(parse).collect()
}

/// VS Code's handshake with a breakpoint, all answered, and a stop.
fn session() -> Rejoin {
    let mut r = Rejoin::default();
    let mut out = Out::default();
    let bp = json!({"source": {"path": "/a.py"}, "breakpoints": [{"line": 7}]});
    for m in [
        req(1, "initialize", json!({"adapterID": "debugpy"})),
        req(2, "attach", json!({"justMyCode": false})),
    ] {
        r.sending(&m);
    }
    r.proxy_message(resp(1, "initialize"), &mut out);
    r.proxy_message(event("initialized", Value::Null), &mut out);
    r.sending(&req(3, "setBreakpoints", bp));
    r.sending(&req(4, "setExceptionBreakpoints", json!({"filters": []})));
    r.sending(&req(5, "configurationDone", Value::Null));
    for (seq, command) in [
        (3, "setBreakpoints"),
        (4, "setExceptionBreakpoints"),
        (5, "configurationDone"),
        (2, "attach"),
    ] {
        r.proxy_message(resp(seq, command), &mut out);
    }
    r.proxy_message(
        event("stopped", json!({"threadId": 1, "reason": "breakpoint"})),
        &mut out,
    );
    assert_eq!(out.to_ide.len(), 7, "everything passes");
    assert!(out.to_proxy.is_empty());
    r
}

#[test]
fn the_normal_flow_passes_untouched() {
    let mut r = Rejoin::default();
    let mut out = Out::default();
    let m = resp(12, "variables");
    r.proxy_message(m.clone(), &mut out);
    assert_eq!(out.to_ide[0].to_vec(), m.to_vec());
    // Not JSON, or no headers: passed on, the proxy's business.
    r.proxy_message(
        Message::from_bytes(b"Content-Length: 3\r\n\r\nnot"),
        &mut out,
    );
    assert_eq!(out.to_ide.len(), 2);
    assert!(r.ready());
}

#[test]
fn a_drop_answers_what_waits_and_says_continued() {
    let mut r = session();
    r.sending(&req(6, "evaluate", json!({"expression": "1"})));
    r.sending(&req(7, "threads", Value::Null));
    r.proxy_message(resp(7, "threads"), &mut Out::default());
    let mut out = Out::default();
    r.lost(&mut out);
    let told = bodies(&out.to_ide);
    assert_eq!(told.len(), 2, "{told:?}");
    assert_eq!(
        (
            &told[0]["request_seq"],
            &told[0]["command"],
            &told[0]["success"]
        ),
        (&json!(6), &json!("evaluate"), &json!(false))
    );
    assert!(told[0]["message"].as_str().unwrap().contains("dropped"));
    assert_eq!(told[1]["event"], "continued");
    assert_eq!(told[1]["body"]["threadId"], 1);
    assert!(told[0]["seq"].as_i64().unwrap() >= OWN_SEQ);
}

#[test]
fn a_message_that_never_went_out_is_not_answered() {
    let mut r = session();
    let m = req(6, "evaluate", json!({"expression": "1"}));
    r.sending(&m);
    r.unsent(&m);
    let mut out = Out::default();
    r.lost(&mut out);
    assert!(bodies(&out.to_ide).iter().all(|v| v["type"] == "event"));
}

#[test]
fn a_reconnect_replays_the_handshake_and_hides_its_answers() {
    let mut r = session();
    r.lost(&mut Out::default());
    let t = Instant::now();
    let mut out = Out::default();
    r.connected(t, &mut out);
    let sent = bodies(&out.to_proxy);
    assert_eq!(
        sent.iter().map(|v| &v["command"]).collect::<Vec<_>>(),
        ["initialize", "attach"]
    );
    let (init_seq, attach_seq) = (
        sent[0]["seq"].as_i64().unwrap(),
        sent[1]["seq"].as_i64().unwrap(),
    );
    assert!(init_seq >= OWN_SEQ && attach_seq > init_seq);
    assert_eq!(sent[1]["arguments"]["justMyCode"], false);
    assert!(!r.ready(), "the IDE waits for the replay");

    let mut out = Out::default();
    r.proxy_message(resp(init_seq, "initialize"), &mut out);
    r.proxy_message(event("output", json!({"output": "hi"})), &mut out);
    r.proxy_message(event("initialized", Value::Null), &mut out);
    assert_eq!(bodies(&out.to_ide).len(), 1, "only the output event");
    let sent = bodies(&out.to_proxy);
    assert_eq!(
        sent.iter().map(|v| &v["command"]).collect::<Vec<_>>(),
        [
            "setBreakpoints",
            "setExceptionBreakpoints",
            "configurationDone"
        ]
    );
    assert_eq!(sent[0]["arguments"]["breakpoints"][0]["line"], 7);
    assert!(r.ready());
    let mut out = Out::default();
    for v in &sent {
        let seq = v["seq"].as_i64().unwrap();
        r.proxy_message(resp(seq, v["command"].as_str().unwrap()), &mut out);
    }
    r.proxy_message(resp(attach_seq, "attach"), &mut out);
    assert!(out.to_ide.is_empty(), "{:?}", bodies(&out.to_ide));
    // The IDE's own numbering goes on as before.
    r.sending(&req(6, "threads", Value::Null));
    r.proxy_message(resp(6, "threads"), &mut out);
    assert_eq!(parse(&out.to_ide[0])["request_seq"], 6);
}

#[test]
fn the_latest_breakpoints_of_each_source_are_replayed() {
    let mut r = session();
    let b =
        |path: &str, line: u64| json!({"source": {"path": path}, "breakpoints": [{"line": line}]});
    r.sending(&req(6, "setBreakpoints", b("/a.py", 9)));
    r.sending(&req(7, "setBreakpoints", b("/b.py", 3)));
    r.sending(&req(
        8,
        "setBreakpoints",
        json!({"source": {"sourceReference": 5}, "breakpoints": []}),
    ));
    for (seq, command) in [
        (6, "setBreakpoints"),
        (7, "setBreakpoints"),
        (8, "setBreakpoints"),
    ] {
        r.proxy_message(resp(seq, command), &mut Out::default());
    }
    r.lost(&mut Out::default());
    let mut out = Out::default();
    r.connected(Instant::now(), &mut out);
    r.proxy_message(event("initialized", Value::Null), &mut out);
    let sent = bodies(&out.to_proxy);
    let bps: Vec<&Value> = sent
        .iter()
        .filter(|v| v["command"] == "setBreakpoints")
        .map(|v| &v["arguments"])
        .collect();
    assert_eq!(bps.len(), 3, "{bps:?}");
    let of = |path: &str| {
        bps.iter()
            .find(|a| a["source"]["path"] == path)
            .unwrap_or_else(|| panic!("no {path} in {bps:?}"))
    };
    assert_eq!(
        of("/a.py")["breakpoints"][0]["line"],
        9,
        "the latest for /a.py"
    );
    assert_eq!(of("/b.py")["breakpoints"][0]["line"], 3);
    // Clearing a source's breakpoints is replayed too: the debugger may keep them.
    let cleared = bps
        .iter()
        .find(|a| a["source"]["sourceReference"] == 5)
        .unwrap();
    assert_eq!(cleared["breakpoints"], json!([]));
}

#[test]
fn a_handshake_request_waiting_at_the_drop_is_answered_by_the_replay() {
    let mut r = Rejoin::default();
    r.sending(&req(1, "initialize", json!({"adapterID": "debugpy"})));
    let mut out = Out::default();
    r.lost(&mut out);
    assert!(out.to_ide.is_empty(), "no error: the replay answers it");
    r.connected(Instant::now(), &mut out);
    assert!(r.ready(), "no attach yet: nothing to wait for");
    let sent = bodies(&out.to_proxy);
    assert_eq!(sent.len(), 1);
    let mut out = Out::default();
    r.proxy_message(
        resp(sent[0]["seq"].as_i64().unwrap(), "initialize"),
        &mut out,
    );
    let answer = parse(&out.to_ide[0]);
    assert_eq!(
        (&answer["request_seq"], &answer["command"]),
        (&json!(1), &json!("initialize"))
    );
    assert_eq!(
        answer["body"]["x"][1]["y"], 2,
        "the answer itself, renumbered"
    );
    // An IDE that had not had `initialized` gets the new one, and configures.
    let mut out = Out::default();
    r.proxy_message(event("initialized", Value::Null), &mut out);
    assert_eq!(parse(&out.to_ide[0])["event"], "initialized");
}

#[test]
fn without_initialized_the_replay_goes_on_after_a_while() {
    let mut r = session();
    r.lost(&mut Out::default());
    let t = Instant::now();
    let mut out = Out::default();
    r.connected(t, &mut out);
    let due = r.deadline().expect("a deadline");
    r.on_timer(t, &mut out);
    assert!(!r.ready());
    r.on_timer(due + Duration::from_millis(1), &mut out);
    assert!(r.ready());
    assert_eq!(bodies(&out.to_proxy).len(), 5);
}

#[test]
fn goodbyes() {
    // In flight at the drop: it asked to leave, and it has.
    let mut r = session();
    r.sending(&req(6, "disconnect", json!({"restart": false})));
    assert!(r.said_goodbye());
    let mut out = Out::default();
    r.lost(&mut out);
    let told = parse(&out.to_ide[0]);
    assert_eq!(
        (&told["request_seq"], &told["success"]),
        (&json!(6), &json!(true))
    );

    // While away: answered here.
    let mut r = session();
    r.lost(&mut Out::default());
    let mut out = Out::default();
    assert!(!r.goodbye_while_away(&req(6, "threads", Value::Null), &mut out));
    assert!(r.goodbye_while_away(&req(7, "disconnect", Value::Null), &mut out));
    let told = parse(&out.to_ide[0]);
    assert_eq!(
        (&told["request_seq"], &told["command"]),
        (&json!(7), &json!("disconnect"))
    );
}

#[test]
fn a_resumed_debuggee_is_not_said_continued() {
    let mut r = session();
    r.sending(&req(6, "continue", json!({"threadId": 1})));
    r.proxy_message(resp(6, "continue"), &mut Out::default());
    let mut out = Out::default();
    r.lost(&mut out);
    assert!(out.to_ide.is_empty(), "{:?}", bodies(&out.to_ide));
}

fn bp_answer(request_seq: i64, command: &str, ids: &[i64]) -> Message {
    let list: Vec<Value> = ids
        .iter()
        .map(|id| json!({"verified": true, "id": id}))
        .collect();
    msg(
        json!({"seq": 902, "type": "response", "request_seq": request_seq,
               "command": command, "success": true, "body": {"breakpoints": list}}),
    )
}

/// After a reconnect the proxy numbers the replayed breakpoints afresh: the
/// IDE keeps the ids it was told, in answers, stops and breakpoint events;
/// data breakpoints are replayed too.
#[test]
fn breakpoint_ids_survive_a_reconnect() {
    let mut r = session();
    let mut out = Out::default();
    let a = json!({"source": {"path": "/a.py"}, "breakpoints": [{"line": 7}, {"line": 9}]});
    r.sending(&req(6, "setBreakpoints", a.clone()));
    r.proxy_message(bp_answer(6, "setBreakpoints", &[3, 4]), &mut out);
    let data = json!({"breakpoints": [{"dataId": "x", "accessType": "write"}]});
    r.sending(&req(7, "setDataBreakpoints", data));
    r.proxy_message(bp_answer(7, "setDataBreakpoints", &[5]), &mut out);
    r.proxy_message(
        event("stopped", json!({"threadId": 1, "hitBreakpointIds": [3]})),
        &mut out,
    );
    let told = bodies(&out.to_ide);
    assert_eq!(
        told[0]["body"]["breakpoints"][1]["id"], 4,
        "untouched before a reconnect"
    );
    assert_eq!(told[2]["body"]["hitBreakpointIds"], json!([3]));

    r.lost(&mut Out::default());
    let mut out = Out::default();
    r.connected(Instant::now(), &mut out);
    r.proxy_message(event("initialized", Value::Null), &mut out);
    let sent = bodies(&out.to_proxy);
    let seq_of = |command: &str| {
        sent.iter()
            .find(|v| v["command"] == command)
            .unwrap_or_else(|| panic!("no {command} replayed: {sent:?}"))["seq"]
            .as_i64()
            .unwrap()
    };
    let mut out = Out::default();
    r.proxy_message(
        bp_answer(seq_of("setBreakpoints"), "setBreakpoints", &[1, 2]),
        &mut out,
    );
    r.proxy_message(
        bp_answer(seq_of("setDataBreakpoints"), "setDataBreakpoints", &[0]),
        &mut out,
    );
    assert!(out.to_ide.is_empty(), "the replay's answers are swallowed");

    r.proxy_message(
        event(
            "stopped",
            json!({"threadId": 1, "hitBreakpointIds": [2, 0]}),
        ),
        &mut out,
    );
    r.proxy_message(
        event(
            "breakpoint",
            json!({"reason": "changed", "breakpoint": {"id": 1, "line": 8}}),
        ),
        &mut out,
    );
    // A breakpoint set since: an id the IDE never had (3 was /a.py line 7's).
    r.sending(&req(
        8,
        "setBreakpoints",
        json!({"source": {"path": "/b.py"}, "breakpoints": [{"line": 1}]}),
    ));
    r.proxy_message(bp_answer(8, "setBreakpoints", &[3]), &mut out);
    r.sending(&req(9, "setBreakpoints", a));
    r.proxy_message(bp_answer(9, "setBreakpoints", &[1, 2]), &mut out);
    let told = bodies(&out.to_ide);
    assert_eq!(told[0]["body"]["hitBreakpointIds"], json!([4, 5]));
    assert_eq!(told[1]["body"]["breakpoint"], json!({"id": 3, "line": 8}));
    assert_eq!(told[2]["body"]["breakpoints"][0]["id"], 6);
    let ids: Vec<&Value> = told[3]["body"]["breakpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| &b["id"])
        .collect();
    assert_eq!(ids, [&json!(3), &json!(4)]);

    // A second reconnect maps onto the same ids again.
    r.lost(&mut Out::default());
    let mut out = Out::default();
    r.connected(Instant::now(), &mut out);
    r.proxy_message(event("initialized", Value::Null), &mut out);
    let sent = bodies(&out.to_proxy);
    let a_seq = sent
        .iter()
        .find(|v| v["arguments"]["source"]["path"] == "/a.py")
        .unwrap()["seq"]
        .as_i64()
        .unwrap();
    let mut out = Out::default();
    r.proxy_message(bp_answer(a_seq, "setBreakpoints", &[10, 11]), &mut out);
    r.proxy_message(
        event("stopped", json!({"threadId": 1, "hitBreakpointIds": [11]})),
        &mut out,
    );
    assert_eq!(
        bodies(&out.to_ide)[0]["body"]["hitBreakpointIds"],
        json!([4])
    );
}
