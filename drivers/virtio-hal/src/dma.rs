//! `virtio_drivers::Hal` over the driver's DMA region.

use core::cell::UnsafeCell;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, Ordering};

use virtio_drivers::{BufferDirection, Hal, PAGE_SIZE, PhysAddr};

/// Largest pool: 8192 pages (32 MiB).
const MAX_PAGES: usize = 8192;

/// Why the pool could not be set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DmaError {
    /// Address, physical address or size not page-aligned, or size zero.
    Unaligned,
    /// More than 32 MiB.
    TooLarge,
    /// Already set up with a different region.
    AlreadyInitialised,
}

/// Pool counters (for tests and figures).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DmaStats {
    pub pages: usize,
    pub pages_in_use: usize,
    /// Buffers copied through a bounce buffer by `share`.
    pub bounces: u64,
}

struct Pool {
    vaddr: usize,
    paddr: u64,
    pages: usize,
    used: [u64; MAX_PAGES / 64],
    stats: DmaStats,
}

impl Pool {
    fn is_used(&self, page: usize) -> bool {
        self.used[page / 64] & (1 << (page % 64)) != 0
    }

    fn set(&mut self, first: usize, count: usize, used: bool) {
        for page in first..first + count {
            if used {
                self.used[page / 64] |= 1 << (page % 64);
            } else {
                self.used[page / 64] &= !(1 << (page % 64));
            }
        }
        if used {
            self.stats.pages_in_use += count;
        } else {
            self.stats.pages_in_use -= count;
        }
    }

    /// First fit; returns the first page of `count` free contiguous pages.
    fn alloc(&mut self, count: usize) -> Option<usize> {
        if count == 0 || count > self.pages {
            return None;
        }
        let mut run = 0;
        for page in 0..self.pages {
            if self.is_used(page) {
                run = 0;
            } else {
                run += 1;
                if run == count {
                    let first = page + 1 - count;
                    self.set(first, count, true);
                    return Some(first);
                }
            }
        }
        None
    }

    /// Frees `count` pages from `first`, if they are all inside and in use.
    fn free(&mut self, first: usize, count: usize) -> bool {
        if first.checked_add(count).is_none_or(|end| end > self.pages)
            || !(first..first + count).all(|p| self.is_used(p))
        {
            return false;
        }
        self.set(first, count, false);
        true
    }

    fn contains_vaddr(&self, addr: usize, len: usize) -> bool {
        addr >= self.vaddr && addr.checked_add(len).is_some_and(|end| end <= self.vaddr + self.pages * PAGE_SIZE)
    }

    fn page_of_paddr(&self, paddr: u64) -> Option<usize> {
        let off = paddr.checked_sub(self.paddr)?;
        let page = (off / PAGE_SIZE as u64) as usize;
        (off % PAGE_SIZE as u64 == 0 && page < self.pages).then_some(page)
    }
}

/// A spin lock: PDs are single-threaded, host tests are not.
struct Lock<T> {
    taken: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: `value` is only reached through `with`, which holds `taken` for the
// duration, so at most one thread at a time has the `&mut T`.
unsafe impl<T: Send> Sync for Lock<T> {}

impl<T> Lock<T> {
    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        while self.taken.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            core::hint::spin_loop();
        }
        // SAFETY: the flag above gives this thread exclusive access until released.
        let r = f(unsafe { &mut *self.value.get() });
        self.taken.store(false, Ordering::Release);
        r
    }
}

static POOL: Lock<Option<Pool>> = Lock { taken: AtomicBool::new(false), value: UnsafeCell::new(None) };

/// The DMA HAL: one pool per PD (the PD's DMA region).
pub struct DmaHal;

impl DmaHal {
    /// Sets up the pool over the DMA region mapped at `vaddr`, physical address
    /// `paddr`, `size` bytes. Setting it up again with the same region is fine.
    ///
    /// The region must be mapped read-write in this PD for the rest of its life
    /// and used by nothing but this HAL: the runtime's generated `region::*` and
    /// `setvar::*` give exactly that.
    pub fn init(vaddr: usize, paddr: u64, size: usize) -> Result<(), DmaError> {
        if size == 0
            || !vaddr.is_multiple_of(PAGE_SIZE)
            || !paddr.is_multiple_of(PAGE_SIZE as u64)
            || !size.is_multiple_of(PAGE_SIZE)
        {
            return Err(DmaError::Unaligned);
        }
        let pages = size / PAGE_SIZE;
        if pages > MAX_PAGES {
            return Err(DmaError::TooLarge);
        }
        POOL.with(|pool| match pool {
            Some(p) if p.vaddr == vaddr && p.paddr == paddr && p.pages == pages => Ok(()),
            Some(_) => Err(DmaError::AlreadyInitialised),
            None => {
                *pool = Some(Pool {
                    vaddr,
                    paddr,
                    pages,
                    used: [0; MAX_PAGES / 64],
                    stats: DmaStats { pages, ..DmaStats::default() },
                });
                Ok(())
            }
        })
    }

    pub fn stats() -> DmaStats {
        POOL.with(|pool| pool.as_ref().map(|p| p.stats).unwrap_or_default())
    }

    /// The physical address of `len` bytes at `vaddr`, if they lie in the pool.
    pub fn virt_to_phys(vaddr: usize, len: usize) -> Option<PhysAddr> {
        POOL.with(|pool| {
            let p = pool.as_ref()?;
            p.contains_vaddr(vaddr, len).then(|| p.paddr + (vaddr - p.vaddr) as u64)
        })
    }
}

/// Bytes of `buffer` copied between the caller's memory and a bounce buffer.
fn copy(from: *const u8, to: *mut u8, len: usize) {
    // SAFETY: callers pass a buffer `share`/`unshare` was given (valid for `len`
    // bytes per the Hal contract) and a bounce buffer of at least `len` bytes in
    // the pool, which no one else uses while it is allocated; they do not overlap
    // (the buffer is outside the pool).
    unsafe { core::ptr::copy_nonoverlapping(from, to, len) }
}

// SAFETY: `dma_alloc` returns page-aligned, zeroed, exclusively allocated pages of
// the DMA region (mapped for the PD's life, per `init`), or paddr 0 on failure;
// `share` returns the physical address of memory the device may use for the
// buffer's length, for as long as it stays shared.
unsafe impl Hal for DmaHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        POOL.with(|pool| {
            let Some(p) = pool.as_mut() else { return (0, NonNull::dangling()) };
            let Some(first) = p.alloc(pages) else { return (0, NonNull::dangling()) };
            let vaddr = p.vaddr + first * PAGE_SIZE;
            // SAFETY: the pages were just allocated, inside the mapped region.
            unsafe { core::ptr::write_bytes(vaddr as *mut u8, 0, pages * PAGE_SIZE) };
            (p.paddr + (first * PAGE_SIZE) as u64, NonNull::new(vaddr as *mut u8).unwrap_or(NonNull::dangling()))
        })
    }

    unsafe fn dma_dealloc(paddr: PhysAddr, _vaddr: NonNull<u8>, pages: usize) -> i32 {
        POOL.with(|pool| match pool.as_mut() {
            Some(p) => match p.page_of_paddr(paddr) {
                Some(first) if p.free(first, pages) => 0,
                _ => -1,
            },
            None => -1,
        })
    }

    unsafe fn mmio_phys_to_virt(_paddr: PhysAddr, _size: usize) -> NonNull<u8> {
        panic!("virtio-mmio drivers have no PCI BARs to map")
    }

    unsafe fn share(buffer: NonNull<[u8]>, _direction: BufferDirection) -> PhysAddr {
        let (addr, len) = (buffer.as_ptr() as *mut u8 as usize, buffer.len());
        POOL.with(|pool| {
            let p = pool.as_mut().expect("DmaHal::init was not called");
            if p.contains_vaddr(addr, len) {
                return p.paddr + (addr - p.vaddr) as u64;
            }
            let pages = len.div_ceil(PAGE_SIZE).max(1);
            let first = p.alloc(pages).expect("DMA region exhausted: no room for a bounce buffer");
            p.stats.bounces += 1;
            let bounce = p.vaddr + first * PAGE_SIZE;
            // Copied in every direction: a device that writes less than the whole
            // buffer leaves the rest as it was.
            copy(addr as *const u8, bounce as *mut u8, len);
            p.paddr + (first * PAGE_SIZE) as u64
        })
    }

    unsafe fn unshare(paddr: PhysAddr, buffer: NonNull<[u8]>, direction: BufferDirection) {
        let (addr, len) = (buffer.as_ptr() as *mut u8 as usize, buffer.len());
        POOL.with(|pool| {
            let Some(p) = pool.as_mut() else { return };
            if p.contains_vaddr(addr, len) {
                return;
            }
            let Some(first) = p.page_of_paddr(paddr) else { return };
            let pages = len.div_ceil(PAGE_SIZE).max(1);
            if first + pages > p.pages {
                return;
            }
            if direction != BufferDirection::DriverToDevice {
                copy((p.vaddr + first * PAGE_SIZE) as *const u8, addr as *mut u8, len);
            }
            p.free(first, pages);
        })
    }
}
