//! The console driver's core against the console model, in one process.

use std::sync::mpsc;
use std::time::Duration;

use virtio_console::ConsoleCore;
use virtio_hal::testbed;
use virtio_hal::{DmaHal, RegisterTransport};
use virtio_model::console::Console;
use virtio_model::{Device, Faults, Malice};

type Core = ConsoleCore<DmaHal, RegisterTransport<Device>>;

fn setup() -> (Device, Core, mpsc::Receiver<Vec<u8>>) {
    let (tx, rx) = mpsc::channel();
    let (irq, _) = testbed::counting_irq();
    let device =
        Device::new(Console::new(Box::new(move |b: &[u8]| tx.send(b.to_vec()).unwrap())), testbed::memory(), irq);
    let core = Core::new(testbed::transport(&device)).unwrap();
    (device, core, rx)
}

fn receive_all(core: &mut Core) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 100];
    loop {
        let n = core.receive(&mut buf).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&buf[..n]);
    }
}

#[test]
fn bytes_go_out_and_come_in() {
    let (device, mut core, out) = setup();
    core.send(b"hello, world\n").unwrap();
    assert_eq!(out.recv_timeout(Duration::from_secs(1)).unwrap(), b"hello, world\n");
    // More than one chunk goes out whole, in order.
    let big: Vec<u8> = (0..10_000).map(|i| (i % 251) as u8).collect();
    core.send(&big).unwrap();
    let mut got = Vec::new();
    while got.len() < big.len() {
        got.extend(out.recv_timeout(Duration::from_secs(1)).unwrap());
    }
    assert_eq!(got, big);
    // Input arrives after the interrupt; more than one receive buffer's worth too.
    device.input(b"typed");
    assert_eq!(receive_all(&mut core), b"typed");
    let long: Vec<u8> = (0..6000).map(|i| b'a' + (i % 26) as u8).collect();
    device.input(&long);
    let mut got = Vec::new();
    for _ in 0..4 {
        got.extend(receive_all(&mut core));
    }
    assert_eq!(got, long);
}

#[test]
fn a_device_lying_about_the_received_length_makes_the_driver_panic_not_overrun() {
    let (device, mut core, _out) = setup();
    device.set_faults(Faults { malice: Some(Malice::BadLen), ..Faults::none() });
    device.input(b"x");
    // The driver believes the length, but its buffer accesses are bounds-checked:
    // it panics (a fault the reincarnation server handles) instead of reading or
    // writing past its receive buffer.
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut buf = vec![0u8; 1 << 16];
        core.receive(&mut buf)
    }));
    assert!(r.is_err(), "{r:?}");
}

#[test]
fn dropped_input_is_lost_and_the_next_arrives() {
    let (device, mut core, _out) = setup();
    device.set_faults(Faults { drop_every: 1, ..Faults::none() });
    device.input(b"lost");
    assert_eq!(receive_all(&mut core), b"");
    device.set_faults(Faults::none());
    device.input(b"kept");
    assert_eq!(receive_all(&mut core), b"kept");
}
