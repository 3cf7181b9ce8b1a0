//! The net driver's core against the net model with an in-process peer.

use std::sync::mpsc;
use std::time::Duration;

use virtio_hal::testbed;
use virtio_hal::{DmaHal, RegisterTransport};
use virtio_model::net::Net;
use virtio_model::{Device, Faults, Malice};
use virtio_net::{NetCore, NetError};

type Core = NetCore<DmaHal, RegisterTransport<Device>>;
const MAC: [u8; 6] = [0x52, 0x54, 0, 0xab, 0xcd, 0xef];

fn setup() -> (Device, Core, mpsc::Receiver<Vec<u8>>) {
    let (tx, rx) = mpsc::channel();
    let (irq, _) = testbed::counting_irq();
    let device =
        Device::new(Net::new(MAC, Box::new(move |f: &[u8]| tx.send(f.to_vec()).unwrap())), testbed::memory(), irq);
    let core = Core::new(testbed::transport(&device)).unwrap();
    (device, core, rx)
}

fn frame(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_add(seed)).collect()
}

#[test]
fn frames_go_out_and_come_in_intact() {
    let (device, mut core, peer) = setup();
    assert_eq!(core.mac(), MAC);
    for (i, n) in [60, 1514, 100].into_iter().enumerate() {
        core.send(&frame(n, i as u8)).unwrap();
        assert_eq!(peer.recv_timeout(Duration::from_secs(1)).unwrap(), frame(n, i as u8));
    }
    assert_eq!(core.send(&frame(1515, 0)), Err(NetError::BadRequest));
    // More frames than receive buffers: each buffer is recycled after use.
    let mut out = [0u8; 2048];
    for i in 0..40u8 {
        device.input(&frame(64 + i as usize, i));
        core.ack_interrupt();
        assert_eq!(core.receive(&mut out), Ok(Some(64 + i as usize)));
        assert_eq!(&out[..64 + i as usize], &frame(64 + i as usize, i)[..]);
    }
    assert_eq!(core.receive(&mut out), Ok(None));
}

#[test]
fn a_lie_about_the_frame_length_is_a_device_error() {
    let (device, mut core, _peer) = setup();
    device.set_faults(Faults { malice: Some(Malice::BadLen), ..Faults::none() });
    device.input(&frame(60, 1));
    let mut out = [0u8; 2048];
    assert!(matches!(core.receive(&mut out), Err(NetError::Device(_))));
}

#[test]
fn a_bad_used_id_never_touches_memory_outside_the_driver() {
    let (device, mut core, _peer) = setup();
    device.set_faults(Faults { malice: Some(Malice::BadId), ..Faults::none() });
    device.input(&frame(60, 1));
    let mut out = [0u8; 2048];
    // Either an error or a bounds-checked panic (a fault): never a wild write.
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| core.receive(&mut out)));
    assert!(matches!(r, Err(_) | Ok(Err(NetError::Device(_)))), "{r:?}");
}

#[test]
fn dropped_frames_are_lost_and_corrupted_ones_differ() {
    let (device, mut core, _peer) = setup();
    let mut out = [0u8; 2048];
    device.set_faults(Faults { drop_every: 1, ..Faults::none() });
    device.input(&frame(60, 1));
    assert_eq!(core.receive(&mut out), Ok(None));
    device.set_faults(Faults { corrupt_every: 1, ..Faults::none() });
    device.input(&frame(60, 2));
    assert_eq!(core.receive(&mut out), Ok(Some(60)));
    assert_eq!(out[..60].iter().zip(&frame(60, 2)).filter(|(a, b)| a != b).count(), 1);
}
