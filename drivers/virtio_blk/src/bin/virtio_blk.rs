//! The virtio block driver PD: serves its client's requests (driver-queue rings
//! in `blk_queues`, buffers in `blk_data`) on the device at the slot
//! `system.xml` maps. Resets the device in `init`. The queue work and the error
//! policy are `driver_queue::DriverShell`'s: a device that misbehaves gets the
//! request an I/O error and the driver a fault (the reincarnation server
//! restarts it; the fresh copy resets the device, and the client resubmits what
//! was in flight).
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec;
use alloc::vec::Vec;

use driver_queue::{Desc, Device, DriverPd, DriverShell, Reply, status};
use microkit::{Channel, Region, debug_println};
use virtio_blk::protocol::{self, QUEUES};
use virtio_blk::{BlkCore, BlkError, SECTOR};
use virtio_hal::{DeviceMaps, DmaHal, PdTransport};

microkit::include_system!("virtio_blk");

const DEVICE_IRQ: Channel = irq::IRQ_48;
const CLIENT: Channel = channel::VFS;

/// The device and the driver's bounce buffer.
struct Blk {
    core: BlkCore<DmaHal, PdTransport>,
    buf: Vec<u8>,
}

impl Device<Region> for Blk {
    type Error = virtio_drivers::Error;

    /// Carries out one request (its buffer is inside the data region: the queue
    /// checked it against the bounds).
    fn serve(&mut self, _pair: usize, data: &Region, req: &Desc) -> Result<Reply, Self::Error> {
        let (offset, len) = (req.offset as usize, req.len as usize);
        let result = match req.op {
            protocol::OP_CAPACITY => match data.write_bytes(offset, &self.core.capacity().to_le_bytes()) {
                Ok(()) if len >= 8 => return Ok(Reply::ok(8)),
                _ => Err(BlkError::BadRequest),
            },
            protocol::OP_READ | protocol::OP_WRITE if len == 0 || len > self.buf.len() => Err(BlkError::BadRequest),
            protocol::OP_READ => self
                .core
                .read(req.arg, &mut self.buf[..len])
                .and_then(|()| data.write_bytes(offset, &self.buf[..len]).map_err(|_| BlkError::BadRequest)),
            protocol::OP_WRITE => match data.read_bytes(offset, &mut self.buf[..len]) {
                Ok(()) => self.core.write(req.arg, &self.buf[..len]),
                Err(_) => Err(BlkError::BadRequest),
            },
            protocol::OP_FLUSH => self.core.flush(),
            _ => return Ok(Reply::failed(status::UNSUPPORTED)),
        };
        match result {
            Ok(()) => Ok(Reply::ok(req.len)),
            Err(BlkError::BadRequest) => Ok(Reply::failed(status::INVALID)),
            Err(BlkError::Io) => Ok(Reply::failed(status::IO_ERROR)),
            Err(BlkError::Device(e)) => Err(e),
        }
    }

    /// No pair from the device: requests complete synchronously.
    fn has_input(&self, _pair: usize) -> bool {
        false
    }

    /// The interrupt only needs clearing.
    fn interrupt(&mut self) -> Result<(), Self::Error> {
        self.core.ack_interrupt();
        Ok(())
    }
}

fn init() -> DriverPd<Blk> {
    let transport = virtio_hal::bring_up(
        "virtio_blk",
        DeviceMaps {
            dma: (region::virtio_blk_dma(), setvar::dma_paddr()),
            regs: (region::virtio_blk_regs(), setvar::regs_paddr()),
        },
    );
    let max_sectors = protocol::DATA_BYTES as usize / SECTOR;
    let core = match BlkCore::new(transport, max_sectors) {
        Ok(core) => core,
        Err(e) => panic!("virtio_blk: cannot set up the device: {e}"),
    };
    debug_println!("virtio_blk: device reset and ready: {} sectors ({} KiB)", core.capacity(), core.capacity() / 2);
    // Asks the client to attach us to its queues (the restart protocol).
    let shell = match DriverShell::new("virtio_blk", region::blk_queues(), region::blk_data(), &QUEUES, CLIENT) {
        Ok(shell) => shell,
        Err(e) => panic!("virtio_blk: the client's queues: {e}"),
    };
    DriverPd::new(shell, Blk { core, buf: vec![0; max_sectors * SECTOR] }, DEVICE_IRQ, CLIENT)
}

microkit::protection_domain!(init);
