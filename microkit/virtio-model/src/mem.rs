//! The memory a device may reach: its driver's DMA region(s), by physical address.

use std::fmt;
use std::sync::atomic::{Ordering, fence};

/// A device access outside the memory it may reach.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemError {
    pub paddr: u64,
    pub len: u64,
}

impl fmt::Display for MemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DMA of {:#x} bytes at {:#x} is outside the device's memory", self.len, self.paddr)
    }
}

impl std::error::Error for MemError {}

/// One contiguous window of guest-physical memory and where the host sees it.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    paddr: u64,
    len: u64,
    host: usize,
}

impl Window {
    /// `len` bytes at physical address `paddr`, seen by this process at `host`.
    ///
    /// # Safety
    /// `host..host + len` must stay mapped, readable and writable, for as long as
    /// any [`Memory`] holding this window lives. Other processes may write it
    /// concurrently (it is shared memory): the device only copies bytes in and out.
    pub unsafe fn new(paddr: u64, len: u64, host: usize) -> Window {
        Window { paddr, len, host }
    }

    /// Physical address of the first byte.
    pub fn paddr(&self) -> u64 {
        self.paddr
    }

    /// Length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True for an empty window.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The memory a device may reach, like the view through an IOMMU: every access is
/// checked to lie wholly inside one window.
#[derive(Clone, Default)]
pub struct Memory {
    windows: Vec<Window>,
    /// Whatever keeps the windows mapped (dropped with the last clone).
    _owner: Option<std::sync::Arc<dyn Send + Sync>>,
}

impl fmt::Debug for Memory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Memory").field("windows", &self.windows).finish()
    }
}

// SAFETY: a Memory only holds addresses of shared mappings that outlive it (per
// `Window::new`'s contract); every access copies bytes, so it may move and be
// shared between threads.
unsafe impl Send for Memory {}
// SAFETY: see Send: accesses through `&Memory` are byte copies to/from the windows.
unsafe impl Sync for Memory {}

impl Memory {
    pub fn new(windows: Vec<Window>) -> Memory {
        Memory { windows, _owner: None }
    }

    /// Windows kept mapped by `owner`, which lives as long as any clone of this.
    pub fn with_owner(windows: Vec<Window>, owner: std::sync::Arc<dyn Send + Sync>) -> Memory {
        Memory { windows, _owner: Some(owner) }
    }

    /// The windows, in the order given.
    pub fn windows(&self) -> &[Window] {
        &self.windows
    }

    /// The host address of `paddr..paddr+len`, if it lies inside one window.
    fn host(&self, paddr: u64, len: u64) -> Result<usize, MemError> {
        let err = MemError { paddr, len };
        let end = paddr.checked_add(len).ok_or(err)?;
        self.windows
            .iter()
            .find(|w| paddr >= w.paddr && end <= w.paddr + w.len)
            .map(|w| w.host + (paddr - w.paddr) as usize)
            .ok_or(err)
    }

    /// True if `paddr..paddr+len` is reachable.
    pub fn check(&self, paddr: u64, len: u64) -> Result<(), MemError> {
        self.host(paddr, len).map(|_| ())
    }

    /// Copies `out.len()` bytes from guest memory.
    pub fn read(&self, paddr: u64, out: &mut [u8]) -> Result<(), MemError> {
        let host = self.host(paddr, out.len() as u64)?;
        fence(Ordering::Acquire);
        // SAFETY: `host..host+len` lies inside a window, mapped per `Window::new`;
        // `out` is a distinct local buffer. The peer may write concurrently: the
        // bytes read are then some mix of old and new values, which every caller
        // treats as untrusted input.
        unsafe { std::ptr::copy_nonoverlapping(host as *const u8, out.as_mut_ptr(), out.len()) };
        Ok(())
    }

    /// Copies `data` into guest memory.
    pub fn write(&self, paddr: u64, data: &[u8]) -> Result<(), MemError> {
        let host = self.host(paddr, data.len() as u64)?;
        // SAFETY: as in `read`; the destination is inside a writable window.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), host as *mut u8, data.len()) };
        fence(Ordering::Release);
        Ok(())
    }

    pub fn read_u16(&self, paddr: u64) -> Result<u16, MemError> {
        let mut b = [0; 2];
        self.read(paddr, &mut b)?;
        Ok(u16::from_le_bytes(b))
    }

    pub fn read_u32(&self, paddr: u64) -> Result<u32, MemError> {
        let mut b = [0; 4];
        self.read(paddr, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    pub fn read_u64(&self, paddr: u64) -> Result<u64, MemError> {
        let mut b = [0; 8];
        self.read(paddr, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    pub fn write_u16(&self, paddr: u64, v: u16) -> Result<(), MemError> {
        self.write(paddr, &v.to_le_bytes())
    }

    pub fn write_u32(&self, paddr: u64, v: u32) -> Result<(), MemError> {
        self.write(paddr, &v.to_le_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accesses_must_lie_inside_one_window() {
        let buf: &'static mut [u8] = Box::leak(vec![0u8; 0x2000].into_boxed_slice());
        let host = buf.as_mut_ptr() as usize;
        // SAFETY: leaked, so mapped for the rest of the test process.
        let mem = Memory::new(vec![unsafe { Window::new(0x1000, 0x1000, host) }, unsafe {
            Window::new(0x2000, 0x1000, host + 0x1000)
        }]);
        mem.write_u32(0x1ffc, 7).unwrap();
        assert_eq!(mem.read_u32(0x1ffc), Ok(7));
        // Straddling two windows is refused even though they are adjacent.
        assert!(mem.read_u64(0x1ffc).is_err());
        assert!(mem.read_u16(0xfff).is_err());
        assert!(mem.write(0x2ff0, &[0; 17]).is_err());
        assert!(mem.read(u64::MAX - 1, &mut [0; 4]).is_err());
        assert_eq!(mem.check(0x3000, 0), Ok(())); // empty, at the very end: inside
        assert_eq!(mem.check(0x3001, 0), Err(MemError { paddr: 0x3001, len: 0 }));
    }
}
