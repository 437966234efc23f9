//! However the bytes come, the reader never panics, and where a command
//! ends does not depend on how it was cut.

use proptest::prelude::*;

use super::*;
use crate::protocol::dbgp_proxy::command::{Read, Request};

/// Feeds `data` cut at `cuts`, all at one instant, then closes.
fn read_cut(data: &[u8], cuts: &[prop::sample::Index]) -> Read {
    let now = Instant::now();
    let mut points: Vec<usize> = cuts.iter().map(|i| i.index(data.len() + 1)).collect();
    points.extend([0, data.len()]);
    points.sort_unstable();
    let mut r = Reader::new(Limits::new(SILENT), now);
    for w in points.windows(2) {
        if let Some(read) = r.feed(&data[w[0]..w[1]], now) {
            return read;
        }
    }
    r.half_closed(now)
        .expect("a reader not done answers a close")
}

/// A value as an IDE might write it: bare, or quoted with escapes.
fn written(value: &str, quoted: bool) -> String {
    if quoted {
        format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        value.to_owned()
    }
}

fn key() -> impl Strategy<Value = (String, bool)> {
    prop_oneof![
        "[A-Za-z0-9_.-]{1,40}".prop_map(|k| (k, false)),
        "[ -~é]{1,40}".prop_map(|k| (k, true)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_bytes_any_cut_same_result(
        data in prop::collection::vec(any::<u8>(), 0..1500),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let whole = read_cut(&data, &[]);
        prop_assert_eq!(&read_cut(&data, &cuts), &whole);
        let mut reg = Registry::new(MAX, None);
        let a = answer(whole, "127.0.0.1".parse().unwrap(), Peer::Owner(ALICE), &mut reg, Instant::now());
        if let Some(reply) = a.reply {
            let nul = reply.iter().position(|&b| b == 0).unwrap();
            let len: usize = std::str::from_utf8(&reply[..nul]).unwrap().parse().unwrap();
            prop_assert_eq!(len + nul + 2, reply.len());
        }
    }

    #[test]
    fn a_valid_command_reads_the_same_however_cut(
        (k, quote_k) in key(),
        port in 1u16..,
        multi in prop::option::of(any::<bool>()),
        order in Just([0usize, 1, 2]).prop_shuffle(),
        stale_nuls in 0usize..3,
        end in prop_oneof![Just(&b"\0"[..]), Just(&b"\n"[..]), Just(&b"\r\n"[..]), Just(&b""[..])],
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let opts = [
            Some(format!("-k {}", written(&k, quote_k))),
            Some(format!("-p {port}")),
            multi.map(|m| format!("-m {}", u8::from(m))),
        ];
        let mut cmd = "\0".repeat(stale_nuls) + "proxyinit";
        for i in order {
            if let Some(o) = &opts[i] {
                cmd = cmd + " " + o;
            }
        }
        let data = [cmd.as_bytes(), end].concat();
        let want = Request::Init { port, key: k, multi: multi == Some(true), token: None };
        prop_assert_eq!(read_cut(&data, &[]), Ok(want.clone()));
        prop_assert_eq!(read_cut(&data, &cuts), Ok(want));
    }
}
