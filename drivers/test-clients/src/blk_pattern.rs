//! What `blk_client` writes where: `ROUNDS` rounds of `SECTORS` sectors from
//! `FIRST_SECTOR`, round `r` at `FIRST_SECTOR + r * SECTORS`, each byte given
//! by [`pattern`]. The host tests check the disk image against the same.

/// Bytes of a sector.
pub const SECTOR: usize = 512;
/// The first sector written.
pub const FIRST_SECTOR: u64 = 16;
/// Sectors per round.
pub const SECTORS: u64 = 8;
/// Rounds written and read back.
pub const ROUNDS: u64 = 3;

/// The first sector of round `round`.
pub const fn round_sector(round: u64) -> u64 {
    FIRST_SECTOR + round * SECTORS
}

/// After its benchmark, `blk_client` writes and reads back one round every
/// [`SOAK_PERIOD_NS`] for ever (a workload that checks itself, for fault
/// campaigns), soak round `n` at [`soak_sector`]`(n)` with the pattern of round
/// [`SOAK_ROUND`]` + n`.
pub const SOAK_PERIOD_NS: u64 = 10_000_000;
/// Soak rounds cycle through this many slots of `SECTORS` sectors.
pub const SOAK_SLOTS: u64 = 8;
/// The pattern round of soak round 0.
pub const SOAK_ROUND: u64 = 1000;

/// The first sector of soak round `n` (well past the rounds above).
pub const fn soak_sector(n: u64) -> u64 {
    round_sector(ROUNDS + 8 + n % SOAK_SLOTS)
}

/// Byte `i` of the pattern of round `round`.
pub fn pattern(round: u64, i: usize) -> u8 {
    (i as u64).wrapping_mul(7).wrapping_add(round * 13 + 1) as u8
}
