//! The bytes of `GET /bytes/N`: a fixed pseudo-random sequence, so a client can
//! compute what it should have received.

/// The largest `N` of `GET /bytes/N` (16 GiB).
pub const BYTES_MAX: u64 = 16 << 30;

/// Byte `i` of the sequence: the low byte of a 64-bit mix (splitmix64's finaliser)
/// of `i / 8`, taking byte `i % 8` of it.
pub fn pattern_byte(i: u64) -> u8 {
    (mix(i / 8) >> ((i % 8) * 8)) as u8
}

/// Fills `buf` with bytes `offset..offset + buf.len()` of the sequence (one mix
/// per 8 bytes: this is the server's hot loop for `/bytes`).
pub fn fill_pattern(offset: u64, buf: &mut [u8]) {
    let mut i = 0;
    while i < buf.len() {
        let at = offset + i as u64;
        let word = mix(at / 8).to_le_bytes();
        let from = (at % 8) as usize;
        let n = (8 - from).min(buf.len() - i);
        buf[i..i + n].copy_from_slice(&word[from..from + n]);
        i += n;
    }
}

fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn filling_matches_byte_by_byte_at_any_offset_and_length() {
        for offset in [0u64, 1, 7, 8, 13, 1 << 33] {
            for len in [0usize, 1, 5, 8, 9, 100] {
                let mut buf = [0u8; 100];
                fill_pattern(offset, &mut buf[..len]);
                let want: Vec<u8> = (0..len as u64).map(|i| pattern_byte(offset + i)).collect();
                assert_eq!(&buf[..len], &want[..], "offset {offset} len {len}");
            }
        }
    }
}
