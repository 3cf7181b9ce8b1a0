//! The virtio console driver's core: `no_std`, generic over the virtio transport
//! and HAL (see the block driver for the pattern). One port; bytes out are sent
//! in chunks, bytes in are collected after each interrupt.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

use virtio_drivers::device::console::VirtIOConsole;
use virtio_drivers::transport::Transport;
use virtio_drivers::{Error, Hal};

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
