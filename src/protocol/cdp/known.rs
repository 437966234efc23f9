//! What the proxy last learned of its debuggee through discovery, shared
//! (single-threaded, `Rc<RefCell>`) by the inspector backends that learn it,
//! the client port's door that answers `/json/*` with it, and the sessions
//! that show it in `status`. Kept across a debuggee's restart until the next
//! discovery replaces it, so clients polling `/json/list` meanwhile still see
//! the target (at the proxy's stable path).

use std::cell::RefCell;
use std::rc::Rc;

use super::backend::Target;

#[derive(Debug, Default)]
pub struct Known {
    /// The target chosen at the last discovery.
    pub target: Option<Target>,
    /// The debugger's `/json/version` body, as it came.
    pub version: Option<Vec<u8>>,
    /// The debugger's `/json/protocol` body (its schema), as it came.
    pub protocol: Option<Vec<u8>>,
    /// Discoveries made (a new process is a new discovery).
    pub discoveries: u64,
}

pub type Shared = Rc<RefCell<Known>>;
