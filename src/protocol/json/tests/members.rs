//! `members` (the DAP reader) in both of its ways of reading values.

use proptest::prelude::*;
use serde_json::{Map, Value};

use super::super::*;

const BOTH: [Values; 2] = [Values::Extent, Values::Checked { max_depth: 64 }];

fn all(input: &str, how: Values) -> Result<Vec<(String, String)>, Fault> {
    members(input.as_bytes(), how)
        .map(|m| m.map(|(k, r)| (k.name().unwrap().into_owned(), input[r].to_string())))
        .collect()
}

#[test]
fn members_skip_nesting_strings_and_whitespace() {
    let input = " {\n\t\"a\" : {\"x\": [1, {\"y\": \"}]\"}], \"z\": {}} ,\"b\":\"q\\\"uo}te\\\\\",\r\n\"c\":-1.5e+3,\"d\":[],\"e\":true,\"f\":null , \"g\":false} \n";
    let want = [
        ("a", r#"{"x": [1, {"y": "}]"}], "z": {}}"#),
        ("b", r#""q\"uo}te\\""#),
        ("c", "-1.5e+3"),
        ("d", "[]"),
        ("e", "true"),
        ("f", "null"),
        ("g", "false"),
    ];
    for how in BOTH {
        let got = all(input, how).unwrap();
        assert_eq!(
            got,
            want.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        );
        assert_eq!(all("{}", how).unwrap(), vec![]);
        assert_eq!(all(" { } ", how).unwrap(), vec![]);
    }
}

#[test]
fn escaped_keys_are_decoded_and_raw_is_as_written() {
    let body = br#"{"se\u0071":1,"a\"b":2}"#;
    let got = all(std::str::from_utf8(body).unwrap(), Values::Extent).unwrap();
    assert_eq!(got[0], ("seq".to_string(), "1".to_string()));
    assert_eq!(got[1].0, "a\"b");
    let (key, _) = members(body, Values::Extent).next().unwrap().unwrap();
    assert_eq!(key.raw(), br"se\u0071");
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
        for how in BOTH {
            let r: Result<Vec<_>, _> = members(bad.as_bytes(), how).collect();
            assert!(r.is_err(), "{bad:?} scanned as {:?}", r);
        }
    }
}

#[test]
fn extent_passes_over_what_checked_refuses() {
    // What DAP relies on: a client's request with a malformed value before
    // its routing fields is still recognised (and answered with an error).
    let body = "{\"a\":01,\"b\":\"\\q\x01\",\"c\":[1 2},\"d\":1-2,\"seq\":1}";
    let got = all(body, Values::Extent).unwrap();
    assert_eq!(got.last().unwrap(), &("seq".to_string(), "1".to_string()));
    for cut in ["\"c\"", "\"b\"", "\"d\""] {
        let at = body.find(cut).unwrap();
        let one = format!("{{{}", &body[at..]);
        assert!(
            all(&one, Values::Checked { max_depth: 64 }).is_err(),
            "{one}"
        );
    }
    assert!(all(body, Values::Checked { max_depth: 64 }).is_err());
    let deep = format!("{{\"a\":{}{}}}", "[".repeat(65), "]".repeat(65));
    assert!(all(&deep, Values::Checked { max_depth: 64 }).is_err());
    assert!(all(&deep, Values::Extent).is_ok());
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
        // What serde reads back (its float printing does not always round-trip).
        let Value::Object(seen) = serde_json::from_str(&text).unwrap() else { unreachable!() };
        prop_assert_eq!(seen.len(), map.len());
        let seen: Vec<(String, Value)> = seen.into_iter().collect();
        for how in BOTH {
            let scanned: Vec<(String, Value)> = members(text.as_bytes(), how)
                .map(|m| {
                    let (k, r) = m.unwrap();
                    (k.name().unwrap().into_owned(), serde_json::from_str(&text[r]).unwrap())
                })
                .collect();
            prop_assert_eq!(&scanned, &seen);
        }
    }

    #[test]
    fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        for how in BOTH {
            for m in members(&bytes, how) {
                let Ok((_, r)) = m else { break };
                prop_assert!(r.end <= bytes.len());
            }
        }
    }

    #[test]
    fn truncation_is_a_fault(value in json_value(), cut in any::<prop::sample::Index>()) {
        let text = serde_json::to_string(&serde_json::json!({"k": value, "seq": 1})).unwrap();
        let cut = cut.index(text.len());
        for how in BOTH {
            let r: Result<Vec<_>, _> = members(&text.as_bytes()[..cut], how).collect();
            prop_assert!(r.is_err());
        }
    }
}
