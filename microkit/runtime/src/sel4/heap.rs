//! The global allocator of a PD on seL4: talc over a static arena in `.bss`.
//!
//! The arena ([`HEAP_SIZE`] = 256 KiB) and the allocator's state are re-initialised
//! on every start by the image reset (`.bss` zeroed, `.data` restored), so a
//! restarted PD gets a fresh, empty heap. A PD that needs more declares a larger
//! arena of its own (`protection_domain!(init, heap = BYTES)`, in its own `.bss`,
//! reset the same way), which [`add_arena`] gives the allocator before `init`.

use core::sync::atomic::{AtomicBool, Ordering};

use talc::TalcLock;
use talc::lock_api::{GuardSend, RawMutex};
use talc::source::Claim;

/// Size of every PD's heap in bytes.
pub const HEAP_SIZE: usize = 256 * 1024;

static mut ARENA: [u8; HEAP_SIZE] = [0; HEAP_SIZE];

#[global_allocator]
// SAFETY: the arena is used by this allocator only, for the life of the PD.
static ALLOCATOR: TalcLock<PdLock, Claim> = TalcLock::new(unsafe { Claim::array(&raw mut ARENA) });

/// A PD has one thread: the lock only catches re-entry (e.g. an allocation from a
/// path that interrupted the allocator), which it turns into a hang, not corruption.
pub struct PdLock(AtomicBool);

// SAFETY: a test-and-set lock: `lock` returns only after it flipped false to true.
unsafe impl RawMutex for PdLock {
    // lock_api asks for the unlocked value as a const; each use is a fresh lock, as meant.
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: PdLock = PdLock(AtomicBool::new(false));
    type GuardMarker = GuardSend;

    fn lock(&self) {
        while !self.try_lock() {
            core::hint::spin_loop();
        }
    }

    fn try_lock(&self) -> bool {
        self.0.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_ok()
    }

    unsafe fn unlock(&self) {
        self.0.store(false, Ordering::Release);
    }
}

/// Gives the allocator the PD's own arena of `size` bytes at `base`, besides the
/// runtime's, before anything else runs.
///
/// # Safety
/// `base..base + size` is memory of this PD that nothing else uses, for the life
/// of the PD (the `.bss` array that `protection_domain!` declares).
pub(crate) unsafe fn add_arena(base: *mut u8, size: usize) {
    // SAFETY: the caller gives memory only the allocator will use; talc checks
    // alignment and bounds itself.
    let claimed = unsafe { ALLOCATOR.lock().claim(base, size) };
    if claimed.is_none() {
        crate::debug_println!("{}: the heap arena of {size} bytes is too small to use", super::pd_name());
    }
}
