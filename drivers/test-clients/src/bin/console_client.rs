//! A test client of the console driver, the server end of its queues: greets,
//! then echoes every line it reads back in capital letters.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;

use driver_queue::{Completion, Desc, Event, QueueClient, status};
use microkit::{Channel, Handler, Region, debug_println};
use virtio_console::protocol::{BUF, BUFS, QUEUES, RX, RX_BASE, TX, TX_BASE};

microkit::include_system!("console_client");

const DRIVER: Channel = channel::VIRTIO_CONSOLE;

struct Client {
    queues: QueueClient<Region, Channel>,
    /// Bytes waiting to be sent.
    out: VecDeque<u8>,
    /// Output buffers not in flight.
    free_tx: Vec<u64>,
    /// The current input line.
    line: Vec<u8>,
    lines: u64,
}

impl Client {
    fn submit(&mut self, pair: usize, d: Desc) {
        if let Err(e) = self.queues.submit(pair, d) {
            panic!("console_client: cannot submit: {e}");
        }
    }

    fn send_more(&mut self) {
        while !self.out.is_empty() {
            let Some(offset) = self.free_tx.pop() else { return };
            let n = self.out.len().min(BUF as usize);
            let chunk: Vec<u8> = self.out.drain(..n).collect();
            if let Err(e) = self.queues.data().write_bytes(offset as usize, &chunk) {
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
        if c.status == status::OK && self.queues.data().read_bytes(c.request.offset as usize, &mut bytes).is_ok() {
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
        while let Some(event) = self.queues.next_event() {
            match event {
                Event::Attached { .. } => {}
                Event::Reclaimed(r) => self.submit(r.pair, Desc { id: 0, ..r.request }),
                Event::Completed { pair, completion } => self.completed(pair, completion),
            }
        }
        self.send_more();
    }
}

fn init() -> Client {
    let queues = match QueueClient::new(
        "console_client",
        region::console_queues(),
        region::console_client_data(),
        &QUEUES,
        DRIVER,
    ) {
        Ok(q) => q,
        Err(e) => panic!("console_client: the driver's queues: {e}"),
    };
    let free_tx = (0..BUFS).map(|i| TX_BASE + i * BUF).collect();
    let mut client = Client { queues, out: VecDeque::new(), free_tx, line: Vec::new(), lines: 0 };
    for i in 0..BUFS {
        client.submit(RX, Desc::new(RX_BASE + i * BUF, BUF as u32));
    }
    client.out.extend(b"reincarnate console: type a line\r\n");
    client.send_more();
    client
}

microkit::protection_domain!(init);
