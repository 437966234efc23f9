//! The value helpers on values as the scanner delimits them.

use std::ops::Range;

use super::super::*;

/// `read` applied to `value` as a whole body.
fn whole<T>(read: impl Fn(&[u8], &Option<Range<usize>>) -> T, value: &[u8]) -> T {
    read(value, &Some(0..value.len()))
}

#[test]
fn values_decode() {
    assert_eq!(whole(int, b"42"), Some(42));
    assert_eq!(whole(int, b"-7"), Some(-7));
    assert_eq!(whole(int, b"1.5"), None);
    assert_eq!(whole(int, b"1e3"), None);
    assert_eq!(whole(int, b"-"), None);
    assert_eq!(whole(int, b"99999999999999999999"), None);
    assert_eq!(whole(unsigned, b"18446744073709551615"), Some(u64::MAX));
    assert_eq!(whole(unsigned, b"-1"), None);
    assert!(whole(number, b"1.5").is_some() && whole(number, b"\"1\"").is_none());
    assert_eq!(string(br#""a\nb""#).as_deref(), Some("a\nb"));
    assert_eq!(string(br#""plain""#).as_deref(), Some("plain"));
    assert_eq!(string(b"3"), None);
    assert_eq!(whole(text, br#""a\u00e9""#).as_deref(), Some("a\u{e9}"));
    let escaped = br#""a\nb""#;
    assert_eq!(plain_str(escaped, &Some(0..escaped.len())), None);
    assert_eq!(whole(boolean, b"true"), Some(true));
    assert_eq!(whole(boolean, b"1"), None);
    assert_eq!(int(b"1", &None), None);
}
