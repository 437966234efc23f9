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
