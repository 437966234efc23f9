//! A run that is over, and the next (`runs.rs`).

use super::*;

fn event(seq: i64, name: &str, body: Value) -> Message {
    framed(&json!({"seq": seq, "type": "event", "event": name, "body": body}))
}

/// Client 1 attached, stopped; the debuggee then ran to its end.
fn run_to_the_end(r: &mut Rig) {
    r.first_client_attaches(1);
    r.debugger(event(90, "exited", json!({"exitCode": 0})));
    r.debugger(event(91, "terminated", json!({})));
}

/// The proxy `seq` of the one request `sent` to the debugger as `command`.
fn asked(sent: &[Sent], command: &str) -> i64 {
    let all: Vec<Value> = to(sent, To::Debugger)
        .into_iter()
        .filter(|v| v["command"] == command)
        .collect();
    assert_eq!(all.len(), 1, "one {command} in {sent:#?}");
    all[0]["seq"].as_i64().unwrap()
}

#[test]
fn a_joiner_after_the_run_starts_a_new_one() {
    let mut r = Rig::new(ATTACH, LastGoodbye::Keep);
    run_to_the_end(&mut r);
    assert_eq!(r.dap().debugger.memory.stopped_thread(), None);
    // Client 1 drops: its breakpoints stay for the next run.
    r.leave(1);
    assert!(r.join(2).is_empty(), "nothing of the finished run");
    let sent = r.req(2, 1, "initialize", init_args("b"));
    assert_eq!(sent[0], Sent::Restart, "{sent:#?}");
    assert_eq!(sent.len(), 2, "{sent:#?}");
    let init = asked(&sent, "initialize");
    // The loop ends this debugger session: no news for the clients.
    assert!(r.lost().is_empty());
    assert!(r.up().is_empty());
    let (t, v) = only(&r.debugger(answering(&r.rec(4), init)));
    assert_eq!(
        (t, v["command"].clone()),
        (To::Client(2), json!("initialize"))
    );
    let (t, v) = only(&r.req(2, 2, "attach", json!({})));
    assert_eq!((t, v["command"].clone()), (To::Debugger, json!("attach")));
    // On `initialized`, the breakpoints client 1 left, then client 2 hears it.
    let sent = r.debugger(event(1, "initialized", json!({})));
    let to_debugger = to(&sent, To::Debugger);
    let commands: Vec<&Value> = to_debugger.iter().map(|v| &v["command"]).collect();
    assert_eq!(
        commands,
        ["setBreakpoints", "setExceptionBreakpoints"],
        "{sent:#?}"
    );
    assert_eq!(
        to_debugger[0]["arguments"]["breakpoints"],
        json!([{"line": 4}, {"line": 3, "condition": "i > 1"}])
    );
    assert_eq!(
        to(&sent, To::Client(2)),
        [json!({"seq": 1, "type": "event", "event": "initialized", "body": {}})]
    );
}

#[test]
fn a_client_still_there_launches_again() {
    let mut r = Rig::new(ATTACH, LastGoodbye::Keep);
    run_to_the_end(&mut r);
    let sent = r.req(1, 7, "attach", json!({}));
    assert_eq!(sent[0], Sent::Restart, "{sent:#?}");
    // Its initialize was the old debugger's: the proxy sends the new one
    // the first client's, then the attach.
    let commands: Vec<Value> = to(&sent, To::Debugger)
        .iter()
        .map(|v| v["command"].clone())
        .collect();
    assert_eq!(commands, ["initialize", "attach"]);
    assert_eq!(to(&sent, To::Debugger)[0]["arguments"], init_args("vscode"));
    assert!(r.lost().is_empty());
    assert!(r.up().is_empty());
    let init = asked(&sent, "initialize");
    assert!(
        r.debugger(answering(&r.rec(4), init)).is_empty(),
        "the proxy's own initialize"
    );
    let sent = r.debugger(event(1, "initialized", json!({})));
    assert_eq!(to(&sent, To::Client(1)).len(), 1, "{sent:#?}");
}

#[test]
fn one_session_mode_starts_no_second_run() {
    let mut r = Rig::new(ATTACH, LastGoodbye::Keep);
    r.sim.session = Dap::new(&Settings {
        mode: Mode::OneSession,
        ..settings(LastGoodbye::Keep)
    });
    run_to_the_end(&mut r);
    let (t, v) = only(&r.req(1, 7, "launch", json!({})));
    assert_eq!(t, To::Client(1));
    assert_eq!(v["success"], false);
    assert!(
        v["message"].as_str().unwrap().contains("one-session"),
        "{v}"
    );
}

#[test]
fn a_stale_client_is_told_until_a_run_starts() {
    let mut r = Rig::new(ATTACH, LastGoodbye::Keep);
    r.first_client_attaches(1);
    r.lost();
    r.up();
    let (t, v) = only(&r.req(1, 7, "threads", json!({})));
    assert_eq!(t, To::Client(1));
    assert_eq!(v["success"], false);
    assert!(v["message"].as_str().unwrap().contains("restarted"), "{v}");
    let sent = r.req(1, 8, "attach", json!({}));
    let commands: Vec<Value> = to(&sent, To::Debugger)
        .iter()
        .map(|v| v["command"].clone())
        .collect();
    assert_eq!(commands, ["initialize", "attach"], "re-initialised");
    let (t, _) = only(&r.req(1, 9, "threads", json!({})));
    assert_eq!(t, To::Debugger, "a run is starting");
}
