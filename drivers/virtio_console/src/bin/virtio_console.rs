//! The virtio console driver PD: bytes from its client go to the device; bytes
//! from the device go to its client, one delivery at a time. Resets the device in
//! `init`; a device that misbehaves makes it fault (the reincarnation server
//! restarts it).
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;

use driver_mailbox::{op, status, DriverEnd};
use microkit::{debug_println, Channel, Handler};
use virtio_console::ConsoleCore;
use virtio_hal::{pd_transport, DmaHal, PdTransport};

microkit::include_system!("virtio_console");

const DEVICE_IRQ: Channel = irq::IRQ_56;
const CLIENT: Channel = channel::CONSOLE_CLIENT;
/// Received bytes kept while the client is slow; older ones are dropped past this.
const BACKLOG: usize = 1 << 16;

struct Driver {
    core: ConsoleCore<DmaHal, PdTransport>,
    client: DriverEnd,
    backlog: VecDeque<u8>,
    buf: Vec<u8>,
}

impl Driver {
    fn serve(&mut self) {
        loop {
            let req = match self.client.pending() {
                Ok(Some(req)) => req,
                Ok(None) => break,
                Err(e) => panic!("virtio_console: client mailbox: {e}"),
            };
            let len = req.arg0 as usize;
            let code = if req.op != op::WRITE || len > self.buf.len() {
                status::BAD_REQUEST
            } else if self.client.read_request_data(&mut self.buf[..len]).is_err() {
                status::BAD_REQUEST
            } else {
                match self.core.send(&self.buf[..len]) {
                    Ok(()) => status::OK,
                    Err(e) => {
                        let _ = self.client.respond(req.seq, status::DEVICE_ERROR, 0);
                        CLIENT.notify();
                        panic!("virtio_console: the device misbehaved ({e:?}); giving it up");
                    }
                }
            };
            if let Err(e) = self.client.respond(req.seq, code, len as u64) {
                panic!("virtio_console: client mailbox: {e}");
            }
            CLIENT.notify();
        }
        self.deliver();
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
        self.deliver();
    }

    /// Hands the client what arrived, if its receive slot is free.
    fn deliver(&mut self) {
        if self.backlog.is_empty() {
            return;
        }
        let n = self.backlog.len().min(self.client.rx_capacity());
        let data: Vec<u8> = self.backlog.iter().take(n).copied().collect();
        match self.client.deliver(&data) {
            Ok(true) => {
                self.backlog.drain(..n);
                CLIENT.notify();
            }
            Ok(false) => {}
            Err(e) => panic!("virtio_console: client mailbox: {e}"),
        }
    }
}

impl Handler for Driver {
    fn notified(&mut self, ch: Channel) {
        if ch == DEVICE_IRQ {
            self.receive();
            DEVICE_IRQ.irq_ack();
        } else if ch == CLIENT {
            self.serve();
        }
    }
}

fn init() -> Driver {
    if let Err(e) = DmaHal::init_region(region::virtio_console_dma(), setvar::dma_paddr()) {
        panic!("virtio_console: DMA region: {e:?}");
    }
    let transport = match pd_transport(region::virtio_console_regs(), setvar::regs_paddr()) {
        Ok(t) => t,
        Err(e) => panic!("virtio_console: no virtio-mmio device at {:#x}: {e}", setvar::regs_paddr()),
    };
    let client = match DriverEnd::new(region::console_client_ctl(), region::console_client_data()) {
        Ok(c) => c,
        Err(e) => panic!("virtio_console: client mailbox: {e}"),
    };
    let core = match ConsoleCore::new(transport) {
        Ok(core) => core,
        Err(e) => panic!("virtio_console: cannot set up the device: {e}"),
    };
    debug_println!("virtio_console: device reset and ready");
    let cap = client.request_capacity();
    let mut driver = Driver { core, client, backlog: VecDeque::new(), buf: vec![0; cap] };
    driver.serve();
    driver
}

microkit::protection_domain!(init);
