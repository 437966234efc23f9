//! `check` (the strict whole-body validator) by hand and against serde_json.

use proptest::prelude::*;

use super::super::check;

#[test]
fn long_strings_are_checked_at_every_position() {
    // The 32-bytes-at-a-time skip (after the first 16 bytes, read one by
    // one) must stop at whatever sits in any lane.
    let plain = "ab\u{e9}cdefghijklmnopqrstu\u{4e16}vwxyz0123".repeat(3);
    assert!(check(format!("\"{plain}\"").as_bytes()).is_ok());
    for at in 0..plain.len() {
        if !plain.is_char_boundary(at) {
            continue;
        }
        for (bad, ok) in [
            ("\u{1}", false),
            ("\\n", true),
            ("\\q", false),
            ("\"", false),
        ] {
            let text = format!("\"{}{bad}{}\"", &plain[..at], &plain[at..]);
            assert_eq!(check(text.as_bytes()).is_ok(), ok, "{text:?}");
        }
    }
}

#[test]
fn accepts_json_and_refuses_the_rest() {
    for good in [
        "{}",
        " [ ] ",
        "0",
        "-0.5e+10",
        "\"a\\u00e9\\n\"",
        "{\"a\":[1,{\"b\":null}],\"c\":true}",
        "[[[[[]]]]]",
    ] {
        assert_eq!(check(good.as_bytes()), Ok(()), "{good}");
    }
    for bad in [
        "",
        "{",
        "{]",
        "[}",
        "{\"a\"}",
        "{\"a\":1,}",
        "[1,]",
        "01",
        "1.",
        "-",
        "1e",
        "\"\\x\"",
        "\"\\u12\"",
        "\"\t\"",
        "tru",
        "{} {}",
        "{\"a\":1 \"b\":2}",
        "[1 2]",
        "{1:2}",
    ] {
        assert!(check(bad.as_bytes()).is_err(), "{bad:?} accepted");
    }
    assert!(check(b"\"\xff\"").is_err());
    // Deep nesting is refused (debugpy's reader would fail on it and drop
    // everyone's session), without recursion: 100,000 levels cost no stack.
    let deep = |n: usize| "[".repeat(n) + &"]".repeat(n);
    assert_eq!(check(deep(256).as_bytes()), Ok(()));
    assert!(check(deep(257).as_bytes()).is_err());
    assert!(check(deep(100_000).as_bytes()).is_err());
}

proptest! {
    /// Agrees with serde_json on JSON-ish text, where serde_json is not
    /// stricter than the grammar (huge numbers, lone surrogates: Python's
    /// json, debugpy's, takes them).
    #[test]
    fn agrees_with_serde(
        text in r#"[\[\]{}",:0-9a-z\\ .eE+-]{0,24}"#,
    ) {
        let serde = serde_json::from_str::<serde_json::Value>(&text);
        let stricter = serde.as_ref().is_err_and(|e| {
            let e = e.to_string();
            e.contains("out of range") || e.contains("surrogate")
        });
        if !stricter {
            prop_assert_eq!(check(text.as_bytes()).is_ok(), serde.is_ok(), "{}", text);
        }
    }
}
