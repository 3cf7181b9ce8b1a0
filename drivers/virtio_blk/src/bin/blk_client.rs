//! A test client of the block driver: writes a pattern to a few sectors, reads
//! them back and says whether the bytes match; then measures: the whole disk read
//! in 32 KiB requests, and random 4 KiB reads (figures for `cargo xtask bench
//! drivers`, in `microkit::clock` units).
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec;

use driver_mailbox::{op, status, ClientEnd, Response};
use microkit::{clock, debug_println, Channel, Handler};

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
    /// Sequential read, next sector.
    Seq(u64),
    /// Random 4 KiB reads, how many done.
    Rand(u64),
    Done,
}

/// Sectors per sequential request (32 KiB: the request half of the data region).
const SEQ_SECTORS: u64 = 64;
const RAND_READS: u64 = 2000;

struct Client {
    end: ClientEnd,
    step: Step,
    capacity: u64,
    awaiting: bool,
    started: u64,
    rng: u64,
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
            Step::Seq(at) => self.end.post(op::READ, at, SEQ_SECTORS.min(self.capacity - at)),
            Step::Rand(_) => {
                // xorshift: a 4 KiB-aligned block anywhere on the disk.
                self.rng ^= self.rng << 13;
                self.rng ^= self.rng >> 7;
                self.rng ^= self.rng << 17;
                let blocks = (self.capacity / 8).max(1);
                self.end.post(op::READ, (self.rng % blocks) * 8, 8.min(self.capacity))
            }
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
                if round + 1 < ROUNDS {
                    Step::Write(round + 1)
                } else {
                    self.started = clock::now();
                    Step::Seq(0)
                }
            }
            Step::Seq(at) => {
                let next = at + SEQ_SECTORS.min(self.capacity - at);
                if next < self.capacity {
                    Step::Seq(next)
                } else {
                    let t = clock::now() - self.started;
                    debug_println!("blk_client: bench seq-read {} bytes in {t} {}", self.capacity * SECTOR as u64, clock::UNIT);
                    self.started = clock::now();
                    Step::Rand(0)
                }
            }
            Step::Rand(n) if n + 1 < RAND_READS => Step::Rand(n + 1),
            Step::Rand(_) => {
                let t = clock::now() - self.started;
                debug_println!("blk_client: bench rand-read-4k {RAND_READS} reads in {t} {}", clock::UNIT);
                Step::Done
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
    let mut client = Client { end, step: Step::Info, capacity: 0, awaiting: false, started: 0, rng: 0x2545_f491_4f6c_dd1d };
    client.post();
    client
}

microkit::protection_domain!(init);
