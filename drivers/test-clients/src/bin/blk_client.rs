//! A test client of the block driver, the server end of its queues: writes a
//! pattern to a few sectors, reads them back and says whether the bytes match;
//! then measures: the whole disk read in 32 KiB requests, and random 4 KiB reads
//! (figures for `cargo xtask bench drivers`, in `microkit::clock` units). A
//! request that a dying driver held is resubmitted to its successor.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec;

use driver_queue::{Desc, Server, status};
use microkit::{Channel, Handler, Region, clock, debug_println};
use virtio_blk::protocol::{self, LAYOUT, SPECS};

microkit::include_system!("blk_client");

const DRIVER: Channel = channel::VIRTIO_BLK;
/// Where the pattern goes, and how much.
pub const FIRST_SECTOR: u64 = 16;
pub const SECTORS: u64 = 8;
const SECTOR: usize = 512;
const ROUNDS: u64 = 3;
/// Sectors per sequential request (32 KiB).
const SEQ_SECTORS: u64 = 64;
const RAND_READS: u64 = 2000;

/// Byte `i` of the pattern of round `round` (the host test checks the image).
fn pattern(round: u64, i: usize) -> u8 {
    (i as u64).wrapping_mul(7).wrapping_add(round * 13 + 1) as u8
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    Capacity,
    Write(u64),
    Read(u64),
    /// Sequential read, next sector.
    Seq(u64),
    /// Random 4 KiB reads, how many done.
    Rand(u64),
    Done,
}

struct Client {
    queues: Server<Region>,
    data: Region,
    step: Step,
    capacity: u64,
    /// A request of the current step is in flight.
    busy: bool,
    started: u64,
    rng: u64,
}

impl Client {
    /// Submits the current step's request.
    fn submit(&mut self) {
        let (op, arg, sectors) = match self.step {
            Step::Capacity => (protocol::OP_CAPACITY, 0, 0),
            Step::Write(round) => {
                let data: alloc::vec::Vec<u8> = (0..SECTORS as usize * SECTOR).map(|i| pattern(round, i)).collect();
                if let Err(e) = self.data.write_bytes(0, &data) {
                    panic!("blk_client: {e}");
                }
                (protocol::OP_WRITE, FIRST_SECTOR + round * SECTORS, SECTORS)
            }
            Step::Read(round) => (protocol::OP_READ, FIRST_SECTOR + round * SECTORS, SECTORS),
            Step::Seq(at) => (protocol::OP_READ, at, SEQ_SECTORS.min(self.capacity - at)),
            Step::Rand(_) => {
                // xorshift: a 4 KiB-aligned block anywhere on the disk.
                self.rng ^= self.rng << 13;
                self.rng ^= self.rng >> 7;
                self.rng ^= self.rng << 17;
                let blocks = (self.capacity / 8).max(1);
                (protocol::OP_READ, (self.rng % blocks) * 8, 8.min(self.capacity))
            }
            Step::Done => return,
        };
        let len = if op == protocol::OP_CAPACITY { 8 } else { (sectors as usize * SECTOR) as u32 };
        self.send(Desc { op, arg, ..Desc::new(0, len) });
    }

    fn send(&mut self, req: Desc) {
        let Ok(pair) = self.queues.pair(0) else { return };
        if let Err(e) = pair.submit(req) {
            panic!("blk_client: cannot submit: {e}");
        }
        self.busy = true;
        if pair.should_notify() {
            DRIVER.notify();
        }
    }

    /// The current step's request completed with `code`.
    fn completed(&mut self, code: u32) {
        self.busy = false;
        if code != status::OK {
            debug_println!("blk_client: request failed with status {code}");
            return; // the same step again
        }
        self.step = match self.step {
            Step::Capacity => {
                let mut c = [0u8; 8];
                if let Err(e) = self.data.read_bytes(0, &mut c) {
                    panic!("blk_client: {e}");
                }
                self.capacity = u64::from_le_bytes(c);
                debug_println!("blk_client: disk of {} sectors", self.capacity);
                Step::Write(0)
            }
            Step::Write(round) => Step::Read(round),
            Step::Read(round) => {
                let mut back = vec![0u8; SECTORS as usize * SECTOR];
                if let Err(e) = self.data.read_bytes(0, &mut back) {
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
                    debug_println!(
                        "blk_client: bench seq-read {} bytes in {t} {}",
                        self.capacity * SECTOR as u64,
                        clock::UNIT
                    );
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
        if ch != DRIVER {
            return;
        }
        match self.queues.poll_attach() {
            Ok(None) => {}
            Ok(Some(recovery)) => {
                // A (new) driver attached. What the old one completed counts;
                // what it held is resubmitted to the new one.
                for (_, c) in &recovery.completed {
                    self.completed(c.status);
                }
                DRIVER.notify();
                for r in recovery.in_flight {
                    debug_println!("blk_client: resubmitting a request the driver held (epoch {})", recovery.epoch);
                    self.send(Desc { id: 0, ..r.request });
                }
                if !self.busy {
                    self.submit();
                }
            }
            Err(e) => panic!("blk_client: the driver broke the restart protocol: {e}"),
        }
        // Completions until there are none and a signal is requested (the
        // request re-checks the ring, so a completion racing with it is taken).
        loop {
            let done = match self.queues.pair(0).and_then(|p| p.next_completion()) {
                Ok(Some(c)) => c,
                Ok(None) => break,
                Err(e) => panic!("blk_client: the driver broke the queue protocol: {e}"),
            };
            self.completed(done.status);
            if !self.busy {
                self.submit();
            }
        }
    }
}

fn init() -> Client {
    let data = region::blk_client_data();
    if data.size() as u64 != protocol::DATA_BYTES {
        panic!(
            "blk_client: blk_client_data is {:#x} bytes, the protocol says {:#x}",
            data.size(),
            protocol::DATA_BYTES
        );
    }
    let queues = match Server::new(region::blk_queues(), LAYOUT, &SPECS) {
        Ok(q) => q,
        Err(e) => panic!("blk_client: queue set: {e}"),
    };
    let mut client =
        Client { queues, data, step: Step::Capacity, capacity: 0, busy: false, started: 0, rng: 0x2545_f491_4f6c_dd1d };
    // The first request waits in the ring until a driver attaches.
    client.submit();
    client
}

microkit::protection_domain!(init);
