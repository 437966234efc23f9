//! Backing off from a debugger that goes away as soon as it is reached.
//!
//! A crash-looping debugger, or a port forwarder in front of a dead one,
//! accepts and closes at once; without a pause a persistent proxy would
//! reconnect thousands of times a second. The connect and spawn backends keep
//! one `Backoff`: a session that ends within `STABLE` of coming up is *quick*,
//! and each quick one in a row doubles the wait before the next attempt, from
//! the backend's base interval up to `MAX_DELAY` (or the base, if larger). A
//! session that lasts `STABLE` ends the backing off; so does one that is still
//! up `STABLE` after it started (a timer, so that recovery is logged when it
//! happens, not when the session ends). The backends decide what to log;
//! `flapping` tells them (and the proxy) when to stop logging each repetition.

use std::time::{Duration, Instant};

/// A session shorter than this "closed right after connecting".
pub const STABLE: Duration = Duration::from_secs(2);
/// The longest wait between attempts, unless the base interval is longer.
pub const MAX_DELAY: Duration = Duration::from_secs(5);
/// Quick sessions in a row before the repetition is logged once and each
/// further one only at debug.
pub const REPEATED: u32 = 2;

pub struct Backoff {
    base: Duration,
    cap: Duration,
    /// Quick sessions (or failed starts) in a row.
    quick: u32,
    up_since: Option<Instant>,
    /// When the current session, if still up, ends the backing off.
    stable_at: Option<Instant>,
}

impl Backoff {
    pub fn new(base: Duration) -> Backoff {
        Backoff {
            base,
            cap: base.max(MAX_DELAY),
            quick: 0,
            up_since: None,
            stable_at: None,
        }
    }

    /// The debugger is reachable (connected, or started).
    pub fn up(&mut self, now: Instant) {
        self.up_since = Some(now);
        self.stable_at = (self.quick > 0).then(|| now + STABLE);
    }

    /// The session that came up last is over; returns how long to wait before
    /// the next attempt (`None`: at once).
    pub fn lost(&mut self, now: Instant) -> Option<Duration> {
        self.stable_at = None;
        match self.up_since.take() {
            Some(since) if now.duration_since(since) < STABLE => Some(self.quick_loss()),
            Some(_) => {
                self.quick = 0;
                None
            }
            // Never up: the first start, which has nothing to back off from.
            None => None,
        }
    }

    /// An attempt that failed outright counts as a quick session; returns the
    /// wait before the next one.
    pub fn quick_loss(&mut self) -> Duration {
        self.quick = self.quick.saturating_add(1);
        let doublings = self.quick.saturating_sub(1).min(16);
        self.base.saturating_mul(1 << doublings).min(self.cap)
    }

    /// Quick sessions in a row so far.
    pub fn quick(&self) -> u32 {
        self.quick
    }

    /// Whether the debugger is in a loop of quick sessions, already reported:
    /// each further repetition is logged at debug only.
    pub fn flapping(&self) -> bool {
        self.quick >= REPEATED
    }

    /// The longest the wait can grow to.
    pub fn cap(&self) -> Duration {
        self.cap
    }

    pub fn deadline(&self) -> Option<Instant> {
        self.stable_at
    }

    /// Returns how many quick sessions in a row the current one ended, once it
    /// has lasted `STABLE`.
    pub fn on_timer(&mut self, now: Instant) -> Option<u32> {
        if self.stable_at.is_some_and(|t| t <= now) {
            self.stable_at = None;
            return Some(std::mem::take(&mut self.quick));
        }
        None
    }
}

/// "30s", "5s", "1.5s", "120ms": the way a person says it.
pub fn human(d: Duration) -> String {
    if d >= Duration::from_secs(10) {
        format!("{:.0}s", d.as_secs_f64())
    } else if d >= Duration::from_secs(1) && d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else if d >= Duration::from_secs(1) {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{}ms", d.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn quick_sessions_double_the_wait_up_to_the_cap() {
        let t = Instant::now();
        let mut b = Backoff::new(300 * MS);
        assert_eq!(b.lost(t), None, "the first start waits for nothing");
        let mut waits = Vec::new();
        for i in 0..7 {
            let at = t + i * 10 * MS;
            b.up(at);
            waits.push(b.lost(at + MS).unwrap().as_millis());
        }
        assert_eq!(waits, [300, 600, 1200, 2400, 4800, 5000, 5000]);
        assert!(b.flapping());
    }

    #[test]
    fn a_session_that_lasts_ends_the_backing_off() {
        let t = Instant::now();
        let mut b = Backoff::new(300 * MS);
        b.up(t);
        b.lost(t);
        b.up(t);
        b.lost(t);
        b.up(t);
        assert_eq!(b.deadline(), Some(t + STABLE));
        assert_eq!(b.on_timer(t + STABLE - MS), None);
        assert_eq!(b.on_timer(t + STABLE), Some(2));
        assert!(!b.flapping());
        assert_eq!(
            b.lost(t + 3 * STABLE),
            None,
            "a long session reconnects at once"
        );
        b.up(t);
        assert_eq!(b.lost(t + MS), Some(300 * MS));
    }

    #[test]
    fn a_long_base_interval_is_its_own_cap() {
        let mut b = Backoff::new(Duration::from_secs(10));
        assert_eq!(b.quick_loss(), Duration::from_secs(10));
        assert_eq!(b.quick_loss(), Duration::from_secs(10));
    }
}
