//! The routing fields of a DAP message, read on the hot path.
//!
//! Routing a DAP message needs a handful of its top-level fields (`seq`,
//! `type`, `command`, `request_seq`, `event`, `success`). [`head`] walks the
//! top-level members with the session layer's JSON scanner
//! (`protocol::json`) and stops as soon as it has what that message's type
//! routes by: debugpy writes `body` last, so a big body (a 64 KiB `output`
//! event, a `variables` answer) is never looked at. Values it passes over
//! are read only for their extent, so that a client's request with a
//! malformed argument is still recognised and answered with an error; the
//! strict check of a client's whole message is `json::check`.

use std::ops::Range;

use crate::protocol::json::{self, Fault, Values};

/// The routing fields of a DAP message: where each value is in the body.
#[derive(Debug, Default, Clone)]
pub struct Head {
    pub seq: Option<Range<usize>>,
    pub kind: Option<Range<usize>>,
    pub command: Option<Range<usize>>,
    pub request_seq: Option<Range<usize>>,
    pub event: Option<Range<usize>>,
    pub success: Option<Range<usize>>,
    /// The scan stopped at malformed JSON before it had all it wanted.
    pub fault: Option<Fault>,
}

impl Head {
    /// Whether the fields that a message of this type routes by are all found.
    fn complete(&self, body: &[u8]) -> bool {
        let (Some(_), Some(kind)) = (&self.seq, &self.kind) else {
            return false;
        };
        match &body[kind.clone()] {
            b"\"request\"" => self.command.is_some(),
            b"\"response\"" => {
                self.request_seq.is_some() && self.command.is_some() && self.success.is_some()
            }
            b"\"event\"" => self.event.is_some(),
            _ => true,
        }
    }
}

/// Scans `body` until the routing fields of its type are found. The first
/// occurrence of a duplicated key wins; keys are compared decoded.
pub fn head(body: &[u8]) -> Head {
    let mut head = Head::default();
    for member in json::members(body, Values::Extent) {
        let (key, range) = match member {
            Ok(m) => m,
            Err(fault) => {
                head.fault = Some(fault);
                break;
            }
        };
        let raw = key.raw();
        let slot = if raw.contains(&b'\\') {
            // Spelled with escapes: compared decoded, as JSON.parse would.
            let Some(name) = key.name() else { continue };
            slot(&mut head, name.as_bytes())
        } else {
            // Without escapes the bytes are the name: no decoding (this runs
            // for every member before the routing fields, on every message).
            slot(&mut head, raw)
        };
        let Some(slot) = slot else { continue };
        if slot.is_none() {
            *slot = Some(range);
        }
        if head.complete(body) {
            break;
        }
    }
    head
}

/// Where a routing field named `name` goes, if it is one.
fn slot<'h>(head: &'h mut Head, name: &[u8]) -> Option<&'h mut Option<Range<usize>>> {
    Some(match name {
        b"seq" => &mut head.seq,
        b"type" => &mut head.kind,
        b"command" => &mut head.command,
        b"request_seq" => &mut head.request_seq,
        b"event" => &mut head.event,
        b"success" => &mut head.success,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    //! `head`: the DAP routing fields, and where it stops. The scanner under it
    //! is tested in `protocol::json`.

    use proptest::prelude::*;

    use super::*;
    use crate::protocol::json::{members, text};

    #[test]
    fn escaped_keys_are_decoded() {
        let body = br#"{"se\u0071":1,"a\"b":2}"#;
        let got: Vec<String> = members(body, Values::Extent)
            .map(|m| m.unwrap().0.name().unwrap().into_owned())
            .collect();
        assert_eq!(got, ["seq", "a\"b"]);
        let h = head(br#"{"se\u0071":7,"type":"event","event":"x"}"#);
        assert!(h.seq.is_some() && h.fault.is_none());
    }

    #[test]
    fn head_stops_once_it_has_the_routing_fields() {
        // The body is broken after the routing fields: never reached.
        let body = br#"{"seq": 4, "type": "response", "request_seq": 1, "success": true, "command": "x", "body": {"#;
        let h = head(body);
        assert!(h.fault.is_none());
        assert_eq!(&body[h.request_seq.unwrap()], b"1");
        assert_eq!(&body[h.success.unwrap()], b"true");
        // A request written arguments-first (as VS Code does) is scanned through.
        let body =
            br#"{"command":"evaluate","arguments":{"expression":"\"}"},"type":"request","seq":12}"#;
        let h = head(body);
        assert_eq!(&body[h.seq.unwrap()], b"12");
        assert_eq!(text(body, &h.command).as_deref(), Some("evaluate"));
        // An event needs only its name.
        let body = br#"{"seq":1,"type":"event","event":"output","body":{"#;
        assert!(head(body).fault.is_none());
    }

    #[test]
    fn a_malformed_argument_does_not_hide_the_routing_fields() {
        let body = br#"{"command":"evaluate","arguments":{"expression":"\q","n":01},"type":"request","seq":3}"#;
        let h = head(body);
        assert!(h.fault.is_none());
        assert_eq!(&body[h.seq.unwrap()], b"3");
        assert!(json::check(body).is_err());
    }

    proptest! {
        #[test]
        fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = members(&bytes, Values::Extent).count();
            let h = head(&bytes);
            for r in [h.seq, h.kind, h.command, h.request_seq, h.event, h.success].into_iter().flatten() {
                prop_assert!(r.end <= bytes.len());
            }
        }
    }
}
