//! A test client of the console driver, the server end of its queues: greets,
//! then echoes every line it reads back in capital letters.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;

use driver_queue::{Completion, Desc, QueueError, Server, status};
use microkit::{Channel, Handler, Region, debug_println};
use virtio_console::protocol::{self, BUF, BUFS, LAYOUT, RX, RX_BASE, SPECS, TX, TX_BASE};

microkit::include_system!("console_client");

const DRIVER: Channel = channel::VIRTIO_CONSOLE;

struct Client {
    queues: Server<Region>,
    data: Region,
    /// Bytes waiting to be sent.
    out: VecDeque<u8>,
    /// Output buffers not in flight.
    free_tx: Vec<u64>,
    /// The current input line.
    line: Vec<u8>,
    lines: u64,
}

fn broken(e: QueueError) -> ! {
    panic!("console_client: the driver broke the queue protocol: {e}")
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
            let n = self.out.len().min(BUF as usize);
            let chunk: Vec<u8> = self.out.drain(..n).collect();
            if let Err(e) = self.data.write_bytes(offset as usize, &chunk) {
                panic!("console_client: {e}");
            }
            self.submit(TX, Desc::new(offset, n as u32));
        }
    }

    fn completed(&mut self, pair: usize, c: Completion) {
        if pair == TX {
            self.free_tx.push(c.request.offset);
            return;
        }
        // Input: the bytes, then the buffer goes back to the driver.
        let mut bytes = vec![0u8; c.len as usize];
        if c.status == status::OK && self.data.read_bytes(c.request.offset as usize, &mut bytes).is_ok() {
            for b in bytes {
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
    let data = region::console_client_data();
    if data.size() as u64 != protocol::DATA_BYTES {
        panic!(
            "console_client: console_client_data is {:#x} bytes, the protocol says {:#x}",
            data.size(),
            protocol::DATA_BYTES
        );
    }
    let queues = match Server::new(region::console_queues(), LAYOUT, &SPECS) {
        Ok(q) => q,
        Err(e) => panic!("console_client: queue set: {e}"),
    };
    let free_tx = (0..BUFS).map(|i| TX_BASE + i * BUF).collect();
    let mut client = Client { queues, data, out: VecDeque::new(), free_tx, line: Vec::new(), lines: 0 };
    for i in 0..BUFS {
        client.submit(RX, Desc::new(RX_BASE + i * BUF, BUF as u32));
    }
    client.out.extend(b"reincarnate console: type a line\r\n");
    client.send_more();
    client
}

microkit::protection_domain!(init);
