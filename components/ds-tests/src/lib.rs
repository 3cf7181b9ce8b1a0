//! Test PDs of the data store (see `src/bin/`), the system that runs them
//! (`system.xml` beside this crate) and helpers they share. The tests are in
//! `tests/e2e.rs`; each PD prints what it did and got, and the tests read that.
#![no_std]
#![forbid(unsafe_code)]

use ds_api::DsError;

/// `ok` or the error's name, as the PDs print outcomes.
pub fn outcome<T>(r: &Result<T, DsError>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(e) => e.name(),
    }
}

/// Bytes as text for printing (`<binary>` if they are not UTF-8).
pub fn text(bytes: &[u8]) -> &str {
    core::str::from_utf8(bytes).unwrap_or("<binary>")
}

/// The private state phoenix backs up: a stamp (its first boot's clock) and a
/// pattern derived from it, so a restored blob can be checked byte by byte.
pub fn phoenix_blob(stamp: u64, out: &mut [u8; PHOENIX_BLOB]) {
    out[..8].copy_from_slice(&stamp.to_le_bytes());
    for (i, b) in out.iter_mut().enumerate().skip(8) {
        *b = (i as u64).wrapping_mul(31).wrapping_add(stamp) as u8;
    }
}

/// Size of phoenix's blob.
pub const PHOENIX_BLOB: usize = 400;

/// FNV-1a of `bytes`, to print a blob's fingerprint.
pub fn fingerprint(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}
