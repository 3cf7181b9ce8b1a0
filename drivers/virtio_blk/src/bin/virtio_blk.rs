//! The virtio block driver PD: serves its client's requests (driver-queue rings
//! in `blk_queues`, buffers in `blk_client_data`) on the device at the slot
//! `system.xml` maps. Resets the device in `init`. A device that misbehaves gets
//! the request an I/O error and the driver a fault (the reincarnation server
//! restarts it; the fresh copy resets the device, and the client resubmits what
//! was in flight).
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec;
use alloc::vec::Vec;

use driver_queue::{Desc, Driver, Link, status};
use microkit::{Channel, Handler, Region, debug_println};
use virtio_blk::protocol::{self, LAYOUT, SPECS};
use virtio_blk::{BlkCore, BlkError, SECTOR};
use virtio_hal::{DeviceMaps, DmaHal, PdTransport};

microkit::include_system!("virtio_blk");

const DEVICE_IRQ: Channel = irq::IRQ_48;
const CLIENT: Channel = channel::BLK_CLIENT;

struct BlkDriver {
    core: BlkCore<DmaHal, PdTransport>,
    queues: Driver<Region>,
    data: Region,
    buf: Vec<u8>,
}

impl BlkDriver {
    /// Serves every request in the ring.
    fn work(&mut self) {
        match self.queues.poll() {
            Ok(Link::Ready) => {}
            Ok(Link::Attached { epoch }) => {
                debug_println!("virtio_blk: attached to the client's queues (epoch {epoch})")
            }
            Ok(Link::Waiting) => return,
            Ok(Link::Requested | Link::Reset) => return CLIENT.notify(),
            Err(e) => panic!("virtio_blk: the client's queue set is unusable: {e}"),
        }
        loop {
            let Ok(pair) = self.queues.pair(0) else { return };
            let req = match pair.next_request_or_sleep() {
                Ok(Some(r)) => r,
                Ok(None) => return,
                Err(e) => panic!("virtio_blk: the client broke the queue protocol: {e}"),
            };
            let (code, len, broken) = self.request(&req);
            let Ok(pair) = self.queues.pair(0) else { return };
            if let Err(e) = pair.complete(Desc { len, status: code, ..req }) {
                panic!("virtio_blk: cannot complete: {e}");
            }
            if pair.should_notify() {
                CLIENT.notify();
            }
            if let Some(e) = broken {
                CLIENT.notify();
                panic!("virtio_blk: the device misbehaved ({e:?}); giving it up");
            }
        }
    }

    /// Carries out one request (its buffer is inside the data region: the queue
    /// checked it against the bounds).
    fn request(&mut self, req: &Desc) -> (u32, u32, Option<virtio_drivers::Error>) {
        let (offset, len) = (req.offset as usize, req.len as usize);
        let result = match req.op {
            protocol::OP_CAPACITY => match self.data.write_bytes(offset, &self.core.capacity().to_le_bytes()) {
                Ok(()) if len >= 8 => return (status::OK, 8, None),
                _ => Err(BlkError::BadRequest),
            },
            protocol::OP_READ | protocol::OP_WRITE if len == 0 || len > self.buf.len() => Err(BlkError::BadRequest),
            protocol::OP_READ => self
                .core
                .read(req.arg, &mut self.buf[..len])
                .and_then(|()| self.data.write_bytes(offset, &self.buf[..len]).map_err(|_| BlkError::BadRequest)),
            protocol::OP_WRITE => match self.data.read_bytes(offset, &mut self.buf[..len]) {
                Ok(()) => self.core.write(req.arg, &self.buf[..len]),
                Err(_) => Err(BlkError::BadRequest),
            },
            protocol::OP_FLUSH => self.core.flush(),
            _ => return (status::UNSUPPORTED, 0, None),
        };
        match result {
            Ok(()) => (status::OK, req.len, None),
            Err(BlkError::BadRequest) => (status::INVALID, 0, None),
            Err(BlkError::Io) => (status::IO_ERROR, 0, None),
            Err(BlkError::Device(e)) => (status::IO_ERROR, 0, Some(e)),
        }
    }
}

impl Handler for BlkDriver {
    fn notified(&mut self, ch: Channel) {
        if ch == DEVICE_IRQ {
            self.core.ack_interrupt();
            if let Err(e) = DEVICE_IRQ.irq_ack() {
                // No further interrupt would come: a broken driver, for RS to restart.
                panic!("cannot acknowledge the device's IRQ: {e}");
            }
        } else if ch == CLIENT {
            self.work();
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
    let data = region::blk_client_data();
    if data.size() as u64 != protocol::DATA_BYTES {
        panic!(
            "virtio_blk: blk_client_data is {:#x} bytes, the protocol says {:#x}",
            data.size(),
            protocol::DATA_BYTES
        );
    }
    let queues = match Driver::new(region::blk_queues(), LAYOUT, &SPECS) {
        Ok(q) => q,
        Err(e) => panic!("virtio_blk: the client's queue set: {e}"),
    };
    let max_sectors = data.size() / SECTOR;
    let core = match BlkCore::new(transport, max_sectors) {
        Ok(core) => core,
        Err(e) => panic!("virtio_blk: cannot set up the device: {e}"),
    };
    debug_println!("virtio_blk: device reset and ready: {} sectors ({} KiB)", core.capacity(), core.capacity() / 2);
    // Ask the client to attach us to its queues (the restart protocol).
    CLIENT.notify();
    BlkDriver { core, queues, data, buf: vec![0; max_sectors * SECTOR] }
}

microkit::protection_domain!(init);
