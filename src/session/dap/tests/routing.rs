//! Ids, routing, reverse requests, bad input.

use super::*;

/// One client replays the whole recorded attach session with its own seqs
/// (101…): the debugger sees the proxy's seqs 1…14, the client gets every
/// debugpy message, byte for byte but for `request_seq`, and its last
/// goodbye goes through (one-session behaviour), `terminated` to it alone.
#[test]
fn one_client_replays_the_recorded_session() {
    let mut r = Rig::new(ATTACH, LastGoodbye::Forward);
    r.join(1);
    let requests = [
        ("initialize", init_args("vscode"), 4),
        (
            "attach",
            json!({"justMyCode": true, "redirectOutput": true}),
            2,
        ),
        (
            "setBreakpoints",
            bp_args(
                TARGET,
                json!([{"line": 4}, {"line": 3, "condition": "i > 1"}]),
            ),
            1,
        ),
        ("setFunctionBreakpoints", json!({"breakpoints": []}), 1),
        (
            "setExceptionBreakpoints",
            json!({"filters": ["uncaught"]}),
            1,
        ),
        ("configurationDone", json!({}), 5),
        ("threads", json!({}), 1),
        (
            "stackTrace",
            json!({"threadId": 1, "startFrame": 0, "levels": 20}),
            1,
        ),
        ("scopes", json!({"frameId": 2}), 2),
        ("next", json!({"threadId": 1}), 7),
        ("continue", json!({"threadId": 1}), 3),
        ("setBreakpoints", bp_args(TARGET, json!([])), 1),
        ("continue", json!({"threadId": 1}), 30),
        (
            "disconnect",
            json!({"restart": false, "terminateDebuggee": false}),
            2,
        ),
    ];
    let mut played = 0;
    for (i, (command, args, answers)) in requests.into_iter().enumerate() {
        let seq = i as i64 + 1;
        let sent = r.req(1, 100 + seq, command, args.clone());
        let (t, req) = only(&sent);
        assert_eq!(t, To::Debugger);
        assert_eq!(req["seq"], seq, "{command} numbered by the proxy");
        assert_eq!(req["command"], command);
        assert_eq!(req["arguments"], args, "{command}'s arguments unchanged");
        for _ in 0..answers {
            played += 1;
            let recorded = r.rec(played);
            let mut want = decode(&recorded);
            let sent = r.debugger(recorded.clone());
            let (t, got) = only(&sent);
            if want["type"] == "response" {
                assert_eq!(t, To::Client(1));
                want["request_seq"] = json!(100 + want["request_seq"].as_i64().unwrap());
            } else if want["event"] == "terminated" {
                assert_eq!(
                    t,
                    To::Client(1),
                    "the forwarded goodbye's terminated is the leaver's"
                );
            } else if want["event"] == "initialized" {
                // To the clients whose initialize was answered, one by one.
                assert_eq!(t, To::Client(1));
            } else {
                assert_eq!(t, To::All);
            }
            assert_eq!(got, want);
        }
    }
    assert_eq!(played, 61);
    assert_eq!(r.counter("orphan_responses_dropped"), 0);
    assert_eq!(r.counter("local_answers"), 0);
}

/// Unchanged events are forwarded as the very bytes debugpy sent; rewritten
/// responses keep debugpy's bytes after the spliced number.
#[test]
fn forwarding_does_not_reserialise() {
    let mut r = Rig::new(ATTACH, LastGoodbye::Keep);
    r.first_client_attaches(1);
    let stack = r.rec(16);
    r.req(1, 500, "threads", json!({}));
    r.req(1, 501, "stackTrace", json!({"threadId": 1}));
    let Some(Action::Send(To::Client(1), m)) =
        r.sim.from_debugger(answering(&stack, 8)).into_iter().next()
    else {
        panic!()
    };
    let want = String::from_utf8(stack.to_vec()).unwrap().replacen(
        "\"request_seq\": 16",
        "\"request_seq\": 501",
        1,
    );
    let want = want.replacen(
        &format!("Content-Length: {}", stack.len - 21),
        &format!("Content-Length: {}", stack.len - 21 + 1),
        1,
    );
    let got = String::from_utf8(m.to_vec()).unwrap();
    assert_eq!(decode(&m)["request_seq"], 501);
    assert!(got.ends_with(&want[want.find("\"success\"").unwrap()..]));
    // A new prefix up to the spliced number, then debugpy's own buffer.
    assert_eq!(m.parts().len(), 2);
    let event = r.rec(17);
    let Some(Action::Send(To::All, m)) = r.sim.from_debugger(event.clone()).into_iter().next()
    else {
        panic!()
    };
    assert_eq!(m.to_vec(), event.to_vec());
}

/// Two clients both use seq 7: each gets its own answer, with its own seq.
#[test]
fn colliding_seqs_get_their_own_answers() {
    let mut r = Rig::new(ATTACH, LastGoodbye::Keep);
    r.first_client_attaches(1);
    r.joiner(2);
    let a = r.req(1, 7, "threads", json!({}));
    let b = r.req(2, 7, "threads", json!({}));
    assert_eq!(to(&a, To::Debugger)[0]["seq"], 7);
    assert_eq!(to(&b, To::Debugger)[0]["seq"], 8);
    let threads = r.rec(15);
    // Answers come in any order.
    let to_b = r.debugger(answering(&threads, 8));
    let to_a = r.debugger(threads.clone());
    let mut want = decode(&threads);
    want["request_seq"] = json!(7);
    assert_eq!(only(&to_a), (To::Client(1), want.clone()));
    assert_eq!(only(&to_b), (To::Client(2), want));
    // Events reach both.
    assert_eq!(only(&r.play(17, 17)).0, To::All);
}

#[test]
fn cancel_names_the_proxy_seq() {
    let mut r = Rig::new(ATTACH, LastGoodbye::Keep);
    r.first_client_attaches(1);
    r.join(2);
    r.req(1, 40, "evaluate", json!({"expression": "x"}));
    let sent = r.req(1, 41, "cancel", json!({"requestId": 40}));
    let (t, cancel) = only(&sent);
    assert_eq!(t, To::Debugger);
    assert_eq!(cancel["seq"], 8);
    assert_eq!(cancel["arguments"]["requestId"], 7);
    // Client 2 has no request 40 in flight: nothing for the debugger.
    let sent = r.req(2, 3, "cancel", json!({"requestId": 40}));
    let (t, answer) = only(&sent);
    assert_eq!(t, To::Client(2));
    assert_eq!(
        unseq(answer),
        json!({"type": "response", "request_seq": 3, "success": true, "command": "cancel"})
    );
    // A progress id is the debugger's: forwarded as it is.
    let sent = r.req(2, 4, "cancel", json!({"progressId": "p1"}));
    assert_eq!(
        to(&sent, To::Debugger)[0]["arguments"],
        json!({"progressId": "p1"})
    );
}

#[test]
fn orphan_answers_are_dropped_and_counted() {
    let mut r = Rig::new(ATTACH, LastGoodbye::Keep);
    r.first_client_attaches(1);
    r.join(2);
    r.req(2, 1, "initialize", init_args("other"));
    r.req(2, 2, "threads", json!({}));
    assert_eq!(r.dap().client_status(2)["requests_in_flight"], 1);
    r.leave(2);
    assert!(r.debugger(answering(&r.rec(15), 7)).is_empty());
    // Nonsense: no request 999 was ever sent.
    assert!(r.debugger(answering(&r.rec(15), 999)).is_empty());
    assert_eq!(r.counter("orphan_responses_dropped"), 2);
}

#[test]
fn bad_client_input_is_answered_or_ends_that_client() {
    let mut r = Rig::new(ATTACH, LastGoodbye::Keep);
    r.first_client_attaches(1);
    for c in [2, 3, 4, 5] {
        r.join(c);
    }
    let error = |sent: &[Sent], c: ClientId| {
        let (t, v) = only(sent);
        assert_eq!(t, To::Client(c));
        assert_eq!(v["type"], "response");
        assert_eq!(v["success"], false);
        v
    };
    let v = error(&r.raw(2, r#"{"seq":1,"type":"request"}"#), 2);
    assert_eq!(
        (v["request_seq"].clone(), v["message"].clone()),
        (json!(1), json!("no string command"))
    );
    let v = error(
        &r.raw(2, r#"{"seq":1.5,"type":"request","command":"threads"}"#),
        2,
    );
    assert_eq!(v["request_seq"], 1.5);
    let v = error(&r.req(2, 3, "setBreakpoints", json!({"source": {}})), 2);
    assert_eq!(v["command"], "setBreakpoints");
    let v = error(
        &r.raw(
            2,
            r#"{"seq":4,"type":"request","command":"setBreakpoints","arguments":{"#,
        ),
        2,
    );
    assert!(
        v["message"].as_str().unwrap().contains("malformed JSON"),
        "{v}"
    );
    // Malformed past the routing fields: never reaches debugpy, which would
    // drop its connection (everyone's session) over it.
    let garbage = r#"{"seq":5,"type":"request","command":"threads","arguments":{"a":tru}}"#;
    let v = error(&r.raw(2, garbage), 2);
    assert_eq!(v["command"], "threads");
    // Not a request: that client is closed, nobody else hears of it.
    assert_eq!(r.raw(3, r#"[1,2]"#), vec![Sent::Close(3)]);
    assert_eq!(
        r.raw(4, r#"{"seq":"1","type":"request","command":"threads"}"#),
        vec![Sent::Close(4)]
    );
    assert_eq!(
        r.raw(5, r#"{"seq":1,"type":"gossip"}"#),
        vec![Sent::Close(5)]
    );
    assert_eq!(r.counter("bad_client_messages"), 8);
    // The others carry on.
    let sent = r.req(1, 7, "threads", json!({}));
    assert_eq!(to(&sent, To::Debugger).len(), 1);
    assert_eq!(only(&r.play(15, 15)).0, To::Client(1));
    // The debugger's garbage is dropped.
    let junk = Message::from_bytes(b"Content-Length: 5\r\n\r\n{\"seq");
    assert!(r.debugger(junk).is_empty());
    let junk = Message::from_bytes(b"Content-Length: 4\r\n\r\nnull");
    assert!(r.debugger(junk).is_empty());
    assert_eq!(r.counter("bad_debugger_messages"), 2);
}

/// The launch transcript's `runInTerminal` goes to the client whose launch
/// started the session, though another connected first; when the client
/// asked leaves without answering, another is asked; with none left the
/// debugger gets an error.
#[test]
fn reverse_requests_go_to_the_launcher_then_to_another() {
    let mut r = Rig::new(LAUNCH, LastGoodbye::Keep);
    r.join(1);
    r.join(2);
    r.req(2, 1, "initialize", init_args("vscode"));
    r.play(1, 4);
    r.req(
        2,
        2,
        "launch",
        json!({"program": TARGET, "console": "integratedTerminal"}),
    );
    r.play(5, 6);
    let rit = r.play(7, 7);
    let (t, request) = only(&rit);
    assert_eq!(t, To::Client(2));
    assert_eq!(request["command"], "runInTerminal");
    assert_eq!(request["seq"], 7);
    // Its answer goes to the debugger with the proxy's seq, request_seq kept.
    let answer = json!({"seq": 3, "type": "response", "request_seq": 7, "success": true,
                        "command": "runInTerminal", "body": {"processId": 4242}});
    assert!(
        r.send(1, answer.clone()).is_empty(),
        "client 1 was not asked"
    );
    let (t, fwd) = only(&r.send(2, answer.clone()));
    assert_eq!(t, To::Debugger);
    assert_eq!(
        (fwd["seq"].clone(), fwd["request_seq"].clone()),
        (json!(3), json!(7))
    );
    assert!(r.send(2, answer).is_empty(), "answered already");
    assert_eq!(r.counter("reverse_answers_dropped"), 2);

    // Another reverse request; the launcher leaves before answering.
    let mut again = decode(&r.rec(7));
    again["seq"] = json!(50);
    let again = framed(&again);
    assert_eq!(only(&r.debugger(again.clone())).0, To::Client(2));
    let (t, resent) = only(&r.leave(2));
    assert_eq!(t, To::Client(1));
    assert_eq!(resent["seq"], 50);
    let (t, refusal) = only(&r.leave(1));
    assert_eq!(t, To::Debugger);
    assert_eq!(unseq(refusal.clone())["request_seq"], 50);
    assert_eq!(refusal["success"], false);
    assert_eq!(refusal["command"], "runInTerminal");
}

#[test]
fn requests_in_flight_are_bounded_per_client() {
    let mut r = Rig::new(ATTACH, LastGoodbye::Keep);
    r.join(1);
    for seq in 0..super::super::inflight::MAX_PER_CLIENT as i64 {
        let sent = r.req(1, seq, "threads", json!({}));
        assert_eq!(only(&sent).0, To::Debugger);
    }
    let sent = r.req(1, 9999, "threads", json!({}));
    let (t, v) = only(&sent);
    assert_eq!(t, To::Client(1));
    assert_eq!(
        (v["request_seq"].clone(), v["success"].clone()),
        (json!(9999), json!(false))
    );
    assert_eq!(r.counter("requests_refused_in_flight_bound"), 1);
    // Another client is not held back.
    r.join(2);
    assert_eq!(only(&r.req(2, 1, "threads", json!({}))).0, To::Debugger);
    let status = r.dap().client_status(1);
    assert_eq!(status["requests"].as_array().unwrap().len(), 8);
}
