//! Stepping over runs of plain bytes a block at a time. The bulk of a large
//! message is one long string (a DAP or V8 `evaluate` expression, an MI
//! argument), and checking it byte by byte cost more than everything else
//! the session layer does with it: 3-4 µs of a 64 KiB round trip's 30-40.
//!
//! A block is tested with no early exit inside it, so the compiler turns the
//! test into a few vector compares. Where the CPU has AVX2 (asked once; the
//! standard library caches the answer) the same loop is compiled for it,
//! which halves the time again: the portable build may only assume SSE2.

const BLOCK: usize = 64;

/// How many bytes at the start of `b` lie in whole blocks (of 64 bytes,
/// then of 16 at the end) where `special` holds for no byte. The caller reads on from there one byte at a time:
/// the special byte is in the next block, or the block is incomplete.
/// `special` must be a simple test of the byte's value (comparisons joined
/// with `|`) for the compiler to vectorise it.
#[inline]
pub fn blocks<F: Fn(u8) -> bool + Copy>(b: &[u8], special: F) -> usize {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, just asked; that is the only
        // requirement of a `target_feature(enable = "avx2")` function.
        return unsafe { blocks_avx2(b, special) };
    }
    portable(b, special)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn blocks_avx2<F: Fn(u8) -> bool + Copy>(b: &[u8], special: F) -> usize {
    portable(b, special)
}

#[inline(always)]
fn portable<F: Fn(u8) -> bool + Copy>(b: &[u8], special: F) -> usize {
    let mut plain = 0;
    for block in b.chunks_exact(BLOCK) {
        if any(block, special) {
            return plain;
        }
        plain += BLOCK;
    }
    // The tail in quarter blocks: most strings are short, and a 40-byte one
    // should not be read byte by byte.
    for block in b[plain..].chunks_exact(BLOCK / 4) {
        if any(block, special) {
            break;
        }
        plain += BLOCK / 4;
    }
    plain
}

/// No early exit: that is what lets the compiler vectorise it.
#[inline(always)]
fn any<F: Fn(u8) -> bool + Copy>(block: &[u8], special: F) -> bool {
    block.iter().fold(false, |any, &c| any | special(c))
}

/// Bytes that a JSON string holds as they are when checked strictly: not
/// `"` or `\`, not a control character, and ASCII (the UTF-8 of anything
/// else is checked where it is found). One signed compare covers both ends.
#[inline(always)]
pub fn json_special(c: u8) -> bool {
    (c == b'"') | (c == b'\\') | ((c as i8) < 0x20)
}

/// Bytes of a command line that need a closer look: control characters
/// (tab included: it is allowed, but rare) and anything not ASCII.
#[inline(always)]
pub fn text_special(c: u8) -> bool {
    ((c as i8) < 0x20) | (c == 0x7f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_at_the_block_holding_the_first_special_byte() {
        let mut b = vec![b'p'; 1000];
        assert_eq!(
            blocks(&b, json_special),
            992,
            "the incomplete block is left"
        );
        b[700] = b'"';
        assert_eq!(blocks(&b, json_special), 640);
        b[650] = b'"';
        assert_eq!(blocks(&b, json_special), 640);
        b[650] = b'p';
        b[700] = b'p';
        b[990] = b'"';
        assert_eq!(
            blocks(&b, json_special),
            976,
            "16 at a time after the whole blocks"
        );
        b[990] = b'p';
        b[5] = 0xc3;
        assert_eq!(blocks(&b, json_special), 0);
        assert_eq!(portable(&b, json_special), 0);
        assert_eq!(blocks(&[], json_special), 0);
    }

    #[test]
    fn each_class_holds_what_it_says() {
        for c in 0..=255u8 {
            let json = c == b'"' || c == b'\\' || !(0x20..0x80).contains(&c);
            assert_eq!(json_special(c), json, "{c:#x}");
            let text = !(0x20..0x7f).contains(&c);
            assert_eq!(text_special(c), text, "{c:#x}");
            // Every position in a block is looked at.
            for at in [0, 31, 63] {
                let mut b = [b'a'; 128];
                b[at] = c;
                assert_eq!(blocks(&b, json_special) == 0, json, "{c:#x} at {at}");
            }
        }
    }
}
