//! The virtio block driver PD: serves its client's requests (driver-queue rings
//! in `blk_queues`, buffers in `blk_client_data`) on the device at the slot
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

use driver_queue::{Desc, DriverShell, Reply, status};
use microkit::{Channel, Handler, Region, debug_println};
use virtio_blk::protocol::{self, QUEUES};
use virtio_blk::{BlkCore, BlkError, SECTOR};
use virtio_hal::{DeviceMaps, DmaHal, PdTransport};

microkit::include_system!("virtio_blk");

const DEVICE_IRQ: Channel = irq::IRQ_48;
const CLIENT: Channel = channel::BLK_CLIENT;

/// The device and the driver's bounce buffer.
struct Blk {
    core: BlkCore<DmaHal, PdTransport>,
    buf: Vec<u8>,
}

impl Blk {
    /// Carries out one request (its buffer is inside the data region: the queue
    /// checked it against the bounds). `Err`: the device broke.
    fn request(&mut self, data: &Region, req: &Desc) -> Result<Reply, virtio_drivers::Error> {
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
}

struct BlkDriver {
    shell: DriverShell<Region, Channel>,
    blk: Blk,
}

impl Handler for BlkDriver {
    fn notified(&mut self, ch: Channel) {
        if ch == DEVICE_IRQ {
            self.blk.core.ack_interrupt();
            DEVICE_IRQ.irq_ack();
        } else if ch == CLIENT && self.shell.on_notify() {
            self.shell.serve_all(0, |data, req| self.blk.request(data, req));
        }
    }
}

fn init() -> BlkDriver {
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
    let shell = match DriverShell::new("virtio_blk", region::blk_queues(), region::blk_client_data(), &QUEUES, CLIENT) {
        Ok(shell) => shell,
        Err(e) => panic!("virtio_blk: the client's queues: {e}"),
    };
    BlkDriver { shell, blk: Blk { core, buf: vec![0; max_sectors * SECTOR] } }
}

microkit::protection_domain!(init);
