//! A test client of the net driver, the server end of its queues: answers ARP,
//! ping and UDP echo (port 7) for 10.0.2.15 (QEMU user networking's guest
//! address; `test_clients::responder`), so `ping` and `nc -u` reach the system
//! through the driver.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;

use driver_queue::{ClientApp, ClientPd, Completion, Desc, QueueClient, status};
use microkit::{Channel, Region, debug_println};
use test_clients::responder::{Answer, answer};
use virtio_net::protocol::{self, BUF, BUFS, QUEUES, RX, RX_BASE, TX, TX_BASE};

microkit::include_system!("net_client");

const DRIVER: Channel = channel::VIRTIO_NET;
pub const IP: [u8; 4] = [10, 0, 2, 15];

type Queues = QueueClient<Region, Channel>;

struct Client {
    mac: Option<[u8; 6]>,
    out: VecDeque<Vec<u8>>,
    free_tx: Vec<u64>,
    answered: u64,
}

fn submit(queues: &mut Queues, pair: usize, d: Desc) {
    if let Err(e) = queues.submit(pair, d) {
        panic!("net_client: cannot submit: {e}");
    }
}

impl Client {
    fn send_more(&mut self, queues: &mut Queues) {
        while !self.out.is_empty() {
            let Some(offset) = self.free_tx.pop() else { return };
            let frame = self.out.pop_front().unwrap_or_default();
            if let Err(e) = queues.data().write_bytes(offset as usize, &frame) {
                panic!("net_client: {e}");
            }
            submit(queues, TX, Desc { op: protocol::OP_SEND, ..Desc::new(offset, frame.len() as u32) });
        }
    }
}

impl ClientApp for Client {
    fn completed(&mut self, queues: &mut Queues, pair: usize, c: Completion) {
        if pair == TX {
            if c.request.op == protocol::OP_MAC {
                let mut m = [0u8; 6];
                if c.status == status::OK
                    && c.len == 6
                    && queues.data().read_bytes(c.request.offset as usize, &mut m).is_ok()
                {
                    self.mac = Some(m);
                    debug_println!("net_client: answering for {}.{}.{}.{}", IP[0], IP[1], IP[2], IP[3]);
                } else {
                    submit(queues, TX, c.request); // ask again
                    return;
                }
            }
            self.free_tx.push(c.request.offset);
            return;
        }
        let mut frame = vec![0u8; c.len as usize];
        if let (Some(mac), status::OK) = (self.mac, c.status)
            && queues.data().read_bytes(c.request.offset as usize, &mut frame).is_ok()
            && let Some(a) = answer(&frame, mac, IP)
        {
            self.answered += 1;
            let what = match a {
                Answer::Arp(_) => "arp",
                Answer::Ping(_) => "ping",
                Answer::UdpEcho(_) => "udp echo",
            };
            debug_println!("net_client: answered {what} ({} in all)", self.answered);
            self.out.push_back(a.frame().to_vec());
        }
        submit(queues, RX, Desc::new(c.request.offset, BUF as u32));
    }

    fn idle(&mut self, queues: &mut Queues) {
        self.send_more(queues);
    }
}

fn init() -> ClientPd<Client> {
    let mut queues =
        match QueueClient::new("net_client", region::net_queues(), region::net_client_data(), &QUEUES, DRIVER) {
            Ok(q) => q,
            Err(e) => panic!("net_client: the driver's queues: {e}"),
        };
    let mut free_tx: Vec<u64> = (0..BUFS).map(|i| TX_BASE + i * BUF).collect();
    let mac_buf = free_tx.pop().unwrap_or(TX_BASE);
    let client = Client { mac: None, out: VecDeque::new(), free_tx, answered: 0 };
    for i in 0..BUFS {
        submit(&mut queues, RX, Desc::new(RX_BASE + i * BUF, BUF as u32));
    }
    submit(&mut queues, TX, Desc { op: protocol::OP_MAC, ..Desc::new(mac_buf, 6) });
    ClientPd::new(queues, client, DRIVER)
}

microkit::protection_domain!(init);
