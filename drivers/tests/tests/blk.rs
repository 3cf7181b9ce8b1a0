//! The block driver end to end: blk_client → virtio_blk PD → host kernel →
//! block model → a raw image file.

use std::os::unix::fs::FileExt;

use driver_tests::{DeviceConfig, boot, disk, line};
use test_clients::blk_pattern::{FIRST_SECTOR, ROUNDS, SECTOR, SECTORS, pattern, round_sector};

/// Asserts that the image holds each round's pattern at its sectors.
fn assert_rounds_on_disk(file: &std::fs::File) {
    for round in 0..ROUNDS {
        let mut got = vec![0u8; SECTORS as usize * SECTOR];
        file.read_exact_at(&mut got, round_sector(round) * SECTOR as u64).unwrap();
        assert!(got.iter().enumerate().all(|(i, &b)| b == pattern(round, i)), "round {round} not on disk");
    }
}

#[test]
fn blocks_written_through_the_driver_are_in_the_image_and_read_back() {
    let path = disk("blk-e2e", 2048);
    let (machine, mut rx) = boot(DeviceConfig { disk: Some(path.clone()), ..Default::default() });
    assert_eq!(line(&mut rx, "virtio_blk", "ready"), "virtio_blk: device reset and ready: 2048 sectors (1024 KiB)");
    assert_eq!(line(&mut rx, "blk_client", "disk of"), "blk_client: disk of 2048 sectors");
    for round in 0..ROUNDS {
        let l = line(&mut rx, "blk_client", &format!("round {round}:"));
        assert!(l.ends_with("bytes match"), "{l}");
    }
    line(&mut rx, "blk_client", "done");
    machine.shutdown().unwrap();
    // The image holds each round's pattern at its sectors, and nothing elsewhere.
    let file = std::fs::File::open(&path).unwrap();
    assert_rounds_on_disk(&file);
    let mut before = vec![0u8; FIRST_SECTOR as usize * SECTOR];
    file.read_exact_at(&mut before, 0).unwrap();
    assert!(before.iter().all(|&b| b == 0), "sectors 0..{FIRST_SECTOR} were touched");
    let end = round_sector(ROUNDS);
    let mut after = vec![0u8; SECTOR];
    file.read_exact_at(&mut after, end * SECTOR as u64).unwrap();
    assert!(after.iter().all(|&b| b == 0), "sector {end} was touched");
    std::fs::remove_file(path).ok();
}

#[test]
fn a_driver_crash_in_the_middle_of_io_is_recovered_and_io_goes_on() {
    let path = disk("blk-crash", 8192);
    let (machine, mut rx) = boot(DeviceConfig { disk: Some(path.clone()), ..Default::default() });
    line(&mut rx, "blk_client", "round 0:");
    // The client keeps one request outstanding from now on (rounds, then the
    // read benchmark): the driver dies holding it, or with it in its ring.
    machine.inject("virtio_blk", microkit::InjectKind::Crash).unwrap();
    line(&mut rx, "rs", "@status pd=virtio_blk state=restarting generation=0 restarts=0");
    line(&mut rx, "rs", "@status pd=virtio_blk state=up generation=1 restarts=1");
    // The queue restart protocol ran: the client got back what the dead driver
    // held and gave it to the new one (epoch 2 was the first driver's attach).
    line(&mut rx, "blk_client", "resubmitting a request the driver held (epoch 3)");
    // And I/O goes on: the remaining rounds read back right, the benchmark runs.
    for round in 1..ROUNDS {
        let l = line(&mut rx, "blk_client", &format!("round {round}:"));
        assert!(l.ends_with("bytes match"), "{l}");
    }
    line(&mut rx, "blk_client", "bench rand-read-4k");
    line(&mut rx, "blk_client", "done");
    let status = machine.status().unwrap();
    let driver = status.iter().find(|s| s.name == "virtio_blk").unwrap();
    assert_eq!((driver.restarts, driver.state), (1, host_kernel::ProcessState::Up), "{driver:?}");
    let client = status.iter().find(|s| s.name == "blk_client").unwrap();
    assert_eq!(client.restarts, 0, "the client never failed: {client:?}");
    machine.shutdown().unwrap();
    assert_rounds_on_disk(&std::fs::File::open(&path).unwrap());
    std::fs::remove_file(path).ok();
}
