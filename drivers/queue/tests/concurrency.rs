//! Two threads over one shared heap buffer, millions of descriptors each way,
//! every one numbered: no loss, no duplication, order kept; and with the
//! signalling protocol and blocking waits, no lost wake-up (a lost one hangs a
//! thread, which the wait's time-out turns into a failure).
//!
//! Counts are smaller in debug builds; run with `--release` for the full size.

use std::sync::{Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use driver_queue::{Bounds, Desc, HeapMem, RingLayout, split};

const CAPACITY: u64 = 256;
const BUF: u64 = 64;
/// A wait this long means a wake-up was lost.
const LOST: Duration = Duration::from_secs(20);

/// The tests here each want both cores: they take turns.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn count(release: u64, debug: u64) -> u64 {
    if cfg!(debug_assertions) { debug } else { release }
}

/// A seL4 notification: one bit, set by `signal`, cleared by the wait that
/// sees it; signals while set coalesce.
#[derive(Default)]
struct Notification {
    bit: Mutex<bool>,
    cv: Condvar,
}

impl Notification {
    fn signal(&self) {
        *self.bit.lock().unwrap() = true;
        self.cv.notify_one();
    }

    /// Waits for the bit; `false` if it never came.
    fn wait(&self) -> bool {
        let guard = self.bit.lock().unwrap();
        let (mut bit, timeout) = self.cv.wait_timeout_while(guard, LOST, |bit| !*bit).unwrap();
        *bit = false;
        !timeout.timed_out()
    }
}

#[derive(Debug, Default)]
struct Side {
    /// Times this side asked for a notification and then slept.
    sleeps: u64,
    /// Times it asked and found work instead.
    withdrawn: u64,
    /// Notifications it sent its peer.
    sent: u64,
}

/// sDDF's free/active pair between a "server" thread that fills numbered
/// buffers and a "driver" thread that checks and returns them; both block on
/// notifications per the signalling protocol.
#[test]
fn a_free_active_pair_moves_millions_with_blocking_waits() {
    let _serial = serial();
    let n = count(4_000_000, 200_000);
    let active_ring = RingLayout::new(0, CAPACITY).unwrap();
    let free_ring = RingLayout::new(active_ring.end(), CAPACITY).unwrap();
    let mem = HeapMem::new(free_ring.end());
    let bounds = Bounds::region(CAPACITY * BUF).with_buf_size(BUF);
    let (mut active_p, mut active_c) = split(&mem, active_ring, bounds).unwrap();
    let (mut free_p, mut free_c) = split(&mem, free_ring, bounds).unwrap();
    let to_driver = Notification::default();
    let to_server = Notification::default();

    let start = Instant::now();
    let (server, driver) = thread::scope(|s| {
        let server = s.spawn(|| {
            let mut side = Side::default();
            let mut pool: Vec<u64> = (0..CAPACITY).map(|i| i * BUF).collect();
            let mut seq = 0u64;
            while seq < n {
                // Fill every buffer we have (a batch), then notify once.
                let mut batch = 0;
                loop {
                    let buf = match pool.pop() {
                        Some(b) => b,
                        None => match free_c.dequeue().unwrap() {
                            Some(d) => d.offset,
                            None => break,
                        },
                    };
                    let desc =
                        Desc { offset: buf, len: (seq % BUF) as u32, id: seq as u32, op: 0, status: 0, arg: seq };
                    active_p.enqueue(desc).unwrap();
                    seq += 1;
                    batch += 1;
                    if seq == n || batch == 32 {
                        break;
                    }
                }
                if active_p.should_notify() {
                    to_driver.signal();
                    side.sent += 1;
                }
                if seq < n && batch == 0 {
                    // No buffer to fill: wait for the driver to return some.
                    if free_c.request_signal().unwrap() {
                        side.sleeps += 1;
                        assert!(to_server.wait(), "server: lost wake-up with {seq} of {n} sent");
                    } else {
                        side.withdrawn += 1;
                    }
                }
            }
            side
        });
        let driver = s.spawn(|| {
            let mut side = Side::default();
            let mut expect = 0u64;
            while expect < n {
                let mut batch = 0;
                while let Some(d) = active_c.dequeue().unwrap() {
                    assert_eq!(d.arg, expect, "lost, duplicated or reordered");
                    assert_eq!((d.id, d.len), (expect as u32, (expect % BUF) as u32), "torn descriptor");
                    expect += 1;
                    free_p.enqueue(Desc::new(d.offset, 0)).unwrap();
                    batch += 1;
                    if batch == 32 {
                        break;
                    }
                }
                if free_p.should_notify() {
                    to_server.signal();
                    side.sent += 1;
                }
                if expect < n && batch == 0 {
                    if active_c.request_signal().unwrap() {
                        side.sleeps += 1;
                        assert!(to_driver.wait(), "driver: lost wake-up with {expect} of {n} received");
                    } else {
                        side.withdrawn += 1;
                    }
                }
            }
            side
        });
        (server.join().unwrap(), driver.join().unwrap())
    });
    let took = start.elapsed();
    eprintln!(
        "free/active pair: {n} descriptors each way in {took:.2?} ({:.1} M/s); server {server:?}, driver {driver:?}",
        n as f64 / took.as_secs_f64() / 1e6
    );
    // No needless notification: each one answers one request of the peer
    // (a sleep, or a request withdrawn after the producer had seen it).
    assert!(server.sent <= driver.sleeps + driver.withdrawn, "server sent {} for {:?}", server.sent, driver);
    assert!(driver.sent <= server.sleeps + server.withdrawn, "driver sent {} for {:?}", driver.sent, server);
    assert!(free_c.is_empty().unwrap() || free_c.len().unwrap() <= CAPACITY);
}

/// One ring, no signalling, both sides spinning: raw throughput and order.
#[test]
fn one_ring_moves_millions_in_order_between_spinning_threads() {
    let _serial = serial();
    let n = count(10_000_000, 300_000);
    let ring = RingLayout::new(0, 1024).unwrap();
    let mem = HeapMem::new(ring.end());
    let (mut p, mut c) = split(&mem, ring, Bounds::ANY).unwrap();
    let start = Instant::now();
    thread::scope(|s| {
        s.spawn(|| {
            for seq in 0..n {
                let d = Desc { offset: seq, len: seq as u32, id: !(seq as u32), op: 1, status: 2, arg: !seq };
                let mut spins = 0u32;
                while let Err(e) = p.enqueue(d) {
                    assert_eq!(e, driver_queue::QueueError::Full);
                    spins += 1;
                    if spins.is_multiple_of(64) { thread::yield_now() } else { std::hint::spin_loop() }
                }
            }
        });
        s.spawn(|| {
            let mut seq = 0;
            let mut spins = 0u32;
            while seq < n {
                match c.dequeue().unwrap() {
                    Some(d) => {
                        let want =
                            Desc { offset: seq, len: seq as u32, id: !(seq as u32), op: 1, status: 2, arg: !seq };
                        assert_eq!(d, want, "lost, duplicated, reordered or torn");
                        seq += 1;
                    }
                    None => {
                        spins += 1;
                        if spins.is_multiple_of(64) { thread::yield_now() } else { std::hint::spin_loop() }
                    }
                }
            }
            assert_eq!(c.dequeue().unwrap(), None, "nothing extra");
        });
    });
    let took = start.elapsed();
    eprintln!("one ring: {n} descriptors in {took:.2?} ({:.1} M/s)", n as f64 / took.as_secs_f64() / 1e6);
}

/// A two-thread barrier that spins, so both sides leave it at nearly the same
/// moment (a store-buffer race needs the two sides to overlap closely).
struct SpinBarrier {
    arrived: std::sync::atomic::AtomicU64,
}

impl SpinBarrier {
    fn wait(&self, round: u64) {
        use std::sync::atomic::Ordering::SeqCst;
        self.arrived.fetch_add(1, SeqCst);
        let mut spins = 0u32;
        while self.arrived.load(SeqCst) < 2 * round {
            spins += 1;
            if spins.is_multiple_of(1024) { thread::yield_now() } else { std::hint::spin_loop() }
        }
    }
}

/// The lost-wake-up race itself, replayed many times: in each round the
/// producer enqueues one descriptor and decides whether to notify while the
/// consumer, at the same moment, asks for a signal and decides whether to
/// sleep. The forbidden outcome is "consumer sleeps, producer does not
/// notify": without the two full fences a store buffer allows it. (Checked
/// on x86-64: with the fences taken out of `ring.rs`, 70 to 80 of 300,000
/// rounds lost their wake-up and this test failed.)
#[test]
fn the_lost_wake_up_race_never_loses() {
    let _serial = serial();
    let rounds = count(300_000, 20_000);
    let ring = RingLayout::new(0, 4).unwrap();
    let mem = HeapMem::new(ring.end());
    let (mut p, mut c) = split(&mem, ring, Bounds::ANY).unwrap();
    let barrier = SpinBarrier { arrived: std::sync::atomic::AtomicU64::new(0) };
    let start = Instant::now();
    let (notified, slept) = thread::scope(|s| {
        let producer = s.spawn(|| {
            let mut notified = Vec::with_capacity(rounds as usize);
            for r in 1..=rounds {
                barrier.wait(2 * r - 1);
                p.enqueue(Desc::new(r, 0)).unwrap();
                notified.push(p.should_notify());
                barrier.wait(2 * r); // the consumer cleans up after this
            }
            notified
        });
        let consumer = s.spawn(|| {
            let mut slept = Vec::with_capacity(rounds as usize);
            for r in 1..=rounds {
                barrier.wait(2 * r - 1);
                slept.push(c.request_signal().unwrap());
                barrier.wait(2 * r);
                assert_eq!(c.dequeue().unwrap(), Some(Desc::new(r, 0)));
                c.cancel_signal().unwrap();
            }
            slept
        });
        (producer.join().unwrap(), consumer.join().unwrap())
    });
    let lost = notified.iter().zip(&slept).filter(|&(&n, &s)| s && !n).count();
    let both = notified.iter().zip(&slept).filter(|&(&n, &s)| s && n).count();
    let needless = notified.iter().zip(&slept).filter(|&(&n, &s)| !s && n).count();
    eprintln!(
        "lost-wake-up race: {rounds} rounds in {:.2?}: consumer slept and was notified {both}, \
         found work {}, spurious notifications {needless}, lost {lost}",
        start.elapsed(),
        rounds as usize - both - lost
    );
    assert_eq!(lost, 0, "a consumer slept on a non-empty ring with no notification coming");
}
