//! A finished request nobody is left to end (`--dbgp-hold`, 2 s here).

use std::time::{Duration, Instant};

use super::*;

const HOLD: Duration = Duration::from_secs(2);

/// Client 1's `run` answered with the end of the script.
fn finished(clients: &[ClientId]) -> H {
    let mut h = H::with(clients, CONN4);
    h.client(clients[0], "run -i 1");
    h.answer(&find(CONN4, &["command=\"run\""]));
    h
}

#[test]
fn a_finished_request_is_ended_once_the_hold_passes_with_nobody_there() {
    let t = Instant::now();
    let mut h = finished(&[1]);
    assert!(h.tick(t).is_empty());
    assert_eq!(h.dbgp().deadline(), None, "a client is there to end it");
    h.leave(1);
    assert!(h.tick(t).is_empty());
    assert_eq!(h.dbgp().deadline(), Some(t + HOLD));
    assert!(h.tick(t + HOLD - Duration::from_millis(1)).is_empty());
    assert_eq!(to_debugger(&h.tick(t + HOLD)), ["stop -i 2"]);
    assert_eq!(h.dbgp().deadline(), None);
    // Xdebug's answer, and its last `stopping` after it, reach nobody;
    // the session does not end the request twice.
    let stopped = find(CONN1, &["command=\"stop\"", "status=\"stopped\""]);
    assert!(h.answer(&stopped).is_empty());
    assert!(h.tick(t + 3 * HOLD).is_empty());
    assert!(h.lost().is_empty());
}

#[test]
fn a_client_that_joins_within_the_hold_cancels_it() {
    let t = Instant::now();
    let mut h = finished(&[1]);
    h.leave(1);
    h.tick(t);
    // It is told where the script is, and ends the request itself.
    let sent = h.join(2);
    assert_eq!(
        attr(to_client(&sent, 2)[1], "status").as_deref(),
        Some("stopping")
    );
    assert!(h.tick(t + HOLD).is_empty());
    assert_eq!(h.dbgp().deadline(), None);
    assert_eq!(to_debugger(&h.client(2, "stop -i 1")), ["stop -i 2"]);
    // It leaves again before the answer: the goodbye is on its way, no hold.
    h.leave(2);
    assert!(h.tick(t + 2 * HOLD).is_empty());
    assert_eq!(h.dbgp().deadline(), None);
}

#[test]
fn a_script_that_finishes_after_the_last_client_left_is_ended_too() {
    let t = Instant::now();
    let mut h = H::with(&[1], CONN4);
    h.client(1, "run -i 1");
    h.leave(1);
    assert!(h.tick(t).is_empty(), "still running: left as it is");
    assert_eq!(h.dbgp().deadline(), None);
    h.answer(&find(CONN4, &["command=\"run\""]));
    h.tick(t + HOLD);
    assert_eq!(h.dbgp().deadline(), Some(t + 2 * HOLD));
    assert_eq!(to_debugger(&h.tick(t + 2 * HOLD)), ["stop -i 2"]);
}

#[test]
fn a_script_stopped_at_a_breakpoint_is_left_as_it_is() {
    let t = Instant::now();
    let mut h = at_break(&[1]);
    h.leave(1);
    for later in [t, t + HOLD, t + 100 * HOLD] {
        assert!(h.tick(later).is_empty());
    }
    assert_eq!(h.dbgp().deadline(), None);
}
