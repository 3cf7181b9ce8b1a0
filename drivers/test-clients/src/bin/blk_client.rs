//! A test client of the block driver, the server end of its queues: writes a
//! pattern to a few sectors (`test_clients::blk_pattern`), reads them back and
//! says whether the bytes match; then measures: the whole disk read in 32 KiB
//! requests, and random 4 KiB reads (figures for `cargo xtask bench drivers`,
//! in `microkit::clock` units). Then, for ever, a soak round every 10 ms on the
//! timer's ticks: a pattern written and read back (a workload that checks
//! itself, for `cargo xtask campaign`): every 100 rounds a summary line, and at
//! once a line for a round whose bytes differ. A request that a dying driver
//! held is resubmitted to its successor.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec;
use alloc::vec::Vec;

use driver_queue::{ClientApp, ClientPd, Completion, Desc, QueueClient, Reclaimed, status};
use microkit::{Channel, Region, clock, debug_println};
use test_clients::blk_pattern::{
    ROUNDS, SECTOR, SECTORS, SOAK_PERIOD_NS, SOAK_ROUND, pattern, round_sector, soak_sector,
};
use timer_api::TimerClient;
use virtio_blk::protocol::{self, QUEUES};

microkit::include_system!("blk_client");

const DRIVER: Channel = channel::VIRTIO_BLK;
/// Sectors per sequential request (32 KiB).
const SEQ_SECTORS: u64 = 64;
const RAND_READS: u64 = 2000;

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
    /// Soak round n: waiting for the next tick, writing, reading back.
    SoakIdle(u64),
    SoakWrite(u64),
    SoakRead(u64),
}

/// Soak rounds between summary lines.
const SOAK_REPORT: u64 = 100;
const TIMER: TimerClient = TimerClient::new(channel::TIMER);

/// Soak counts: rounds whose bytes matched, differed; requests that failed.
#[derive(Default)]
struct Soak {
    ok: u64,
    differ: u64,
    failed: u64,
}

type Queues = QueueClient<Region, Channel>;

struct Client {
    step: Step,
    capacity: u64,
    /// A request of the current step is in flight.
    busy: bool,
    started: u64,
    rng: u64,
    soak: Soak,
}

impl Client {
    /// Submits the current step's request.
    fn submit(&mut self, queues: &mut Queues) {
        let (op, arg, sectors) = match self.step {
            Step::Capacity => (protocol::OP_CAPACITY, 0, 0),
            Step::Write(round) => {
                let data: Vec<u8> = (0..SECTORS as usize * SECTOR).map(|i| pattern(round, i)).collect();
                if let Err(e) = queues.data().write_bytes(0, &data) {
                    panic!("blk_client: {e}");
                }
                (protocol::OP_WRITE, round_sector(round), SECTORS)
            }
            Step::Read(round) => (protocol::OP_READ, round_sector(round), SECTORS),
            Step::SoakWrite(n) => {
                let data: Vec<u8> = (0..SECTORS as usize * SECTOR).map(|i| pattern(SOAK_ROUND + n, i)).collect();
                if let Err(e) = queues.data().write_bytes(0, &data) {
                    panic!("blk_client: {e}");
                }
                (protocol::OP_WRITE, soak_sector(n), SECTORS)
            }
            Step::SoakRead(n) => (protocol::OP_READ, soak_sector(n), SECTORS),
            Step::Seq(at) => (protocol::OP_READ, at, SEQ_SECTORS.min(self.capacity - at)),
            Step::Rand(_) => {
                // xorshift: a 4 KiB-aligned block anywhere on the disk.
                self.rng ^= self.rng << 13;
                self.rng ^= self.rng >> 7;
                self.rng ^= self.rng << 17;
                let blocks = (self.capacity / 8).max(1);
                (protocol::OP_READ, (self.rng % blocks) * 8, 8.min(self.capacity))
            }
            Step::Done | Step::SoakIdle(_) => return,
        };
        let len = if op == protocol::OP_CAPACITY { 8 } else { (sectors as usize * SECTOR) as u32 };
        if let Err(e) = queues.submit(0, Desc { op, arg, ..Desc::new(0, len) }) {
            panic!("blk_client: cannot submit: {e}");
        }
        self.busy = true;
    }

    /// The current step's request completed with `code`.
    fn step_done(&mut self, data: &Region, code: u32) {
        self.busy = false;
        if code != status::OK {
            debug_println!("blk_client: request failed with status {code}");
            self.soak.failed += 1;
            return; // the same step again
        }
        self.step = match self.step {
            Step::Capacity => {
                let mut c = [0u8; 8];
                if let Err(e) = data.read_bytes(0, &mut c) {
                    panic!("blk_client: {e}");
                }
                self.capacity = u64::from_le_bytes(c);
                debug_println!("blk_client: disk of {} sectors", self.capacity);
                Step::Write(0)
            }
            Step::Write(round) => Step::Read(round),
            Step::Read(round) => {
                let mut back = vec![0u8; SECTORS as usize * SECTOR];
                if let Err(e) = data.read_bytes(0, &mut back) {
                    panic!("blk_client: {e}");
                }
                let ok = back.iter().enumerate().all(|(i, &b)| b == pattern(round, i));
                debug_println!(
                    "blk_client: round {round}: wrote and read back {SECTORS} sectors at {}: {}",
                    round_sector(round),
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
            Step::SoakIdle(n) => Step::SoakIdle(n),
            Step::SoakWrite(n) => Step::SoakRead(n),
            Step::SoakRead(n) => {
                self.soak_check(data, n);
                Step::SoakIdle(n + 1)
            }
        };
        if self.step == Step::Done {
            debug_println!("blk_client: done");
            match TIMER.set_periodic(SOAK_PERIOD_NS) {
                Ok(()) => self.step = Step::SoakIdle(0),
                Err(e) => debug_println!("blk_client: no soak rounds: the timer refused: {e}"),
            }
        }
    }
}

impl Client {
    /// Soak round `n` read back: compare, count, say so.
    fn soak_check(&mut self, data: &Region, n: u64) {
        let mut back = vec![0u8; SECTORS as usize * SECTOR];
        if let Err(e) = data.read_bytes(0, &mut back) {
            panic!("blk_client: {e}");
        }
        let wrong = back.iter().enumerate().filter(|&(i, &b)| b != pattern(SOAK_ROUND + n, i)).count();
        if wrong == 0 {
            self.soak.ok += 1;
        } else {
            self.soak.differ += 1;
            debug_println!("blk_client: soak round {n}: BYTES DIFFER ({wrong} of {})", back.len());
        }
        if (n + 1).is_multiple_of(SOAK_REPORT) {
            let Soak { ok, differ, failed } = self.soak;
            debug_println!("blk_client: soak {} rounds: {ok} match, {differ} differ, {failed} failed requests", n + 1);
        }
    }
}

impl ClientApp for Client {
    /// A timer tick: the next soak round, unless one is still in flight.
    fn other(&mut self, queues: &mut Queues, ch: Channel) {
        if ch == TIMER.channel()
            && let Step::SoakIdle(n) = self.step
            && !self.busy
        {
            self.step = Step::SoakWrite(n);
            self.submit(queues);
        }
    }

    /// The next step's request goes out as soon as the last one is done (or
    /// failed: the same step again).
    fn completed(&mut self, queues: &mut Queues, _pair: usize, c: Completion) {
        self.step_done(queues.data(), c.status);
        if !self.busy {
            self.submit(queues);
        }
    }

    /// A (new) driver attached: what the old one held went to the new one.
    fn resubmitted(&mut self, epoch: u64, _request: &Reclaimed) {
        debug_println!("blk_client: resubmitting a request the driver held (epoch {epoch})");
    }
}

fn init() -> ClientPd<Client> {
    let mut queues =
        match QueueClient::new("blk_client", region::blk_queues(), region::blk_client_data(), &QUEUES, DRIVER) {
            Ok(q) => q,
            Err(e) => panic!("blk_client: the driver's queues: {e}"),
        };
    let mut client = Client {
        step: Step::Capacity,
        capacity: 0,
        busy: false,
        started: 0,
        rng: 0x2545_f491_4f6c_dd1d,
        soak: Soak::default(),
    };
    // The first request waits in the ring until a driver attaches.
    client.submit(&mut queues);
    ClientPd::new(queues, client, DRIVER)
}

microkit::protection_domain!(init);
