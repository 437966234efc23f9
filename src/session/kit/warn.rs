//! Warn once: a condition that may repeat at the peer's pace (a flood of
//! bad lines, a bound hit at every request) is worth one log line, then a
//! counter in `dbgproxy status`.

use std::collections::BTreeSet;

/// The warnings already given, by name.
#[derive(Default, Debug)]
pub struct WarnOnce {
    given: BTreeSet<&'static str>,
}

impl WarnOnce {
    /// True the first time `what` is asked about: log then.
    pub fn first(&mut self, what: &'static str) -> bool {
        self.given.insert(what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_name_once() {
        let mut w = WarnOnce::default();
        assert!(w.first("full"));
        assert!(!w.first("full"));
        assert!(w.first("orphan"));
        assert!(!w.first("orphan"));
    }
}
