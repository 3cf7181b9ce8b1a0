//! What `files` writes: the same list in every round, each file's bytes a
//! function of the round, the file and the offset, so the end-to-end tests
//! can check the disk image after the system stopped (`components/vfs-tests`).
#![no_std]
#![forbid(unsafe_code)]

/// Directories made first (an existing one is fine).
pub const DIRS: &[&str] = &["/data", "/data/A directory with a long name"];

/// (path, size) of every file, in the order written.
pub const FILES: &[(&str, usize)] = &[
    ("/one.bin", 1),
    ("/data/hundred bytes.txt", 100),
    ("/data/s511", 511),
    ("/data/s512", 512),
    ("/data/A directory with a long name/just over a sector.bin", 513),
    ("/data/page.bin", 4096),
    ("/data/A directory with a long name/sixty-four KiB exactly.bin", 65_536),
    ("/sixty-four KiB and one.bin", 65_537),
    ("/data/300k", 300_000),
    ("/data/A directory with a long name/one mebibyte.bin", 1 << 20),
    ("/three mebibytes and five bytes.bin", 3 * (1 << 20) + 5),
];

/// Rounds of writing and reading back everything.
pub const ROUNDS: u64 = 6;

/// If this file is on the volume when `files` starts, it does not stop after
/// its `ROUNDS`: it goes on writing and reading back rounds for ever (the
/// block workload of `cargo xtask campaign`, which puts it there), and an
/// error in such a round is printed and the next round starts over, instead
/// of ending the run.
pub const SOAK: &str = "/SOAK.TXT";

/// If this file is on the volume when `files` starts, its text is a size in
/// bytes and, optionally, a number of passes (decimal, 1 if none): after its
/// rounds, `files` writes one file of that size, [`SEQUENTIAL_FILE`], front
/// to back (then fsync, close), reads it back and compares, and prints the
/// times, once per pass (`cargo xtask bench fs` puts it there).
pub const SEQUENTIAL: &str = "/SEQ.TXT";

/// The file of the sequential pass.
pub const SEQUENTIAL_FILE: &str = "/sequential.bin";

/// Fills `out` with the bytes of the sequential file from `offset`: a 4 KiB
/// pattern repeated, the offset of each 4 KiB block written over its first 8
/// bytes, so a block in the wrong place shows. Cheap to make and to compare
/// (copies of the pattern): the pass times the file system, not the pattern.
pub fn fill_sequential(offset: usize, out: &mut [u8]) {
    let mut i = 0;
    while i < out.len() {
        let in_block = (offset + i) % 4096;
        let n = (4096 - in_block).min(out.len() - i);
        out[i..i + n].copy_from_slice(&PATTERN[in_block..in_block + n]);
        let stamp = ((offset + i - in_block) as u64).to_le_bytes();
        for k in in_block..(in_block + n).min(8) {
            out[i + k - in_block] = stamp[k];
        }
        i += n;
    }
}

/// The 4 KiB that [`fill_sequential`] repeats.
const PATTERN: [u8; 4096] = {
    let mut p = [0u8; 4096];
    let mut i = 0;
    while i < 4096 {
        p[i] = (i as u8).wrapping_mul(31) ^ (i >> 8) as u8;
        i += 1;
    }
    p
};

/// Files put on the disk before boot (by `cargo xtask run`'s image or a
/// test, with mtools) that `files` reads and reports.
pub const OUTSIDE: &[&str] = &["/hello.txt", "/README.TXT"];

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Byte `offset` of file `file` in round `round`.
pub fn byte(round: u64, file: usize, offset: usize) -> u8 {
    let word = mix(round << 40 ^ (file as u64) << 32 ^ (offset as u64 / 8));
    (word >> ((offset % 8) * 8)) as u8
}

/// Fills `out` with the bytes of `file` in `round` from `offset`.
pub fn fill(round: u64, file: usize, offset: usize, out: &mut [u8]) {
    for (i, b) in out.iter_mut().enumerate() {
        *b = byte(round, file, offset + i);
    }
}

/// FNV-1a, for what the system reads of files put from outside.
pub fn fnv(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3))
}

/// FNV-1a's start value.
pub const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sequential_bytes_do_not_depend_on_how_they_are_cut() {
        let mut whole = [0u8; 3 * 4096 + 100];
        fill_sequential(0, &mut whole);
        for cut in [1, 7, 8, 9, 4095, 4096, 4097, 5000] {
            let mut parts = [0u8; 3 * 4096 + 100];
            let (a, b) = parts.split_at_mut(cut);
            fill_sequential(0, a);
            fill_sequential(cut, b);
            assert_eq!(parts, whole, "cut at {cut}");
        }
        assert_eq!(whole[4096..4104], 4096u64.to_le_bytes());
        assert_eq!(whole[8192..8200], 8192u64.to_le_bytes());
        assert_ne!(whole[..4096], whole[4096..8192], "blocks differ by their stamps");
    }
}
