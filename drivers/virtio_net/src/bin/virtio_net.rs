//! The virtio net driver PD: frames from its client go to the device; frames
//! from the device go to its client, one delivery at a time (a bounded backlog
//! in between; a slow client loses frames, as on a real link). Resets the device
//! in `init`; a device that misbehaves makes it fault (the reincarnation server
//! restarts it).
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;

use driver_mailbox::{op, status, DriverEnd};
use microkit::{debug_println, Channel, Handler};
use virtio_hal::{pd_transport, DmaHal, PdTransport};
use virtio_net::{NetCore, NetError, MAX_FRAME};

microkit::include_system!("virtio_net");

const DEVICE_IRQ: Channel = irq::IRQ_64;
const CLIENT: Channel = channel::NET_CLIENT;
const BACKLOG: usize = 64;

struct Driver {
    core: NetCore<DmaHal, PdTransport>,
    client: DriverEnd,
    backlog: VecDeque<Vec<u8>>,
    buf: Vec<u8>,
    lost: u64,
}

fn mac_word(mac: [u8; 6]) -> u64 {
    mac.iter().fold(0u64, |acc, &b| acc << 8 | b as u64)
}

impl Driver {
    fn serve(&mut self) {
        loop {
            let req = match self.client.pending() {
                Ok(Some(req)) => req,
                Ok(None) => break,
                Err(e) => panic!("virtio_net: client mailbox: {e}"),
            };
            let len = req.arg0 as usize;
            let (code, value) = match req.op {
                op::INFO => (status::OK, mac_word(self.core.mac())),
                op::WRITE if len <= MAX_FRAME && self.client.read_request_data(&mut self.buf[..len]).is_ok() => {
                    match self.core.send(&self.buf[..len]) {
                        Ok(()) => (status::OK, len as u64),
                        Err(NetError::BadRequest) => (status::BAD_REQUEST, 0),
                        Err(NetError::Device(e)) => {
                            let _ = self.client.respond(req.seq, status::DEVICE_ERROR, 0);
                            CLIENT.notify();
                            panic!("virtio_net: the device misbehaved ({e:?}); giving it up");
                        }
                    }
                }
                _ => (status::BAD_REQUEST, 0),
            };
            if let Err(e) = self.client.respond(req.seq, code, value) {
                panic!("virtio_net: client mailbox: {e}");
            }
            CLIENT.notify();
        }
        self.deliver();
    }

    fn receive(&mut self) {
        self.core.ack_interrupt();
        loop {
            match self.core.receive(&mut self.buf) {
                Ok(Some(n)) => {
                    if self.backlog.len() >= BACKLOG {
                        self.backlog.pop_front();
                        self.lost += 1;
                    }
                    self.backlog.push_back(self.buf[..n].to_vec());
                }
                Ok(None) => break,
                Err(e) => panic!("virtio_net: the device misbehaved ({e:?}); giving it up"),
            }
        }
        self.deliver();
    }

    fn deliver(&mut self) {
        let Some(frame) = self.backlog.front() else { return };
        match self.client.deliver(frame) {
            Ok(true) => {
                self.backlog.pop_front();
                CLIENT.notify();
            }
            Ok(false) => {}
            Err(e) => panic!("virtio_net: client mailbox: {e}"),
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
    if let Err(e) = DmaHal::init_region(region::virtio_net_dma(), setvar::dma_paddr()) {
        panic!("virtio_net: DMA region: {e:?}");
    }
    let transport = match pd_transport(region::virtio_net_regs(), setvar::regs_paddr()) {
        Ok(t) => t,
        Err(e) => panic!("virtio_net: no virtio-mmio device at {:#x}: {e}", setvar::regs_paddr()),
    };
    let client = match DriverEnd::new(region::net_client_ctl(), region::net_client_data()) {
        Ok(c) => c,
        Err(e) => panic!("virtio_net: client mailbox: {e}"),
    };
    let core = match NetCore::new(transport) {
        Ok(core) => core,
        Err(e) => panic!("virtio_net: cannot set up the device: {e}"),
    };
    let m = core.mac();
    debug_println!(
        "virtio_net: device reset and ready, MAC {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    );
    let mut driver = Driver { core, client, backlog: VecDeque::new(), buf: vec![0; 2048], lost: 0 };
    let _ = driver.lost;
    driver.serve();
    driver
}

microkit::protection_domain!(init);
