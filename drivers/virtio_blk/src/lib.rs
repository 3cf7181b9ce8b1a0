//! The virtio block driver's core: `no_std`, generic over the virtio transport
//! and HAL, so the same code runs on seL4 (MMIO) and the host kernel (the
//! kernel's device model), and under `cargo test` against the model in-process.
//!
//! The device is untrusted: what it reports is checked before it is believed, and
//! a device that lies (a used-ring id the driver never posted, a status it cannot
//! have) is a [`BlkError::Device`]: the PD answers its client and then faults, so
//! the reincarnation server restarts the driver, which resets the device.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec;
use alloc::vec::Vec;

use virtio_drivers::device::blk::{SECTOR_SIZE, VirtIOBlk};
use virtio_drivers::transport::Transport;
use virtio_drivers::{Error, Hal};

pub use virtio_drivers::device::blk::SECTOR_SIZE as SECTOR;

/// The block driver's queues to its client (crate `driver-queue`): one pair of
/// rings going to the device; a request names a buffer in the client's data
/// region, the op, and the first sector (`arg`).
pub mod protocol {
    use driver_queue::{Bounds, Direction, Layout, PairSpec, QueueSpec};

    /// Read `len` bytes (whole sectors) from sector `arg` into the buffer.
    pub const OP_READ: u32 = 1;
    /// Write `len` bytes (whole sectors) from the buffer at sector `arg`.
    pub const OP_WRITE: u32 = 2;
    /// Flush the device's write cache.
    pub const OP_FLUSH: u32 = 3;
    /// Put the capacity in sectors (u64, little-endian) in the buffer (8 bytes).
    pub const OP_CAPACITY: u32 = 4;

    /// Size of the data region (`blk_data` in system.xml; both ends check).
    pub const DATA_BYTES: u64 = 0x10000;
    /// Descriptors per ring.
    pub const CAPACITY: u64 = 16;
    /// The queue set at the start of the `blk_queues` region.
    pub const LAYOUT: Layout = match Layout::new(0, CAPACITY, 1) {
        Ok(l) => l,
        Err(_) => panic!("bad block queue layout"),
    };
    /// Requests to the device, buffers anywhere in the data region.
    pub const SPECS: [PairSpec; 1] = [PairSpec::new(Direction::ToDevice, Bounds::region(DATA_BYTES))];
    /// Everything both ends check: layout, pairs, data region size.
    pub const QUEUES: QueueSpec = QueueSpec { layout: LAYOUT, pairs: &SPECS, data_bytes: DATA_BYTES };
}

/// Why a request failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlkError {
    /// Out of range, not whole sectors, too large, or a write to a read-only disk.
    BadRequest,
    /// The device reported an I/O error.
    Io,
    /// The device misbehaved: the driver cannot go on with it.
    Device(Error),
}

/// The driver.
pub struct BlkCore<H: Hal, T: Transport> {
    blk: VirtIOBlk<H, T>,
    /// Largest request in sectors.
    max_sectors: usize,
    buf: Vec<u8>,
}

impl<H: Hal, T: Transport> BlkCore<H, T> {
    /// Resets the device and sets it up (feature negotiation, the request queue);
    /// requests up to `max_sectors` sectors.
    pub fn new(transport: T, max_sectors: usize) -> Result<Self, Error> {
        let blk = VirtIOBlk::new(transport)?;
        Ok(BlkCore { blk, max_sectors, buf: vec![0; max_sectors * SECTOR_SIZE] })
    }

    /// Capacity in sectors.
    pub fn capacity(&self) -> u64 {
        self.blk.capacity()
    }

    pub fn read_only(&self) -> bool {
        self.blk.readonly()
    }

    fn check(&self, sector: u64, len: usize) -> Result<usize, BlkError> {
        if len == 0 || !len.is_multiple_of(SECTOR_SIZE) || len / SECTOR_SIZE > self.max_sectors {
            return Err(BlkError::BadRequest);
        }
        let end = sector.checked_add((len / SECTOR_SIZE) as u64).ok_or(BlkError::BadRequest)?;
        if end > self.capacity() {
            return Err(BlkError::BadRequest);
        }
        usize::try_from(sector).map_err(|_| BlkError::BadRequest)
    }

    /// Reads `out.len()` bytes (whole sectors) from `sector`.
    pub fn read(&mut self, sector: u64, out: &mut [u8]) -> Result<(), BlkError> {
        let block = self.check(sector, out.len())?;
        let buf = &mut self.buf[..out.len()];
        self.blk.read_blocks(block, buf).map_err(classify)?;
        out.copy_from_slice(buf);
        Ok(())
    }

    /// Writes `data` (whole sectors) at `sector`.
    pub fn write(&mut self, sector: u64, data: &[u8]) -> Result<(), BlkError> {
        let block = self.check(sector, data.len())?;
        if self.read_only() {
            return Err(BlkError::BadRequest);
        }
        self.blk.write_blocks(block, data).map_err(classify)
    }

    pub fn flush(&mut self) -> Result<(), BlkError> {
        self.blk.flush().map_err(classify)
    }

    /// Acknowledges the device's interrupt (requests complete synchronously; the
    /// interrupt only needs clearing).
    pub fn ack_interrupt(&mut self) {
        let _ = self.blk.ack_interrupt();
    }
}

/// What the device's answer means: an I/O error it reported is the disk's; any
/// other failure is the device breaking the virtio contract.
fn classify(e: Error) -> BlkError {
    match e {
        Error::IoError | Error::Unsupported => BlkError::Io,
        other => BlkError::Device(other),
    }
}
