//! The block driver end to end: blk_client → virtio_blk PD → host kernel →
//! block model → a raw image file.

use std::os::unix::fs::FileExt;

use driver_tests::{boot, disk, line, DeviceConfig};

fn pattern(round: u64, i: usize) -> u8 {
    (i as u64).wrapping_mul(7).wrapping_add(round * 13 + 1) as u8
}

#[test]
fn blocks_written_through_the_driver_are_in_the_image_and_read_back() {
    let path = disk("blk-e2e", 2048);
    let (machine, mut rx) = boot(DeviceConfig { disk: Some(path.clone()), ..Default::default() });
    assert_eq!(line(&mut rx, "virtio_blk", "ready"), "virtio_blk: device reset and ready: 2048 sectors (1024 KiB)");
    assert_eq!(line(&mut rx, "blk_client", "disk of"), "blk_client: disk of 2048 sectors");
    for round in 0..3u64 {
        let l = line(&mut rx, "blk_client", &format!("round {round}:"));
        assert!(l.ends_with("bytes match"), "{l}");
    }
    line(&mut rx, "blk_client", "done");
    machine.shutdown().unwrap();
    // The image holds each round's pattern at its sectors, and nothing elsewhere.
    let file = std::fs::File::open(&path).unwrap();
    for round in 0..3u64 {
        let mut got = vec![0u8; 8 * 512];
        file.read_exact_at(&mut got, (16 + round * 8) * 512).unwrap();
        assert!(got.iter().enumerate().all(|(i, &b)| b == pattern(round, i)), "round {round} not on disk");
    }
    let mut before = vec![0u8; 16 * 512];
    file.read_exact_at(&mut before, 0).unwrap();
    assert!(before.iter().all(|&b| b == 0), "sectors 0..16 were touched");
    let mut after = vec![0u8; 512];
    file.read_exact_at(&mut after, 40 * 512).unwrap();
    assert!(after.iter().all(|&b| b == 0), "sector 40 was touched");
    std::fs::remove_file(path).ok();
}
