//! The virtio net driver PD: frames from its client (driver-queue pair 0) go to
//! the device; frames from the device fill the buffers the client posts (pair
//! 1), with a bounded backlog in between (a slow client loses frames, as on a
//! real link). Resets the device in `init`; a device that misbehaves makes it
//! fault (the reincarnation server restarts it; the client resubmits what it held).
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;

use driver_queue::{Desc, Driver, Link, QueueError, status};
use microkit::{Channel, Handler, Region, debug_println};
use virtio_hal::{DeviceMaps, DmaHal, PdTransport};
use virtio_net::protocol::{self, LAYOUT, RX, SPECS, TX};
use virtio_net::{NetCore, NetError};

microkit::include_system!("virtio_net");

const DEVICE_IRQ: Channel = irq::IRQ_64;
const CLIENT: Channel = channel::NET_CLIENT;
const BACKLOG: usize = 64;

struct NetDriver {
    core: NetCore<DmaHal, PdTransport>,
    queues: Driver<Region>,
    data: Region,
    backlog: VecDeque<Vec<u8>>,
    /// Frame buffers delivered or dropped, kept for the next frames: the
    /// interrupt path allocates only until the backlog has been full once.
    spare: Vec<Vec<u8>>,
    buf: Vec<u8>,
}

fn broken(e: QueueError) -> ! {
    panic!("virtio_net: the client broke the queue protocol: {e}")
}

impl NetDriver {
    fn work(&mut self) {
        match self.queues.poll() {
            Ok(Link::Ready) => {}
            Ok(Link::Attached { epoch }) => {
                debug_println!("virtio_net: attached to the client's queues (epoch {epoch})")
            }
            Ok(Link::Waiting) => return,
            Ok(Link::Requested | Link::Reset) => return CLIENT.notify(),
            Err(e) => broken(e),
        }
        loop {
            let pair = self.queues.pair(TX).unwrap_or_else(|e| broken(e));
            let Some(req) = pair.next_request_or_sleep().unwrap_or_else(|e| broken(e)) else { break };
            let (offset, len) = (req.offset as usize, req.len as usize);
            let (code, done) = match req.op {
                protocol::OP_MAC if len >= 6 => match self.data.write_bytes(offset, &self.core.mac()) {
                    Ok(()) => (status::OK, 6),
                    Err(_) => (status::INVALID, 0),
                },
                protocol::OP_SEND => match self.data.read_bytes(offset, &mut self.buf[..len]) {
                    Ok(()) => match self.core.send(&self.buf[..len]) {
                        Ok(()) => (status::OK, req.len),
                        Err(NetError::BadRequest) => (status::INVALID, 0),
                        Err(NetError::Device(e)) => panic!("virtio_net: the device misbehaved ({e:?}); giving it up"),
                    },
                    Err(_) => (status::INVALID, 0),
                },
                _ => (status::UNSUPPORTED, 0),
            };
            let pair = self.queues.pair(TX).unwrap_or_else(|e| broken(e));
            pair.complete(Desc { len: done, status: code, ..req }).unwrap_or_else(|e| broken(e));
            if pair.should_notify() {
                CLIENT.notify();
            }
        }
        self.deliver();
    }

    /// Fills the client's posted buffers with received frames.
    fn deliver(&mut self) {
        while let Some(frame) = self.backlog.front() {
            let pair = self.queues.pair(RX).unwrap_or_else(|e| broken(e));
            let Some(buf) = pair.next_request_or_sleep().unwrap_or_else(|e| broken(e)) else { break };
            let (code, n) =
                if frame.len() <= buf.len as usize && self.data.write_bytes(buf.offset as usize, frame).is_ok() {
                    (status::OK, frame.len() as u32)
                } else {
                    (status::INVALID, 0)
                };
            if let Some(done) = self.backlog.pop_front() {
                self.spare.push(done);
            }
            let pair = self.queues.pair(RX).unwrap_or_else(|e| broken(e));
            pair.complete(Desc { len: n, status: code, ..buf }).unwrap_or_else(|e| broken(e));
            if pair.should_notify() {
                CLIENT.notify();
            }
        }
    }

    fn receive(&mut self) {
        self.core.ack_interrupt();
        loop {
            match self.core.receive(&mut self.buf) {
                Ok(Some(n)) => {
                    let mut frame =
                        if self.backlog.len() >= BACKLOG { self.backlog.pop_front() } else { self.spare.pop() }
                            .unwrap_or_default();
                    frame.clear();
                    frame.extend_from_slice(&self.buf[..n]);
                    self.backlog.push_back(frame);
                }
                Ok(None) => break,
                Err(e) => panic!("virtio_net: the device misbehaved ({e:?}); giving it up"),
            }
        }
        if self.queues.is_attached() {
            self.deliver();
        }
    }
}

impl Handler for NetDriver {
    fn notified(&mut self, ch: Channel) {
        if ch == DEVICE_IRQ {
            self.receive();
            if let Err(e) = DEVICE_IRQ.irq_ack() {
                // No further interrupt would come: a broken driver, for RS to restart.
                panic!("cannot acknowledge the device's IRQ: {e}");
            }
        } else if ch == CLIENT {
            self.work();
        }
    }
}

fn init() -> NetDriver {
    let transport = virtio_hal::bring_up(
        "virtio_net",
        DeviceMaps {
            dma: (region::virtio_net_dma(), setvar::dma_paddr()),
            regs: (region::virtio_net_regs(), setvar::regs_paddr()),
        },
    );
    let data = region::net_client_data();
    if data.size() as u64 != protocol::DATA_BYTES {
        panic!(
            "virtio_net: net_client_data is {:#x} bytes, the protocol says {:#x}",
            data.size(),
            protocol::DATA_BYTES
        );
    }
    let queues = match Driver::new(region::net_queues(), LAYOUT, &SPECS) {
        Ok(q) => q,
        Err(e) => panic!("virtio_net: the client's queue set: {e}"),
    };
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
    CLIENT.notify(); // ask to attach
    NetDriver { core, queues, data, backlog: VecDeque::new(), spare: Vec::new(), buf: vec![0; protocol::BUF as usize] }
}

microkit::protection_domain!(init);
