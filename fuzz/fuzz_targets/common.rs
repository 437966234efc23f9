//! Shared by the fuzz targets: the same bytes, fed whole and fed in pieces,
//! must give the same messages (or the same error), never panic, and never
//! hold more than the bounds allow.

use dbgproxy::framing::{Assembler, Direction, MAX_HEADERS, Protocol};
use dbgproxy::queue::Chunk;

const MAX_MESSAGE: usize = 4096;

fn run(protocol: Protocol, dir: Direction, pieces: &[&[u8]]) -> (Vec<Vec<u8>>, bool) {
    let mut a = Assembler::new(protocol, dir, MAX_MESSAGE);
    let mut out = Vec::new();
    for p in pieces {
        if a.feed(Chunk::copy_from(p), |m| out.push(m.to_vec())).is_err() {
            return (out, true);
        }
        assert!(a.pending() <= MAX_MESSAGE + MAX_HEADERS);
    }
    (out, false)
}

pub fn check(protocol: Protocol, dir: Direction, data: &[u8]) {
    let Some((&cut, rest)) = data.split_first() else { return };
    let cut = (cut as usize).min(rest.len());
    let whole = run(protocol, dir, &[rest]);
    let split = run(protocol, dir, &[&rest[..cut], &rest[cut..]]);
    assert_eq!(whole, split, "chunking changed the messages");
    for m in &whole.0 {
        assert!(m.len() <= MAX_MESSAGE + MAX_HEADERS + 32);
    }
}
