//! The bytes of `GET /bytes/N`: a fixed pseudo-random sequence, so a client can
//! compute what it should have received.

/// The largest `N` of `GET /bytes/N` (16 GiB).
pub const BYTES_MAX: u64 = 16 << 30;

/// Byte `i` of the sequence: the low byte of a 64-bit mix (splitmix64's finaliser)
/// of `i / 8`, taking byte `i % 8` of it.
pub fn pattern_byte(i: u64) -> u8 {
    (mix(i / 8) >> ((i % 8) * 8)) as u8
}

/// Fills `buf` with bytes `offset..offset + buf.len()` of the sequence.
pub fn fill_pattern(offset: u64, buf: &mut [u8]) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b = pattern_byte(offset + i as u64);
    }
}

fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
