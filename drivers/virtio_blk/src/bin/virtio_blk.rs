//! The virtio block driver PD: serves its client's requests on the device at the
//! slot `system.xml` maps. Resets the device in `init`. A device that misbehaves
//! gets its client an error and the driver a fault (the reincarnation server
//! restarts it, and the fresh copy resets the device).
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec;
use alloc::vec::Vec;

use driver_mailbox::{op, status, DriverEnd, Request};
use microkit::{debug_println, Channel, Handler};
use virtio_blk::{BlkCore, BlkError, SECTOR};
use virtio_hal::{pd_transport, DmaHal, PdTransport};

microkit::include_system!("virtio_blk");

const DEVICE_IRQ: Channel = irq::IRQ_48;
const CLIENT: Channel = channel::BLK_CLIENT;

struct Driver {
    core: BlkCore<DmaHal, PdTransport>,
    client: DriverEnd,
    buf: Vec<u8>,
}

impl Driver {
    /// Serves every pending request of the client.
    fn serve(&mut self) {
        loop {
            let req = match self.client.pending() {
                Ok(Some(req)) => req,
                Ok(None) => return,
                Err(e) => panic!("virtio_blk: client mailbox: {e}"),
            };
            let (code, value, broken) = self.request(&req);
            if let Err(e) = self.client.respond(req.seq, code, value) {
                panic!("virtio_blk: client mailbox: {e}");
            }
            CLIENT.notify();
            if let Some(e) = broken {
                panic!("virtio_blk: the device misbehaved ({e:?}); giving it up");
            }
        }
    }

    fn request(&mut self, req: &Request) -> (u64, u64, Option<virtio_drivers::Error>) {
        let bytes = (req.arg1 as usize).saturating_mul(SECTOR);
        let result = match req.op {
            op::INFO => return (status::OK, self.core.capacity(), None),
            op::READ | op::WRITE if bytes == 0 || bytes > self.buf.len() => Err(BlkError::BadRequest),
            op::READ => self.core.read(req.arg0, &mut self.buf[..bytes]).map(|()| {
                self.client.write_request_data(&self.buf[..bytes]).map_err(|_| BlkError::BadRequest)
            }).and_then(|r| r),
            op::WRITE => match self.client.read_request_data(&mut self.buf[..bytes]) {
                Ok(()) => self.core.write(req.arg0, &self.buf[..bytes]),
                Err(_) => Err(BlkError::BadRequest),
            },
            op::FLUSH => self.core.flush(),
            _ => Err(BlkError::BadRequest),
        };
        match result {
            Ok(()) => (status::OK, bytes as u64, None),
            Err(BlkError::BadRequest) => (status::BAD_REQUEST, 0, None),
            Err(BlkError::Io) => (status::IO_ERROR, 0, None),
            Err(BlkError::Device(e)) => (status::DEVICE_ERROR, 0, Some(e)),
        }
    }
}

impl Handler for Driver {
    fn notified(&mut self, ch: Channel) {
        if ch == DEVICE_IRQ {
            self.core.ack_interrupt();
            DEVICE_IRQ.irq_ack();
        } else if ch == CLIENT {
            self.serve();
        }
    }
}

fn init() -> Driver {
    if let Err(e) = DmaHal::init_region(region::virtio_blk_dma(), setvar::dma_paddr()) {
        panic!("virtio_blk: DMA region: {e:?}");
    }
    let transport = match pd_transport(region::virtio_blk_regs(), setvar::regs_paddr()) {
        Ok(t) => t,
        Err(e) => panic!("virtio_blk: no virtio-mmio device at {:#x}: {e}", setvar::regs_paddr()),
    };
    let client = match DriverEnd::new(region::blk_client_ctl(), region::blk_client_data()) {
        Ok(c) => c,
        Err(e) => panic!("virtio_blk: client mailbox: {e}"),
    };
    let max_sectors = client.request_capacity() / SECTOR;
    let core = match BlkCore::new(transport, max_sectors) {
        Ok(core) => core,
        Err(e) => panic!("virtio_blk: cannot set up the device: {e}"),
    };
    debug_println!("virtio_blk: device reset and ready: {} sectors ({} KiB)", core.capacity(), core.capacity() / 2);
    let mut driver = Driver { core, client, buf: vec![0; max_sectors * SECTOR] };
    // A request the previous instance did not answer is served now.
    driver.serve();
    driver
}

microkit::protection_domain!(init);
