//! Typed, bounds-checked access to the memory regions a PD maps.
//!
//! Shared memory is written by peers that may be faulty: every access is checked
//! against the region's bounds and performed as a volatile or atomic access, so a
//! peer's garbage is read as a value, never as a reason to touch memory outside
//! the region.

use core::fmt;
use core::sync::atomic::AtomicU64;

/// A region this PD maps (a `map` element of `system.xml`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    base: usize,
    size: usize,
    writable: bool,
}

/// An access outside a region, misaligned, or a write to a read-only map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionError {
    /// `offset..offset+len` is not inside the region.
    OutOfBounds { offset: usize, len: usize, size: usize },
    /// The access needs an alignment the offset does not have.
    Misaligned { offset: usize, align: usize },
    /// The PD maps this region without write permission.
    ReadOnly,
}

impl fmt::Display for RegionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegionError::OutOfBounds { offset, len, size } => {
                write!(f, "access of {len} bytes at offset {offset:#x} is outside the region of {size:#x} bytes")
            }
            RegionError::Misaligned { offset, align } => write!(f, "offset {offset:#x} is not {align}-byte aligned"),
            RegionError::ReadOnly => f.write_str("region is mapped read-only"),
        }
    }
}

impl Region {
    /// A region of `size` bytes at `base`.
    ///
    /// # Safety
    /// `base..base + size` must be mapped in this PD for its whole life, readable,
    /// and writable if `writable`. Generated code (`region!`, `setvar_region!`)
    /// calls this with the values of `system.xml`.
    #[doc(hidden)]
    pub const unsafe fn from_raw(base: usize, size: usize, writable: bool) -> Self {
        Region { base, size, writable }
    }

    /// Virtual address of the first byte.
    pub const fn base(&self) -> usize {
        self.base
    }

    /// Size in bytes.
    pub const fn size(&self) -> usize {
        self.size
    }

    /// Whether this PD may write the region.
    pub const fn is_writable(&self) -> bool {
        self.writable
    }

    fn check(&self, offset: usize, len: usize, align: usize) -> Result<usize, RegionError> {
        let end = offset.checked_add(len);
        if end.is_none_or(|end| end > self.size) {
            return Err(RegionError::OutOfBounds { offset, len, size: self.size });
        }
        if !offset.is_multiple_of(align) {
            return Err(RegionError::Misaligned { offset, align });
        }
        Ok(self.base + offset)
    }

    fn check_write(&self, offset: usize, len: usize, align: usize) -> Result<usize, RegionError> {
        let addr = self.check(offset, len, align)?;
        if !self.writable {
            return Err(RegionError::ReadOnly);
        }
        Ok(addr)
    }

    /// Reads an aligned u64 (volatile).
    pub fn read_u64(&self, offset: usize) -> Result<u64, RegionError> {
        let addr = self.check(offset, 8, 8)?;
        // SAFETY: `addr` is 8-aligned and inside the mapped region (checked above,
        // region mapped for the PD's life per `from_raw`'s contract).
        Ok(unsafe { core::ptr::read_volatile(addr as *const u64) })
    }

    /// Writes an aligned u64 (volatile).
    pub fn write_u64(&self, offset: usize, value: u64) -> Result<(), RegionError> {
        let addr = self.check_write(offset, 8, 8)?;
        // SAFETY: aligned, in bounds and writable (checked above).
        unsafe { core::ptr::write_volatile(addr as *mut u64, value) };
        Ok(())
    }

    /// Copies bytes out of the region: each byte read once (volatile), an
    /// aligned word at a time where the range allows (a byte-wise copy cost
    /// a load and a store per byte, eight times the work: on seL4 under QEMU
    /// it was a good part of the time a file or frame took).
    pub fn read_bytes(&self, offset: usize, out: &mut [u8]) -> Result<(), RegionError> {
        let addr = self.check(offset, out.len(), 1)?;
        let words = words_of(addr, out.len());
        for (i, byte) in out[..words.start].iter_mut().enumerate() {
            // SAFETY: `addr + i` is inside the region (whole range checked above).
            *byte = unsafe { core::ptr::read_volatile((addr + i) as *const u8) };
        }
        for (k, chunk) in out[words.clone()].chunks_exact_mut(8).enumerate() {
            let at = addr + words.start + 8 * k;
            // SAFETY: `at..at + 8` is inside the region (checked above) and `at`
            // is 8-aligned (`words_of`).
            let word = unsafe { core::ptr::read_volatile(at as *const u64) };
            chunk.copy_from_slice(&word.to_ne_bytes());
        }
        for (i, byte) in out.iter_mut().enumerate().skip(words.end) {
            // SAFETY: as above.
            *byte = unsafe { core::ptr::read_volatile((addr + i) as *const u8) };
        }
        Ok(())
    }

    /// Copies bytes into the region: each byte written once (volatile), an
    /// aligned word at a time where the range allows (see [`Self::read_bytes`]).
    pub fn write_bytes(&self, offset: usize, data: &[u8]) -> Result<(), RegionError> {
        let addr = self.check_write(offset, data.len(), 1)?;
        let words = words_of(addr, data.len());
        for (i, byte) in data[..words.start].iter().enumerate() {
            // SAFETY: `addr + i` is inside the writable region (checked above).
            unsafe { core::ptr::write_volatile((addr + i) as *mut u8, *byte) };
        }
        for (k, chunk) in data[words.clone()].chunks_exact(8).enumerate() {
            let at = addr + words.start + 8 * k;
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            // SAFETY: `at..at + 8` is inside the writable region (checked above)
            // and `at` is 8-aligned (`words_of`).
            unsafe { core::ptr::write_volatile(at as *mut u64, u64::from_ne_bytes(word)) };
        }
        for (i, byte) in data.iter().enumerate().skip(words.end) {
            // SAFETY: as above.
            unsafe { core::ptr::write_volatile((addr + i) as *mut u8, *byte) };
        }
        Ok(())
    }

    /// An atomic word in the region, for lock-free protocols with a peer (queue
    /// indices, flags). Needs write permission: atomics may write.
    pub fn atomic_u64(&self, offset: usize) -> Result<&'static AtomicU64, RegionError> {
        let addr = self.check_write(offset, 8, 8)?;
        // SAFETY: aligned, in bounds, writable and mapped for the PD's life; AtomicU64
        // has the layout of u64 and any bit pattern is valid.
        Ok(unsafe { &*(addr as *const AtomicU64) })
    }
}

/// Declares `pub fn $name() -> Region` for a map without a setvar symbol.
#[macro_export]
macro_rules! region {
    ($name:ident, $vaddr:literal, $size:literal, $perms:ident) => {
        pub fn $name() -> $crate::Region {
            // SAFETY: generated from system.xml: the runtime maps this range at start-up.
            unsafe { $crate::Region::from_raw($vaddr, $size, $crate::__perms_writable!($perms)) }
        }
    };
}

/// Declares the setvar symbol `$symbol` (patched by the Microkit tool with the map's
/// virtual address) and `pub fn $name() -> Region` reading it.
#[macro_export]
macro_rules! setvar_region {
    ($name:ident, $symbol:ident, $vaddr:literal, $size:literal, $perms:ident) => {
        $crate::setvar!($symbol, $vaddr);
        pub fn $name() -> $crate::Region {
            // SAFETY: the symbol holds the map's vaddr from system.xml (patched by the
            // Microkit tool, or its default on the host); the runtime maps it at start-up.
            unsafe { $crate::Region::from_raw($symbol() as usize, $size, $crate::__perms_writable!($perms)) }
        }
    };
}

/// Declares a 64-bit variable that the Microkit tool patches in the ELF (`setvar_*`
/// attributes), with `$value` as the value on the host kernel, and `pub fn
/// $symbol() -> u64` to read it.
#[macro_export]
macro_rules! setvar {
    ($symbol:ident, $value:expr) => {
        #[allow(non_snake_case)]
        pub fn $symbol() -> u64 {
            #[allow(non_upper_case_globals)]
            #[unsafe(no_mangle)]
            #[used]
            // seL4: a section the linker script keeps and loads (the Microkit tool
            // patches the symbol, so it must survive --gc-sections even if unread).
            #[cfg_attr(target_os = "none", unsafe(link_section = ".reincarnate.setvar"))]
            static $symbol: u64 = $value;
            // SAFETY: reading a static; volatile because the loader patches it.
            unsafe { ::core::ptr::read_volatile(&raw const $symbol) }
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __perms_writable {
    (r) => {
        false
    };
    (rx) => {
        false
    };
    (x) => {
        false
    };
    (rw) => {
        true
    };
    (rwx) => {
        true
    };
}

/// The part of `len` bytes from address `addr` that is whole aligned words:
/// a range of offsets into them, its start and length multiples of 8 away
/// from an aligned address.
fn words_of(addr: usize, len: usize) -> core::ops::Range<usize> {
    let start = addr.next_multiple_of(8) - addr;
    if start >= len {
        return len..len;
    }
    start..start + (len - start) / 8 * 8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_of_every_length_at_every_alignment_move_exactly_their_bytes() {
        for offset in 0..17 {
            for len in 0..40 {
                let mut buf = [0u64; 8];
                let r = region_over(&mut buf, true);
                let data: std::vec::Vec<u8> = (0..len as u8).map(|b| b.wrapping_mul(7) | 1).collect();
                r.write_bytes(offset, &data).unwrap();
                let mut whole = [0u8; 64];
                r.read_bytes(0, &mut whole).unwrap();
                for (i, b) in whole.iter().enumerate() {
                    let want = if (offset..offset + len).contains(&i) { data[i - offset] } else { 0 };
                    assert_eq!(*b, want, "offset {offset} len {len} byte {i}");
                }
                let mut back = std::vec![0u8; len];
                r.read_bytes(offset, &mut back).unwrap();
                assert_eq!(back, data, "offset {offset} len {len}");
            }
        }
    }

    fn region_over(buf: &mut [u64], writable: bool) -> Region {
        // SAFETY: the buffer outlives the test's uses of the region.
        unsafe { Region::from_raw(buf.as_mut_ptr() as usize, buf.len() * 8, writable) }
    }

    #[test]
    fn reads_and_writes_within_bounds() {
        let mut buf = [0u64; 4];
        let r = region_over(&mut buf, true);
        r.write_u64(8, 0xfeed).unwrap();
        assert_eq!(r.read_u64(8), Ok(0xfeed));
        r.write_bytes(16, b"hello").unwrap();
        let mut out = [0u8; 5];
        r.read_bytes(16, &mut out).unwrap();
        assert_eq!(&out, b"hello");
    }

    #[test]
    fn rejects_out_of_bounds_misaligned_and_read_only() {
        let mut buf = [0u64; 4];
        let r = region_over(&mut buf, true);
        assert_eq!(r.read_u64(32), Err(RegionError::OutOfBounds { offset: 32, len: 8, size: 32 }));
        assert!(matches!(r.read_u64(usize::MAX - 3), Err(RegionError::OutOfBounds { .. })));
        assert_eq!(r.read_u64(4), Err(RegionError::Misaligned { offset: 4, align: 8 }));
        let ro = region_over(&mut buf, false);
        assert_eq!(ro.write_u64(0, 1), Err(RegionError::ReadOnly));
        assert_eq!(ro.atomic_u64(0).err(), Some(RegionError::ReadOnly));
    }
}

/// A span of a shared region that a peer named by offset and length (message
/// registers), checked to lie inside a region of `region` bytes: the one
/// shape every `-api` crate's request decoder uses for its client's data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub offset: usize,
    pub len: usize,
}

impl Span {
    /// The span `offset..offset + len` if it lies inside `region` bytes.
    pub fn within(offset: u64, len: u64, region: usize) -> Option<Span> {
        let (offset, len) = (usize::try_from(offset).ok()?, usize::try_from(len).ok()?);
        (offset.checked_add(len)? <= region).then_some(Span { offset, len })
    }
}
