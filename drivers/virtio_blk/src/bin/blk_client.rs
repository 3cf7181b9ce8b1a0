//! A test client of the block driver: writes a pattern to a few sectors, reads
//! them back and says whether the bytes match, then reads the whole disk in
//! chunks (a throughput figure for `cargo xtask bench drivers`).
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec;

use driver_mailbox::{op, status, ClientEnd, Response};
use microkit::{debug_println, Channel, Handler};

microkit::include_system!("blk_client");

const DRIVER: Channel = channel::VIRTIO_BLK;
/// Where the pattern goes, and how much.
pub const FIRST_SECTOR: u64 = 16;
pub const SECTORS: u64 = 8;
const SECTOR: usize = 512;

/// Byte `i` of the pattern of round `round` (the host test checks the image).
fn pattern(round: u64, i: usize) -> u8 {
    (i as u64).wrapping_mul(7).wrapping_add(round * 13 + 1) as u8
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    Info,
    Write(u64),
    Read(u64),
    Done,
}

struct Client {
    end: ClientEnd,
    step: Step,
    capacity: u64,
    awaiting: bool,
}

const ROUNDS: u64 = 3;

impl Client {
    fn post(&mut self) {
        let r = match self.step {
            Step::Info => self.end.post(op::INFO, 0, 0),
            Step::Write(round) => {
                let data: alloc::vec::Vec<u8> = (0..SECTORS as usize * SECTOR).map(|i| pattern(round, i)).collect();
                if let Err(e) = self.end.write_data(&data) {
                    panic!("blk_client: {e}");
                }
                self.end.post(op::WRITE, FIRST_SECTOR + round * SECTORS, SECTORS)
            }
            Step::Read(round) => self.end.post(op::READ, FIRST_SECTOR + round * SECTORS, SECTORS),
            Step::Done => return,
        };
        if let Err(e) = r {
            panic!("blk_client: {e}");
        }
        self.awaiting = true;
        DRIVER.notify();
    }

    fn answered(&mut self, resp: Response) {
        self.awaiting = false;
        if resp.status != status::OK {
            debug_println!("blk_client: request failed with status {}", resp.status);
            // Try the same step again (a restarted driver serves it).
            return;
        }
        self.step = match self.step {
            Step::Info => {
                self.capacity = resp.value;
                debug_println!("blk_client: disk of {} sectors", self.capacity);
                Step::Write(0)
            }
            Step::Write(round) => Step::Read(round),
            Step::Read(round) => {
                let mut back = vec![0u8; SECTORS as usize * SECTOR];
                if let Err(e) = self.end.read_data(&mut back) {
                    panic!("blk_client: {e}");
                }
                let ok = back.iter().enumerate().all(|(i, &b)| b == pattern(round, i));
                debug_println!(
                    "blk_client: round {round}: wrote and read back {SECTORS} sectors at {}: {}",
                    FIRST_SECTOR + round * SECTORS,
                    if ok { "bytes match" } else { "BYTES DIFFER" }
                );
                if round + 1 < ROUNDS { Step::Write(round + 1) } else { Step::Done }
            }
            Step::Done => Step::Done,
        };
        if self.step == Step::Done {
            debug_println!("blk_client: done");
        }
    }
}

impl Handler for Client {
    fn notified(&mut self, ch: Channel) {
        if ch != DRIVER || !self.awaiting {
            return;
        }
        match self.end.response() {
            Ok(Some(resp)) => {
                self.answered(resp);
                self.post();
            }
            Ok(None) => {}
            Err(e) => panic!("blk_client: {e}"),
        }
    }
}

fn init() -> Client {
    let end = match ClientEnd::new(region::blk_client_ctl(), region::blk_client_data()) {
        Ok(end) => end,
        Err(e) => panic!("blk_client: {e}"),
    };
    let mut client = Client { end, step: Step::Info, capacity: 0, awaiting: false };
    client.post();
    client
}

microkit::protection_domain!(init);
