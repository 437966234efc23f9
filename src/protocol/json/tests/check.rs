//! `check` (the strict whole-body validator) by hand and against serde_json.

use proptest::prelude::*;

use super::super::check;

#[test]
fn long_strings_are_checked_at_every_position() {
    // The 64-bytes-at-a-time skip (after the first 16 bytes, read one by
    // one) must stop at whatever sits in any lane, and UTF-8 is checked
    // wherever a non-ASCII byte is met.
    let plain = "ab\u{e9}cdefghijklmnopqrstu\u{4e16}vwxyz0123".repeat(6);
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
            ("\u{10348}", true),
            ("\u{ff}\u{ff}", true),
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
    assert!(check("[\"\u{e9}\"]".as_bytes()).is_ok());
    assert!(
        check("[\u{e9}]".as_bytes()).is_err(),
        "non-ASCII outside a string"
    );
    // Deep nesting is refused (debugpy's reader would fail on it and drop
    // everyone's session), without recursion: 100,000 levels cost no stack.
    let deep = |n: usize| "[".repeat(n) + &"]".repeat(n);
    assert_eq!(check(deep(256).as_bytes()), Ok(()));
    assert!(check(deep(257).as_bytes()).is_err());
    assert!(check(deep(100_000).as_bytes()).is_err());
}

#[test]
fn bad_utf8_in_a_long_string_is_found_anywhere() {
    let plain = "p".repeat(300);
    for bad in [
        &b"\xff"[..],
        b"\x80",
        b"\xc0\xaf",         // overlong
        b"\xe0\x80\xaf",     // overlong
        b"\xed\xa0\x80",     // a surrogate
        b"\xf4\x90\x80\x80", // past U+10FFFF
        b"\xe4\xb8",         // cut short by the closing quote
        b"\xc3",
    ] {
        for at in [0, 1, 15, 16, 17, 63, 64, 79, 80, 81, 150, 299] {
            let mut text = b"\"".to_vec();
            text.extend_from_slice(&plain.as_bytes()[..at]);
            text.extend_from_slice(bad);
            text.extend_from_slice(&plain.as_bytes()[at..]);
            text.push(b'"');
            let fault = check(&text).expect_err("bad UTF-8 accepted");
            assert_eq!(
                (fault.what, fault.at),
                ("not UTF-8", at + 1),
                "{bad:?} at {at}"
            );
        }
    }
    // At the very end of the body, with no closing quote.
    assert!(check(b"\"ab\xe4\xb8").is_err());
}

proptest! {
    /// UTF-8 is checked where the scan meets a non-ASCII byte, not in a
    /// pass of its own: any bytes in a string are judged as serde_json,
    /// which reads the whole body, judges them.
    #[test]
    fn judges_string_bytes_as_serde_does(
        head in "[a-z]{0,80}",
        bytes in proptest::collection::vec(any::<u8>(), 0..12),
        tail in "[a-z]{0,80}",
    ) {
        let mut text = format!("{{\"k\":\"{head}").into_bytes();
        text.extend_from_slice(&bytes);
        text.extend_from_slice(format!("{tail}\"}}").as_bytes());
        let serde = serde_json::from_slice::<serde_json::Value>(&text);
        let stricter = serde.as_ref().is_err_and(|e| e.to_string().contains("surrogate"));
        if !stricter {
            prop_assert_eq!(check(&text).is_ok(), serde.is_ok(), "{:?}", String::from_utf8_lossy(&text));
        }
    }

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
