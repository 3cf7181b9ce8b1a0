//! A test client of the net driver: answers ARP, ping and UDP echo (port 7) for
//! 10.0.2.15 (QEMU user networking's guest address), so `ping` and `nc -u` reach
//! the system through the driver.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;

use driver_mailbox::{op, status, ClientEnd};
use microkit::{debug_println, Channel, Handler};
use virtio_net::responder::{answer, Answer};

microkit::include_system!("net_client");

const DRIVER: Channel = channel::VIRTIO_NET;
pub const IP: [u8; 4] = [10, 0, 2, 15];

struct Client {
    end: ClientEnd,
    mac: Option<[u8; 6]>,
    out: VecDeque<Vec<u8>>,
    busy: bool,
    answered: u64,
}

impl Client {
    fn post(&mut self) {
        if self.busy {
            return;
        }
        let Some(frame) = self.out.pop_front() else { return };
        if let Err(e) = self.end.write_data(&frame).and_then(|()| self.end.post(op::WRITE, frame.len() as u64, 0).map(|_| ())) {
            panic!("net_client: {e}");
        }
        self.busy = true;
        DRIVER.notify();
    }
}

impl Handler for Client {
    fn notified(&mut self, ch: Channel) {
        if ch != DRIVER {
            return;
        }
        if self.busy {
            if let Ok(Some(resp)) = self.end.response() {
                self.busy = false;
                if self.mac.is_none() {
                    if resp.status == status::OK {
                        let m = resp.value.to_be_bytes();
                        self.mac = Some([m[2], m[3], m[4], m[5], m[6], m[7]]);
                        debug_println!("net_client: answering for {}.{}.{}.{}", IP[0], IP[1], IP[2], IP[3]);
                    } else {
                        self.end.post(op::INFO, 0, 0).ok();
                        self.busy = true;
                        DRIVER.notify();
                        return;
                    }
                }
            }
        }
        let mut buf = vec![0u8; 2048];
        let mut consumed = false;
        while let Ok(Some(n)) = self.end.receive(&mut buf) {
            consumed = true;
            let (Some(mac), true) = (self.mac, n <= buf.len()) else { continue };
            if let Some(a) = answer(&buf[..n], mac, IP) {
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
        let was_busy = self.busy;
        self.post();
        if consumed && !was_busy && !self.busy {
            DRIVER.notify(); // the receive slot is free again
        }
    }
}

fn init() -> Client {
    let end = match ClientEnd::new(region::net_client_ctl(), region::net_client_data()) {
        Ok(end) => end,
        Err(e) => panic!("net_client: {e}"),
    };
    let mut client = Client { end, mac: None, out: VecDeque::new(), busy: false, answered: 0 };
    if let Err(e) = client.end.post(op::INFO, 0, 0) {
        panic!("net_client: {e}");
    }
    client.busy = true;
    DRIVER.notify();
    client
}

microkit::protection_domain!(init);
