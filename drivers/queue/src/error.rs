//! Errors of the queue layer, and which of them convict the peer.

use core::fmt;

use crate::desc::{Desc, DescError};
use crate::mem::MemError;

/// A layout that cannot be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayoutError {
    /// Ring capacity must be a power of two between 1 and [`crate::MAX_CAPACITY`].
    BadCapacity(u64),
    /// A queue set has at most [`crate::MAX_PAIRS`] pairs.
    TooManyPairs(usize),
    /// A ring's offset must be 8-byte aligned.
    Misaligned(usize),
    /// The layout's size does not fit in `usize`.
    TooLarge,
    /// A queue set laid out for `layout` pairs was given `given` pair specs.
    PairCount { layout: usize, given: usize },
    /// The data region is `found` bytes; the protocol says `expected`.
    DataSize { found: u64, expected: u64 },
}

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LayoutError::BadCapacity(c) => {
                write!(f, "ring capacity {c} is not a power of two in 1..={}", crate::MAX_CAPACITY)
            }
            LayoutError::TooManyPairs(n) => write!(f, "{n} queue pairs (at most {})", crate::MAX_PAIRS),
            LayoutError::Misaligned(o) => write!(f, "ring offset {o:#x} is not 8-byte aligned"),
            LayoutError::TooLarge => f.write_str("layout does not fit the address space"),
            LayoutError::PairCount { layout, given } => {
                write!(f, "layout has {layout} queue pairs, {given} specs given")
            }
            LayoutError::DataSize { found, expected } => {
                write!(f, "the data region is {found:#x} bytes, the protocol says {expected:#x}")
            }
        }
    }
}

/// What went wrong with a queue.
///
/// [`QueueError::is_peer_fault`] tells the errors that only a faulty or
/// malicious peer can cause: report the peer (to the reincarnation server),
/// do not trust it further.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueError {
    /// The ring is full (or, for a server, every request id is in flight).
    Full,
    /// The peer's index is impossible: more than a ring's capacity from ours,
    /// or it moved backwards. `theirs` is the value read, `ours` our own index.
    Corrupt { theirs: u64, ours: u64 },
    /// The peer enqueued a descriptor outside the data region (it was consumed).
    BadDescriptor { desc: Desc, reason: DescError },
    /// A completion names no request in flight: unknown or already completed.
    UnknownId { id: u32 },
    /// A completion does not match its request (other buffer, op or argument,
    /// or longer than the request's buffer). The request stays in flight.
    Mismatch { id: u32 },
    /// The driver's attach word holds a value no protocol step writes.
    BadAttach { value: u64 },
    /// The queue set was laid out for another shape (capacity, pairs).
    LayoutMismatch { found: u64, expected: u64 },
    /// The driver is not attached to the current epoch yet.
    NotAttached,
    /// No such queue pair.
    NoSuchPair(usize),
    /// Our own descriptor is outside the bounds given (a bug on this side).
    Rejected { desc: Desc, reason: DescError },
    /// The layout is impossible.
    Layout(LayoutError),
    /// The memory is too small, misaligned or read-only for the layout.
    Memory(MemError),
}

impl QueueError {
    /// Whether only a misbehaving peer can have caused this.
    pub fn is_peer_fault(&self) -> bool {
        matches!(
            self,
            QueueError::Corrupt { .. }
                | QueueError::BadDescriptor { .. }
                | QueueError::UnknownId { .. }
                | QueueError::Mismatch { .. }
                | QueueError::BadAttach { .. }
                | QueueError::LayoutMismatch { .. }
        )
    }
}

impl From<MemError> for QueueError {
    fn from(e: MemError) -> Self {
        QueueError::Memory(e)
    }
}

impl From<LayoutError> for QueueError {
    fn from(e: LayoutError) -> Self {
        QueueError::Layout(e)
    }
}

impl fmt::Display for QueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueueError::Full => f.write_str("queue full"),
            QueueError::Corrupt { theirs, ours } => write!(f, "peer index {theirs} is inconsistent with ours ({ours})"),
            QueueError::BadDescriptor { desc, reason } => {
                write!(f, "peer descriptor {:#x}+{}: {reason}", desc.offset, desc.len)
            }
            QueueError::UnknownId { id } => write!(f, "completion for request {id}, which is not in flight"),
            QueueError::Mismatch { id } => write!(f, "completion for request {id} does not match the request"),
            QueueError::BadAttach { value } => write!(f, "attach word holds {value}"),
            QueueError::LayoutMismatch { found, expected } => {
                write!(f, "queue set shape {found:#x}, expected {expected:#x}")
            }
            QueueError::NotAttached => f.write_str("driver not attached"),
            QueueError::NoSuchPair(i) => write!(f, "no queue pair {i}"),
            QueueError::Rejected { desc, reason } => {
                write!(f, "own descriptor {:#x}+{}: {reason}", desc.offset, desc.len)
            }
            QueueError::Layout(e) => write!(f, "{e}"),
            QueueError::Memory(e) => write!(f, "{e}"),
        }
    }
}
