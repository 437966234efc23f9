use proptest::prelude::*;
use serde_json::{Map, Value};

use super::*;

fn all(input: &str) -> Result<Vec<(String, String)>, Fault> {
    members(input.as_bytes())
        .map(|m| m.map(|(k, r)| (k.name().unwrap().into_owned(), input[r].to_string())))
        .collect()
}

#[test]
fn members_skip_nesting_strings_and_whitespace() {
    let input = " {\n\t\"a\" : {\"x\": [1, {\"y\": \"}]\"}], \"z\": {}} ,\"b\":\"q\\\"uo}te\\\\\",\r\n\"c\":-1.5e+3,\"d\":[],\"e\":true,\"f\":null , \"g\":false} \n";
    let got = all(input).unwrap();
    let want = [
        ("a", r#"{"x": [1, {"y": "}]"}], "z": {}}"#),
        ("b", r#""q\"uo}te\\""#),
        ("c", "-1.5e+3"),
        ("d", "[]"),
        ("e", "true"),
        ("f", "null"),
        ("g", "false"),
    ];
    assert_eq!(
        got,
        want.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
    );
    assert_eq!(all("{}").unwrap(), vec![]);
    assert_eq!(all(" { } ").unwrap(), vec![]);
}

#[test]
fn escaped_keys_are_decoded() {
    let got = all(r#"{"se\u0071":1,"a\"b":2}"#).unwrap();
    assert_eq!(got[0], ("seq".to_string(), "1".to_string()));
    assert_eq!(got[1].0, "a\"b");
    let h = head(br#"{"se\u0071":7,"type":"event","event":"x"}"#);
    assert!(h.seq.is_some() && h.fault.is_none());
}

#[test]
fn faults_are_reported_not_panicked() {
    for bad in [
        "",
        "[1]",
        "\"s\"",
        "{",
        "{\"a\"",
        "{\"a\":",
        "{\"a\":1",
        "{\"a\":1,",
        "{\"a\" 1}",
        "{a:1}",
        "{\"a\":tru}",
        "{\"a\":-}",
        "{\"a\":\"x",
        "{\"a\":\"x\\",
        "{\"a\":[1,{\"b\":2}",
        "{\"a\":1}x",
        "{\"a\":1 \"b\":2}",
        "{\"a\":@}",
    ] {
        let r: Result<Vec<_>, _> = members(bad.as_bytes()).collect();
        assert!(r.is_err(), "{bad:?} scanned as {:?}", r);
    }
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
fn values_decode() {
    assert_eq!(int(b"42"), Some(42));
    assert_eq!(int(b"-7"), Some(-7));
    assert_eq!(int(b"1.5"), None);
    assert_eq!(int(b"1e3"), None);
    assert_eq!(int(b"-"), None);
    assert_eq!(int(b"99999999999999999999"), None);
    assert!(is_number(b"1.5") && !is_number(b"\"1\""));
    assert_eq!(string(br#""a\nb""#).as_deref(), Some("a\nb"));
    assert_eq!(string(br#""plain""#).as_deref(), Some("plain"));
    assert_eq!(string(b"3"), None);
    assert_eq!(boolean(b"true"), Some(true));
    assert_eq!(boolean(b"1"), None);
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".*".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(".*", inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn scans_the_keys_serde_sees(
        map in prop::collection::btree_map(".*", json_value(), 0..10),
        pretty in any::<bool>(),
    ) {
        let map: Map<String, Value> = map.into_iter().collect();
        let value = Value::Object(map.clone());
        let text = if pretty {
            serde_json::to_string_pretty(&value).unwrap()
        } else {
            serde_json::to_string(&value).unwrap()
        };
        let scanned: Vec<(String, Value)> = members(text.as_bytes())
            .map(|m| {
                let (k, r) = m.unwrap();
                (k.name().unwrap().into_owned(), serde_json::from_str(&text[r]).unwrap())
            })
            .collect();
        // What serde reads back (its float printing does not always round-trip).
        let Value::Object(seen) = serde_json::from_str(&text).unwrap() else { unreachable!() };
        prop_assert_eq!(seen.len(), map.len());
        let seen: Vec<(String, Value)> = seen.into_iter().collect();
        prop_assert_eq!(scanned, seen);
    }

    #[test]
    fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = members(&bytes).count();
        let h = head(&bytes);
        for r in [h.seq, h.kind, h.command, h.request_seq, h.event, h.success].into_iter().flatten() {
            prop_assert!(r.end <= bytes.len());
        }
    }

    #[test]
    fn truncation_is_a_fault(value in json_value(), cut in any::<prop::sample::Index>()) {
        let text = serde_json::to_string(&serde_json::json!({"k": value, "seq": 1})).unwrap();
        let cut = cut.index(text.len());
        let r: Result<Vec<_>, _> = members(&text.as_bytes()[..cut]).collect();
        prop_assert!(r.is_err());
    }
}
