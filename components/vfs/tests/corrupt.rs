//! Damaged disks: mounting or reading fails with an error code, and the core
//! never panics or hangs. Specific damage (a bad boot sector, FAT cycles,
//! clusters out of range, garbage directory entries, a truncated image), then
//! a proptest harness that scribbles on the metadata of a populated image
//! (`PROPTEST_CASES`, 24 by default: the short CI run; set 100000 for the long one).

mod common;

use common::*;
use hadris_fat::FatKind;
use proptest::prelude::*;
use vfs_api::VfsError;

const MIB: usize = 1 << 20;

/// A FAT16 image with files and directories, synced.
fn populated() -> Vec<u8> {
    let mut m = Machine::new(image(16 * MIB, FatKind::Fat16));
    m.path_op(CLIENT, "/dir", vfs_api::protocol::Request::Mkdir).unwrap();
    for i in 0..6u64 {
        let path = if i % 2 == 0 { format!("/file {i} with a long name") } else { format!("/dir/f{i}") };
        m.put_file(CLIENT, &path, &pattern(i, 1000 + 7000 * i as usize)).unwrap();
    }
    m.sync_all(CLIENT).unwrap();
    m.driver.disk.clone()
}

fn le16(img: &[u8], at: usize) -> usize {
    u16::from_le_bytes([img[at], img[at + 1]]) as usize
}

/// (first FAT byte, FAT bytes, root directory byte) of a FAT16 image.
fn layout(img: &[u8]) -> (usize, usize, usize) {
    let reserved = le16(img, 14);
    let fats = img[16] as usize;
    let fat_sectors = le16(img, 22);
    (reserved * 512, fat_sectors * 512, (reserved + fats * fat_sectors) * 512)
}

/// Mounts `disk` and reads everything reachable; the errors met. Panics (the
/// test fails) only if the core panics or a request never completes.
fn walk(disk: Vec<u8>) -> Vec<VfsError> {
    let mut m = Machine::new(disk);
    let mut errors = Vec::new();
    let mut dirs = vec!["/".to_string()];
    let mut seen = 0;
    while let Some(dir) = dirs.pop() {
        let entries = match m.list(CLIENT, &dir) {
            Ok(e) => e,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        for (name, kind, _size) in entries.into_iter().take(40) {
            seen += 1;
            if seen > 200 {
                return errors;
            }
            let path = if dir == "/" { format!("/{name}") } else { format!("{dir}/{name}") };
            if kind == 1 {
                if dirs.len() < 20 {
                    dirs.push(path);
                }
            } else if let Err(e) = m.get_file(CLIENT, &path) {
                errors.push(e);
            }
        }
    }
    errors
}

#[test]
fn the_populated_image_reads_without_errors() {
    assert_eq!(walk(populated()), vec![]);
}

#[test]
fn a_bad_boot_sector_mounts_nothing() {
    for fill in [0u8, 0xff, 0x5a] {
        let mut img = populated();
        img[..512].fill(fill);
        let mut m = Machine::new(img);
        assert!(m.vfs.mounted().is_err());
        assert_eq!(m.get_file(CLIENT, "/dir/f1"), Err(VfsError::NoVolume));
    }
}

#[test]
fn fat_cycles_and_clusters_out_of_range_are_errors() {
    let base = populated();
    let (fat, fat_bytes, _) = layout(&base);
    for damage in 0..3 {
        let mut img = base.clone();
        for k in 2..(fat_bytes / 2).min(400) {
            let v: u16 = match damage {
                0 => k as u16, // every cluster its own successor
                1 => 3,        // everything into one loop
                _ => 0xfff0,   // reserved, out of range
            };
            img[fat + 2 * k..fat + 2 * k + 2].copy_from_slice(&v.to_le_bytes());
        }
        let errors = walk(img);
        assert!(!errors.is_empty(), "damage {damage} went unnoticed");
        assert!(errors.iter().all(|e| matches!(e, VfsError::Corrupt | VfsError::Io)), "{errors:?}");
    }
}

#[test]
fn garbage_directory_entries_are_errors_or_ignored() {
    let base = populated();
    let (_, _, root) = layout(&base);
    let mut img = base.clone();
    for (i, b) in img[root..root + 16 * 1024].iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(151).wrapping_add(17);
    }
    let _ = walk(img);
}

#[test]
fn a_truncated_image_is_an_error() {
    let mut img = populated();
    img.truncate(64 * 1024);
    let mut m = Machine::new(img);
    let r = m.get_file(CLIENT, "/dir/f1");
    assert!(matches!(r, Err(VfsError::Io | VfsError::NoVolume | VfsError::Corrupt | VfsError::NotFound)), "{r:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(24), ..ProptestConfig::default() })]

    #[test]
    fn scribbles_on_metadata_never_panic(writes in prop::collection::vec((0usize..64 * 1024, any::<u8>()), 1..64)) {
        thread_local!(static BASE: Vec<u8> = populated());
        let mut img = BASE.with(|b| b.clone());
        let (_, _, root) = layout(&img);
        let meta = root + 16 * 1024;
        for (at, v) in writes {
            img[at % meta] = v;
        }
        let _ = walk(img);
    }
}
