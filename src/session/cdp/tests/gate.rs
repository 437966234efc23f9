//! The release gate (`gate.rs`) across client rows after a restart: node,
//! started with `--inspect-brk`, is let run only once every client's setup
//! is in, or once the bound passes for a client whose upstream is not back.

use std::time::{Duration, Instant};

use super::adapter::{C, Row};
use super::*;
use crate::session::Session;
use crate::session::cdp::gate::{Gate, RELEASE_WAIT, SharedGate};

const RELEASE: &str = "Runtime.runIfWaitingForDebugger";

fn bp_id(line: u32) -> String {
    format!("1:{line}:0:{URL}")
}

/// Answers every command in `sent` as node does (a breakpoint by URL gets
/// its deterministic id), one by one; returns what each answer led to.
fn answer(row: &mut Row, sent: &[String]) -> Vec<Vec<String>> {
    sent.iter()
        .map(|m| {
            let m = json(m);
            let result = match m["method"].as_str() {
                Some("Debugger.setBreakpointByUrl") => {
                    let line = m["params"]["lineNumber"].as_u64().unwrap() as u32;
                    json!({"breakpointId": bp_id(line), "locations": []})
                }
                _ => json!({}),
            };
            row.node(&json!({"id": m["id"], "result": result}).to_string());
            row.upstream()
        })
        .collect()
}

/// A client row on the first process that let it run once and holds a
/// breakpoint on `line` (or, `releases` false, only the breakpoint).
fn client(gate: &SharedGate, name: &str, line: u32, releases: bool) -> Row {
    let mut row = Row::new(gate, name);
    row.sim.up();
    let notify = row.upstream();
    answer(&mut row, &notify);
    let bp = json!({"id": 2, "method": "Debugger.setBreakpointByUrl",
        "params": {"lineNumber": line, "url": URL, "columnNumber": 0}});
    row.client(&bp.to_string());
    let sent = row.upstream();
    assert_eq!(answer(&mut row, &sent), [Vec::<String>::new()]);
    if releases {
        row.client(&format!(r#"{{"id":1,"method":"{RELEASE}"}}"#));
        let sent = row.upstream();
        assert_eq!(answer(&mut row, &sent), [Vec::<String>::new()]);
    }
    row.client_got();
    row
}

fn methods(sent: &[String]) -> Vec<String> {
    sent.iter()
        .map(|m| json(m)["method"].as_str().unwrap().to_owned())
        .collect()
}

fn is_release(sent: &[String]) -> bool {
    methods(sent) == [RELEASE] && own(&sent[0])
}

/// Up on the next process: the replay it sends (notify, then the breakpoint).
fn up(row: &mut Row) -> Vec<String> {
    row.sim.up();
    let replay = row.upstream();
    assert_eq!(
        methods(&replay),
        [
            "NodeRuntime.notifyWhenWaitingForDisconnect",
            "Debugger.setBreakpointByUrl"
        ]
    );
    replay
}

#[test]
fn the_last_client_to_be_ready_opens_the_gate_for_all() {
    let gate = Gate::shared(RELEASE_WAIT);
    let (mut a, mut b) = (client(&gate, "A", 3, true), client(&gate, "B", 5, true));
    a.sim.lost();
    b.sim.lost();
    let now = Instant::now();
    // A is back first, its setup in: B's is not, so A does not release.
    let replay = up(&mut a);
    assert!(answer(&mut a, &replay).iter().all(Vec::is_empty));
    a.sim.tick(now);
    assert_eq!(a.upstream(), Vec::<String>::new(), "A waits for B");
    // B comes back: until its breakpoint is answered, nobody releases.
    let replay = up(&mut b);
    assert_eq!(answer(&mut b, &replay[..1]), [Vec::<String>::new()]);
    a.sim.tick(now);
    assert_eq!(a.upstream(), Vec::<String>::new(), "B still replays");
    // B's last answer: B releases at once, A on the loop's next turn.
    let last = answer(&mut b, &replay[1..]);
    assert!(is_release(&last[0]), "{last:?}");
    a.sim.tick(now);
    assert!(is_release(&a.upstream()));
    // Released once each: no more.
    a.sim.tick(now);
    b.sim.tick(now);
    assert_eq!(a.upstream(), Vec::<String>::new());
    assert_eq!(b.upstream(), Vec::<String>::new());
    assert_eq!(a.sim.session.client_status(C)["releases_forced"], 0);
}

#[test]
fn a_client_whose_upstream_never_comes_back_holds_the_others_for_the_bound() {
    let gate = Gate::shared(RELEASE_WAIT);
    let (mut a, mut b) = (client(&gate, "A", 3, true), client(&gate, "B", 5, true));
    a.sim.lost();
    b.sim.lost();
    let replay = up(&mut a);
    answer(&mut a, &replay);
    let t0 = Instant::now();
    a.sim.tick(t0);
    assert_eq!(a.sim.session.deadline(), Some(t0 + RELEASE_WAIT));
    assert_eq!(b.sim.session.deadline(), None, "B has nothing to wait for");
    a.sim.tick(t0 + RELEASE_WAIT - Duration::from_millis(1));
    assert_eq!(a.upstream(), Vec::<String>::new());
    a.sim.tick(t0 + RELEASE_WAIT);
    assert!(is_release(&a.upstream()), "released anyway");
    assert_eq!(a.sim.session.client_status(C)["releases_forced"], 1);
    assert_eq!(a.sim.session.deadline(), None);
    // B back late: its setup goes in and it releases (node answers {}).
    let replay = up(&mut b);
    let last = answer(&mut b, &replay);
    assert!(is_release(&last[1]), "{last:?}");
}

#[test]
fn a_client_that_leaves_no_longer_holds_the_others() {
    let gate = Gate::shared(RELEASE_WAIT);
    let (mut a, mut b) = (client(&gate, "A", 3, true), client(&gate, "B", 5, true));
    a.sim.lost();
    b.sim.lost();
    let replay = up(&mut a);
    answer(&mut a, &replay);
    a.sim.tick(Instant::now());
    assert_eq!(a.upstream(), Vec::<String>::new());
    b.sim.leave(C);
    a.sim.tick(Instant::now());
    assert!(is_release(&a.upstream()));
}

#[test]
fn a_client_that_never_released_is_waited_for_but_does_not_release() {
    let gate = Gate::shared(RELEASE_WAIT);
    let mut a = client(&gate, "A", 3, true);
    let mut b = client(&gate, "B", 5, false);
    a.sim.lost();
    b.sim.lost();
    let (ra, rb) = (up(&mut a), up(&mut b));
    answer(&mut a, &ra);
    a.sim.tick(Instant::now());
    assert_eq!(
        a.upstream(),
        Vec::<String>::new(),
        "B's breakpoint is not in"
    );
    let last = answer(&mut b, &rb);
    assert!(
        last.iter().all(Vec::is_empty),
        "B asks no release: {last:?}"
    );
    a.sim.tick(Instant::now());
    assert!(is_release(&a.upstream()));
}
