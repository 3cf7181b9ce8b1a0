//! One single-producer / single-consumer ring of descriptors in shared memory.
//!
//! Layout (offsets from the ring's start; see the crate documentation for the
//! protocol):
//!
//! | offset | word | written by |
//! | --- | --- | --- |
//! | 0 | `tail`: descriptors ever enqueued (free-running) | producer |
//! | 64 | `head`: descriptors ever dequeued (free-running) | consumer |
//! | 72 | `need_signal`: non-zero when the consumer waits for a notification | consumer sets, producer clears |
//! | 128 + 32·i | slot i: a [`Desc`] | producer |
//!
//! The producer's and the consumer's words are on different cache lines.
//! Each side keeps its own index privately and only ever *reads* the peer's,
//! checking it before use: the peer can make the ring useless, never make this
//! side read or write outside it.

use core::sync::atomic::{AtomicU64, Ordering, fence};

use crate::desc::{Bounds, DESC_BYTES, Desc};
use crate::error::{LayoutError, QueueError};
use crate::mem::SharedMem;

/// The largest ring capacity.
pub const MAX_CAPACITY: u64 = 1 << 24;
/// Bytes before the slots.
pub const RING_HEADER_BYTES: usize = 128;

const TAIL: usize = 0;
const HEAD: usize = 64;
const NEED_SIGNAL: usize = 72;

/// Where one ring is in its memory and how many descriptors it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingLayout {
    offset: usize,
    capacity: u64,
}

impl RingLayout {
    /// A ring of `capacity` descriptors (a power of two) at `offset` (8-aligned;
    /// 64-aligned keeps the indices on their own cache lines).
    pub const fn new(offset: usize, capacity: u64) -> Result<RingLayout, LayoutError> {
        if !capacity.is_power_of_two() || capacity > MAX_CAPACITY {
            return Err(LayoutError::BadCapacity(capacity));
        }
        if !offset.is_multiple_of(8) {
            return Err(LayoutError::Misaligned(offset));
        }
        match offset.checked_add(Self::bytes(capacity)) {
            Some(_) => Ok(RingLayout { offset, capacity }),
            None => Err(LayoutError::TooLarge),
        }
    }

    /// Bytes a ring of `capacity` descriptors takes (a multiple of 64).
    pub const fn bytes(capacity: u64) -> usize {
        let b = RING_HEADER_BYTES + DESC_BYTES * capacity as usize;
        b.next_multiple_of(64)
    }

    /// Offset of the ring's first byte.
    pub const fn offset(&self) -> usize {
        self.offset
    }

    /// Descriptors the ring holds.
    pub const fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Offset one past the ring's last byte.
    pub const fn end(&self) -> usize {
        self.offset + Self::bytes(self.capacity)
    }

    fn slot(&self, index: u64) -> usize {
        self.offset + RING_HEADER_BYTES + (index & (self.capacity - 1)) as usize * DESC_BYTES
    }

    /// Checks that every word of the ring is in `mem` (first and last word:
    /// the implementations check ranges).
    pub(crate) fn check<M: SharedMem>(&self, mem: &M) -> Result<(), QueueError> {
        mem.word(self.offset)?;
        mem.word(self.end() - 8)?;
        Ok(())
    }

    fn word<'m, M: SharedMem>(&self, mem: &'m M, at: usize) -> Result<&'m AtomicU64, QueueError> {
        Ok(mem.word(self.offset + at)?)
    }

    /// Puts the ring in its clean state: empty, consumer asking for a signal.
    /// Only for the owner of the restart protocol while no peer uses the ring.
    pub(crate) fn reset<M: SharedMem>(&self, mem: &M) -> Result<(), QueueError> {
        self.word(mem, TAIL)?.store(0, Ordering::Relaxed);
        self.word(mem, HEAD)?.store(0, Ordering::Relaxed);
        self.word(mem, NEED_SIGNAL)?.store(1, Ordering::Relaxed);
        Ok(())
    }
}

/// The producing half of a ring.
#[derive(Debug)]
pub struct Producer<M: SharedMem> {
    mem: M,
    ring: RingLayout,
    bounds: Bounds,
    /// Our index: the only copy we trust.
    tail: u64,
    /// The consumer's index as last read and checked.
    head_seen: u64,
}

impl<M: SharedMem> Producer<M> {
    /// Takes the producing side of the ring at `ring` in `mem`, continuing from
    /// the indices in memory. Every enqueued descriptor must be inside `bounds`.
    pub fn attach(mem: M, ring: RingLayout, bounds: Bounds) -> Result<Self, QueueError> {
        ring.check(&mem)?;
        let tail = ring.word(&mem, TAIL)?.load(Ordering::Relaxed);
        let head = ring.word(&mem, HEAD)?.load(Ordering::Acquire);
        if tail.wrapping_sub(head) > ring.capacity {
            return Err(QueueError::Corrupt { theirs: head, ours: tail });
        }
        Ok(Producer { mem, ring, bounds, tail, head_seen: head })
    }

    /// The ring's layout.
    pub fn layout(&self) -> RingLayout {
        self.ring
    }

    /// Descriptors the ring holds.
    pub fn capacity(&self) -> u64 {
        self.ring.capacity
    }

    /// Reads the consumer's index and checks it: it moves only forwards and
    /// never past ours. Returns the descriptors in the ring.
    fn refresh_head(&mut self) -> Result<u64, QueueError> {
        let head = self.ring.word(&self.mem, HEAD)?.load(Ordering::Acquire);
        let used = self.tail.wrapping_sub(head);
        let advanced = head.wrapping_sub(self.head_seen);
        if used > self.ring.capacity || advanced > self.tail.wrapping_sub(self.head_seen) {
            return Err(QueueError::Corrupt { theirs: head, ours: self.tail });
        }
        self.head_seen = head;
        Ok(used)
    }

    /// Descriptors enqueued and not yet dequeued.
    pub fn len(&mut self) -> Result<u64, QueueError> {
        self.refresh_head()
    }

    /// Whether the ring is empty (the consumer took everything).
    pub fn is_empty(&mut self) -> Result<bool, QueueError> {
        Ok(self.refresh_head()? == 0)
    }

    /// Whether an enqueue would fail with [`QueueError::Full`].
    pub fn is_full(&mut self) -> Result<bool, QueueError> {
        Ok(self.refresh_head()? >= self.ring.capacity)
    }

    /// Appends `desc`, visible to the consumer at once. Call
    /// [`Producer::should_notify`] after a batch.
    pub fn enqueue(&mut self, desc: Desc) -> Result<(), QueueError> {
        self.bounds.check(&desc).map_err(|reason| QueueError::Rejected { desc, reason })?;
        // Only re-read the consumer's line when our last view says full.
        if self.tail.wrapping_sub(self.head_seen) >= self.ring.capacity && self.refresh_head()? >= self.ring.capacity {
            return Err(QueueError::Full);
        }
        let slot = self.ring.slot(self.tail);
        for (i, w) in desc.to_words().into_iter().enumerate() {
            self.mem.word(slot + 8 * i)?.store(w, Ordering::Relaxed);
        }
        self.tail = self.tail.wrapping_add(1);
        // Release: the slot's words are visible before the new tail.
        self.ring.word(&self.mem, TAIL)?.store(self.tail, Ordering::Release);
        Ok(())
    }

    /// After a batch of enqueues: whether the consumer asked to be notified.
    /// If so the request is taken (cleared) and the caller must notify the
    /// consumer. A full fence first orders our tail before the flag's read
    /// (see "Signalling" in the crate documentation). If the flag cannot be
    /// read (impossible after a successful attach) it answers `true`: a
    /// needless notification is harmless, a lost one is not.
    pub fn should_notify(&mut self) -> bool {
        fence(Ordering::SeqCst);
        let Ok(flag) = self.ring.word(&self.mem, NEED_SIGNAL) else { return true };
        // Read before writing: no write to the consumer's line when not asked.
        flag.load(Ordering::Relaxed) != 0 && flag.swap(0, Ordering::Relaxed) != 0
    }

    /// Forgets local state after the ring was reset to empty.
    pub(crate) fn reset_local(&mut self) {
        self.tail = 0;
        self.head_seen = 0;
    }
}

/// The consuming half of a ring.
#[derive(Debug)]
pub struct Consumer<M: SharedMem> {
    mem: M,
    ring: RingLayout,
    bounds: Bounds,
    /// Our index: the only copy we trust.
    head: u64,
    /// The producer's index as last read and checked.
    tail_seen: u64,
}

impl<M: SharedMem> Consumer<M> {
    /// Takes the consuming side of the ring at `ring` in `mem`, continuing from
    /// the indices in memory. Descriptors outside `bounds` are reported as
    /// [`QueueError::BadDescriptor`].
    pub fn attach(mem: M, ring: RingLayout, bounds: Bounds) -> Result<Self, QueueError> {
        ring.check(&mem)?;
        let head = ring.word(&mem, HEAD)?.load(Ordering::Relaxed);
        let tail = ring.word(&mem, TAIL)?.load(Ordering::Acquire);
        if tail.wrapping_sub(head) > ring.capacity {
            return Err(QueueError::Corrupt { theirs: tail, ours: head });
        }
        Ok(Consumer { mem, ring, bounds, head, tail_seen: tail })
    }

    /// The ring's layout.
    pub fn layout(&self) -> RingLayout {
        self.ring
    }

    /// Descriptors the ring holds.
    pub fn capacity(&self) -> u64 {
        self.ring.capacity
    }

    /// Reads the producer's index and checks it: it moves only forwards and is
    /// at most a capacity ahead of ours. Returns the descriptors available.
    fn refresh_tail(&mut self) -> Result<u64, QueueError> {
        let tail = self.ring.word(&self.mem, TAIL)?.load(Ordering::Acquire);
        let available = tail.wrapping_sub(self.head);
        if available > self.ring.capacity || tail.wrapping_sub(self.tail_seen) > available {
            return Err(QueueError::Corrupt { theirs: tail, ours: self.head });
        }
        self.tail_seen = tail;
        Ok(available)
    }

    /// Descriptors waiting.
    pub fn len(&mut self) -> Result<u64, QueueError> {
        self.refresh_tail()
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&mut self) -> Result<bool, QueueError> {
        Ok(self.refresh_tail()? == 0)
    }

    /// Takes the oldest descriptor, `None` if the ring is empty. A descriptor
    /// outside the bounds is consumed and returned as
    /// [`QueueError::BadDescriptor`], so one bad entry does not wedge the ring;
    /// the caller decides what to do about the peer.
    pub fn dequeue(&mut self) -> Result<Option<Desc>, QueueError> {
        if self.tail_seen == self.head && self.refresh_tail()? == 0 {
            return Ok(None);
        }
        let slot = self.ring.slot(self.head);
        let mut w = [0u64; 4];
        for (i, word) in w.iter_mut().enumerate() {
            *word = self.mem.word(slot + 8 * i)?.load(Ordering::Relaxed);
        }
        self.head = self.head.wrapping_add(1);
        // Release: our reads of the slot happen before the producer may reuse it.
        self.ring.word(&self.mem, HEAD)?.store(self.head, Ordering::Release);
        let desc = Desc::from_words(w);
        self.bounds.check(&desc).map_err(|reason| QueueError::BadDescriptor { desc, reason })?;
        Ok(Some(desc))
    }

    /// Before waiting for a notification: asks the producer for one, then looks
    /// again. `Ok(true)`: still empty, safe to wait (the next enqueue will be
    /// notified). `Ok(false)`: descriptors arrived meanwhile; the request is
    /// withdrawn and the caller must go on dequeuing instead of waiting.
    pub fn request_signal(&mut self) -> Result<bool, QueueError> {
        self.ring.word(&self.mem, NEED_SIGNAL)?.store(1, Ordering::Relaxed);
        // Full fence: our flag is visible before we read the tail again
        // (pairs with the fence in `Producer::should_notify`).
        fence(Ordering::SeqCst);
        if self.refresh_tail()? == 0 {
            return Ok(true);
        }
        self.cancel_signal()?;
        Ok(false)
    }

    /// Withdraws a request for a notification (e.g. when polling instead).
    pub fn cancel_signal(&mut self) -> Result<(), QueueError> {
        self.ring.word(&self.mem, NEED_SIGNAL)?.store(0, Ordering::Relaxed);
        Ok(())
    }

    /// Forgets local state after the ring was reset to empty.
    pub(crate) fn reset_local(&mut self) {
        self.head = 0;
        self.tail_seen = 0;
    }
}

/// Attaches both halves of a fresh ring in one memory (tests, single-process users).
pub fn split<M: SharedMem + Clone>(
    mem: M,
    ring: RingLayout,
    bounds: Bounds,
) -> Result<(Producer<M>, Consumer<M>), QueueError> {
    Ok((Producer::attach(mem.clone(), ring, bounds)?, Consumer::attach(mem, ring, bounds)?))
}
