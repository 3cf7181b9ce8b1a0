//! A test client of the net driver, the server end of its queues: answers ARP,
//! ping and UDP echo (port 7) for 10.0.2.15 (QEMU user networking's guest
//! address), so `ping` and `nc -u` reach the system through the driver.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;

use driver_queue::{Completion, Desc, QueueError, Server, status};
use microkit::{Channel, Handler, Region, debug_println};
use virtio_net::protocol::{self, BUF, BUFS, LAYOUT, RX, RX_BASE, SPECS, TX, TX_BASE};
use virtio_net::responder::{Answer, answer};

microkit::include_system!("net_client");

const DRIVER: Channel = channel::VIRTIO_NET;
pub const IP: [u8; 4] = [10, 0, 2, 15];

struct Client {
    queues: Server<Region>,
    data: Region,
    mac: Option<[u8; 6]>,
    out: VecDeque<Vec<u8>>,
    free_tx: Vec<u64>,
    answered: u64,
}

fn broken(e: QueueError) -> ! {
    panic!("net_client: the driver broke the queue protocol: {e}")
}

impl Client {
    fn submit(&mut self, pair: usize, d: Desc) {
        let p = self.queues.pair(pair).unwrap_or_else(|e| broken(e));
        p.submit(d).unwrap_or_else(|e| broken(e));
        if p.should_notify() {
            DRIVER.notify();
        }
    }

    fn send_more(&mut self) {
        while !self.out.is_empty() {
            let Some(offset) = self.free_tx.pop() else { return };
            let frame = self.out.pop_front().unwrap_or_default();
            if let Err(e) = self.data.write_bytes(offset as usize, &frame) {
                panic!("net_client: {e}");
            }
            self.submit(TX, Desc { op: protocol::OP_SEND, ..Desc::new(offset, frame.len() as u32) });
        }
    }

    fn completed(&mut self, pair: usize, c: Completion) {
        if pair == TX {
            if c.request.op == protocol::OP_MAC {
                let mut m = [0u8; 6];
                if c.status == status::OK
                    && c.len == 6
                    && self.data.read_bytes(c.request.offset as usize, &mut m).is_ok()
                {
                    self.mac = Some(m);
                    debug_println!("net_client: answering for {}.{}.{}.{}", IP[0], IP[1], IP[2], IP[3]);
                } else {
                    self.submit(TX, c.request); // ask again
                    return;
                }
            }
            self.free_tx.push(c.request.offset);
            return;
        }
        let mut frame = vec![0u8; c.len as usize];
        if let (Some(mac), status::OK) = (self.mac, c.status) {
            if self.data.read_bytes(c.request.offset as usize, &mut frame).is_ok() {
                if let Some(a) = answer(&frame, mac, IP) {
                    self.answered += 1;
                    let what = match a {
                        Answer::Arp(_) => "arp",
                        Answer::Ping(_) => "ping",
                        Answer::UdpEcho(_) => "udp echo",
                    };
                    debug_println!("net_client: answered {what} ({} in all)", self.answered);
                    self.out.push_back(a.frame().to_vec());
                }
            }
        }
        self.submit(RX, Desc::new(c.request.offset, BUF as u32));
    }
}

impl Handler for Client {
    fn notified(&mut self, ch: Channel) {
        if ch != DRIVER {
            return;
        }
        match self.queues.poll_attach() {
            Ok(None) => {}
            Ok(Some(recovery)) => {
                for (pair, c) in recovery.completed {
                    self.completed(pair, c);
                }
                DRIVER.notify();
                for r in recovery.in_flight {
                    self.submit(r.pair, Desc { id: 0, ..r.request });
                }
            }
            Err(e) => broken(e),
        }
        for pair in [TX, RX] {
            while let Some(c) = self.queues.pair(pair).and_then(|p| p.next_completion()).unwrap_or_else(|e| broken(e)) {
                self.completed(pair, c);
            }
        }
        self.send_more();
    }
}

fn init() -> Client {
    let data = region::net_client_data();
    if data.size() as u64 != protocol::DATA_BYTES {
        panic!(
            "net_client: net_client_data is {:#x} bytes, the protocol says {:#x}",
            data.size(),
            protocol::DATA_BYTES
        );
    }
    let queues = match Server::new(region::net_queues(), LAYOUT, &SPECS) {
        Ok(q) => q,
        Err(e) => panic!("net_client: queue set: {e}"),
    };
    let mut free_tx: Vec<u64> = (0..BUFS).map(|i| TX_BASE + i * BUF).collect();
    let mac_buf = free_tx.pop().unwrap_or(TX_BASE);
    let mut client = Client { queues, data, mac: None, out: VecDeque::new(), free_tx, answered: 0 };
    for i in 0..BUFS {
        client.submit(RX, Desc::new(RX_BASE + i * BUF, BUF as u32));
    }
    client.submit(TX, Desc { op: protocol::OP_MAC, ..Desc::new(mac_buf, 6) });
    client
}

microkit::protection_domain!(init);
