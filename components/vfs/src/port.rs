//! The file system's block device: the virtio_blk driver's queues (crate
//! `driver-queue`, protocol `virtio_blk::protocol`) under a block cache with
//! write-back.
//!
//! # Requests and restarts
//!
//! An operation of the file system (read, write-back, flush) is cut into
//! chunks of at most [`CHUNK`] bytes, one per buffer of the driver's data
//! region; as many chunks are in flight as there are buffers (one ring's
//! worth). When the driver dies and its fresh copy attaches, the queue client
//! hands back every request the dead one held ([`Event::Reclaimed`]); the port
//! gives each to the new driver as it was (same buffer, same sector). Block
//! reads and writes are idempotent, so a request the dead driver had carried
//! out before dying does no harm done twice. The operation never sees the
//! restart: it completes when its last chunk does.
//!
//! # The driver down for good
//!
//! The port tells how long requests have waited on the driver with no
//! completion and no fresh copy attaching ([`Port::silent_ms`]); its owner
//! decides when that means the driver is down (its restart budget spent, RS
//! stopped it) and says so ([`Port::go_down`]): every operation in flight
//! then fails with an I/O error, and every new one at once, until a driver
//! attaches again. (The vfs PD asks RS once the silence passes
//! [`Port::down_after`]: a driver being restarted, or starved of the CPU by
//! a spinning driver above it, is silent too, and is not down.)
//!
//! # Cache and write-back
//!
//! Writes go into the cache (whole sectors, marked dirty with a version) and
//! are acknowledged at once; a flush ([`BlockDevice::poll_flush`], called by
//! the file system's `fsync` and `sync`) writes every dirty sector back, in
//! sector order, coalesced into chunks, then asks the driver to flush the
//! device's cache: when it completes, everything written before it is on the
//! disk. When more than [`Limits::dirty`] sectors are dirty, a write first
//! waits for a write-back to bring them under the limit, so memory is bounded.
//! A sector rewritten while its write-back is in flight stays dirty (its
//! version moved on). Reads are served from the cache when every sector is in
//! it, else read from the disk with cached sectors laid over the disk's (the
//! dirty ones are newer); clean sectors are evicted first in, first out past
//! [`Limits::clean`]. What a read of more than a chunk brings from the disk
//! (file data streaming by) is not kept, except what is read ahead.
//!
//! # Read-ahead
//!
//! A read of at least a chunk is taken as part of a sequential pass: the
//! [`READ_AHEAD`] reads of its size that would follow it are read ahead (if
//! not cached and not already being read), so the
//! driver has work while the application takes its bytes and asks for the
//! next ones. A read that asks for exactly the sectors of a read-ahead in
//! flight waits for it instead of reading them again; a read-ahead nobody
//! asked for goes into the cache, clean, when it completes. A read-ahead
//! that any write to the cache overtook (its version moved on) is dropped,
//! never used: what it read may predate a write-back.
//!
//! # Checking what comes back
//!
//! A driver can go wrong without dying: a bit flipped in the data region, a
//! request carried out on the wrong sector. A FAT volume holds no checksums,
//! so the port keeps its own: for every sector the driver reported written
//! (up to [`SUMS`] sectors), a 64-bit FNV-1a hash of what was sent. A read of a
//! sector whose hash is known, and that no write in flight may be changing,
//! is compared: a mismatch is read again (up to [`REREADS`] times), and if it
//! persists (the write itself went wrong) the operation fails with
//! [`BlockError::Corrupt`], an I/O error to the application, never wrong
//! bytes. Every mismatch counts in [`PortCounters::corrupt`] (the shell
//! complains to RS about the driver). Sectors not written since boot (files
//! put on the disk from outside) cannot be checked.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::rc::Rc;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::fmt;
use core::task::{Context, Poll};

use driver_queue::{Desc, Event, Notify, QueueClient, QueueError, SharedMem, status};
use hadris_storage::async_::BlockDevice;
use hadris_storage::{BlockIndex, BlockSize};
use virtio_blk::protocol::{DATA_BYTES, OP_CAPACITY, OP_FLUSH, OP_READ, OP_WRITE, QUEUES};

/// Bytes of a sector, the file system's block.
pub const SECTOR: usize = 512;
/// Bytes of one request to the driver (one buffer of its data region).
pub const CHUNK: usize = 4096;
const SECTORS_PER_CHUNK: u64 = (CHUNK / SECTOR) as u64;
const SECTOR_SIZE: BlockSize = match BlockSize::new(SECTOR as u32) {
    Some(s) => s,
    None => panic!("sector size"),
};
/// Buffers in the data region (at most one ring's worth in flight).
const BUFFERS: usize = {
    let n = DATA_BYTES as usize / CHUNK;
    let ring = QUEUES.layout.capacity() as usize;
    if n < ring { n } else { ring }
};

/// Sectors whose written hash the port remembers (a 64 MiB disk's worth).
pub const SUMS: usize = 1 << 17;
/// Times each chunk is tried again within one operation: read again when its
/// bytes differ from what was written, given again when the driver failed it
/// (a driver that failed a request because its state was broken panics
/// after, and its fresh copy serves the retry; a disk that keeps failing
/// fails it every time, and the operation fails with EIO).
pub const REREADS: u8 = 2;

/// FNV-1a (64 bits) of a sector, a little-endian word at a time (eight
/// times fewer multiplications than byte-wise: on seL4 under QEMU the hash
/// was a good part of vfs's time per byte read). Any change within one word
/// changes it: each step is a bijection of the state for a given word, and
/// injective in the word for a given state.
fn sum(sector: &[u8]) -> u64 {
    sector.chunks_exact(8).fold(0xcbf2_9ce4_8422_2325, |h, w| {
        let mut word = [0u8; 8];
        word.copy_from_slice(w);
        (h ^ u64::from_le_bytes(word)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Reads of the same size read ahead of a sequential read: two, so the
/// driver has work while the application takes one and asks for the next.
pub const READ_AHEAD: u64 = 2;

/// Before the first driver attaches, it is down only after this long (ms).
pub const BOOT_MS: u64 = 5000;

/// What the device says went wrong: the file system sees an I/O error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockError {
    /// The device failed the request.
    Io,
    /// The driver is down for good.
    Down,
    /// The disk's capacity is not known yet (the driver has not answered).
    NoDisk,
    /// What the driver read back differs from what it reported written, on
    /// every try.
    Corrupt,
}

impl fmt::Display for BlockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BlockError::Io => "the disk failed the request",
            BlockError::Down => "the block driver is down",
            BlockError::NoDisk => "no disk",
            BlockError::Corrupt => "the disk returned bytes that differ from those written",
        })
    }
}

impl core::error::Error for BlockError {}

/// How much the cache holds, in sectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Clean sectors kept for reads.
    pub clean: usize,
    /// Dirty sectors before writes wait for write-back.
    pub dirty: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { clean: 8192, dirty: 4096 }
    }
}

/// What the port has seen, for the shell's reports and for tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortCounters {
    pub reads: u64,
    pub writes: u64,
    pub flushes: u64,
    pub cache_hits: u64,
    /// Requests a dead driver held that were given to its fresh copy.
    pub resubmitted: u64,
    /// Driver attaches (the first, and one per restart).
    pub attaches: u64,
    /// Requests failed because the driver was down.
    pub failed_down: u64,
    /// Chunks read back with a sector that differs from what was written.
    pub corrupt: u64,
    /// Chunks the driver completed with an error status (or a wrong length).
    pub errors: u64,
    /// Of those, chunks given to the driver again ([`REREADS`]).
    pub retried: u64,
    /// Read-aheads started, and those a read then waited for.
    pub read_ahead: u64,
    pub read_ahead_used: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OpKind {
    Read,
    /// A write-back of sectors with the versions they had when copied.
    Write,
    Flush,
    Capacity,
}

#[derive(Debug)]
struct Op {
    kind: OpKind,
    sector: u64,
    len: usize,
    /// Read: what came back; write: what goes out.
    buf: Vec<u8>,
    /// Write-back: (sector, version) of each sector sent.
    versions: Vec<(u64, u64)>,
    next_chunk: usize,
    /// Chunks to read again (their bytes differed from what was written).
    redo: Vec<usize>,
    /// Tries again so far, of each chunk.
    tries: Vec<u8>,
    chunks: usize,
    done_chunks: usize,
    failed: Option<BlockError>,
    /// Its future is gone: dropped once its chunks in flight are back.
    cancelled: bool,
    /// A read ahead that no read waits for yet, with the cache's write
    /// version when it started (see "Read-ahead").
    ahead: Option<u64>,
    /// Unique among the port's operations (see [`Pending`]).
    serial: u64,
}

impl Op {
    /// Whether chunk `chunk` may go to the driver once more ([`REREADS`]).
    fn may_try_again(&self, chunk: usize) -> bool {
        self.failed.is_none() && self.tries.get(chunk).is_some_and(|&t| t < REREADS)
    }

    fn finished(&self) -> bool {
        self.done_chunks >= self.chunks || (self.failed.is_some() && self.next_chunk <= self.done_chunks)
    }
}

#[derive(Debug)]
struct Entry {
    data: Box<[u8; SECTOR]>,
    /// 0: clean; else the version of the last write.
    dirty: u64,
}

/// The server's end of the block driver's queues, with the cache.
pub struct Port<M: SharedMem + Clone, N: Notify> {
    queues: QueueClient<M, N>,
    free: Vec<u64>,
    ops: Vec<Option<Op>>,
    /// Ops with chunks not submitted yet, oldest first.
    waiting: VecDeque<usize>,
    /// Request id → the chunk.
    by_id: BTreeMap<u32, Pending>,
    /// The same for the ids of the queue state a reset ended: the reset's
    /// completions and reclaimed requests carry these, while the requests
    /// given again get new ids that may be equal to old ones.
    old_ids: BTreeMap<u32, Pending>,
    cache: BTreeMap<u64, Entry>,
    /// Sector → hash of what the driver last reported written there.
    sums: BTreeMap<u64, u64>,
    clean_order: VecDeque<u64>,
    dirty: usize,
    version: u64,
    limits: Limits,
    capacity: Option<u64>,
    down: bool,
    attached: bool,
    counters: PortCounters,
    now_ms: u64,
    /// When the driver last completed something, attached, or was given work
    /// while idle (ms).
    progress_ms: u64,
    /// Work was given to an idle driver since the last [`Port::tick`]: the
    /// time of that is not known here (the clock is the last tick's, which
    /// may be long ago on an idle system), so the next tick's time counts as
    /// it, and meanwhile the driver is not stalled.
    given_while_idle: bool,
    /// Sectors below this (the FAT volume's reserved sectors and FATs) are
    /// written back before any sector above it: 0 until a volume is mounted.
    metadata_end: u64,
    /// The next operation's serial.
    serials: u64,
}

/// A chunk given to the driver: its operation (slot and serial: a slot is
/// reused once its operation finished, and a chunk still out then, from an
/// operation that failed or was cancelled, must not count for the next),
/// which chunk, which buffer.
#[derive(Clone, Copy, Debug)]
struct Pending {
    op: usize,
    serial: u64,
    chunk: usize,
    buf: u64,
}

/// A token for an operation in flight.
pub type Token = usize;

impl<M: SharedMem + Clone, N: Notify> Port<M, N> {
    /// Takes the queues (`queues`, `data`) toward the driver (`driver` notifies
    /// it) and asks for the disk's capacity.
    pub fn new(queues: M, data: M, driver: N, limits: Limits) -> Result<Self, QueueError> {
        let queues = QueueClient::new("vfs on virtio_blk", queues, data, &QUEUES, driver)?;
        let free = (0..BUFFERS as u64).rev().map(|i| i * CHUNK as u64).collect();
        let mut port = Port {
            queues,
            free,
            ops: Vec::new(),
            waiting: VecDeque::new(),
            by_id: BTreeMap::new(),
            old_ids: BTreeMap::new(),
            cache: BTreeMap::new(),
            sums: BTreeMap::new(),
            clean_order: VecDeque::new(),
            dirty: 0,
            version: 0,
            limits,
            capacity: None,
            down: false,
            attached: false,
            counters: PortCounters::default(),
            now_ms: 0,
            progress_ms: 0,
            given_while_idle: false,
            metadata_end: 0,
            serials: 0,
        };
        port.start(OpKind::Capacity, 0, 8, Vec::new(), Vec::new());
        Ok(port)
    }

    pub fn counters(&self) -> PortCounters {
        self.counters
    }

    /// The disk's size in sectors, once the driver said it.
    pub fn capacity(&self) -> Option<u64> {
        self.capacity
    }

    /// Whether the driver is taken as down.
    pub fn is_down(&self) -> bool {
        self.down
    }

    /// The queue epoch (one more per driver attach).
    pub fn epoch(&self) -> u64 {
        self.queues.epoch()
    }

    /// Requests waiting on the driver.
    pub fn in_flight(&self) -> usize {
        self.by_id.len()
    }

    /// Dirty sectors in the cache.
    pub fn dirty(&self) -> usize {
        self.dirty
    }

    /// From now on, the FAT volume's metadata (its reserved sectors and FATs,
    /// as the boot sector in the cache says) goes to the disk before the
    /// directory entries and data that point into it: a write-back that a
    /// dead disk cuts short then leaves at worst lost clusters, never a file
    /// whose size its cluster chain does not cover. Returns the first sector
    /// after the metadata, or `None` (the boot sector is not cached or makes
    /// no sense; write-back stays in plain sector order).
    pub fn order_fat_metadata_first(&mut self) -> Option<u64> {
        let boot = self.cache.get(&0)?;
        let end = fat_metadata_end(&boot.data[..])?;
        if self.capacity.is_some_and(|c| end >= c) {
            return None;
        }
        self.metadata_end = end;
        Some(end)
    }

    /// Whether metadata sectors are dirty (waiting or in flight): sectors
    /// above them wait ([`Port::order_fat_metadata_first`]).
    fn metadata_dirty(&self) -> bool {
        self.metadata_end > 0 && self.cache.range(..self.metadata_end).any(|(_, e)| e.dirty != 0)
    }

    /// Whether requests have waited on the driver for more than `limit_ms`
    /// with no completion (nor attach) since: the shell complains to RS.
    pub fn stalled(&self, limit_ms: u64) -> bool {
        self.attached
            && !self.given_while_idle
            && !self.by_id.is_empty()
            && self.now_ms.saturating_sub(self.progress_ms) > limit_ms
    }

    /// The time (ms, any monotonic origin), at every event.
    pub fn tick(&mut self, now_ms: u64) {
        // The first tick starts the clock.
        if self.now_ms == 0 || self.given_while_idle || !self.busy() {
            self.progress_ms = now_ms;
            self.given_while_idle = false;
        }
        self.now_ms = now_ms;
    }

    /// How long requests have waited on the driver with no completion and no
    /// attach since (ms, as of the last [`Port::tick`]); 0 while none waits.
    pub fn silent_ms(&self) -> u64 {
        if self.busy() { self.now_ms.saturating_sub(self.progress_ms) } else { 0 }
    }

    /// The silence after which the driver may be down (see the module
    /// documentation): `down_after_ms` once a driver attached, [`BOOT_MS`]
    /// before (the system is booting).
    pub fn down_after(&self, down_after_ms: u64) -> u64 {
        if self.attached { down_after_ms } else { down_after_ms.max(BOOT_MS) }
    }

    /// Takes the driver as down: every operation in flight fails with an I/O
    /// error, and every new one at once, until a driver attaches again.
    /// Returns whether it just went down.
    pub fn go_down(&mut self) -> bool {
        if self.down {
            return false;
        }
        self.down = true;
        self.fail_all();
        true
    }

    /// Whether anything waits on the driver.
    pub fn busy(&self) -> bool {
        !self.by_id.is_empty() || !self.waiting.is_empty()
    }

    fn fail_all(&mut self) {
        for op in self.ops.iter_mut().flatten() {
            if op.done_chunks < op.chunks {
                op.failed = Some(BlockError::Down);
                op.next_chunk = op.chunks;
                op.done_chunks = op.chunks;
                self.counters.failed_down += 1;
            }
        }
        self.waiting.clear();
        // What the driver holds stays tracked by the queues; its buffers come
        // back when a driver attaches (reclaimed, then dropped).
    }

    /// On every notification from the driver (and on every other event): the
    /// restart protocol, then every completion, then more chunks submitted.
    pub fn on_driver_notification(&mut self) {
        while let Some(event) = self.queues.next_event() {
            match event {
                Event::Attached { .. } => {
                    self.old_ids.append(&mut self.by_id);
                    self.counters.attaches += 1;
                    self.attached = true;
                    self.progress_ms = self.now_ms;
                    if self.down {
                        // A driver is back: new requests may go to it.
                        self.down = false;
                    }
                }
                Event::Reclaimed(r) => {
                    let old = r.request.id;
                    let Some(p) = self.old_ids.remove(&old) else { continue };
                    let live = self.op_of(p).is_some_and(|o| o.failed.is_none());
                    if !live {
                        self.free.push(p.buf);
                        continue;
                    }
                    match self.queues.resubmit(r) {
                        Ok(id) => {
                            self.counters.resubmitted += 1;
                            self.by_id.insert(id, p);
                        }
                        Err(_) => self.chunk_done(p.op, p.chunk, p.buf, Some(BlockError::Io), 0),
                    }
                }
                Event::Completed { completion, .. } => {
                    self.progress_ms = self.now_ms;
                    // The reset's completions come before any request is given again.
                    let ids = if self.old_ids.is_empty() { &mut self.by_id } else { &mut self.old_ids };
                    let Some(p) = ids.remove(&completion.id) else { continue };
                    if self.op_of(p).is_none() {
                        // Its operation is gone (it failed or was cancelled
                        // with this chunk out): only the buffer comes back.
                        self.free.push(p.buf);
                        continue;
                    }
                    let ok = completion.status == status::OK && completion.len == completion.request.len;
                    let err = (!ok).then_some(BlockError::Io);
                    self.counters.errors += u64::from(!ok);
                    self.chunk_done(p.op, p.chunk, p.buf, err, completion.request.len as usize);
                }
            }
        }
        // A reset's completions and reclaimed requests all came above. One it
        // did not account for is lost: failed (and so given again, see
        // REREADS), never left here, where it would send every later
        // completion to this map instead of `by_id`.
        for (_, p) in core::mem::take(&mut self.old_ids) {
            if self.op_of(p).is_some() {
                self.chunk_done(p.op, p.chunk, p.buf, Some(BlockError::Io), 0);
            } else {
                self.free.push(p.buf);
            }
        }
        // A disk whose size was never learnt (the first driver died, or was
        // taken as down, before answering): ask the one now attached.
        for slot in self.ops.iter_mut() {
            if slot.as_ref().is_some_and(|o| o.kind == OpKind::Capacity && o.failed.is_some() && o.finished()) {
                *slot = None;
            }
        }
        self.reap_ahead();
        let asking = self.ops.iter().flatten().any(|o| o.kind == OpKind::Capacity);
        if self.capacity.is_none() && self.attached && !self.down && !asking {
            self.start(OpKind::Capacity, 0, 8, Vec::new(), Vec::new());
        }
        self.pump();
    }

    fn chunk_done(&mut self, op_i: usize, chunk: usize, buf: u64, err: Option<BlockError>, len: usize) {
        let data = self.queues.data().clone();
        let writing = self.writing();
        if let Some(op) = self.ops.get_mut(op_i).and_then(Option::as_mut) {
            op.done_chunks += 1;
            let first = op.sector + chunk as u64 * SECTORS_PER_CHUNK;
            let at = chunk * CHUNK;
            let retry = err == Some(BlockError::Io)
                && matches!(op.kind, OpKind::Read | OpKind::Write)
                && op.may_try_again(chunk);
            if err.is_some() && op.kind == OpKind::Write {
                // What is on the disk there is not known now (until a retry).
                let end = (at + CHUNK).min(op.buf.len());
                for k in 0..(end.saturating_sub(at) / SECTOR) as u64 {
                    self.sums.remove(&(first + k));
                }
            }
            let overtaken = op.ahead.is_some_and(|v| v != self.version);
            if overtaken && err.is_none() {
                // A read-ahead a write overtook is dropped, never used: its
                // bytes may predate a write-back, so they are not checked
                // either (a mismatch would blame a healthy driver).
                op.failed.get_or_insert(BlockError::Io);
            } else if retry {
                // The driver failed the chunk: give it again (see REREADS).
                self.counters.retried += 1;
                again(op, op_i, chunk, &mut self.waiting);
            } else if let Some(e) = err {
                op.failed.get_or_insert(e);
            } else {
                match op.kind {
                    OpKind::Read => {
                        let end = (at + len).min(op.buf.len());
                        if data.read_bytes(buf as usize, &mut op.buf[at..end]).is_err() {
                            op.failed.get_or_insert(BlockError::Io);
                        }
                        let differs = op.buf[at..end].chunks_exact(SECTOR).enumerate().any(|(k, bytes)| {
                            let sector = first + k as u64;
                            !writing.iter().any(|r| r.contains(&sector))
                                && self.sums.get(&sector).is_some_and(|&s| s != sum(bytes))
                        });
                        if differs {
                            self.counters.corrupt += 1;
                            if op.may_try_again(chunk) {
                                again(op, op_i, chunk, &mut self.waiting);
                            } else {
                                op.failed.get_or_insert(BlockError::Corrupt);
                            }
                        }
                    }
                    OpKind::Capacity => {
                        let mut c = [0u8; 8];
                        if data.read_bytes(buf as usize, &mut c).is_ok() {
                            self.capacity = Some(u64::from_le_bytes(c));
                        }
                    }
                    OpKind::Write => {
                        let end = (at + CHUNK).min(op.buf.len());
                        for (k, bytes) in op.buf[at..end].chunks_exact(SECTOR).enumerate() {
                            let sector = first + k as u64;
                            if self.sums.len() < SUMS || self.sums.contains_key(&sector) {
                                self.sums.insert(sector, sum(bytes));
                            }
                        }
                    }
                    OpKind::Flush => {}
                }
            }
            if op.kind == OpKind::Write && op.finished() && op.failed.is_none() {
                for &(sector, version) in &op.versions {
                    if let Some(e) = self.cache.get_mut(&sector)
                        && e.dirty == version
                    {
                        e.dirty = 0;
                        self.dirty -= 1;
                        self.clean_order.push_back(sector);
                    }
                }
            }
        }
        if self.ops.get(op_i).and_then(Option::as_ref).is_some_and(|o| o.cancelled && o.finished()) {
            self.ops[op_i] = None;
        }
        self.free.push(buf);
        self.evict();
    }

    /// The sectors writes in flight may be changing.
    fn writing(&self) -> Vec<core::ops::Range<u64>> {
        self.ops
            .iter()
            .flatten()
            .filter(|o| o.kind == OpKind::Write && !o.finished())
            .map(|o| o.sector..o.sector + (o.len / SECTOR) as u64)
            .collect()
    }

    fn start(&mut self, kind: OpKind, sector: u64, len: usize, buf: Vec<u8>, versions: Vec<(u64, u64)>) -> Token {
        let chunks = if matches!(kind, OpKind::Flush | OpKind::Capacity) { 1 } else { len.div_ceil(CHUNK) };
        let op = Op {
            kind,
            sector,
            len,
            buf,
            versions,
            next_chunk: 0,
            redo: Vec::new(),
            tries: vec![0; chunks],
            chunks,
            done_chunks: 0,
            failed: None,
            cancelled: false,
            ahead: None,
            serial: self.serials,
        };
        self.serials += 1;
        let token = match self.ops.iter().position(Option::is_none) {
            Some(i) => {
                self.ops[i] = Some(op);
                i
            }
            None => {
                self.ops.push(Some(op));
                self.ops.len() - 1
            }
        };
        if self.down {
            if let Some(op) = self.ops[token].as_mut() {
                op.failed = Some(BlockError::Down);
                op.next_chunk = op.chunks;
                op.done_chunks = op.chunks;
            }
            self.counters.failed_down += 1;
            return token;
        }
        if !self.busy() {
            self.given_while_idle = true;
        }
        self.waiting.push_back(token);
        self.pump();
        token
    }

    /// Submits chunks while there are free buffers.
    fn pump(&mut self) {
        while let Some(&op_i) = self.waiting.front() {
            let Some(op) = self.ops.get(op_i).and_then(Option::as_ref) else {
                self.waiting.pop_front();
                continue;
            };
            if (op.next_chunk >= op.chunks && op.redo.is_empty()) || op.failed.is_some() {
                self.waiting.pop_front();
                continue;
            }
            // A flush goes only after every write before it completed.
            if op.kind == OpKind::Flush && self.by_id.values().chain(self.old_ids.values()).any(|p| p.op != op_i) {
                return;
            }
            let Some(buf) = self.free.pop() else { return };
            let redo = op.redo.last().copied();
            let chunk = redo.unwrap_or(op.next_chunk);
            let at = chunk * CHUNK;
            let len = match op.kind {
                OpKind::Flush => 0,
                OpKind::Capacity => 8,
                _ => (op.len - at).min(CHUNK),
            };
            let (opcode, arg) = match op.kind {
                OpKind::Read => (OP_READ, op.sector + chunk as u64 * SECTORS_PER_CHUNK),
                OpKind::Write => (OP_WRITE, op.sector + chunk as u64 * SECTORS_PER_CHUNK),
                OpKind::Flush => (OP_FLUSH, 0),
                OpKind::Capacity => (OP_CAPACITY, 0),
            };
            if op.kind == OpKind::Write && self.queues.data().write_bytes(buf as usize, &op.buf[at..at + len]).is_err()
            {
                self.free.push(buf);
                self.fail(op_i, BlockError::Io);
                continue;
            }
            match self.queues.submit(0, Desc { op: opcode, arg, ..Desc::new(buf, len as u32) }) {
                Ok(id) => {
                    let serial = op.serial;
                    self.by_id.insert(id, Pending { op: op_i, serial, chunk, buf });
                    if let Some(op) = self.ops[op_i].as_mut() {
                        if redo.is_some() {
                            op.redo.pop();
                        } else {
                            op.next_chunk += 1;
                        }
                    }
                }
                Err(QueueError::Full) => {
                    self.free.push(buf);
                    return;
                }
                // A ring the driver corrupted (reported by the queue client):
                // wait for its fresh copy to attach; the chunk goes then.
                Err(_) => {
                    self.free.push(buf);
                    return;
                }
            }
        }
    }

    fn fail(&mut self, op_i: usize, e: BlockError) {
        if let Some(op) = self.ops.get_mut(op_i).and_then(Option::as_mut) {
            op.failed.get_or_insert(e);
        }
    }

    /// After a read of `n` sectors from `first`: the [`READ_AHEAD`] reads of
    /// `n` sectors that would follow it, read ahead.
    fn read_ahead_after(&mut self, first: u64, n: u64) {
        self.reap_ahead();
        for k in 1..=READ_AHEAD {
            self.read_ahead(first + k * n, n);
        }
    }

    /// The operation a chunk belongs to, if it is still there.
    fn op_of(&self, p: Pending) -> Option<&Op> {
        self.ops.get(p.op)?.as_ref().filter(|o| o.serial == p.serial)
    }

    /// Reads `n` sectors from `first` ahead (see "Read-ahead"), unless they
    /// are cached, past the disk's end, already being read, or the driver is
    /// down.
    fn read_ahead(&mut self, first: u64, n: u64) {
        let capacity = self.capacity.unwrap_or(0);
        if self.down || n == 0 || first.saturating_add(n) > capacity {
            return;
        }
        if (first..first + n).all(|s| self.cache.contains_key(&s)) {
            return;
        }
        if self.ops.iter().flatten().any(|o| o.kind == OpKind::Read && o.sector == first) {
            return;
        }
        let len = (n as usize) * SECTOR;
        let version = self.version;
        let token = self.start(OpKind::Read, first, len, vec![0; len], Vec::new());
        if let Some(op) = self.ops[token].as_mut() {
            op.ahead = Some(version);
        }
        self.counters.read_ahead += 1;
    }

    /// The read-ahead in flight of exactly `n` sectors from `first`, taken
    /// over by a read (so it is no longer dropped or cached on its own).
    fn adopt_ahead(&mut self, first: u64, n: u64) -> Option<Token> {
        let version = self.version;
        let i = self.ops.iter().position(|o| {
            o.as_ref().is_some_and(|o| {
                o.ahead == Some(version) && o.sector == first && o.len == n as usize * SECTOR && o.failed.is_none()
            })
        })?;
        if let Some(op) = self.ops[i].as_mut() {
            op.ahead = None;
        }
        self.counters.read_ahead_used += 1;
        Some(i)
    }

    /// Read-aheads that finished with no read waiting: cached if no write
    /// overtook them, else dropped.
    fn reap_ahead(&mut self) {
        for i in 0..self.ops.len() {
            let done = self.ops[i].as_ref().is_some_and(|o| o.ahead.is_some() && o.finished());
            if !done {
                continue;
            }
            let Some(op) = self.ops[i].take() else { continue };
            if op.failed.is_none() && op.ahead == Some(self.version) {
                for (k, bytes) in op.buf.chunks_exact(SECTOR).enumerate() {
                    self.insert_clean(op.sector + k as u64, bytes);
                }
            }
        }
    }

    /// Takes a finished operation: `None` while it is in flight.
    fn take(&mut self, token: Token) -> Option<Result<Op, BlockError>> {
        let op = self.ops.get(token)?.as_ref()?;
        if !op.finished() {
            return None;
        }
        let op = self.ops[token].take()?;
        Some(match op.failed {
            Some(e) => Err(e),
            None => Ok(op),
        })
    }

    /// Gives up on an operation (its future was dropped): its chunks in flight
    /// complete into nothing.
    fn cancel(&mut self, token: Token) {
        if let Some(slot) = self.ops.get_mut(token)
            && let Some(op) = slot.as_mut()
        {
            if op.next_chunk == op.done_chunks {
                *slot = None;
            } else {
                op.failed.get_or_insert(BlockError::Io);
                op.chunks = op.next_chunk;
                op.cancelled = true;
            }
        }
        self.waiting.retain(|&t| t != token);
    }

    fn evict(&mut self) {
        while self.cache.len() - self.dirty > self.limits.clean {
            let Some(sector) = self.clean_order.pop_front() else { return };
            if self.cache.get(&sector).is_some_and(|e| e.dirty == 0) {
                self.cache.remove(&sector);
            }
        }
    }

    fn insert_clean(&mut self, sector: u64, data: &[u8]) {
        if self.cache.contains_key(&sector) {
            return;
        }
        let mut block = Box::new([0u8; SECTOR]);
        block.copy_from_slice(data);
        self.cache.insert(sector, Entry { data: block, dirty: 0 });
        self.clean_order.push_back(sector);
        self.evict();
    }

    /// Puts `data` (whole sectors from `first`) into the cache, dirty.
    fn absorb(&mut self, first: u64, data: &[u8]) {
        for (i, s) in data.chunks_exact(SECTOR).enumerate() {
            self.version += 1;
            let version = self.version;
            let e =
                self.cache.entry(first + i as u64).or_insert_with(|| Entry { data: Box::new([0; SECTOR]), dirty: 0 });
            if e.dirty == 0 {
                self.dirty += 1;
            }
            e.data.copy_from_slice(s);
            e.dirty = version;
        }
        self.counters.writes += 1;
    }

    /// Starts writing back dirty sectors, at most `max` of them (sector
    /// order, contiguous runs in chunks); while metadata sectors are dirty,
    /// only those ([`Port::order_fat_metadata_first`]). Returns the tokens
    /// started.
    fn write_back(&mut self, max: usize) -> Vec<Token> {
        let in_flight: Vec<(u64, u64)> = self
            .ops
            .iter()
            .flatten()
            .filter(|o| o.kind == OpKind::Write && !o.finished())
            .flat_map(|o| o.versions.iter().copied())
            .collect();
        // (first sector, bytes, (sector, version) of each)
        type Run = (u64, Vec<u8>, Vec<(u64, u64)>);
        let mut runs: Vec<Run> = Vec::new();
        let mut taken = 0;
        let metadata_first = self.metadata_dirty();
        for (&sector, e) in &self.cache {
            if taken >= max || (metadata_first && sector >= self.metadata_end) {
                break;
            }
            if e.dirty == 0 || in_flight.contains(&(sector, e.dirty)) {
                continue;
            }
            taken += 1;
            match runs.last_mut() {
                Some((start, data, versions)) if *start + versions.len() as u64 == sector && data.len() < CHUNK * 4 => {
                    data.extend_from_slice(&e.data[..]);
                    versions.push((sector, e.dirty));
                }
                _ => runs.push((sector, e.data.to_vec(), vec![(sector, e.dirty)])),
            }
        }
        runs.into_iter()
            .map(|(sector, data, versions)| {
                let len = data.len();
                self.start(OpKind::Write, sector, len, data, versions)
            })
            .collect()
    }
}

/// The per-operation state of [`Dev`]'s futures.
#[derive(Debug, Default)]
pub struct DevState {
    stage: Stage,
}

#[derive(Debug, Default)]
enum Stage {
    #[default]
    New,
    /// A read in flight.
    Reading(Token),
    /// Write-backs this operation waits for.
    WritingBack(Vec<Token>),
    /// The device flush, after the write-backs.
    Flushing(Token),
}

/// The [`BlockDevice`] the file system mounts: a handle on the shared [`Port`].
pub struct Dev<M: SharedMem + Clone, N: Notify> {
    port: Rc<RefCell<Port<M, N>>>,
    sectors: u64,
}

impl<M: SharedMem + Clone, N: Notify> Dev<M, N> {
    /// The device of `port`, whose disk has `sectors` sectors.
    pub fn new(port: Rc<RefCell<Port<M, N>>>, sectors: u64) -> Self {
        Dev { port, sectors }
    }
}

impl<M: SharedMem + Clone, N: Notify> hadris_io::ErrorType for Dev<M, N> {
    type Error = BlockError;
}

fn io(e: BlockError) -> hadris_io::Error<BlockError> {
    hadris_io::Error::device(e, "block device")
}

/// Waits for every token; the first error wins. `Pending` while any runs.
fn wait_all<M: SharedMem + Clone, N: Notify>(
    port: &mut Port<M, N>,
    tokens: &mut Vec<Token>,
) -> Poll<Result<(), BlockError>> {
    let mut err = None;
    tokens.retain(|&t| match port.take(t) {
        None => true,
        Some(Ok(_)) => false,
        Some(Err(e)) => {
            err.get_or_insert(e);
            false
        }
    });
    if let Some(e) = err {
        for t in tokens.drain(..) {
            port.cancel(t);
        }
        return Poll::Ready(Err(e));
    }
    if tokens.is_empty() { Poll::Ready(Ok(())) } else { Poll::Pending }
}

impl<M: SharedMem + Clone, N: Notify> BlockDevice for Dev<M, N> {
    type State = DevState;

    fn block_size(&self) -> BlockSize {
        SECTOR_SIZE
    }

    fn block_count(&self) -> u64 {
        self.sectors
    }

    fn writable(&self) -> bool {
        true
    }

    fn poll_read_blocks(
        &mut self,
        state: &mut DevState,
        _cx: &mut Context<'_>,
        first: BlockIndex,
        buf: &mut [u8],
    ) -> Poll<Result<(), hadris_io::Error<BlockError>>> {
        let mut port = self.port.borrow_mut();
        let first = first.get();
        match &mut state.stage {
            Stage::New => {
                port.counters.reads += 1;
                let n = (buf.len() / SECTOR) as u64;
                let sequential = buf.len() >= CHUNK;
                let all_cached = (0..n).all(|i| port.cache.contains_key(&(first + i)));
                if all_cached {
                    port.counters.cache_hits += 1;
                    for (i, out) in buf.chunks_exact_mut(SECTOR).enumerate() {
                        if let Some(e) = port.cache.get(&(first + i as u64)) {
                            out.copy_from_slice(&e.data[..]);
                        }
                    }
                    if sequential {
                        port.read_ahead_after(first, n);
                    }
                    return Poll::Ready(Ok(()));
                }
                let token = match port.adopt_ahead(first, n) {
                    Some(t) => t,
                    None => port.start(OpKind::Read, first, buf.len(), vec![0; buf.len()], Vec::new()),
                };
                if sequential {
                    port.read_ahead_after(first, n);
                }
                state.stage = Stage::Reading(token);
                match port.take(token) {
                    None => Poll::Pending,
                    Some(r) => {
                        state.stage = Stage::New;
                        Poll::Ready(finish_read(&mut port, first, buf, r))
                    }
                }
            }
            Stage::Reading(token) => match port.take(*token) {
                None => Poll::Pending,
                Some(r) => {
                    state.stage = Stage::New;
                    Poll::Ready(finish_read(&mut port, first, buf, r))
                }
            },
            _ => Poll::Ready(Err(hadris_io::Error::new(hadris_io::ErrorKind::Io, "bad read state"))),
        }
    }

    fn poll_write_blocks(
        &mut self,
        state: &mut DevState,
        _cx: &mut Context<'_>,
        first: BlockIndex,
        buf: &[u8],
    ) -> Poll<Result<(), hadris_io::Error<BlockError>>> {
        let mut port = self.port.borrow_mut();
        match &mut state.stage {
            Stage::New => {
                if port.down {
                    return Poll::Ready(Err(io(BlockError::Down)));
                }
                port.absorb(first.get(), buf);
                if port.dirty <= port.limits.dirty {
                    return Poll::Ready(Ok(()));
                }
                let over = port.dirty - port.limits.dirty / 2;
                let tokens = port.write_back(over);
                state.stage = Stage::WritingBack(tokens);
                Poll::Pending
            }
            Stage::WritingBack(tokens) => match wait_all(&mut port, tokens) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(r) => {
                    state.stage = Stage::New;
                    Poll::Ready(r.map_err(io))
                }
            },
            _ => Poll::Ready(Err(hadris_io::Error::new(hadris_io::ErrorKind::Io, "bad write state"))),
        }
    }

    fn poll_flush(
        &mut self,
        state: &mut DevState,
        _cx: &mut Context<'_>,
    ) -> Poll<Result<(), hadris_io::Error<BlockError>>> {
        let mut port = self.port.borrow_mut();
        loop {
            match &mut state.stage {
                Stage::New => {
                    if port.down {
                        return Poll::Ready(Err(io(BlockError::Down)));
                    }
                    port.counters.flushes += 1;
                    let tokens = port.write_back(usize::MAX);
                    state.stage = Stage::WritingBack(tokens);
                }
                Stage::WritingBack(tokens) => match wait_all(&mut port, tokens) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(e)) => {
                        state.stage = Stage::New;
                        return Poll::Ready(Err(io(e)));
                    }
                    Poll::Ready(Ok(())) => {
                        // Sectors dirtied again during the write-back go too,
                        // and those that waited for the metadata.
                        let more = port.write_back(usize::MAX);
                        if !more.is_empty() {
                            state.stage = Stage::WritingBack(more);
                        } else if port.dirty > 0 && !port.writing().is_empty() {
                            // Dirty sectors wait behind write-backs no one
                            // waits for (a cancelled operation's): after
                            // them, at a later poll.
                            return Poll::Pending;
                        } else {
                            let t = port.start(OpKind::Flush, 0, 0, Vec::new(), Vec::new());
                            state.stage = Stage::Flushing(t);
                        }
                    }
                },
                Stage::Flushing(t) => match port.take(*t) {
                    None => return Poll::Pending,
                    Some(r) => {
                        state.stage = Stage::New;
                        return Poll::Ready(r.map(drop).map_err(io));
                    }
                },
                Stage::Reading(_) => {
                    return Poll::Ready(Err(hadris_io::Error::new(hadris_io::ErrorKind::Io, "bad flush state")));
                }
            }
        }
    }

    fn cancel(&mut self, state: &mut DevState) {
        let Ok(mut port) = self.port.try_borrow_mut() else { return };
        match core::mem::take(&mut state.stage) {
            Stage::New => {}
            Stage::Reading(t) | Stage::Flushing(t) => port.cancel(t),
            // Write-backs carry their own data: let them finish.
            Stage::WritingBack(_) => {}
        }
    }
}

/// Chunk `chunk` of operation `op` (at `op_i`) goes to the driver again,
/// first among the waiting ones; one try of its [`REREADS`] spent.
fn again(op: &mut Op, op_i: usize, chunk: usize, waiting: &mut VecDeque<usize>) {
    if let Some(t) = op.tries.get_mut(chunk) {
        *t += 1;
    }
    op.done_chunks -= 1;
    op.redo.push(chunk);
    if !waiting.contains(&op_i) {
        waiting.push_front(op_i);
    }
}

/// The first sector after a FAT volume's reserved sectors and FATs, from its
/// boot sector (untrusted: `None` for a sector size other than ours or
/// numbers that do not add up).
fn fat_metadata_end(boot: &[u8]) -> Option<u64> {
    let u16_at = |at: usize| Some(u64::from(u16::from_le_bytes(boot.get(at..at + 2)?.try_into().ok()?)));
    let u32_at = |at: usize| Some(u64::from(u32::from_le_bytes(boot.get(at..at + 4)?.try_into().ok()?)));
    if u16_at(11)? != SECTOR as u64 {
        return None;
    }
    let reserved = u16_at(14)?;
    let fats = u64::from(*boot.get(16)?);
    let fat_sectors = match u16_at(22)? {
        0 => u32_at(36)?,
        n => n,
    };
    let end = reserved.checked_add(fats.checked_mul(fat_sectors)?)?;
    (reserved > 0 && fats > 0 && fat_sectors > 0).then_some(end)
}

fn finish_read<M: SharedMem + Clone, N: Notify>(
    port: &mut Port<M, N>,
    first: u64,
    buf: &mut [u8],
    r: Result<Op, BlockError>,
) -> Result<(), hadris_io::Error<BlockError>> {
    let op = r.map_err(io)?;
    // File data streaming by (a read of more than a chunk) is not kept: it
    // would only push metadata out of the cache.
    let keep = buf.len() <= CHUNK;
    for (i, (out, disk)) in buf.chunks_exact_mut(SECTOR).zip(op.buf.chunks_exact(SECTOR)).enumerate() {
        let sector = first + i as u64;
        match port.cache.get(&sector) {
            Some(e) => out.copy_from_slice(&e.data[..]),
            None if !keep => out.copy_from_slice(disk),
            None => {
                out.copy_from_slice(disk);
                port.insert_clean(sector, disk);
            }
        }
    }
    Ok(())
}
