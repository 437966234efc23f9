//! The CDP session at the program's end and when a side goes.

use super::rules::{enabled, error, ok, replayed};
use super::*;

#[test]
fn a_client_that_leaves_takes_its_upstream_session_and_nothing_else() {
    let mut rig = enabled(Mode::Persistent);
    rig.node(r#"{"method":"Debugger.paused","params":{"callFrames":[],"reason":"other"}}"#);
    rig.m.client_left(&mut rig.out);
    // No resume: node decides what a leaving session means for the pause.
    assert_eq!(rig.drain(), vec![Did::CloseUpstream]);
    assert_eq!(rig.lost(), vec![]);
    assert_eq!(
        rig.node(r#"{"method":"Debugger.resumed","params":{}}"#),
        vec![]
    );
}

#[test]
fn a_crash_in_session_mode_closes_the_client() {
    let mut rig = enabled(Mode::OneSession);
    rig.client(r#"{"id":2,"method":"Runtime.evaluate"}"#);
    assert_eq!(
        rig.lost(),
        vec![
            error("2", -32000, WENT_AWAY),
            Did::CloseClient("the debuggee went away".into())
        ]
    );
}

#[test]
fn a_client_that_enabled_nothing_still_lets_node_exit() {
    let mut rig = Rig::new(Mode::Persistent);
    let (_, ids) = replayed(&rig.up());
    rig.node(&ok(ids[0], json!({})));
    // Not the client's: swallowed, and nothing to tell it of contexts.
    let waiting = r#"{"method":"NodeRuntime.waitingForDisconnect","params":{}}"#;
    assert_eq!(rig.node(waiting), vec![Did::CloseUpstream]);
}

#[test]
fn the_default_context_destroyed_ends_the_program_too() {
    // As node sends it when no session asked for waitingForDisconnect (an
    // older node, or a client that turned it off).
    let mut rig = enabled(Mode::Persistent);
    let created = |id: i64, default: bool| {
        json!({"method": "Runtime.executionContextCreated", "params": {"context": {
            "id": id, "origin": "", "name": "n", "uniqueId": format!("u{id}"),
            "auxData": {"isDefault": default}}}})
        .to_string()
    };
    let destroyed = |id: i64| {
        json!({"method": "Runtime.executionContextDestroyed", "params": {
            "executionContextId": id, "executionContextUniqueId": format!("u{id}")}})
        .to_string()
    };
    for m in [created(1, true), created(2, false)] {
        assert_eq!(rig.node(&m), vec![Did::Client(m.clone())]);
    }
    assert_eq!(rig.node(&destroyed(2)), vec![Did::Client(destroyed(2))]);
    assert_eq!(
        rig.node(&destroyed(1)),
        vec![Did::Client(destroyed(1)), Did::CloseUpstream]
    );
}

#[test]
fn a_client_hears_the_end_as_it_asked_and_cannot_turn_it_off_for_dbgproxy() {
    let mut rig = enabled(Mode::Persistent);
    let on = r#"{"id":2,"method":"NodeRuntime.notifyWhenWaitingForDisconnect","params":{"enabled":true}}"#;
    assert_eq!(rig.client(on), vec![Did::Upstream(on.into())]);
    rig.node(r#"{"id":2,"result":{}}"#);
    let off = r#"{"id":3,"method":"NodeRuntime.notifyWhenWaitingForDisconnect","params":{"enabled":false}}"#;
    assert_eq!(
        rig.client(off),
        vec![Did::Client(r#"{"id":3,"result":{}}"#.into())]
    );
    let waiting = r#"{"method":"NodeRuntime.waitingForDisconnect","params":{}}"#;
    assert_eq!(rig.node(waiting), vec![Did::CloseUpstream]);
    // Not replayed: dbgproxy asks for it itself.
    let (steps, _) = replayed(&rig.up());
    assert_eq!(steps.len(), 2);
    rig.client(on);
    rig.node(r#"{"id":2,"result":{}}"#);
    assert_eq!(
        rig.node(waiting),
        vec![Did::Client(waiting.into()), Did::CloseUpstream]
    );
}
