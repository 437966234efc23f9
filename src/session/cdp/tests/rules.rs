//! The CDP session's rules one by one, around messages shaped as node 20's
//! (`transcripts/`).

use super::*;

const BP: &str = r#"{"id":6,"method":"Debugger.setBreakpointByUrl","params":{"lineNumber":3,"url":"file:///tmp/dbgproxy-cdp/target.js","columnNumber":0}}"#;
const BP_ID: &str = "1:3:0:file:///tmp/dbgproxy-cdp/target.js";

pub(super) fn notify() -> Value {
    json!({"method": "NodeRuntime.notifyWhenWaitingForDisconnect", "params": {"enabled": true}})
}

/// dbgproxy's own commands, without their ids, and the ids.
pub(super) fn replayed(did: &[Did]) -> (Vec<Value>, Vec<i64>) {
    let mut ids = Vec::new();
    let steps = upstream(did)
        .into_iter()
        .map(|mut m| {
            let id = m["id"].as_i64().unwrap();
            assert!(OWN_IDS.contains(&id), "{m}");
            ids.push(id);
            m.as_object_mut().unwrap().remove("id");
            m
        })
        .collect();
    (steps, ids)
}

pub(super) fn ok(id: i64, result: Value) -> String {
    json!({"id": id, "result": result}).to_string()
}

/// A client that has enabled the debugger on a first process.
pub(super) fn enabled(mode: Mode) -> Rig {
    let mut rig = Rig::new(mode);
    let (steps, ids) = replayed(&rig.up());
    assert_eq!(steps, [notify()]);
    assert_eq!(rig.node(&ok(ids[0], json!({}))), vec![]);
    rig.client(r#"{"id":1,"method":"Debugger.enable"}"#);
    rig.node(r#"{"id":1,"result":{"debuggerId":"1.2"}}"#);
    rig
}

pub(super) fn upstream(did: &[Did]) -> Vec<Value> {
    did.iter()
        .map(|d| match d {
            Did::Upstream(m) => json(m),
            other => panic!("{other:?}"),
        })
        .collect()
}

pub(super) fn error(id: &str, code: i64, message: &str) -> Did {
    let message = Value::from(message);
    Did::Client(format!(
        r#"{{"id":{id},"error":{{"code":{code},"message":{message}}}}}"#
    ))
}

#[test]
fn bad_text_is_answered_when_it_has_an_id_else_the_client_is_closed() {
    let mut rig = enabled(Mode::Persistent);
    let integer = "Message must have integer 'id' property";
    let method = "Message must have string 'method' property";
    let cases = [
        (
            r#"{"id":"x","method":"Runtime.enable"}"#,
            error(r#""x""#, -32600, integer),
        ),
        (
            r#"{"id":1.5,"method":"Runtime.enable"}"#,
            error("1.5", -32600, integer),
        ),
        (r#"{"id":3}"#, error("3", -32600, method)),
        (r#"{"id":3,"method":7}"#, error("3", -32600, method)),
        (
            r#"{"id":2147483648,"method":"Runtime.evaluate"}"#,
            error(
                "2147483648",
                -32600,
                "node's inspector takes only ids that fit 32 bits",
            ),
        ),
        (
            r#"{"id":-2147483648,"method":"Runtime.evaluate"}"#,
            error(
                "-2147483648",
                -32600,
                "ids -2147483648 to -2147418113 are dbgproxy's own",
            ),
        ),
    ];
    for (text, want) in cases {
        assert_eq!(rig.client(text), vec![want], "{text}");
    }
    // The client is still served.
    let ok = r#"{"id":4,"method":"Runtime.evaluate","params":{"expression":"1"}}"#;
    assert_eq!(rig.client(ok), vec![Did::Upstream(ok.into())]);
    assert_eq!(rig.m.status()["bad_messages"], 6);
    for text in [
        "[1]",
        "{\"method\":\"Runtime.enable\"}",
        "{\"id\":1,",
        "nope",
    ] {
        let mut rig = enabled(Mode::Persistent);
        let did = rig.client(text);
        assert!(
            matches!(did.as_slice(), [Did::CloseUpstream, Did::CloseClient(_)]),
            "{text}: {did:?}"
        );
    }
}

#[test]
fn setup_is_remembered_from_successful_answers_only() {
    let mut rig = enabled(Mode::Persistent);
    rig.client(r#"{"id":2,"method":"Profiler.enable"}"#);
    rig.node(r#"{"id":2,"error":{"code":-32000,"message":"no"}}"#);
    rig.client(r#"{"id":3,"method":"Debugger.setSkipAllPauses","params":{"skip":true}}"#);
    rig.client(r#"{"id":4,"method":"Debugger.setSkipAllPauses","params":{"skip":false}}"#);
    rig.node(r#"{"id":3,"result":{}}"#);
    rig.node(r#"{"id":4,"result":{}}"#);
    rig.client(r#"{"id":5,"method":"Debugger.setBreakpoint","params":{"location":{"scriptId":"82","lineNumber":1}}}"#);
    rig.node(r#"{"id":5,"result":{"breakpointId":"4:1:0:82","actualLocation":{}}}"#);
    // Asked, never answered: not remembered either.
    rig.client(BP);
    assert_eq!(rig.m.status()["breakpoints"], 0);
    rig.lost();
    assert_eq!(
        replayed(&rig.up()).0,
        [
            notify(),
            json!({"method": "Debugger.enable"}),
            json!({"method": "Debugger.setSkipAllPauses", "params": {"skip": false}}),
        ]
    );
    assert_eq!(rig.m.status()["not_replayed"], 1);
}

#[test]
fn disabling_the_debugger_forgets_its_breakpoints_and_settings() {
    let mut rig = enabled(Mode::Persistent);
    rig.client(BP);
    rig.node(&format!(
        r#"{{"id":6,"result":{{"breakpointId":"{BP_ID}","locations":[]}}}}"#
    ));
    rig.client(r#"{"id":7,"method":"Debugger.setPauseOnExceptions","params":{"state":"all"}}"#);
    rig.node(r#"{"id":7,"result":{}}"#);
    rig.client(r#"{"id":8,"method":"Runtime.enable"}"#);
    rig.node(r#"{"id":8,"result":{}}"#);
    assert_eq!(rig.m.status()["breakpoints"], 1);
    rig.client(r#"{"id":9,"method":"Debugger.disable"}"#);
    rig.node(r#"{"id":9,"result":{}}"#);
    rig.lost();
    let replay = replayed(&rig.up()).0;
    assert_eq!(replay, [notify(), json!({"method": "Runtime.enable"})]);
}

#[test]
fn commands_in_the_gap_are_held_for_the_next_process_within_a_bound() {
    let mut rig = Rig::with(Settings {
        max_held: 2,
        ..Settings::default()
    });
    rig.up();
    rig.client(r#"{"id":2,"method":"Runtime.runIfWaitingForDebugger"}"#);
    rig.node(r#"{"id":2,"result":{}}"#);
    assert_eq!(rig.lost(), vec![]);
    assert_eq!(rig.client(BP), vec![]);
    let eval = r#"{"id":7,"method":"Runtime.evaluate","params":{"expression":"1"}}"#;
    assert_eq!(rig.client(eval), vec![]);
    let third = r#"{"id":8,"method":"Runtime.evaluate","params":{"expression":"2"}}"#;
    assert_eq!(rig.client(third), vec![error("8", -32000, WENT_AWAY)]);
    assert_eq!(rig.m.status()["held_refused"], 1);
    // The next process: the setup, then what was held, in order, with the
    // client's own ids; the release once the setup is answered.
    let did = rig.up();
    let (steps, ids) = replayed(&did[..1]);
    assert_eq!(steps, [notify()]);
    assert_eq!(
        did[1..],
        [Did::Upstream(BP.into()), Did::Upstream(eval.into())]
    );
    let release = rig.node(&ok(ids[0], json!({})));
    assert_eq!(
        upstream(&release)[0]["method"],
        "Runtime.runIfWaitingForDebugger"
    );
    // The held breakpoint is remembered once node has set it.
    rig.node(&format!(
        r#"{{"id":6,"result":{{"breakpointId":"{BP_ID}","locations":[]}}}}"#
    ));
    assert_eq!(rig.m.status()["breakpoints"], 1);
    assert_eq!(rig.m.status()["restarts_survived"], 1);
}

#[test]
fn a_client_that_never_released_a_process_does_not_release_the_next() {
    let mut rig = enabled(Mode::Persistent);
    rig.lost();
    let (steps, ids) = replayed(&rig.up());
    assert_eq!(steps.len(), 2);
    assert_eq!(rig.node(&ok(ids[0], json!({}))), vec![]);
    assert_eq!(rig.node(&ok(ids[1], json!({"debuggerId": "3.4"}))), vec![]);
}

#[test]
fn a_replayed_breakpoint_reports_its_locations_and_a_changed_id() {
    let mut rig = enabled(Mode::Persistent);
    rig.client(BP);
    rig.node(&format!(
        r#"{{"id":6,"result":{{"breakpointId":"{BP_ID}","locations":[]}}}}"#
    ));
    rig.lost();
    let (steps, ids) = replayed(&rig.up());
    assert_eq!(steps[2]["params"]["lineNumber"], 3);
    rig.node(&ok(ids[0], json!({})));
    rig.node(&ok(ids[1], json!({"debuggerId": "3.4"})));
    let location = json!({"scriptId": "81", "lineNumber": 3, "columnNumber": 0});
    let answer = ok(
        ids[2],
        json!({"breakpointId": "1:3:0:elsewhere", "locations": [location]}),
    );
    let did = rig.node(&answer);
    let Did::Client(resolved) = &did[0] else {
        panic!("{did:?}")
    };
    assert_eq!(
        json(resolved),
        json!({"method": "Debugger.breakpointResolved", "params": {"breakpointId": BP_ID, "location": location}})
    );
    assert_eq!(rig.m.status()["breakpoint_ids_changed"], 1);
}

#[test]
fn replay_failures_are_swallowed_and_counted() {
    let mut rig = enabled(Mode::Persistent);
    rig.lost();
    let (_, ids) = replayed(&rig.up());
    for id in ids {
        let failed = json!({"id": id, "error": {"code": -32000, "message": "no"}});
        assert_eq!(rig.node(&failed.to_string()), vec![]);
    }
    assert_eq!(rig.m.status()["replay_failures"], 2);
}

#[test]
fn breakpoints_remembered_are_bounded() {
    let mut rig = Rig::with(Settings {
        max_breakpoints: 1,
        ..Settings::default()
    });
    rig.up();
    for (id, line) in [(1, 3), (2, 4)] {
        let set = json!({"id": id, "method": "Debugger.setBreakpointByUrl", "params": {"lineNumber": line, "url": URL}});
        rig.client(&set.to_string());
        let got = json!({"id": id, "result": {"breakpointId": format!("1:{line}:0:{URL}"), "locations": []}});
        // The client gets node's answer either way.
        assert_eq!(
            rig.node(&got.to_string()),
            vec![Did::Client(got.to_string())]
        );
    }
    assert_eq!(rig.m.status()["breakpoints"], 1);
    assert_eq!(rig.m.status()["setup_refused"], 1);
}

#[test]
fn commands_in_flight_are_bounded() {
    let mut rig = Rig::with(Settings {
        max_in_flight: 1,
        ..Settings::default()
    });
    rig.up();
    rig.client(r#"{"id":1,"method":"Runtime.evaluate"}"#);
    let why = "too many commands in flight through dbgproxy";
    assert_eq!(
        rig.client(r#"{"id":2,"method":"Runtime.evaluate"}"#),
        vec![error("2", -32000, why)]
    );
    rig.node(r#"{"id":1,"result":{}}"#);
    assert_eq!(
        rig.client(r#"{"id":3,"method":"Runtime.evaluate"}"#).len(),
        1
    );
}

#[test]
fn node_is_read_as_far_as_its_id_or_method() {
    use crate::session::cdp::wire::{Incoming, incoming};
    let cases = [
        (
            r#"{"id":4,"result":{"x":[1,{"id":9}]}}"#,
            Incoming::Answer(4),
        ),
        // Node writes some errors before the id (disconnect.cdp).
        (
            r#"{"error":{"code":-32601,"message":"'' wasn't found"},"id":4}"#,
            Incoming::Answer(4),
        ),
        (
            r#"{"error":{"code":-32600,"message":"Message must have integer 'id' property"}}"#,
            Incoming::Other,
        ),
        (
            r#"{"method":"Debugger.resumed","params":{}}"#,
            Incoming::Event("Debugger.resumed"),
        ),
        ("not json", Incoming::Other),
    ];
    for (text, want) in &cases {
        assert_eq!(incoming(text.as_bytes()), *want, "{text}");
    }
    // Node's words that are neither reach the client as they are.
    let mut rig = enabled(Mode::Persistent);
    assert_eq!(rig.node(cases[2].0), vec![Did::Client(cases[2].0.into())]);
}

#[test]
fn a_gated_release_waits_for_the_loop() {
    let mut rig = Rig::with(Settings {
        gated_release: true,
        ..Settings::default()
    });
    rig.up();
    rig.client(r#"{"id":1,"method":"Runtime.runIfWaitingForDebugger"}"#);
    rig.node(r#"{"id":1,"result":{}}"#);
    rig.client(BP);
    rig.node(&format!(
        r#"{{"id":6,"result":{{"breakpointId":"{BP_ID}","locations":[]}}}}"#
    ));
    rig.lost();
    let (steps, ids) = replayed(&rig.up());
    assert_eq!(steps.len(), 2);
    rig.node(&ok(ids[0], json!({})));
    assert!(!rig.m.ready_to_release());
    let answer = ok(ids[1], json!({"breakpointId": BP_ID, "locations": []}));
    assert_eq!(rig.node(&answer), vec![]);
    assert!(rig.m.ready_to_release());
    rig.m.release(&mut rig.out);
    let release = upstream(&rig.drain());
    assert_eq!(release[0]["method"], "Runtime.runIfWaitingForDebugger");
    assert!(!rig.m.ready_to_release());
    rig.m.release(&mut rig.out);
    assert_eq!(rig.drain(), vec![]);
}

#[test]
fn any_recorded_line_in_any_state_is_taken_calmly() {
    for transcript in [RESTART, DISCONNECT] {
        for up in [false, true] {
            let mut rig = enabled(Mode::Persistent);
            if !up {
                rig.lost();
            }
            for line in lines(transcript) {
                let did = match line {
                    Line::Client(m) | Line::Node(m) => {
                        let mut did = rig.client(m);
                        did.extend(rig.node(m));
                        did
                    }
                    _ => continue,
                };
                let sent = did.iter().any(|d| matches!(d, Did::Upstream(_)));
                assert!(up || !sent, "sent upstream while none is up: {did:?}");
            }
        }
    }
}
