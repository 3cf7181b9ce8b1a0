//! The virtio console driver PD: output chunks from its client (driver-queue pair
//! 0) go to the device; input from the device fills the buffers the client posts
//! (pair 1). Resets the device in `init`; a device that misbehaves makes it fault
//! (the reincarnation server restarts it; the client resubmits what it held).
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;

use driver_queue::{Desc, Driver, Link, QueueError, status};
use microkit::{Channel, Handler, Region, debug_println};
use virtio_console::ConsoleCore;
use virtio_console::protocol::{self, LAYOUT, RX, SPECS, TX};
use virtio_hal::{DeviceMaps, DmaHal, PdTransport};

microkit::include_system!("virtio_console");

const DEVICE_IRQ: Channel = irq::IRQ_56;
const CLIENT: Channel = channel::CONSOLE_CLIENT;
/// Input kept while the client has no buffer posted; older bytes are dropped past this.
const BACKLOG: usize = 1 << 16;

struct ConsoleDriver {
    core: ConsoleCore<DmaHal, PdTransport>,
    queues: Driver<Region>,
    data: Region,
    backlog: VecDeque<u8>,
    buf: Vec<u8>,
}

fn broken(e: QueueError) -> ! {
    panic!("virtio_console: the client broke the queue protocol: {e}")
}

impl ConsoleDriver {
    fn work(&mut self) {
        match self.queues.poll() {
            Ok(Link::Ready) => {}
            Ok(Link::Attached { epoch }) => {
                debug_println!("virtio_console: attached to the client's queues (epoch {epoch})")
            }
            Ok(Link::Waiting) => return,
            Ok(Link::Requested | Link::Reset) => return CLIENT.notify(),
            Err(e) => broken(e),
        }
        // Output.
        loop {
            let pair = self.queues.pair(TX).unwrap_or_else(|e| broken(e));
            let Some(req) = pair.next_request_or_sleep().unwrap_or_else(|e| broken(e)) else { break };
            let len = req.len as usize;
            let code = match self.data.read_bytes(req.offset as usize, &mut self.buf[..len]) {
                Ok(()) => match self.core.send(&self.buf[..len]) {
                    Ok(()) => status::OK,
                    Err(e) => panic!("virtio_console: the device misbehaved ({e:?}); giving it up"),
                },
                Err(_) => status::INVALID,
            };
            let pair = self.queues.pair(TX).unwrap_or_else(|e| broken(e));
            pair.complete(Desc { status: code, ..req }).unwrap_or_else(|e| broken(e));
            if pair.should_notify() {
                CLIENT.notify();
            }
        }
        self.deliver();
    }

    /// Fills the client's posted buffers with what arrived.
    fn deliver(&mut self) {
        while !self.backlog.is_empty() {
            let pair = self.queues.pair(RX).unwrap_or_else(|e| broken(e));
            // Empty: the client notifies when it posts more.
            let Some(buf) = pair.next_request_or_sleep().unwrap_or_else(|e| broken(e)) else { break };
            // The oldest `n` bytes, straight from the backlog's two halves.
            let n = (buf.len as usize).min(self.backlog.len());
            let (front, back) = self.backlog.as_slices();
            let (first, second) =
                if n <= front.len() { (&front[..n], &[][..]) } else { (front, &back[..n - front.len()]) };
            let offset = buf.offset as usize;
            let written =
                self.data.write_bytes(offset, first).and_then(|()| self.data.write_bytes(offset + first.len(), second));
            let code = if written.is_ok() { status::OK } else { status::INVALID };
            self.backlog.drain(..n);
            let pair = self.queues.pair(RX).unwrap_or_else(|e| broken(e));
            pair.complete(Desc { len: n as u32, status: code, ..buf }).unwrap_or_else(|e| broken(e));
            if pair.should_notify() {
                CLIENT.notify();
            }
        }
    }

    fn receive(&mut self) {
        let mut chunk = [0u8; 256];
        loop {
            let n = match self.core.receive(&mut chunk) {
                Ok(n) => n,
                Err(e) => panic!("virtio_console: the device misbehaved ({e:?}); giving it up"),
            };
            if n == 0 {
                break;
            }
            let over = (self.backlog.len() + n).saturating_sub(BACKLOG);
            self.backlog.drain(..over.min(self.backlog.len()));
            self.backlog.extend(&chunk[..n]);
        }
        if self.queues.is_attached() {
            self.deliver();
        }
    }
}

impl Handler for ConsoleDriver {
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

fn init() -> ConsoleDriver {
    let transport = virtio_hal::bring_up(
        "virtio_console",
        DeviceMaps {
            dma: (region::virtio_console_dma(), setvar::dma_paddr()),
            regs: (region::virtio_console_regs(), setvar::regs_paddr()),
        },
    );
    let data = region::console_client_data();
    if data.size() as u64 != protocol::DATA_BYTES {
        panic!(
            "virtio_console: console_client_data is {:#x} bytes, the protocol says {:#x}",
            data.size(),
            protocol::DATA_BYTES
        );
    }
    let queues = match Driver::new(region::console_queues(), LAYOUT, &SPECS) {
        Ok(q) => q,
        Err(e) => panic!("virtio_console: the client's queue set: {e}"),
    };
    let core = match ConsoleCore::new(transport) {
        Ok(core) => core,
        Err(e) => panic!("virtio_console: cannot set up the device: {e}"),
    };
    debug_println!("virtio_console: device reset and ready");
    CLIENT.notify(); // ask to attach
    ConsoleDriver { core, queues, data, backlog: VecDeque::new(), buf: vec![0; protocol::BUF as usize] }
}

microkit::protection_domain!(init);
