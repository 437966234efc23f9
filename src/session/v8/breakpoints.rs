//! V8's breakpoints are engine-global numbers: no merging, only who made
//! which, so that a kept session clears the last leaver's (SESSIONS.md,
//! "Legacy V8").

use std::collections::BTreeMap;

use crate::protocol::json::{self, Until};
use crate::session::ClientId;

/// Breakpoint owners remembered.
const MAX_BREAKPOINTS: usize = 4096;

/// Engine breakpoint number → the client whose `setbreakpoint` made it.
#[derive(Default)]
pub struct Owners {
    by_number: BTreeMap<u64, ClientId>,
}

impl Owners {
    /// Keeps who made which breakpoint, from `setbreakpoint` and
    /// `clearbreakpoint` responses (`command` as a JSON string).
    pub fn track(&mut self, body: &[u8], command: &[u8], owner: Option<ClientId>) {
        let set = command == b"\"setbreakpoint\"";
        if !set && command != b"\"clearbreakpoint\"" {
            return;
        }
        let Ok([success, inner]) = json::fields(body, ["success", "body"], Until::Found) else {
            return;
        };
        let Some(inner) = inner.filter(|_| json::boolean(body, &success) == Some(true)) else {
            return;
        };
        let inner = &body[inner];
        let Ok([number]) = json::fields(inner, ["breakpoint"], Until::Found) else {
            return;
        };
        let Some(n) = json::unsigned(inner, &number) else {
            return;
        };
        match owner {
            Some(c) if set && (self.by_number.len() < MAX_BREAKPOINTS) => {
                self.by_number.insert(n, c);
            }
            _ if !set => {
                self.by_number.remove(&n);
            }
            _ => {}
        }
    }

    pub fn owned_by(&self, client: ClientId) -> Vec<u64> {
        self.by_number
            .iter()
            .filter(|&(_, &c)| c == client)
            .map(|(&n, _)| n)
            .collect()
    }
}
