//! Where a queue set's rings are in its region, and how many bytes it needs.
//!
//! A queue set is a control block followed by `pairs` queue pairs; a pair is a
//! free ring followed by an active ring, all of one capacity:
//!
//! | offset (from the set's start) | what | written by |
//! | --- | --- | --- |
//! | 0 | `epoch`: generation of the clean queue state (0: never set up) | server |
//! | 8 | `shape`: layout version, pairs and capacity, for a sanity check | server |
//! | 64 | `attach`: the epoch the driver asks for, or is attached to | driver |
//! | 128 | pair 0 free ring, then pair 0 active ring, pair 1 free ring, ... | see [`crate::ring`] |

use crate::desc::Bounds;
use crate::error::{LayoutError, QueueError};
use crate::mem::SharedMem;
use crate::ring::{MAX_CAPACITY, RingLayout};

/// Bytes of the control block before the rings.
pub const CONTROL_BYTES: usize = 128;
/// The most queue pairs in a set.
pub const MAX_PAIRS: usize = 64;
/// Bumped whenever the layout of a queue set changes (part of `shape`).
pub const LAYOUT_VERSION: u64 = 1;

pub(crate) const EPOCH: usize = 0;
pub(crate) const SHAPE: usize = 8;
pub(crate) const ATTACH: usize = 64;

/// Which way a pair's data flows, which decides the rings' roles.
///
/// | direction | server → driver | driver → server | e.g. |
/// | --- | --- | --- | --- |
/// | `ToDevice` | active (filled buffers, requests) | free (done, with status) | net TX, block, console out |
/// | `FromDevice` | free (empty buffers) | active (filled buffers) | net RX, console in |
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// The server hands the driver work to send (or requests to carry out).
    ToDevice,
    /// The server hands the driver empty buffers to fill.
    FromDevice,
}

/// Which ring of a pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingKind {
    /// Buffers going back to be reused (or completions, for `ToDevice`).
    Free,
    /// Buffers holding work (or data, for `FromDevice`).
    Active,
}

/// What a pair is for: its direction and where its buffers may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PairSpec {
    /// Which way data flows.
    pub direction: Direction,
    /// Where the buffers of this pair may be (in the data region).
    pub bounds: Bounds,
}

impl PairSpec {
    /// A pair of `direction` with buffers inside `bounds`.
    pub const fn new(direction: Direction, bounds: Bounds) -> PairSpec {
        PairSpec { direction, bounds }
    }

    /// The ring the server produces into (requests, buffers to fill).
    pub const fn to_driver(&self) -> RingKind {
        match self.direction {
            Direction::ToDevice => RingKind::Active,
            Direction::FromDevice => RingKind::Free,
        }
    }

    /// The ring the driver produces into (completions, filled buffers).
    pub const fn from_driver(&self) -> RingKind {
        match self.direction {
            Direction::ToDevice => RingKind::Free,
            Direction::FromDevice => RingKind::Active,
        }
    }
}

/// The layout of one queue set at `offset` in its region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    offset: usize,
    capacity: u64,
    pairs: usize,
}

impl Layout {
    /// A set of `pairs` queue pairs whose rings hold `capacity` descriptors (a
    /// power of two), starting at `offset` (64-aligned is best) in the region.
    pub const fn new(offset: usize, capacity: u64, pairs: usize) -> Result<Layout, LayoutError> {
        if !capacity.is_power_of_two() || capacity > MAX_CAPACITY {
            return Err(LayoutError::BadCapacity(capacity));
        }
        if pairs > MAX_PAIRS {
            return Err(LayoutError::TooManyPairs(pairs));
        }
        if !offset.is_multiple_of(8) {
            return Err(LayoutError::Misaligned(offset));
        }
        // Bounded by MAX_PAIRS and MAX_CAPACITY: no overflow in `bytes`.
        match offset.checked_add(Self::bytes_for(capacity, pairs)) {
            Some(_) => Ok(Layout { offset, capacity, pairs }),
            None => Err(LayoutError::TooLarge),
        }
    }

    /// Bytes a set of `pairs` pairs of rings of `capacity` takes.
    pub const fn bytes_for(capacity: u64, pairs: usize) -> usize {
        CONTROL_BYTES + 2 * pairs * RingLayout::bytes(capacity)
    }

    /// Bytes this set takes from its offset.
    pub const fn bytes(&self) -> usize {
        Self::bytes_for(self.capacity, self.pairs)
    }

    /// Offset of the set in its region.
    pub const fn offset(&self) -> usize {
        self.offset
    }

    /// Offset one past the set's last byte.
    pub const fn end(&self) -> usize {
        self.offset + self.bytes()
    }

    /// Descriptors per ring.
    pub const fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Queue pairs in the set.
    pub const fn pairs(&self) -> usize {
        self.pairs
    }

    /// The ring `kind` of pair `pair`, or `None` past the last pair.
    pub fn ring(&self, pair: usize, kind: RingKind) -> Option<RingLayout> {
        if pair >= self.pairs {
            return None;
        }
        let index = 2 * pair + matches!(kind, RingKind::Active) as usize;
        let offset = self.offset + CONTROL_BYTES + index * RingLayout::bytes(self.capacity);
        RingLayout::new(offset, self.capacity).ok()
    }

    /// The `shape` word: layout version, pairs and capacity.
    pub const fn shape(&self) -> u64 {
        LAYOUT_VERSION << 56 | (self.pairs as u64) << 32 | self.capacity
    }

    /// Checks that the whole set fits in `mem` (and that its words are writable).
    pub fn check<M: SharedMem>(&self, mem: &M) -> Result<(), QueueError> {
        mem.word(self.offset)?;
        mem.word(self.end() - 8)?;
        Ok(())
    }

    pub(crate) fn control(&self, at: usize) -> usize {
        self.offset + at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::HeapMem;

    #[test]
    fn sizes_and_offsets() {
        let l = Layout::new(0, 256, 2).unwrap();
        assert_eq!(RingLayout::bytes(256), 128 + 32 * 256);
        assert_eq!(l.bytes(), 128 + 4 * (128 + 32 * 256));
        assert_eq!(l.ring(0, RingKind::Free).unwrap().offset(), 128);
        assert_eq!(l.ring(0, RingKind::Active).unwrap().offset(), 128 + 8320);
        assert_eq!(l.ring(1, RingKind::Free).unwrap().offset(), 128 + 2 * 8320);
        assert_eq!(l.ring(1, RingKind::Active).unwrap().end(), l.end());
        assert_eq!(l.ring(2, RingKind::Free), None);
        // Rings stay 64-aligned even with one slot.
        assert_eq!(RingLayout::bytes(1), 192);
        let at = Layout::new(4096, 1, 3).unwrap();
        assert!(at.ring(2, RingKind::Active).unwrap().offset().is_multiple_of(64));
        assert_eq!(at.end(), 4096 + Layout::bytes_for(1, 3));
    }

    #[test]
    fn rejects_impossible_layouts() {
        assert_eq!(Layout::new(0, 0, 1), Err(LayoutError::BadCapacity(0)));
        assert_eq!(Layout::new(0, 100, 1), Err(LayoutError::BadCapacity(100)));
        assert_eq!(Layout::new(0, MAX_CAPACITY * 2, 1), Err(LayoutError::BadCapacity(MAX_CAPACITY * 2)));
        assert_eq!(Layout::new(0, 4, MAX_PAIRS + 1), Err(LayoutError::TooManyPairs(MAX_PAIRS + 1)));
        assert_eq!(Layout::new(12, 4, 1), Err(LayoutError::Misaligned(12)));
        assert_eq!(Layout::new(usize::MAX - 7, 4, 1), Err(LayoutError::TooLarge));
        assert_eq!(RingLayout::new(0, 3), Err(LayoutError::BadCapacity(3)));
        assert_eq!(RingLayout::new(4, 4), Err(LayoutError::Misaligned(4)));
    }

    #[test]
    fn check_needs_the_whole_set_in_memory() {
        let l = Layout::new(0, 16, 2).unwrap();
        assert!(l.check(&HeapMem::new(l.bytes())).is_ok());
        assert!(matches!(l.check(&HeapMem::new(l.bytes() - 8)), Err(QueueError::Memory(_))));
    }

    #[test]
    fn directions_pick_the_rings() {
        let tx = PairSpec::new(Direction::ToDevice, Bounds::ANY);
        let rx = PairSpec::new(Direction::FromDevice, Bounds::ANY);
        assert_eq!((tx.to_driver(), tx.from_driver()), (RingKind::Active, RingKind::Free));
        assert_eq!((rx.to_driver(), rx.from_driver()), (RingKind::Free, RingKind::Active));
    }
}
