//! The raw block client of `cargo xtask bench fs`: the virtio_blk driver
//! through its queues alone, with no file system, so that the cost of the
//! file layer shows beside vfs's figures.
//!
//! A [`Sweep`] asks the disk's capacity, then writes the first half of the
//! disk front to back (the bytes of `files::fill_sequential`), flushes, and
//! reads it back, comparing every byte. Requests are shaped as vfs's block
//! layer shapes them: one buffer of [`CHUNK`] bytes each, every buffer of the
//! data region in flight (one ring's worth). A request the driver held when
//! it died is given to its fresh copy again (the queue restart protocol, as
//! in vfs), so a restart costs time, never bytes.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec;
use alloc::vec::Vec;

use driver_queue::{Desc, Notify, QueueClient, QueueError, SharedMem, status};
use virtio_blk::protocol::{DATA_BYTES, OP_CAPACITY, OP_FLUSH, OP_READ, OP_WRITE, QUEUES};

/// Sweeps the PD makes, one after the other (the benchmark takes their
/// median).
pub const PASSES: u32 = 3;

/// Bytes of a request: vfs's chunk.
pub const CHUNK: usize = 4096;
const SECTOR: u64 = 512;
/// Buffers in the data region, at most a ring's worth.
pub const BUFFERS: usize = {
    let n = DATA_BYTES as usize / CHUNK;
    let ring = QUEUES.layout.capacity() as usize;
    if n < ring { n } else { ring }
};

/// Where the sweep is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Capacity,
    Write,
    Flush,
    Read,
    Done,
    Failed,
}

/// What the sweep measured (ns of the caller's clock).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Figures {
    pub bytes: u64,
    /// From the first write to the flush's completion.
    pub write_ns: u64,
    pub read_ns: u64,
    /// Requests given to a fresh driver again.
    pub resubmitted: u64,
}

/// Why the sweep stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SweepError {
    /// The queues could not be used.
    Queue(QueueError),
    /// The driver failed a request (its status).
    Failed { op: u32, status: u32 },
    /// A read gave back other bytes than were written there.
    Mismatch { offset: u64 },
    /// The disk is too small for one chunk.
    TooSmall,
}

impl core::fmt::Display for SweepError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SweepError::Queue(e) => write!(f, "the queues: {e}"),
            SweepError::Failed { op, status } => write!(f, "the driver failed a request (op {op}, status {status})"),
            SweepError::Mismatch { offset } => write!(f, "the 4 KiB read at byte {offset} differ from those written"),
            SweepError::TooSmall => f.write_str("the disk is smaller than a chunk"),
        }
    }
}

/// The sweep over a driver's queues.
pub struct Sweep<M: SharedMem + Clone, N: Notify> {
    queues: QueueClient<M, N>,
    phase: Phase,
    /// Bytes to write and read (half the disk, whole chunks).
    bytes: u64,
    /// The next byte offset to submit, and bytes completed, in this phase.
    next: u64,
    done: u64,
    /// Buffer offsets not in flight.
    free: Vec<u64>,
    started: u64,
    figures: Figures,
    chunk: Vec<u8>,
    want: Vec<u8>,
}

impl<M: SharedMem + Clone, N: Notify> Sweep<M, N> {
    /// Takes the client end of the driver's queues and asks the capacity.
    pub fn new(name: &'static str, queues: M, data: M, driver: N) -> Result<Self, SweepError> {
        let queues = QueueClient::new(name, queues, data, &QUEUES, driver).map_err(SweepError::Queue)?;
        let mut s = Sweep {
            queues,
            phase: Phase::Capacity,
            bytes: 0,
            next: 0,
            done: 0,
            free: (0..BUFFERS as u64).rev().map(|i| i * CHUNK as u64).collect(),
            started: 0,
            figures: Figures::default(),
            chunk: vec![0; CHUNK],
            want: vec![0; CHUNK],
        };
        let buf = s.free.pop().unwrap_or(0);
        s.submit(OP_CAPACITY, buf, 8, 0)?;
        Ok(s)
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn figures(&self) -> Figures {
        self.figures
    }

    /// After [`Phase::Done`]: the same sweep again from now (`now` in ns).
    pub fn again(&mut self, now: u64) -> Result<(), SweepError> {
        if self.phase != Phase::Done {
            return Ok(());
        }
        self.phase = Phase::Write;
        self.next = 0;
        self.done = 0;
        self.started = now;
        self.figures = Figures { bytes: self.bytes, ..Figures::default() };
        let r = self.fill();
        if r.is_err() {
            self.phase = Phase::Failed;
        }
        r
    }

    fn submit(&mut self, op: u32, offset: u64, len: u32, sector: u64) -> Result<(), SweepError> {
        let desc = Desc { offset, len, id: 0, op, status: 0, arg: sector };
        self.queues.submit(0, desc).map(|_| ()).map_err(SweepError::Queue)
    }

    /// Fills the free buffers with requests of this phase.
    fn fill(&mut self) -> Result<(), SweepError> {
        while self.next < self.bytes {
            let Some(buf) = self.free.pop() else { break };
            let at = self.next;
            if self.phase == Phase::Write {
                files::fill_sequential(at as usize, &mut self.chunk);
                self.queues.data().write_bytes(buf as usize, &self.chunk).map_err(|e| SweepError::Queue(e.into()))?;
            }
            let op = if self.phase == Phase::Write { OP_WRITE } else { OP_READ };
            self.submit(op, buf, CHUNK as u32, at / SECTOR)?;
            self.next += CHUNK as u64;
        }
        Ok(())
    }

    /// On a notification from the driver: takes every completion and keeps
    /// the buffers full. `now` is the clock in ns. A failure stops the sweep
    /// (the phase is then [`Phase::Failed`]).
    pub fn notified(&mut self, now: u64) -> Result<(), SweepError> {
        let r = self.take(now);
        if r.is_err() {
            self.phase = Phase::Failed;
        }
        r
    }

    fn take(&mut self, now: u64) -> Result<(), SweepError> {
        let mut resubmitted = 0;
        while let Some((_, c)) = self.queues.next_completion(|_, _| resubmitted += 1) {
            if c.status != status::OK {
                return Err(SweepError::Failed { op: c.request.op, status: c.status });
            }
            let buf = c.request.offset;
            match c.request.op {
                OP_CAPACITY => {
                    let mut word = [0u8; 8];
                    self.queues.data().read_bytes(buf as usize, &mut word).map_err(|e| SweepError::Queue(e.into()))?;
                    let sectors = u64::from_le_bytes(word);
                    self.bytes = sectors * SECTOR / 2 / CHUNK as u64 * CHUNK as u64;
                    self.figures.bytes = self.bytes;
                    if self.bytes == 0 {
                        return Err(SweepError::TooSmall);
                    }
                    self.free.push(buf);
                    self.phase = Phase::Write;
                    self.started = now;
                }
                OP_WRITE => {
                    self.free.push(buf);
                    self.done += CHUNK as u64;
                    if self.done == self.bytes {
                        self.phase = Phase::Flush;
                        let b = self.free.pop().unwrap_or(0);
                        self.submit(OP_FLUSH, b, 0, 0)?;
                    }
                }
                OP_FLUSH => {
                    self.free.push(buf);
                    self.figures.write_ns = now.saturating_sub(self.started);
                    self.phase = Phase::Read;
                    self.started = now;
                    self.next = 0;
                    self.done = 0;
                }
                OP_READ => {
                    let at = c.request.arg * SECTOR;
                    self.queues
                        .data()
                        .read_bytes(buf as usize, &mut self.chunk)
                        .map_err(|e| SweepError::Queue(e.into()))?;
                    files::fill_sequential(at as usize, &mut self.want);
                    if self.chunk != self.want {
                        return Err(SweepError::Mismatch { offset: at });
                    }
                    self.free.push(buf);
                    self.done += CHUNK as u64;
                    if self.done == self.bytes {
                        self.figures.read_ns = now.saturating_sub(self.started);
                        self.phase = Phase::Done;
                    }
                }
                _ => self.free.push(buf),
            }
        }
        self.figures.resubmitted += resubmitted;
        if matches!(self.phase, Phase::Write | Phase::Read) {
            self.fill()?;
        }
        Ok(())
    }
}
