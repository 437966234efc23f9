//! What a value found by the scanner holds: each helper takes the body and
//! the value's range as a scan returned it (`None` when the key was absent)
//! and answers `None` when the value is not of its kind.

use std::borrow::Cow;
use std::ops::Range;
use std::str::FromStr;

/// The value's range when it is a JSON number.
pub fn number(body: &[u8], range: &Option<Range<usize>>) -> Option<Range<usize>> {
    let r = range.clone()?;
    matches!(body.get(r.start), Some(b'-' | b'0'..=b'9')).then_some(r)
}

/// A JSON integer (no fraction, no exponent) that fits an i64.
pub fn int(body: &[u8], range: &Option<Range<usize>>) -> Option<i64> {
    integer(body, range)
}

/// A JSON integer that fits a u64.
pub fn unsigned(body: &[u8], range: &Option<Range<usize>>) -> Option<u64> {
    integer(body, range)
}

fn integer<T: FromStr>(body: &[u8], range: &Option<Range<usize>>) -> Option<T> {
    let value = &body[range.clone()?];
    let digits = value.strip_prefix(b"-").unwrap_or(value);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// Whether the value is the literal `true` (`Some(false)` for `false`).
pub fn boolean(body: &[u8], range: &Option<Range<usize>>) -> Option<bool> {
    match &body[range.clone()?] {
        b"true" => Some(true),
        b"false" => Some(false),
        _ => None,
    }
}

/// The contents of a string value without escapes (command names, event
/// names, `type`), or `None`.
pub fn plain_str<'a>(body: &'a [u8], range: &Option<Range<usize>>) -> Option<&'a [u8]> {
    let inner = body[range.clone()?]
        .strip_prefix(b"\"")?
        .strip_suffix(b"\"")?;
    (!inner.contains(&b'\\')).then_some(inner)
}

/// The text of the string at `range` in `body`, if that is a string.
pub fn text(body: &[u8], range: &Option<Range<usize>>) -> Option<String> {
    string(&body[range.clone()?]).map(Cow::into_owned)
}

/// A JSON string's text (`value` is the string with its quotes); borrowed
/// unless it has escapes.
pub fn string(value: &[u8]) -> Option<Cow<'_, str>> {
    let inner = value.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    if !inner.contains(&b'\\') {
        return std::str::from_utf8(inner).ok().map(Cow::Borrowed);
    }
    serde_json::from_slice::<String>(value).ok().map(Cow::Owned)
}
