//! The virtio net driver's core: `no_std`, generic over the virtio transport and
//! HAL (see the block driver for the pattern).
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

use virtio_drivers::device::net::VirtIONet;
use virtio_drivers::transport::Transport;
use virtio_drivers::{Error, Hal};

/// The net driver's queues to its client (crate `driver-queue`): pair 0 carries
/// frames to the device (and the MAC request), pair 1 frames from it: the
/// client posts empty buffers, the driver returns them filled.
pub mod protocol {
    use driver_queue::{Bounds, Direction, Layout, PairSpec, QueueSpec};

    /// Send the frame in the buffer.
    pub const OP_SEND: u32 = 1;
    /// Put the device's MAC address (6 bytes) in the buffer.
    pub const OP_MAC: u32 = 2;
    /// Size of the data region (`net_driver_data`; both ends check).
    pub const DATA_BYTES: u64 = 0x10000;
    /// Bytes of one buffer (a frame fits).
    pub const BUF: u64 = 2048;
    pub const TX_BASE: u64 = 0;
    pub const RX_BASE: u64 = DATA_BYTES / 2;
    pub const BUFS: u64 = DATA_BYTES / 2 / BUF;
    pub const CAPACITY: u64 = 16;
    pub const TX: usize = 0;
    pub const RX: usize = 1;
    pub const LAYOUT: Layout = match Layout::new(0, CAPACITY, 2) {
        Ok(l) => l,
        Err(_) => panic!("bad net queue layout"),
    };
    pub const SPECS: [PairSpec; 2] = [
        PairSpec::new(Direction::ToDevice, Bounds::span(TX_BASE, DATA_BYTES / 2).with_buf_size(BUF)),
        PairSpec::new(Direction::FromDevice, Bounds::span(RX_BASE, DATA_BYTES / 2).with_buf_size(BUF)),
    ];
    /// Everything both ends check: layout, pairs, data region size.
    pub const QUEUES: QueueSpec = QueueSpec { layout: LAYOUT, pairs: &SPECS, data_bytes: DATA_BYTES };
}

/// Receive buffers posted to the device.
pub const QUEUE_SIZE: usize = 16;
/// Size of each receive buffer (header + frame).
pub const BUF_LEN: usize = 2048;
/// Largest Ethernet frame sent or received (no VLAN tag, no FCS).
pub const MAX_FRAME: usize = 1514;

/// Why sending or receiving failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetError {
    /// A frame too large or empty.
    BadRequest,
    /// The device misbehaved: the driver cannot go on with it.
    Device(Error),
}

pub struct NetCore<H: Hal, T: Transport> {
    net: VirtIONet<H, T, QUEUE_SIZE>,
}

impl<H: Hal, T: Transport> NetCore<H, T> {
    /// Resets the device, sets it up and posts the receive buffers.
    pub fn new(transport: T) -> Result<Self, Error> {
        Ok(NetCore { net: VirtIONet::new(transport, BUF_LEN)? })
    }

    pub fn mac(&self) -> [u8; 6] {
        self.net.mac_address()
    }

    /// Sends one frame (blocks until the device took it).
    pub fn send(&mut self, frame: &[u8]) -> Result<(), NetError> {
        if frame.is_empty() || frame.len() > MAX_FRAME {
            return Err(NetError::BadRequest);
        }
        let mut tx = self.net.new_tx_buffer(frame.len());
        tx.packet_mut().copy_from_slice(frame);
        self.net.send(tx).map_err(NetError::Device)
    }

    /// Acknowledges the device's interrupt.
    pub fn ack_interrupt(&mut self) {
        let _ = self.net.ack_interrupt();
    }

    /// Takes one received frame into `out`; `Ok(None)` if none is waiting. The
    /// device's length is checked against the buffer before it is believed.
    pub fn receive(&mut self, out: &mut [u8]) -> Result<Option<usize>, NetError> {
        let rx = match self.net.receive() {
            Ok(rx) => rx,
            Err(Error::NotReady) => return Ok(None),
            Err(e) => return Err(NetError::Device(e)),
        };
        let len = rx.packet_len();
        if len > BUF_LEN || len > MAX_FRAME || len > out.len() {
            return Err(NetError::Device(Error::IoError));
        }
        out[..len].copy_from_slice(&rx.packet()[..len]);
        self.net.recycle_rx_buffer(rx).map_err(NetError::Device)?;
        Ok(Some(len))
    }
}
