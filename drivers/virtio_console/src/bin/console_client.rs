//! A test client of the console driver: greets, then echoes every line it reads
//! back in capital letters.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;

use driver_mailbox::{op, ClientEnd};
use microkit::{debug_println, Channel, Handler};

microkit::include_system!("console_client");

const DRIVER: Channel = channel::VIRTIO_CONSOLE;

struct Client {
    end: ClientEnd,
    /// Bytes waiting to be sent.
    out: VecDeque<u8>,
    /// The current input line.
    line: Vec<u8>,
    sending: bool,
    lines: u64,
}

impl Client {
    fn send_more(&mut self) {
        if self.sending || self.out.is_empty() {
            return;
        }
        let n = self.out.len().min(self.end.request_capacity());
        let chunk: Vec<u8> = self.out.drain(..n).collect();
        if let Err(e) = self.end.write_data(&chunk).and_then(|()| self.end.post(op::WRITE, n as u64, 0).map(|_| ())) {
            panic!("console_client: {e}");
        }
        self.sending = true;
        DRIVER.notify();
    }
}

impl Handler for Client {
    fn notified(&mut self, ch: Channel) {
        if ch != DRIVER {
            return;
        }
        if self.sending {
            if let Ok(Some(_)) = self.end.response() {
                self.sending = false;
            }
        }
        let mut buf = vec![0u8; 4096];
        let mut consumed = false;
        while let Ok(Some(n)) = self.end.receive(&mut buf) {
            consumed = true;
            for &b in &buf[..n.min(buf.len())] {
                if b == b'\n' || b == b'\r' {
                    if !self.line.is_empty() {
                        self.lines += 1;
                        debug_println!("console_client: line {}: {} bytes", self.lines, self.line.len());
                        let upper: Vec<u8> = self.line.iter().map(|c| c.to_ascii_uppercase()).collect();
                        self.out.extend(upper);
                        self.out.extend(b"\r\n");
                        self.line.clear();
                    }
                } else {
                    self.line.push(b);
                }
            }
        }
        self.send_more();
        if consumed && !self.sending {
            DRIVER.notify(); // the receive slot is free again
        }
    }
}

fn init() -> Client {
    let end = match ClientEnd::new(region::console_client_ctl(), region::console_client_data()) {
        Ok(end) => end,
        Err(e) => panic!("console_client: {e}"),
    };
    let mut client = Client { end, out: VecDeque::new(), line: Vec::new(), sending: false, lines: 0 };
    client.out.extend(b"reincarnate console: type a line\r\n");
    client.send_more();
    client
}

microkit::protection_domain!(init);
