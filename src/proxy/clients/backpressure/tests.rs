//! The no-loss rules on a fake clock: plain `Instant` arithmetic from one
//! start, no socket and no sleep.

use std::time::{Duration, Instant};

use super::*;
use crate::framing::{Assembler, Direction, Protocol};
use crate::net::queue::Chunk;

const MIB: usize = 1 << 20;
const STALL: Duration = Duration::from_secs(5);

fn rules() -> Backpressure {
    Backpressure::new(Limits {
        client_buffer: MIB,
        stall_timeout: STALL,
        max_client_message: 64 << 10,
        input_total: 100 << 10,
    })
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn a_message_always_goes_to_an_empty_queue_whatever_its_size() {
    let mut r = rules();
    let t0 = Instant::now();
    // Queuing is never refused: the rules only ever make the debugger wait.
    assert_eq!(r.queued(1, 100, t0), Pace::Keeping);
    assert_eq!(r.queued(2, 50 * MIB, t0), Pace::FellBehind);
    assert!(r.holding());
    assert_eq!(r.counters.debugger_waits, 1);
}

#[test]
fn a_client_within_its_buffer_does_not_hold_the_debugger() {
    let mut r = rules();
    let t0 = Instant::now();
    assert_eq!(r.queued(1, MIB, t0), Pace::Keeping);
    assert!(!r.holding());
    assert_eq!(r.deadline(), None);
    assert!(r.stalled(t0 + STALL * 100).is_empty());
    assert_eq!(r.counters, Counters::default());
}

#[test]
fn a_slow_client_holds_the_debugger_until_it_catches_up() {
    let mut r = rules();
    let t0 = Instant::now();
    assert_eq!(r.queued(1, MIB + 1, t0), Pace::FellBehind);
    // More for a client already behind is no new wait.
    assert_eq!(r.queued(1, 2 * MIB, t0 + ms(10)), Pace::Keeping);
    assert!(r.holding());
    assert_eq!(r.deadline(), Some(t0 + STALL));
    // Still over the buffer after a write: still behind.
    r.wrote(1, MIB / 2, MIB + MIB / 2, t0 + ms(20));
    assert!(r.holding());
    r.wrote(1, MIB / 2, MIB, t0 + ms(30));
    assert!(!r.holding());
    assert_eq!(r.deadline(), None);
    assert_eq!(r.counters.debugger_waits, 1);
    assert_eq!(r.queued(1, MIB + 1, t0 + ms(40)), Pace::FellBehind);
    assert_eq!(r.counters.debugger_waits, 2);
}

#[test]
fn a_client_that_takes_nothing_for_the_stall_timeout_goes() {
    let mut r = rules();
    let t0 = Instant::now();
    r.queued(7, 3 * MIB, t0);
    assert!(r.stalled(t0 + STALL - ms(1)).is_empty());
    // A write that took nothing is no progress.
    r.wrote(7, 0, 3 * MIB, t0 + ms(100));
    let gone = r.stalled(t0 + STALL);
    let why = Why::Stalled {
        stall: STALL,
        queued: 3 * MIB,
    };
    assert_eq!(gone, vec![Evict { key: 7, why }]);
    assert_eq!(
        gone[0].why.to_string(),
        "too slow: took nothing for 5000ms with 3145728 bytes queued (--stall-timeout)"
    );
    assert_eq!(r.counters.dropped_slow, 1);
    // The table drops it and tells the rules: the debugger is read again.
    r.forget(7);
    assert!(!r.holding());
}

#[test]
fn progress_puts_off_the_stall_timeout() {
    let mut r = rules();
    let t0 = Instant::now();
    r.queued(1, 4 * MIB, t0);
    r.wrote(1, 1000, 4 * MIB - 1000, t0 + ms(4000));
    assert_eq!(r.deadline(), Some(t0 + ms(9000)));
    assert!(r.stalled(t0 + ms(8999)).is_empty());
    assert_eq!(r.stalled(t0 + ms(9000)).len(), 1);
}

#[test]
fn a_client_reading_steadily_but_staying_behind_goes_after_ten_stall_timeouts() {
    let mut r = rules();
    let t0 = Instant::now();
    r.queued(3, 2 * MIB, t0);
    // It takes a little every second while the debugger keeps it over.
    let mut now = t0;
    for _ in 0..49 {
        now += Duration::from_secs(1);
        r.wrote(3, 1000, 2 * MIB, now);
        r.queued(3, 2 * MIB + 1000, now);
        assert!(r.stalled(now).is_empty(), "{now:?}");
    }
    assert_eq!(r.deadline(), Some(t0 + STALL * 10));
    let gone = r.stalled(t0 + STALL * 10);
    let why = Why::Lagging { limit: STALL * 10 };
    assert_eq!(gone, vec![Evict { key: 3, why }]);
    assert_eq!(
        gone[0].why.to_string(),
        "too slow: over --client-buffer for 50000ms"
    );
    assert_eq!(r.counters.dropped_slow, 1);
}

#[test]
fn several_behind_all_hold_and_go_in_table_order() {
    let mut r = rules();
    let t0 = Instant::now();
    for key in [9, 2, 5] {
        r.queued(key, 2 * MIB, t0);
    }
    r.wrote(5, 1, 2 * MIB, t0 + ms(1000));
    r.forget(2);
    assert!(r.holding());
    assert_eq!(r.deadline(), Some(t0 + STALL));
    let keys: Vec<Key> = r.stalled(t0 + STALL * 2).iter().map(|d| d.key).collect();
    assert_eq!(keys, [5, 9]);
    assert_eq!(r.counters.debugger_waits, 3);
    assert_eq!(r.counters.dropped_slow, 2);
}

#[test]
fn one_client_message_over_its_cap_is_a_framing_fault() {
    let mut r = rules();
    // The cap of one client is its framing's: a line over it breaks it.
    let mut input = Assembler::new(
        Protocol::GdbMi,
        Direction::ToDebugger,
        r.max_client_message(),
    );
    let long = Chunk::copy_from(&vec![b'x'; (64 << 10) + 1]);
    let bad = input.feed(long, |_| {}).unwrap_err();
    assert!(bad.what.contains("(--max-client-message)"), "{bad}");
    r.bad_framing();
    assert_eq!(r.counters.dropped_bad_framing, 1);
    // Just under it, the message is only held.
    let mut input = Assembler::new(
        Protocol::GdbMi,
        Direction::ToDebugger,
        r.max_client_message(),
    );
    input
        .feed(Chunk::copy_from(&vec![b'x'; 60 << 10]), |_| {})
        .unwrap();
    assert_eq!(r.input(1, input.pending()), None);
    assert_eq!(r.input_held(), 60 << 10);
}

#[test]
fn past_the_total_input_cap_the_largest_holder_goes() {
    let mut r = rules();
    assert_eq!(r.input(1, 40 << 10), None);
    assert_eq!(r.input(2, 50 << 10), None);
    assert_eq!(r.input(3, 10 << 10), None);
    assert_eq!(r.input_held(), 100 << 10);
    // Client 1 completes its message: what it held is released.
    assert_eq!(r.input(1, 0), None);
    assert_eq!(r.input_held(), 60 << 10);
    assert_eq!(r.input(1, 20 << 10), None);
    // One byte over: not the one that sent it, the one holding the most.
    let gone = r.input(3, (30 << 10) + 1);
    let why = Why::InputTotal {
        held: 50 << 10,
        total: 100 << 10,
    };
    assert_eq!(gone, Some(Evict { key: 2, why }));
    assert_eq!(r.counters.dropped_input_cap, 1);
    r.forget(2);
    assert_eq!(r.input_held(), (50 << 10) + 1);
    assert_eq!(r.input(4, 10 << 10), None);
}

#[test]
fn equal_holders_over_the_cap_the_last_in_the_table_goes() {
    let mut r = rules();
    assert_eq!(r.input(4, 50 << 10), None);
    assert_eq!(r.input(8, 50 << 10), None);
    assert_eq!(r.input(6, 1).map(|d| d.key), Some(8));
}

#[test]
fn forgetting_every_client_keeps_the_counters() {
    let mut r = rules();
    let t0 = Instant::now();
    r.queued(1, 2 * MIB, t0);
    r.input(2, 10);
    r.forget_all();
    assert!(!r.holding());
    assert_eq!(r.input_held(), 0);
    assert_eq!(r.counters.debugger_waits, 1);
}
