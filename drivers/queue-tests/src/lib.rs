//! What qserver and qdriver (`src/bin/`) agree on: the queue layout, the data
//! buffers, how many requests, and on which boots the driver misbehaves.
//!
//! qserver submits `requests()` numbered requests on one `ToDevice` pair; each
//! request's buffer holds its number, and `arg` carries it too. qdriver reads
//! the buffer, checks it against `arg` and completes the request with the
//! number's low bits as `len`. The driver crashes (a panic, mid-batch: it holds
//! requests it took and did not complete) on boots 1 and 2, and on boot 3
//! forges one completion, which the server must catch and answer by
//! restarting it. qserver checks that every number completed exactly once.
#![no_std]
#![forbid(unsafe_code)]

use driver_queue::{Bounds, Direction, Layout, PairSpec};

/// Descriptors per ring.
pub const CAPACITY: u64 = 256;
/// Bytes of one data buffer.
pub const BUF: u64 = 64;
/// The queue set: one pair, at the start of the `queues` region.
pub const LAYOUT: Layout = match Layout::new(0, CAPACITY, 1) {
    Ok(l) => l,
    Err(_) => panic!("bad layout"),
};
/// The pair: requests to the device, buffers in the `data` region.
pub const SPECS: [PairSpec; 1] =
    [PairSpec::new(Direction::ToDevice, Bounds::region(CAPACITY * BUF).with_buf_size(BUF))];

/// Requests the server moves (fewer in debug builds).
pub const fn requests() -> u64 {
    if cfg!(debug_assertions) { 200_000 } else { 2_000_000 }
}

/// What the driver does on boot `boot` after completing `done` requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Misdeed {
    /// Panics while holding requests it has taken (boots 1 and 2).
    CrashAfter(u64),
    /// Completes one request with a forged argument (boot 3).
    ForgeAfter(u64),
    /// Behaves.
    None,
}

pub const fn misdeed(boot: u64) -> Misdeed {
    let n = requests();
    match boot {
        1 => Misdeed::CrashAfter(n / 5 + 17),
        2 => Misdeed::CrashAfter(n / 7 + 3),
        3 => Misdeed::ForgeAfter(n / 9),
        _ => Misdeed::None,
    }
}

/// The length a driver reports for request `seq` (at most the 8 bytes the
/// request's buffer holds: the server rejects a completion longer than its
/// request).
pub const fn len_for(seq: u64) -> u32 {
    (seq % 9) as u32
}
