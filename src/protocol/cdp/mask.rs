//! The RFC 6455 masking pass, fused with the copy that takes a client's
//! payload out of the shared read buffer (which is immutable: other
//! messages of the same read may be slices of it) into the message's own
//! buffer. One pass over every byte, eight at a time, which the compiler
//! turns into vector instructions.

use std::mem::MaybeUninit;

/// Writes `src` XOR the mask into `dst` (same length). `offset` is where
/// `src` starts in the frame's payload: the key repeats every four bytes
/// from the payload's start, so a payload split across reads resumes at the
/// right key byte.
pub fn unmask_into(dst: &mut [MaybeUninit<u8>], src: &[u8], key: [u8; 4], offset: usize) {
    assert_eq!(dst.len(), src.len());
    let mut key = key;
    key.rotate_left(offset % 4);
    let wide = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut d = dst.chunks_exact_mut(8);
    let mut s = src.chunks_exact(8);
    for (d, s) in (&mut d).zip(&mut s) {
        let Ok(s) = <[u8; 8]>::try_from(s) else {
            unreachable!("chunks_exact gives eight bytes");
        };
        let v = (u64::from_ne_bytes(s) ^ wide).to_ne_bytes();
        for (d, v) in d.iter_mut().zip(v) {
            d.write(v);
        }
    }
    // The tail is shorter than eight bytes, and starts at a multiple of
    // eight: the key is in phase.
    for (i, (d, s)) in d.into_remainder().iter_mut().zip(s.remainder()).enumerate() {
        d.write(s ^ key[i % 4]);
    }
}

/// Masks or unmasks `bytes` in place (tests and the client side of tests).
pub fn apply(bytes: &mut [u8], key: [u8; 4]) {
    for (i, b) in bytes.iter_mut().enumerate() {
        *b ^= key[i % 4];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_plain_definition_at_every_offset_and_length() {
        let src: Vec<u8> = (0..67u8).map(|b| b.wrapping_mul(37)).collect();
        let key = [0x6d, 0xb6, 0xb2, 0x80];
        for offset in 0..8 {
            for len in 0..src.len() {
                let mut want = vec![0; offset + len];
                want[offset..].copy_from_slice(&src[..len]);
                apply(&mut want, key);
                let mut dst = vec![MaybeUninit::uninit(); len];
                unmask_into(&mut dst, &src[..len], key, offset);
                // SAFETY: unmask_into wrote every element of `dst`.
                let got: Vec<u8> = dst.iter().map(|b| unsafe { b.assume_init() }).collect();
                assert_eq!(got, want[offset..], "offset {offset}, length {len}");
            }
        }
    }
}
