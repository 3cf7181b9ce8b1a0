//! The shared memory the rings live in: aligned atomic words plus byte copies.
//!
//! Two implementations: [`microkit::Region`] (a region a PD maps from
//! `system.xml`) and [`HeapMem`], a heap buffer of atomic words for tests and
//! host-side users. Neither needs `unsafe` here.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};

/// An access outside the memory, misaligned, or a write to read-only memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemError {
    /// `offset..offset+len` is not inside memory of `size` bytes.
    OutOfBounds { offset: usize, len: usize, size: usize },
    /// A word access at an offset that is not 8-byte aligned.
    Misaligned { offset: usize },
    /// The memory is mapped without write permission.
    ReadOnly,
}

impl fmt::Display for MemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemError::OutOfBounds { offset, len, size } => {
                write!(f, "access of {len} bytes at offset {offset:#x} is outside memory of {size:#x} bytes")
            }
            MemError::Misaligned { offset } => write!(f, "offset {offset:#x} is not 8-byte aligned"),
            MemError::ReadOnly => f.write_str("memory is read-only"),
        }
    }
}

/// Memory shared with a peer. Every access is bounds-checked by the
/// implementation; words are accessed only atomically, so a racing peer is a
/// protocol matter, never undefined behaviour.
pub trait SharedMem {
    /// Size in bytes.
    fn size(&self) -> usize;
    /// The atomic word at `offset` (8-byte aligned, in bounds, writable).
    fn word(&self, offset: usize) -> Result<&AtomicU64, MemError>;
    /// Copies `out.len()` bytes from `offset`.
    fn read_bytes(&self, offset: usize, out: &mut [u8]) -> Result<(), MemError>;
    /// Copies `data` to `offset`.
    fn write_bytes(&self, offset: usize, data: &[u8]) -> Result<(), MemError>;
}

impl<T: SharedMem + ?Sized> SharedMem for &T {
    fn size(&self) -> usize {
        (**self).size()
    }
    fn word(&self, offset: usize) -> Result<&AtomicU64, MemError> {
        (**self).word(offset)
    }
    fn read_bytes(&self, offset: usize, out: &mut [u8]) -> Result<(), MemError> {
        (**self).read_bytes(offset, out)
    }
    fn write_bytes(&self, offset: usize, data: &[u8]) -> Result<(), MemError> {
        (**self).write_bytes(offset, data)
    }
}

impl From<microkit::RegionError> for MemError {
    fn from(e: microkit::RegionError) -> Self {
        match e {
            microkit::RegionError::OutOfBounds { offset, len, size } => MemError::OutOfBounds { offset, len, size },
            microkit::RegionError::Misaligned { offset, .. } => MemError::Misaligned { offset },
            microkit::RegionError::ReadOnly => MemError::ReadOnly,
        }
    }
}

impl SharedMem for microkit::Region {
    fn size(&self) -> usize {
        microkit::Region::size(self)
    }
    fn word(&self, offset: usize) -> Result<&AtomicU64, MemError> {
        Ok(self.atomic_u64(offset)?)
    }
    fn read_bytes(&self, offset: usize, out: &mut [u8]) -> Result<(), MemError> {
        Ok(microkit::Region::read_bytes(self, offset, out)?)
    }
    fn write_bytes(&self, offset: usize, data: &[u8]) -> Result<(), MemError> {
        Ok(microkit::Region::write_bytes(self, offset, data)?)
    }
}

/// Shared memory on the heap: a zeroed array of atomic words. `Sync`, so
/// threads share it by reference (`&HeapMem` is itself a [`SharedMem`]).
pub struct HeapMem {
    words: Box<[AtomicU64]>,
    size: usize,
}

impl HeapMem {
    /// `size` zeroed bytes (the backing is rounded up to whole words).
    pub fn new(size: usize) -> HeapMem {
        let words: Vec<AtomicU64> = (0..size.div_ceil(8)).map(|_| AtomicU64::new(0)).collect();
        HeapMem { words: words.into_boxed_slice(), size }
    }

    fn check(&self, offset: usize, len: usize) -> Result<(), MemError> {
        match offset.checked_add(len) {
            Some(end) if end <= self.size => Ok(()),
            _ => Err(MemError::OutOfBounds { offset, len, size: self.size }),
        }
    }
}

impl fmt::Debug for HeapMem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeapMem").field("size", &self.size).finish()
    }
}

impl SharedMem for HeapMem {
    fn size(&self) -> usize {
        self.size
    }

    fn word(&self, offset: usize) -> Result<&AtomicU64, MemError> {
        self.check(offset, 8)?;
        if !offset.is_multiple_of(8) {
            return Err(MemError::Misaligned { offset });
        }
        self.words.get(offset / 8).ok_or(MemError::OutOfBounds { offset, len: 8, size: self.size })
    }

    fn read_bytes(&self, offset: usize, out: &mut [u8]) -> Result<(), MemError> {
        self.check(offset, out.len())?;
        let mut pos = offset;
        // Byte by byte within each word: bytes are in native order, as in a mapping.
        let mut done = 0;
        while done < out.len() {
            let w = pos / 8;
            let bytes = self.words[w].load(Ordering::Relaxed).to_ne_bytes();
            let from = pos % 8;
            let n = (8 - from).min(out.len() - done);
            out[done..done + n].copy_from_slice(&bytes[from..from + n]);
            done += n;
            pos += n;
        }
        Ok(())
    }

    fn write_bytes(&self, offset: usize, data: &[u8]) -> Result<(), MemError> {
        self.check(offset, data.len())?;
        let mut pos = offset;
        let mut done = 0;
        while done < data.len() {
            let w = &self.words[pos / 8];
            let from = pos % 8;
            let n = (8 - from).min(data.len() - done);
            let part = &data[done..done + n];
            if n == 8 {
                let mut b = [0u8; 8];
                b.copy_from_slice(part);
                w.store(u64::from_ne_bytes(b), Ordering::Relaxed);
            } else {
                // A partial word: merge atomically so the neighbouring bytes stay.
                let merge = |old: u64| {
                    let mut b = old.to_ne_bytes();
                    b[from..from + n].copy_from_slice(part);
                    Some(u64::from_ne_bytes(b))
                };
                let _ = w.fetch_update(Ordering::Relaxed, Ordering::Relaxed, merge);
            }
            done += n;
            pos += n;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_bounds_and_alignment_checked() {
        let m = HeapMem::new(20);
        assert!(m.word(0).is_ok());
        assert!(m.word(8).is_ok());
        assert_eq!(m.word(16).err(), Some(MemError::OutOfBounds { offset: 16, len: 8, size: 20 }));
        assert_eq!(m.word(4).err(), Some(MemError::Misaligned { offset: 4 }));
        assert!(matches!(m.word(usize::MAX - 3), Err(MemError::OutOfBounds { .. })));
    }

    #[test]
    fn bytes_round_trip_across_words_and_keep_neighbours() {
        let m = HeapMem::new(32);
        m.word(0).unwrap().store(u64::MAX, Ordering::Relaxed);
        m.word(8).unwrap().store(u64::MAX, Ordering::Relaxed);
        m.write_bytes(5, b"hello").unwrap(); // bytes 5..10: straddles words 0 and 1
        let mut out = [0u8; 16];
        m.read_bytes(0, &mut out).unwrap();
        assert_eq!(&out[..5], &[0xff; 5]);
        assert_eq!(&out[5..10], b"hello");
        assert_eq!(&out[10..], &[0xff; 6]);
        // Whole words too, and a view through a word agrees with the bytes.
        m.write_bytes(16, &0x0102_0304_0506_0708u64.to_ne_bytes()).unwrap();
        assert_eq!(m.word(16).unwrap().load(Ordering::Relaxed), 0x0102_0304_0506_0708);
    }

    #[test]
    fn region_errors_map_one_to_one() {
        use microkit::RegionError;
        assert_eq!(MemError::from(RegionError::ReadOnly), MemError::ReadOnly);
        assert_eq!(MemError::from(RegionError::Misaligned { offset: 4, align: 8 }), MemError::Misaligned { offset: 4 });
        let oob = RegionError::OutOfBounds { offset: 1, len: 2, size: 3 };
        assert_eq!(MemError::from(oob), MemError::OutOfBounds { offset: 1, len: 2, size: 3 });
    }

    #[test]
    fn byte_copies_are_bounds_checked() {
        let m = HeapMem::new(16);
        assert_eq!(m.write_bytes(10, &[0; 7]), Err(MemError::OutOfBounds { offset: 10, len: 7, size: 16 }));
        assert!(m.read_bytes(usize::MAX, &mut [0; 2]).is_err());
        assert!(m.read_bytes(16, &mut []).is_ok());
    }
}
