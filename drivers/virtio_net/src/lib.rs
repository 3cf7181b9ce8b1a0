//! The virtio net driver's core: `no_std`, generic over the virtio transport and
//! HAL (see the block driver for the pattern), and [`responder`], the tiny
//! ARP/ICMP/UDP-echo logic of the test client.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod responder;

use virtio_drivers::device::net::VirtIONet;
use virtio_drivers::transport::Transport;
use virtio_drivers::{Error, Hal};

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
