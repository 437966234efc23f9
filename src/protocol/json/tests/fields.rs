//! `fields` (the V8 reader) checked by hand and against serde_json.

use super::super::*;
use proptest::prelude::*;
use serde_json::Value;

#[test]
fn finds_top_level_keys_only() {
    let b = br#"{"body":{"seq":9,"a":[1,{"seq":8}]},"seq":12,"type":"request"}"#;
    let [seq, ty, rs] = fields(b, ["seq", "type", "request_seq"], Until::End).unwrap();
    assert_eq!(&b[seq.clone().unwrap()], b"12");
    assert_eq!(unsigned(b, &seq), Some(12));
    assert_eq!(plain_str(b, &ty), Some(&b"request"[..]));
    assert!(rs.is_none());
}

#[test]
fn stops_early_when_found_and_ignores_what_follows() {
    let b = br#"{"seq":1,"type":"event", garbage"#;
    let [seq, ty] = fields(b, ["seq", "type"], Until::Found).unwrap();
    assert_eq!(unsigned(b, &seq), Some(1));
    assert!(ty.is_some());
    assert!(fields(b, ["seq", "type"], Until::End).is_err());
}

#[test]
fn refuses_what_is_not_one_object() {
    for b in [
        &b""[..],
        b"[]",
        b"not json",
        b"{\"a\":1}x",
        b"{\"a\":01}",
        b"{\"a\":\"\x01\"}",
        b"{\"a\":[1,]}",
        b"{\"a\" 1}",
        b"{\"a\":tru}",
        b"{\"a\":\"\\x\"}",
        b"{\"a\":\xff}",
        b"{\"a\":\"\xff\"}",
    ] {
        assert!(fields(b, ["a"], Until::End).is_err(), "{:?}", b);
    }
    let deep = format!("{{\"a\":{}{}}}", "[".repeat(300), "]".repeat(300));
    assert!(fields(deep.as_bytes(), ["a"], Until::End).is_err());
}

#[test]
fn the_last_duplicate_counts_when_reading_to_the_end() {
    let b = br#"{"seq":1,"seq":2}"#;
    assert_eq!(
        unsigned(b, &fields(b, ["seq"], Until::End).unwrap()[0]),
        Some(2)
    );
    assert_eq!(
        unsigned(b, &fields(b, ["seq"], Until::Found).unwrap()[0]),
        Some(1)
    );
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        // serde_json reads back large exponents inexactly without its
        // float_roundtrip feature: keep to values it round-trips.
        (any::<i32>(), 0..4i32).prop_map(|(m, e)| Value::from(m as f64 / 10f64.powi(e))),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("(seq|type|command|[a-z\"\\\\é]{0,6})", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn object() -> impl Strategy<Value = (Value, bool)> {
    (
        prop::collection::btree_map("(seq|type|command|[a-z\"é]{0,6})", json_value(), 0..8),
        any::<bool>(),
    )
        .prop_map(|(m, pretty)| (Value::Object(m.into_iter().collect()), pretty))
}

proptest! {
    #[test]
    fn agrees_with_serde_json((v, pretty) in object()) {
        let text = if pretty {
            serde_json::to_string_pretty(&v).unwrap()
        } else {
            serde_json::to_string(&v).unwrap()
        };
        let b = text.as_bytes();
        let map = v.as_object().unwrap();
        for until in [Until::Found, Until::End] {
            let [seq, ty, cmd] = fields(b, ["seq", "type", "command"], until).unwrap();
            for (key, range) in [("seq", seq), ("type", ty), ("command", cmd)] {
                match (map.get(key), range) {
                    (None, None) => {}
                    (Some(want), Some(r)) => {
                        let got: Value = serde_json::from_slice(&b[r]).unwrap();
                        prop_assert_eq!(&got, want);
                    }
                    (want, got) => prop_assert!(false, "{key}: {want:?} vs {got:?}"),
                }
            }
        }
    }

    #[test]
    fn never_panics_and_accepts_whatever_serde_accepts(b in prop::collection::vec(any::<u8>(), 0..64)) {
        let ours = fields(&b, ["seq"], Until::End);
        if let Ok(Value::Object(_)) = serde_json::from_slice::<Value>(&b) {
            prop_assert!(ours.is_ok());
        }
    }

    #[test]
    fn mutated_objects_are_judged_like_serde((v, _) in object(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut b = serde_json::to_vec(&v).unwrap();
        let i = at.index(b.len());
        b[i] = byte;
        let ours = fields(&b, ["seq"], Until::End);
        if let Ok(Value::Object(_)) = serde_json::from_slice::<Value>(&b) {
            prop_assert!(ours.is_ok());
        }
    }
}
