//! The block driver's core against the host device model, in one process.

use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use virtio_blk::{BlkCore, BlkError, SECTOR};
use virtio_hal::testbed;
use virtio_hal::{DmaHal, RegisterTransport};
use virtio_model::blk::Blk;
use virtio_model::{Device, Faults, Malice};

type Core = BlkCore<DmaHal, RegisterTransport<Device>>;

fn image(name: &str, sectors: u64) -> PathBuf {
    let path = std::env::temp_dir().join(format!("reincarnate-blk-{}-{name}.img", std::process::id()));
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(sectors * SECTOR as u64).unwrap();
    path
}

fn setup(name: &str) -> (Device, Core, PathBuf, std::sync::Arc<std::sync::atomic::AtomicU64>) {
    let path = image(name, 256);
    let (irq, irqs) = testbed::counting_irq();
    let device = Device::new(Blk::open(&path).unwrap(), testbed::memory(), irq);
    let core = Core::new(testbed::transport(&device), 16).unwrap();
    (device, core, path, irqs)
}

fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

#[test]
fn blocks_written_are_in_the_image_and_read_back() {
    let (device, mut core, path, irqs) = setup("rw");
    assert_eq!(core.capacity(), 256);
    let data = pattern(7, 4 * SECTOR);
    core.write(10, &data).unwrap();
    // The bytes are in the image file, at sector 10.
    let mut on_disk = vec![0u8; data.len()];
    std::fs::File::open(&path).unwrap().read_exact_at(&mut on_disk, 10 * SECTOR as u64).unwrap();
    assert_eq!(on_disk, data);
    // And come back through the driver.
    let mut back = vec![0u8; data.len()];
    core.read(10, &mut back).unwrap();
    assert_eq!(back, data);
    core.flush().unwrap();
    // Every completion raised the interrupt line; the driver acknowledges them.
    assert!(irqs.load(Ordering::SeqCst) >= 3);
    core.ack_interrupt();
    assert_eq!(device.read(virtio_model::reg::INTERRUPT_STATUS, 4), 0);
    assert_eq!(device.stats().driver_errors, 0);
    std::fs::remove_file(path).ok();
}

#[test]
fn the_driver_resets_the_device_in_init() {
    let (device, core, path, _) = setup("reset");
    let resets = device.stats().resets;
    drop(core); // dropping the transport resets too
    let _core = Core::new(testbed::transport(&device), 16).unwrap();
    assert!(device.stats().resets >= resets + 2, "{:?}", device.stats());
    std::fs::remove_file(path).ok();
}

#[test]
fn bad_requests_never_reach_the_device() {
    let (device, mut core, path, _) = setup("bad");
    let before = device.stats().completed;
    let mut buf = vec![0u8; SECTOR];
    assert_eq!(core.read(256, &mut buf), Err(BlkError::BadRequest));
    assert_eq!(core.read(u64::MAX, &mut buf), Err(BlkError::BadRequest));
    assert_eq!(core.read(0, &mut buf[..100]), Err(BlkError::BadRequest));
    assert_eq!(core.write(0, &vec![0u8; 17 * SECTOR]), Err(BlkError::BadRequest));
    assert_eq!(device.stats().completed, before);
    std::fs::remove_file(path).ok();
}

#[test]
fn dropped_requests_are_io_errors_and_the_next_one_works() {
    let (device, mut core, path, _) = setup("drop");
    device.set_faults(Faults { drop_every: 2, ..Faults::none() });
    let data = pattern(1, SECTOR);
    core.write(0, &data).unwrap(); // request 1
    assert_eq!(core.write(1, &data), Err(BlkError::Io)); // request 2: dropped
    let mut back = vec![0u8; SECTOR];
    core.read(0, &mut back).unwrap(); // request 3
    assert_eq!(back, data);
    assert_eq!(device.stats().dropped, 1);
    std::fs::remove_file(path).ok();
}

#[test]
fn delayed_completions_still_arrive() {
    let (device, mut core, path, _) = setup("delay");
    device.set_faults(Faults { delay: Some(Duration::from_millis(20)), ..Faults::none() });
    let data = pattern(3, 2 * SECTOR);
    core.write(4, &data).unwrap();
    let mut back = vec![0u8; data.len()];
    core.read(4, &mut back).unwrap();
    assert_eq!(back, data);
    std::fs::remove_file(path).ok();
}

#[test]
fn corrupted_reads_differ_in_one_byte() {
    let (device, mut core, path, _) = setup("corrupt");
    let data = pattern(5, SECTOR);
    core.write(2, &data).unwrap();
    device.set_faults(Faults { corrupt_every: 1, ..Faults::none() });
    let mut back = vec![0u8; SECTOR];
    core.read(2, &mut back).unwrap();
    assert_eq!(back.iter().zip(&data).filter(|(a, b)| a != b).count(), 1);
    std::fs::remove_file(path).ok();
}

#[test]
fn a_device_reporting_a_bad_used_id_is_a_device_error() {
    let (device, mut core, path, _) = setup("badid");
    device.set_faults(Faults { malice: Some(Malice::BadId), ..Faults::none() });
    let mut buf = vec![0u8; SECTOR];
    assert!(matches!(core.read(0, &mut buf), Err(BlkError::Device(_))));
    std::fs::remove_file(path).ok();
}

#[test]
fn a_device_lying_about_lengths_cannot_make_the_driver_overrun() {
    let (device, mut core, path, _) = setup("badlen");
    let data = pattern(9, SECTOR);
    core.write(3, &data).unwrap();
    device.set_faults(Faults { malice: Some(Malice::BadLen), ..Faults::none() });
    let mut buf = vec![0u8; SECTOR + 64];
    buf[SECTOR..].fill(0xee);
    // virtio-blk's length is advisory: the driver reads exactly what it asked for.
    core.read(3, &mut buf[..SECTOR]).unwrap();
    assert_eq!(&buf[..SECTOR], &data[..]);
    assert!(buf[SECTOR..].iter().all(|&b| b == 0xee));
    assert!(device.stats().lies >= 1);
    std::fs::remove_file(path).ok();
}
