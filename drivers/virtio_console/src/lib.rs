//! The virtio console driver's core: `no_std`, generic over the virtio transport
//! and HAL (see the block driver for the pattern). One port; bytes out are sent
//! in chunks, bytes in are collected after each interrupt.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

use virtio_drivers::device::console::VirtIOConsole;
use virtio_drivers::transport::Transport;
use virtio_drivers::{Error, Hal};

/// The console driver's queues to its client (crate `driver-queue`): pair 0
/// carries output chunks to the device, pair 1 input: the client posts empty
/// buffers, the driver returns them filled.
pub mod protocol {
    use driver_queue::{Bounds, Direction, Layout, PairSpec, QueueSpec};

    /// Size of the data region (`console_data`; both ends check).
    pub const DATA_BYTES: u64 = 0x2000;
    /// Bytes of one buffer.
    pub const BUF: u64 = 0x400;
    /// Output buffers at the start of the data region, input buffers after them.
    pub const TX_BASE: u64 = 0;
    pub const RX_BASE: u64 = DATA_BYTES / 2;
    pub const BUFS: u64 = DATA_BYTES / 2 / BUF;
    pub const CAPACITY: u64 = 4;
    pub const TX: usize = 0;
    pub const RX: usize = 1;
    pub const LAYOUT: Layout = match Layout::new(0, CAPACITY, 2) {
        Ok(l) => l,
        Err(_) => panic!("bad console queue layout"),
    };
    pub const SPECS: [PairSpec; 2] = [
        PairSpec::new(Direction::ToDevice, Bounds::span(TX_BASE, DATA_BYTES / 2).with_buf_size(BUF)),
        PairSpec::new(Direction::FromDevice, Bounds::span(RX_BASE, DATA_BYTES / 2).with_buf_size(BUF)),
    ];
    /// Everything both ends check: layout, pairs, data region size.
    pub const QUEUES: QueueSpec = QueueSpec { layout: LAYOUT, pairs: &SPECS, data_bytes: DATA_BYTES };
}

/// Largest chunk handed to the device at once.
pub const CHUNK: usize = 4096;

pub struct ConsoleCore<H: Hal, T: Transport> {
    console: VirtIOConsole<H, T>,
}

impl<H: Hal, T: Transport> ConsoleCore<H, T> {
    /// Resets the device, sets it up and posts a receive buffer.
    pub fn new(transport: T) -> Result<Self, Error> {
        Ok(ConsoleCore { console: VirtIOConsole::new(transport)? })
    }

    /// Sends `bytes` (blocks until the device took them).
    pub fn send(&mut self, bytes: &[u8]) -> Result<(), Error> {
        for chunk in bytes.chunks(CHUNK) {
            self.console.send_bytes(chunk)?;
        }
        Ok(())
    }

    /// Acknowledges the interrupt and moves whatever arrived into `out` (up to its
    /// length); returns how many bytes. Call until it returns 0.
    pub fn receive(&mut self, out: &mut [u8]) -> Result<usize, Error> {
        let _ = self.console.ack_interrupt()?;
        let mut n = 0;
        while n < out.len() {
            match self.console.recv(true)? {
                Some(b) => {
                    out[n] = b;
                    n += 1;
                }
                None => break,
            }
        }
        Ok(n)
    }
}
