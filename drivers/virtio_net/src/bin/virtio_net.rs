//! The virtio net driver PD: frames from its client (driver-queue pair 0) go to
//! the device; frames from the device fill the buffers the client posts (pair
//! 1), with a bounded backlog in between (a slow client loses frames, as on a
//! real link). Resets the device in `init`. The queue work and the error policy
//! are `driver_queue::DriverShell`'s: a device that misbehaves fails the request
//! in hand and makes the driver fault (the reincarnation server restarts it; the
//! client resubmits what it held).
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;

use driver_queue::{Desc, Device, DriverPd, DriverShell, Reply, status};
use microkit::{Channel, Region, debug_println};
use virtio_hal::{DeviceMaps, DmaHal, PdTransport};
use virtio_net::protocol::{self, QUEUES, TX};
use virtio_net::{NetCore, NetError};

microkit::include_system!("virtio_net");

const DEVICE_IRQ: Channel = irq::IRQ_64;
const CLIENT: Channel = channel::NET;
const BACKLOG: usize = 64;

/// The device, the frames received and not delivered yet, and a bounce buffer.
struct Net {
    core: NetCore<DmaHal, PdTransport>,
    backlog: VecDeque<Vec<u8>>,
    /// Frame buffers delivered or dropped, kept for the next frames: the
    /// interrupt path allocates only until the backlog has been full once.
    spare: Vec<Vec<u8>>,
    buf: Vec<u8>,
}

impl Device<Region> for Net {
    type Error = NetError;

    /// Pair 0: sends a frame, or tells the MAC. Pair 1: fills a posted buffer.
    fn serve(&mut self, pair: usize, data: &Region, req: &Desc) -> Result<Reply, Self::Error> {
        if pair != TX {
            return Ok(self.fill(data, req));
        }
        let (offset, len) = (req.offset as usize, req.len as usize);
        Ok(match req.op {
            protocol::OP_MAC if len >= 6 => match data.write_bytes(offset, &self.core.mac()) {
                Ok(()) => Reply::ok(6),
                Err(_) => Reply::failed(status::INVALID),
            },
            protocol::OP_SEND => match data.read_bytes(offset, &mut self.buf[..len]) {
                Ok(()) => match self.core.send(&self.buf[..len]) {
                    Ok(()) => Reply::ok(req.len),
                    Err(NetError::BadRequest) => Reply::failed(status::INVALID),
                    Err(e) => return Err(e),
                },
                Err(_) => Reply::failed(status::INVALID),
            },
            _ => Reply::failed(status::UNSUPPORTED),
        })
    }

    fn has_input(&self, _pair: usize) -> bool {
        !self.backlog.is_empty()
    }

    /// Moves the frames the device received into the backlog.
    fn interrupt(&mut self) -> Result<(), Self::Error> {
        self.core.ack_interrupt();
        while let Some(n) = self.core.receive(&mut self.buf)? {
            let mut frame = if self.backlog.len() >= BACKLOG { self.backlog.pop_front() } else { self.spare.pop() }
                .unwrap_or_default();
            frame.clear();
            frame.extend_from_slice(&self.buf[..n]);
            self.backlog.push_back(frame);
        }
        Ok(())
    }
}

impl Net {
    /// Fills one posted buffer with the oldest frame of the backlog.
    fn fill(&mut self, data: &Region, buf: &Desc) -> Reply {
        let Some(frame) = self.backlog.pop_front() else { return Reply::ok(0) };
        let reply = if frame.len() <= buf.len as usize && data.write_bytes(buf.offset as usize, &frame).is_ok() {
            Reply::ok(frame.len() as u32)
        } else {
            Reply::failed(status::INVALID)
        };
        self.spare.push(frame);
        reply
    }
}

fn init() -> DriverPd<Net> {
    let transport = virtio_hal::bring_up(
        "virtio_net",
        DeviceMaps {
            dma: (region::virtio_net_dma(), setvar::dma_paddr()),
            regs: (region::virtio_net_regs(), setvar::regs_paddr()),
        },
    );
    let core = match NetCore::new(transport) {
        Ok(core) => core,
        Err(e) => panic!("virtio_net: cannot set up the device: {e}"),
    };
    let m = core.mac();
    debug_println!(
        "virtio_net: device reset and ready, MAC {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0],
        m[1],
        m[2],
        m[3],
        m[4],
        m[5]
    );
    // Asks the client to attach us to its queues (the restart protocol).
    let shell = match DriverShell::new("virtio_net", region::net_queues(), region::net_driver_data(), &QUEUES, CLIENT) {
        Ok(shell) => shell,
        Err(e) => panic!("virtio_net: the client's queues: {e}"),
    };
    let net = Net { core, backlog: VecDeque::new(), spare: Vec::new(), buf: vec![0; protocol::BUF as usize] };
    DriverPd::new(shell, net, DEVICE_IRQ, CLIENT)
}

microkit::protection_domain!(init);
