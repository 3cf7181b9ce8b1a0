//! A test client of the console driver, the server end of its queues: greets,
//! then echoes every line it reads back in capital letters.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;

use driver_queue::{ClientApp, ClientPd, Completion, Desc, QueueClient, status};
use microkit::{Channel, Region, debug_println};
use virtio_console::protocol::{BUF, BUFS, QUEUES, RX, RX_BASE, TX, TX_BASE};

microkit::include_system!("console_client");

const DRIVER: Channel = channel::VIRTIO_CONSOLE;

type Queues = QueueClient<Region, Channel>;

struct Client {
    /// Bytes waiting to be sent.
    out: VecDeque<u8>,
    /// Output buffers not in flight.
    free_tx: Vec<u64>,
    /// The current input line.
    line: Vec<u8>,
    lines: u64,
}

fn submit(queues: &mut Queues, pair: usize, d: Desc) {
    if let Err(e) = queues.submit(pair, d) {
        panic!("console_client: cannot submit: {e}");
    }
}

impl Client {
    fn send_more(&mut self, queues: &mut Queues) {
        while !self.out.is_empty() {
            let Some(offset) = self.free_tx.pop() else { return };
            let n = self.out.len().min(BUF as usize);
            let chunk: Vec<u8> = self.out.drain(..n).collect();
            if let Err(e) = queues.data().write_bytes(offset as usize, &chunk) {
                panic!("console_client: {e}");
            }
            submit(queues, TX, Desc::new(offset, n as u32));
        }
    }
}

impl ClientApp for Client {
    fn completed(&mut self, queues: &mut Queues, pair: usize, c: Completion) {
        if pair == TX {
            self.free_tx.push(c.request.offset);
            return;
        }
        // Input: the bytes, then the buffer goes back to the driver.
        let mut bytes = vec![0u8; c.len as usize];
        if c.status == status::OK && queues.data().read_bytes(c.request.offset as usize, &mut bytes).is_ok() {
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
        submit(queues, RX, Desc::new(c.request.offset, BUF as u32));
    }

    fn idle(&mut self, queues: &mut Queues) {
        self.send_more(queues);
    }
}

fn init() -> ClientPd<Client> {
    let mut queues = match QueueClient::new(
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
    let mut client = Client { out: VecDeque::new(), free_tx, line: Vec::new(), lines: 0 };
    for i in 0..BUFS {
        submit(&mut queues, RX, Desc::new(RX_BASE + i * BUF, BUF as u32));
    }
    client.out.extend(b"reincarnate console: type a line\r\n");
    client.send_more(&mut queues);
    ClientPd::new(queues, client, DRIVER)
}

microkit::protection_domain!(init);
