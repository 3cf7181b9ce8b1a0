//! The device side of a split virtqueue (virtio 1.2, 2.7), reading the driver's
//! rings in its DMA memory. Every index, descriptor and length comes from the
//! driver and is checked.

use std::fmt;

use crate::mem::{MemError, Memory};

const DESC_F_NEXT: u16 = 1;
const DESC_F_WRITE: u16 = 2;
const DESC_F_INDIRECT: u16 = 4;

/// A driver mistake the device refuses to act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueError {
    /// The queue is not ready, or its size is not a power of two up to the maximum.
    NotReady,
    /// The driver's available index ran more than a queue's worth ahead.
    AvailOverrun { avail_idx: u16, last: u16 },
    /// A descriptor index out of range.
    BadIndex(u16),
    /// A descriptor chain longer than the queue (a loop).
    ChainTooLong,
    /// An indirect descriptor (not negotiated).
    Indirect,
    /// A ring or a buffer outside the device's memory.
    Memory(MemError),
}

impl From<MemError> for QueueError {
    fn from(e: MemError) -> Self {
        QueueError::Memory(e)
    }
}

impl fmt::Display for QueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueueError::NotReady => f.write_str("queue not ready"),
            QueueError::AvailOverrun { avail_idx, last } => {
                write!(f, "available index {avail_idx} runs more than a queue ahead of {last}")
            }
            QueueError::BadIndex(i) => write!(f, "descriptor index {i} out of range"),
            QueueError::ChainTooLong => f.write_str("descriptor chain longer than the queue"),
            QueueError::Indirect => f.write_str("indirect descriptor (not negotiated)"),
            QueueError::Memory(e) => write!(f, "{e}"),
        }
    }
}

/// One buffer of a chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Buf {
    pub addr: u64,
    pub len: u32,
}

/// A descriptor chain the driver made available.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    /// Index of the head descriptor (the id the used ring reports).
    pub head: u16,
    /// Device-readable buffers, in order.
    pub readable: Vec<Buf>,
    /// Device-writable buffers, in order.
    pub writable: Vec<Buf>,
}

impl Chain {
    /// Total bytes the driver offers to read.
    pub fn readable_len(&self) -> usize {
        self.readable.iter().map(|b| b.len as usize).sum()
    }

    /// Total bytes the device may write.
    pub fn writable_len(&self) -> usize {
        self.writable.iter().map(|b| b.len as usize).sum()
    }

    /// All readable bytes, concatenated.
    pub fn read_all(&self, mem: &Memory) -> Result<Vec<u8>, MemError> {
        let mut out = vec![0; self.readable_len()];
        let mut at = 0;
        for b in &self.readable {
            mem.read(b.addr, &mut out[at..at + b.len as usize])?;
            at += b.len as usize;
        }
        Ok(out)
    }

    /// Writes `data` across the writable buffers from byte `offset` on; returns
    /// how many bytes fitted.
    pub fn write_at(&self, mem: &Memory, offset: usize, data: &[u8]) -> Result<usize, MemError> {
        let mut skip = offset;
        let mut rest = data;
        let mut written = 0;
        for b in &self.writable {
            let len = b.len as usize;
            if skip >= len {
                skip -= len;
                continue;
            }
            let n = (len - skip).min(rest.len());
            mem.write(b.addr + skip as u64, &rest[..n])?;
            written += n;
            rest = &rest[n..];
            skip = 0;
            if rest.is_empty() {
                break;
            }
        }
        Ok(written)
    }
}

/// One virtqueue's registers and the device's position in it.
#[derive(Clone, Debug, Default)]
pub struct Queue {
    /// Largest size the device supports (QueueNumMax).
    pub max: u16,
    /// Size the driver chose (QueueNum).
    pub num: u16,
    pub ready: bool,
    pub desc: u64,
    pub avail: u64,
    pub used: u64,
    last_avail: u16,
    next_used: u16,
}

impl Queue {
    pub fn new(max: u16) -> Queue {
        Queue { max, ..Queue::default() }
    }

    /// Back to the state after a device reset.
    pub fn reset(&mut self) {
        *self = Queue::new(self.max);
    }

    fn check_ready(&self) -> Result<(), QueueError> {
        if !self.ready || self.num == 0 || !self.num.is_power_of_two() || self.num > self.max {
            return Err(QueueError::NotReady);
        }
        Ok(())
    }

    /// True if the driver made a chain available that the device has not taken.
    pub fn has_available(&self, mem: &Memory) -> Result<bool, QueueError> {
        self.check_ready()?;
        Ok(mem.read_u16(self.avail + 2)? != self.last_avail)
    }

    /// Takes the next available chain, if any.
    pub fn pop(&mut self, mem: &Memory) -> Result<Option<Chain>, QueueError> {
        self.check_ready()?;
        let avail_idx = mem.read_u16(self.avail + 2)?;
        if avail_idx == self.last_avail {
            return Ok(None);
        }
        if avail_idx.wrapping_sub(self.last_avail) > self.num {
            return Err(QueueError::AvailOverrun { avail_idx, last: self.last_avail });
        }
        let slot = (self.last_avail % self.num) as u64;
        let head = mem.read_u16(self.avail + 4 + 2 * slot)?;
        let mut chain = Chain { head, readable: Vec::new(), writable: Vec::new() };
        let mut index = head;
        for _ in 0..self.num {
            if index >= self.num {
                return Err(QueueError::BadIndex(index));
            }
            let at = self.desc + 16 * index as u64;
            let addr = mem.read_u64(at)?;
            let len = mem.read_u32(at + 8)?;
            let flags = mem.read_u16(at + 12)?;
            let next = mem.read_u16(at + 14)?;
            if flags & DESC_F_INDIRECT != 0 {
                return Err(QueueError::Indirect);
            }
            mem.check(addr, len as u64)?;
            let buf = Buf { addr, len };
            if flags & DESC_F_WRITE != 0 {
                chain.writable.push(buf)
            } else {
                chain.readable.push(buf)
            }
            if flags & DESC_F_NEXT == 0 {
                self.last_avail = self.last_avail.wrapping_add(1);
                return Ok(Some(chain));
            }
            index = next;
        }
        Err(QueueError::ChainTooLong)
    }

    /// Puts a used element (`id`, `len`) in the used ring and advances its index by
    /// `step` (1 for an honest device).
    pub fn push_used_raw(&mut self, mem: &Memory, id: u32, len: u32, step: u16) -> Result<(), QueueError> {
        self.check_ready()?;
        let slot = (self.next_used % self.num) as u64;
        let at = self.used + 4 + 8 * slot;
        mem.write_u32(at, id)?;
        mem.write_u32(at + 4, len)?;
        self.next_used = self.next_used.wrapping_add(step);
        mem.write_u16(self.used + 2, self.next_used)?;
        Ok(())
    }

    /// Returns a chain to the driver with `len` bytes written.
    pub fn push_used(&mut self, mem: &Memory, head: u16, len: u32) -> Result<(), QueueError> {
        self.push_used_raw(mem, head as u32, len, 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::Window;

    /// A queue of 4 in a fresh 16 KiB window at 0x10000: descriptors at 0x10000,
    /// avail at 0x11000, used at 0x12000, buffers from 0x13000.
    fn setup() -> (Memory, Queue) {
        let buf: &'static mut [u8] = Box::leak(vec![0u8; 0x4000].into_boxed_slice());
        // SAFETY: leaked: mapped for the rest of the test process.
        let mem = Memory::new(vec![unsafe { Window::new(0x10000, 0x4000, buf.as_mut_ptr() as usize) }]);
        let q = Queue { max: 4, num: 4, ready: true, desc: 0x10000, avail: 0x11000, used: 0x12000, ..Queue::default() };
        (mem, q)
    }

    fn desc(mem: &Memory, i: u16, addr: u64, len: u32, flags: u16, next: u16) {
        let at = 0x10000 + 16 * i as u64;
        mem.write(at, &addr.to_le_bytes()).unwrap();
        mem.write_u32(at + 8, len).unwrap();
        mem.write_u16(at + 12, flags).unwrap();
        mem.write_u16(at + 14, next).unwrap();
    }

    fn make_available(mem: &Memory, slot: u16, head: u16, idx: u16) {
        mem.write_u16(0x11000 + 4 + 2 * slot as u64, head).unwrap();
        mem.write_u16(0x11002, idx).unwrap();
    }

    #[test]
    fn an_honest_chain_pops_and_completes() {
        let (mem, mut q) = setup();
        desc(&mem, 0, 0x13000, 16, DESC_F_NEXT, 1);
        desc(&mem, 1, 0x13100, 512, DESC_F_WRITE, 0);
        make_available(&mem, 0, 0, 1);
        let chain = q.pop(&mem).unwrap().unwrap();
        assert_eq!(chain.readable, [Buf { addr: 0x13000, len: 16 }]);
        assert_eq!(chain.writable, [Buf { addr: 0x13100, len: 512 }]);
        assert_eq!(q.pop(&mem), Ok(None));
        q.push_used(&mem, chain.head, 513).unwrap();
        assert_eq!(mem.read_u16(0x12002), Ok(1));
        assert_eq!(mem.read_u32(0x12004), Ok(0));
        assert_eq!(mem.read_u32(0x12008), Ok(513));
    }

    #[test]
    fn a_buffer_outside_the_device_memory_is_refused() {
        let (mem, mut q) = setup();
        desc(&mem, 0, 0x5000_0000, 16, 0, 0); // another PD's memory, say
        make_available(&mem, 0, 0, 1);
        assert!(matches!(q.pop(&mem), Err(QueueError::Memory(_))));
    }

    #[test]
    fn loops_bad_indices_and_overruns_are_refused() {
        let (mem, mut q) = setup();
        desc(&mem, 0, 0x13000, 16, DESC_F_NEXT, 1);
        desc(&mem, 1, 0x13000, 16, DESC_F_NEXT, 0); // 0 -> 1 -> 0 -> ...
        make_available(&mem, 0, 0, 1);
        assert_eq!(q.pop(&mem), Err(QueueError::ChainTooLong));

        let (mem, mut q) = setup();
        make_available(&mem, 0, 9, 1); // head beyond the queue
        assert_eq!(q.pop(&mem), Err(QueueError::BadIndex(9)));

        let (mem, mut q) = setup();
        make_available(&mem, 0, 0, 5); // five new entries in a queue of four
        assert!(matches!(q.pop(&mem), Err(QueueError::AvailOverrun { .. })));

        let (mem, mut q) = setup();
        desc(&mem, 0, 0x13000, 16, DESC_F_INDIRECT, 0);
        make_available(&mem, 0, 0, 1);
        assert_eq!(q.pop(&mem), Err(QueueError::Indirect));

        let (mem, mut q) = setup();
        q.num = 3; // not a power of two
        assert_eq!(q.pop(&mem), Err(QueueError::NotReady));
    }
}
