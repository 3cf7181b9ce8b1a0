//! A malicious block device: the driver reports and faults, the reincarnation
//! server restarts it, nothing else is touched, and once the device behaves the
//! restarted driver serves the client again.

use std::os::unix::fs::FileExt;

use driver_tests::{DeviceConfig, Event, boot, disk, line, wait_for};
use host_kernel::ProcessState;
use host_kernel::virtio_model::slots::Kind;
use host_kernel::virtio_model::{Faults, Malice};
use microkit::{FaultKind, InjectKind};
use test_clients::blk_pattern::{FIRST_SECTOR, ROUNDS, SECTOR, round_sector};

#[test]
fn a_device_lying_in_the_used_ring_makes_the_driver_fault_and_nothing_else() {
    let image = disk("malicious", 2048);
    let file = std::fs::File::open(&image).unwrap();
    let (machine, mut rx) = boot(DeviceConfig { disk: Some(image.clone()), ..Default::default() });
    // The first run of the client, with an honest device (every line taken, so
    // the waits below only see what comes after).
    for round in 0..ROUNDS {
        assert!(line(&mut rx, "blk_client", &format!("round {round}:")).ends_with("bytes match"));
    }
    line(&mut rx, "blk_client", "done");
    let blk = machine.device(Kind::Blk).unwrap().clone();

    // The device turns malicious; the client starts over (a fresh copy of it).
    blk.set_faults(Faults { malice: Some(Malice::BadId), ..Faults::none() });
    machine.inject("blk_client", InjectKind::Crash).unwrap();
    // The client is told, and the driver gives the device up: a panic, a fault
    // for the reincarnation server, which restarts the driver.
    line(&mut rx, "blk_client", "request failed with status 1");
    let fault = wait_for(&mut rx, "the driver's fault", |ev| match ev {
        Event::Fault { pd, fault, .. } if pd == "virtio_blk" => Some(*fault),
        _ => None,
    });
    assert_eq!(fault.kind, FaultKind::Panic, "{fault}");
    assert!(blk.stats().lies >= 1);

    // The device behaves again: the restarted driver (which reset the device)
    // serves the client's retries; the bytes are right.
    blk.set_faults(Faults::none());
    for round in 0..ROUNDS {
        let l = line(&mut rx, "blk_client", &format!("round {round}:"));
        assert!(l.ends_with("bytes match"), "{l}");
    }
    line(&mut rx, "blk_client", "done");
    let status = machine.status().unwrap();
    let driver = status.iter().find(|s| s.name == "virtio_blk").unwrap();
    assert!(driver.restarts >= 1 && driver.state == ProcessState::Up, "{driver:?}");
    assert!(blk.stats().resets >= 2, "every fresh driver reset the device: {:?}", blk.stats());
    // Nobody else faulted.
    for s in &status {
        if !["virtio_blk", "blk_client"].contains(&s.name.as_str()) {
            assert_eq!(s.restarts, 0, "{s:?}");
            assert!(s.last_fault.is_none(), "{s:?}");
        }
    }
    // The disk holds exactly what the client wrote, nothing elsewhere.
    let mut head = vec![0u8; FIRST_SECTOR as usize * SECTOR];
    file.read_exact_at(&mut head, 0).unwrap();
    assert!(head.iter().all(|&b| b == 0));
    let mut tail = vec![0u8; 1000 * SECTOR];
    file.read_exact_at(&mut tail, round_sector(ROUNDS) * SECTOR as u64).unwrap();
    assert!(tail.iter().all(|&b| b == 0));
    machine.shutdown().unwrap();
    std::fs::remove_file(image).ok();
}
