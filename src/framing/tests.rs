use proptest::prelude::*;

use super::*;

const MAX: usize = 1 << 20;

fn assemble(
    protocol: Protocol,
    dir: Direction,
    pieces: &[&[u8]],
) -> Result<Vec<Message>, BadFraming> {
    let mut a = Assembler::new(protocol, dir, MAX);
    let mut out = Vec::new();
    for p in pieces {
        a.feed(Chunk::copy_from(p), |m| out.push(m))?;
    }
    Ok(out)
}

fn bodies(messages: &[Message]) -> Vec<Vec<u8>> {
    messages.iter().map(Message::to_vec).collect()
}

fn content_length(body: &[u8]) -> Vec<u8> {
    let mut m = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    m.extend_from_slice(body);
    m
}

fn dbgp_packet(xml: &[u8]) -> Vec<u8> {
    let mut m = format!("{}\0", xml.len()).into_bytes();
    m.extend_from_slice(xml);
    m.push(0);
    m
}

#[test]
fn v8_connect_handshake_is_one_message_with_an_empty_body() {
    let hello = b"Type: connect\r\nV8-Version: 5.1.281.111\r\nProtocol-Version: 1\r\nEmbedding-Host: node v6.17.1\r\nContent-Length: 0\r\n\r\n";
    let ms = assemble(Protocol::V8, Direction::FromDebugger, &[hello]).unwrap();
    assert_eq!(ms.len(), 1);
    assert!(ms[0].empty_body);
    assert_eq!(ms[0].to_vec(), hello);
}

#[test]
fn content_length_messages_survive_every_split_point() {
    let mut stream = content_length(b"{\"seq\":1}");
    stream.extend(content_length(b"{}"));
    stream.extend(b"Type: connect\r\nContent-Length: 0\r\n\r\n");
    for cut in 0..=stream.len() {
        let ms = assemble(
            Protocol::Dap,
            Direction::ToDebugger,
            &[&stream[..cut], &stream[cut..]],
        )
        .unwrap();
        assert_eq!(ms.len(), 3, "cut at {cut}");
        assert_eq!(bodies(&ms).concat(), stream);
        assert!(ms[2].empty_body && !ms[0].empty_body);
    }
}

#[test]
fn content_length_errors_say_what_is_wrong() {
    let bad = |input: &[u8]| {
        assemble(Protocol::V8, Direction::ToDebugger, &[input])
            .unwrap_err()
            .what
    };
    assert_eq!(
        bad(b"Content-Length: abc\r\n\r\n"),
        "Content-Length \"abc\" is not a number"
    );
    assert_eq!(
        bad(b"Content-Length: -1\r\n\r\n"),
        "Content-Length \"-1\" is not a number"
    );
    assert!(bad(b"Content-Length: 99999999999\r\n\r\n").contains("over the 1048576 byte limit"));
    assert_eq!(bad(b"X: y\r\n\r\n"), "headers without a Content-Length");
    assert!(bad(b"no colon here\r\n").starts_with("malformed header line"));
    assert_eq!(
        bad(b"Content-Length: 1\r\nContent-Length: 2\r\n\r\n"),
        "two different Content-Length headers"
    );
    let long = [b'x'; MAX_HEADER_LINE + 1];
    assert_eq!(bad(&long), "header line over 8192 bytes");
}

#[test]
fn a_long_header_line_is_refused_before_its_end_arrives() {
    let mut a = Assembler::new(Protocol::Dap, Direction::ToDebugger, MAX);
    let piece = Chunk::copy_from(&[b'a'; 1000]);
    let mut result = Ok(());
    for _ in 0..9 {
        result = result.and_then(|()| a.feed(piece.clone(), |_| {}));
    }
    assert!(result.is_err(), "a header line may not grow without bound");
}

#[test]
fn dbgp_packets_and_commands() {
    let init = dbgp_packet(b"<?xml version=\"1.0\"?>\n<init appid=\"1\"/>");
    let resp = dbgp_packet(b"<response transaction_id=\"1\"/>");
    let stream = [init.clone(), resp.clone()].concat();
    for cut in 0..=stream.len() {
        let ms = assemble(
            Protocol::Dbgp,
            Direction::FromDebugger,
            &[&stream[..cut], &stream[cut..]],
        )
        .unwrap();
        assert_eq!(
            bodies(&ms),
            vec![init.clone(), resp.clone()],
            "cut at {cut}"
        );
    }
    let ms = assemble(
        Protocol::Dbgp,
        Direction::ToDebugger,
        &[b"run -i 1\0stack_", b"get -i 2\0"],
    )
    .unwrap();
    assert_eq!(
        bodies(&ms),
        vec![b"run -i 1\0".to_vec(), b"stack_get -i 2\0".to_vec()]
    );
    let bad = |input: &[u8]| {
        assemble(Protocol::Dbgp, Direction::FromDebugger, &[input])
            .unwrap_err()
            .what
    };
    assert_eq!(bad(b"12x\0"), "byte 0x78 in a packet length");
    assert_eq!(bad(b"\0"), "empty packet length");
    assert_eq!(bad(b"3\0abcd"), "packet not terminated by NUL");
    assert!(bad(b"99999999999999999999999\0").contains("over the 1048576 byte limit"));
}

#[test]
fn gdb_lines_and_the_prompt() {
    let stream =
        b"=thread-group-added,id=\"i1\"\n~\"Reading symbols\"\r\n(gdb) \n1^done\n(gdb)\r\n";
    for cut in 0..=stream.len() {
        let ms = assemble(
            Protocol::GdbMi,
            Direction::FromDebugger,
            &[&stream[..cut], &stream[cut..]],
        )
        .unwrap();
        let prompts: Vec<bool> = ms.iter().map(|m| m.prompt).collect();
        assert_eq!(prompts, [false, false, true, false, true], "cut at {cut}");
        assert_eq!(bodies(&ms).concat(), stream);
    }
    let mut a = Assembler::new(Protocol::GdbMi, Direction::ToDebugger, 16);
    let err = a.feed(Chunk::copy_from(&[b'x'; 17]), |_| {}).unwrap_err();
    assert_eq!(
        err.what,
        "line over the 16 byte limit (--max-client-message)"
    );
}

#[test]
fn errors_show_the_offending_bytes_escaped() {
    let e = assemble(
        Protocol::V8,
        Direction::FromDebugger,
        &[b"Content-Length: 1\x01\r\n\r\n"],
    )
    .unwrap_err();
    assert!(e.excerpt.contains("\\x01\\r\\n"), "{}", e.excerpt);
}

#[test]
fn raw_passes_every_chunk_as_it_comes() {
    let ms = assemble(Protocol::Raw, Direction::FromDebugger, &[b"ab", b"", b"c"]).unwrap();
    assert_eq!(bodies(&ms), vec![b"ab".to_vec(), b"c".to_vec()]);
}

/// A protocol and direction with a valid encoding of arbitrary message contents.
fn encode(protocol: Protocol, dir: Direction, body: &[u8]) -> Vec<u8> {
    match (protocol, dir) {
        (Protocol::V8 | Protocol::Dap, _) => content_length(body),
        (Protocol::Cdp, _) => unreachable!("WebSocket framing is tested in protocol::cdp::ws"),
        (Protocol::Dbgp, Direction::FromDebugger) => dbgp_packet(body),
        (Protocol::Dbgp, Direction::ToDebugger) => {
            let mut m: Vec<u8> = body
                .iter()
                .map(|&b| if b == 0 { b'0' } else { b })
                .collect();
            m.push(0);
            m
        }
        (Protocol::GdbMi, _) => {
            let mut m: Vec<u8> = body
                .iter()
                .map(|&b| if b == b'\n' { b'n' } else { b })
                .collect();
            m.push(b'\n');
            m
        }
        (Protocol::Raw, _) => body.to_vec(),
    }
}

fn framed() -> impl Strategy<Value = (Protocol, Direction)> {
    prop_oneof![
        Just((Protocol::V8, Direction::FromDebugger)),
        Just((Protocol::Dap, Direction::ToDebugger)),
        Just((Protocol::Dbgp, Direction::FromDebugger)),
        Just((Protocol::Dbgp, Direction::ToDebugger)),
        Just((Protocol::GdbMi, Direction::FromDebugger)),
        Just((Protocol::GdbMi, Direction::ToDebugger)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// However the stream is cut, the same messages come out.
    #[test]
    fn any_chunking_gives_the_same_messages(
        (protocol, dir) in framed(),
        contents in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 1..20),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let messages: Vec<Vec<u8>> = contents.iter().map(|c| encode(protocol, dir, c)).collect();
        let stream = messages.concat();
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
        points.push(0);
        points.push(stream.len());
        points.sort_unstable();
        let pieces: Vec<&[u8]> = points.windows(2).map(|w| &stream[w[0]..w[1]]).collect();
        let got = assemble(protocol, dir, &pieces).unwrap();
        prop_assert_eq!(bodies(&got), messages);
    }

    /// Garbage never panics, and what is held never exceeds the bounds.
    #[test]
    fn random_bytes_never_panic_or_grow_past_the_bounds(
        (protocol, dir) in framed(),
        pieces in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..2000), 1..20),
    ) {
        let max = 4096;
        let mut a = Assembler::new(protocol, dir, max);
        for p in pieces {
            if a.feed(Chunk::copy_from(&p), |m| assert!(m.len <= max + MAX_HEADERS)).is_err() {
                break;
            }
            prop_assert!(a.pending() <= max + MAX_HEADERS);
        }
    }
}
