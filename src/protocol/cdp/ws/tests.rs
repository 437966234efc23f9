use proptest::prelude::*;

use super::*;
use crate::protocol::cdp::mask;

const MAX: usize = 1 << 16;
const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A raw frame: `first` is FIN, RSV and opcode; masked with `key` if any.
pub(crate) fn raw(first: u8, payload: &[u8], key: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = vec![first];
    let m = if key.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n @ 0..=125 => out.push(m | n as u8),
        n @ 126..=65535 => {
            out.push(m | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(m | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    let mut body = payload.to_vec();
    if let Some(key) = key {
        out.extend_from_slice(&key);
        mask::apply(&mut body, key);
    }
    out.extend_from_slice(&body);
    out
}

/// A client's frame, as a browser sends it.
fn client(first: u8, payload: &[u8]) -> Vec<u8> {
    raw(first, payload, Some(KEY))
}

#[derive(Debug, PartialEq)]
enum Seen {
    Text(Vec<u8>),
    Reply(Vec<u8>),
    Close(Option<u16>, String),
    Fault(u16),
}

fn decode(role: Role, max: usize, pieces: &[&[u8]]) -> Vec<Seen> {
    let mut d = Decoder::new(role, max);
    let mut seen = Vec::new();
    for p in pieces {
        let r = d.feed(&Chunk::copy_from(p), |e| {
            seen.push(match e {
                Event::Text(c) => Seen::Text(c.to_vec()),
                Event::Reply(c) => Seen::Reply(c.to_vec()),
                Event::Close { code, reason } => Seen::Close(code, reason),
            })
        });
        if let Err(f) = r {
            seen.push(Seen::Fault(f.code));
            assert!(d.is_done());
        }
    }
    seen
}

fn server(bytes: &[u8]) -> Vec<Seen> {
    decode(Role::Server, MAX, &[bytes])
}

#[test]
fn node_frames_decode_to_its_answer_then_an_empty_close() {
    let bytes = include_bytes!("../transcripts/frames.bin");
    let want = vec![
        Seen::Text(
            br#"{"id":1,"result":{"result":{"type":"number","value":3,"description":"3"}}}"#
                .to_vec(),
        ),
        Seen::Close(None, String::new()),
    ];
    assert_eq!(decode(Role::Client, MAX, &[bytes]), want);
    for cut in 0..bytes.len() {
        let (a, b) = bytes.split_at(cut);
        assert_eq!(decode(Role::Client, MAX, &[a, b]), want, "cut at {cut}");
    }
    // Forwarded to a client, node's empty close stays empty: it reads 1005.
    assert_eq!(&close_frame(Role::Server, None, "")[..], b"\x88\x00");
}

#[test]
fn node_frames_are_slices_of_the_read_not_copies() {
    let chunk = Chunk::copy_from(include_bytes!("../transcripts/frames.bin"));
    let mut text = None;
    let _ = Decoder::new(Role::Client, MAX).feed(&chunk, |e| {
        if let Event::Text(c) = e {
            text = Some(c);
        }
    });
    let text = text.expect("a text message");
    assert_eq!(text.as_ptr(), chunk[2..].as_ptr());
}

#[test]
fn bad_frames_get_their_close_codes() {
    let cases: &[(&str, Vec<u8>, u16)] = &[
        ("unmasked", raw(0x81, b"{}", None), 1002),
        ("rsv1", client(0xc1, b"{}"), 1002),
        ("rsv3", client(0x91, b"{}"), 1002),
        ("reserved opcode", client(0x83, b"{}"), 1002),
        ("reserved control", client(0x8b, b""), 1002),
        ("ping over 125", client(0x89, &[b'x'; 126]), 1002),
        ("close over 125", client(0x88, &[b'x'; 126]), 1002),
        ("fragmented ping", client(0x09, b""), 1002),
        ("invalid UTF-8", client(0x81, b"\"\xff\""), 1007),
        ("binary", client(0x82, b"{}"), 1003),
        ("lone continuation", client(0x80, b"{}"), 1002),
        ("one-byte close", client(0x88, b"\x03"), 1002),
        ("close 1005", client(0x88, b"\x03\xed"), 1002),
        ("close 2999", client(0x88, b"\x0b\xb7"), 1002),
        (
            "close reason not UTF-8",
            client(0x88, b"\x03\xe8\xc0"),
            1007,
        ),
        ("over the limit", client(0x81, &vec![b' '; MAX + 1]), 1009),
    ];
    for (what, bytes, code) in cases {
        assert_eq!(server(bytes), [Seen::Fault(*code)], "{what}");
    }
    let mut text_in_text = client(0x01, b"[");
    text_in_text.extend(client(0x81, b"{}"));
    assert_eq!(server(&text_in_text), [Seen::Fault(1002)]);
    // From node the rule is the other way round.
    assert_eq!(
        decode(Role::Client, MAX, &[&client(0x81, b"{}")]),
        [Seen::Fault(1002)]
    );
}

#[test]
fn an_oversized_message_is_refused_at_its_header() {
    let bytes = client(0x81, &vec![b' '; MAX + 1]);
    assert_eq!(
        decode(Role::Server, MAX, &[&bytes[..14]]),
        [Seen::Fault(1009)]
    );
    // Fragments count together.
    let mut two = client(0x01, &vec![b' '; MAX / 2 + 1]);
    two.extend(client(0x80, &vec![b' '; MAX / 2]));
    assert_eq!(server(&two), [Seen::Fault(1009)]);
    // A 64-bit length with its top bit set is no panic either.
    let huge = [0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4];
    assert_eq!(server(&huge), [Seen::Fault(1009)]);
}

#[test]
fn pings_are_answered_with_pongs_even_between_fragments() {
    let mut bytes = client(0x01, b"{\"id\":1,");
    bytes.extend(client(0x89, b"hi"));
    bytes.extend(client(0x80, b"\"method\":\"a\"}"));
    bytes.extend(client(0x8a, b"unasked pong"));
    assert_eq!(
        server(&bytes),
        [
            Seen::Reply(b"\x8a\x02hi".to_vec()),
            Seen::Text(br#"{"id":1,"method":"a"}"#.to_vec()),
        ]
    );
}

#[test]
fn fragmented_text_is_assembled_even_when_utf8_is_split() {
    let text = "{\"s\":\"é€\"}".as_bytes();
    let mut bytes = Vec::new();
    let cuts = [0, 7, 8, 10, text.len()];
    for (i, w) in cuts.windows(2).enumerate() {
        let fin = if i == cuts.len() - 2 { 0x80 } else { 0 };
        let op = if i == 0 { 1 } else { 0 };
        bytes.extend(client(fin | op, &text[w[0]..w[1]]));
    }
    assert_eq!(server(&bytes), [Seen::Text(text.to_vec())]);
}

#[test]
fn close_codes_and_reasons_are_reported() {
    assert_eq!(
        server(&client(0x88, b"\x03\xe9bye")),
        [Seen::Close(Some(1001), "bye".into())]
    );
    assert_eq!(
        server(&client(0x88, b"")),
        [Seen::Close(None, String::new())]
    );
    // Nothing is read after a close.
    let mut bytes = client(0x88, b"");
    bytes.extend(client(0x81, b"{}"));
    assert_eq!(server(&bytes), [Seen::Close(None, String::new())]);
}

#[test]
fn frames_we_write_decode_on_the_other_side() {
    let payload = [
        Chunk::copy_from(b"{\"id\":1,"),
        Chunk::copy_from(b"\"method\":\"m\"}"),
    ];
    let want = vec![Seen::Text(br#"{"id":1,"method":"m"}"#.to_vec())];
    // To node: masked with the zero key, the payload's chunks unchanged.
    let to_node = text_frame(Role::Client, &payload);
    assert_eq!(&to_node.parts()[0][..], b"\x81\x95\0\0\0\0");
    assert_eq!(to_node.parts()[1].as_ptr(), payload[0].as_ptr());
    assert_eq!(decode(Role::Server, MAX, &[&to_node.to_vec()]), want);
    // To a client: unmasked.
    let to_client = text_frame(Role::Server, &payload).to_vec();
    assert_eq!(to_client[..2], [0x81, 21]);
    assert_eq!(decode(Role::Client, MAX, &[&to_client]), want);
    // Long lengths take the 16- and 64-bit forms.
    for n in [125, 126, 65535, 65536, 70000] {
        let big = Chunk::copy_from(&vec![b'x'; n]);
        let framed = text_frame(Role::Server, &[big]).to_vec();
        assert_eq!(
            decode(Role::Client, 1 << 20, &[&framed]),
            [Seen::Text(vec![b'x'; n])]
        );
    }
    // A masked frame with a real key round-trips at any length.
    for n in [0, 1, 7, 8, 9, 200] {
        let text = vec![b'a'; n];
        assert_eq!(server(&client(0x81, &text)), [Seen::Text(text)]);
    }
}

#[test]
fn close_frames_fit_a_control_frame() {
    let long = "é".repeat(100);
    let f = close_frame(Role::Server, Some(code::POLICY), &long);
    assert_eq!(f[1] as usize, f.len() - 2);
    assert!(f.len() - 2 <= 125);
    assert_eq!(
        decode(Role::Client, MAX, &[&f]),
        [Seen::Close(Some(1008), "é".repeat(61))]
    );
}

/// A stream of valid client frames: fragmented text, pings, pongs.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    let frame = (
        0u8..4,
        proptest::collection::vec(any::<u8>(), 0..300),
        any::<[u8; 4]>(),
    );
    proptest::collection::vec(frame, 0..8).prop_map(|frames| {
        let mut out = Vec::new();
        for (kind, payload, key) in frames {
            let text: Vec<u8> = payload.iter().map(|b| b'a' + b % 26).collect();
            match kind {
                0 => out.extend(raw(0x81, &text, Some(key))),
                1 => {
                    let (a, b) = text.split_at(text.len() / 2);
                    out.extend(raw(0x01, a, Some(key)));
                    out.extend(raw(0x89, &payload[..payload.len().min(125)], Some(key)));
                    out.extend(raw(0x80, b, Some(key)));
                }
                2 => out.extend(raw(0x89, &payload[..payload.len().min(125)], Some(key))),
                _ => out.extend(raw(0x8a, &payload[..payload.len().min(125)], Some(key))),
            }
        }
        out
    })
}

proptest! {
    #[test]
    fn any_bytes_in_any_split_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
        cuts in proptest::collection::vec(any::<usize>(), 0..4),
        role in prop_oneof![Just(Role::Server), Just(Role::Client)],
    ) {
        let whole = decode(role, 256, &[&bytes]);
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        cuts.sort();
        let mut pieces = Vec::new();
        let mut from = 0;
        for c in cuts {
            pieces.push(&bytes[from..c]);
            from = c;
        }
        pieces.push(&bytes[from..]);
        prop_assert_eq!(decode(role, 256, &pieces), whole);
    }

    #[test]
    fn a_valid_stream_split_anywhere_decodes_the_same(bytes in stream(), cut in any::<usize>()) {
        let whole = server(&bytes);
        prop_assert!(!whole.iter().any(|s| matches!(s, Seen::Fault(_))), "{:?}", whole);
        let cut = cut % (bytes.len() + 1);
        prop_assert_eq!(decode(Role::Server, MAX, &[&bytes[..cut], &bytes[cut..]]), whole);
    }
}
