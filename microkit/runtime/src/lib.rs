//! The protection-domain runtime of reincarnate.
//!
//! A protection domain (PD) is written once against this API and runs on either
//! kernel: seL4 via the Microkit (`target_os = "none"`), or the host kernel, where
//! every PD is its own confined Linux process (any other target).
//!
//! ```ignore
//! struct Pong;
//! impl microkit::Handler for Pong {
//!     fn notified(&mut self, ch: microkit::Channel) { ch.notify() }
//! }
//! fn init() -> Pong { Pong }
//! microkit::protection_domain!(init);
//! ```
//!
//! Channel, child and region constants are generated from `system.xml` at build
//! time (see the `microkit-build` crate); nothing is copied by hand.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

#[cfg(not(target_os = "none"))]
extern crate std;

pub mod arch_timer;
mod channel;
pub mod clock;
mod crash;
mod debug;
mod dispatch;
mod fault;
mod handler;
mod inject;
mod kernel_error;
mod message;
mod region;
pub mod reply;
// The seL4 ABI is compiled and unit-tested on the host too, where only the
// fault decoding is used.
#[cfg_attr(not(target_os = "none"), allow(dead_code))]
mod sel4_abi;
pub mod status;

#[cfg(not(target_os = "none"))]
pub mod host;
#[cfg(not(target_os = "none"))]
use host as backend;

#[cfg(target_os = "none")]
pub mod sel4;
#[cfg(target_os = "none")]
use sel4 as backend;

pub use channel::{CHANNEL_LIMIT, Channel, ChannelSet, Child, ChildSet, ChildSpec};
pub use crash::{CONTEXT_WORDS, CrashContext, MAX_REGISTERS, RegisterLayout, STACK_BYTES};
pub use debug::{DEBUG_OUTPUT, DebugWriter};
pub use dispatch::Event;
pub use fault::{Fault, FaultAction, FaultKind};
pub use handler::Handler;
pub use inject::{InjectKind, InjectSchedule, ParseInjectKindError, SCHEDULE_ENV, ScheduleError, ScheduledInjection};
pub use kernel_error::KernelError;
pub use message::{MSG_MAX_LENGTH, MessageInfo, get_mr, set_mr};
pub use region::{Region, RegionError, Span};

/// Name of this protection domain, as `system.xml` gives it.
pub fn pd_name() -> &'static str {
    backend::pd_name()
}

/// The fault-injection schedule compiled into this PD: the value of
/// `REINCARNATE_INJECT` when it was built (`cargo xtask run --target qemu --inject
/// PD:KIND@TIME`), or an empty schedule. The runtime's build script rejects a
/// malformed one, so this never fails; the PD that carries the schedule out (the
/// reincarnation server) reads it with [`InjectSchedule::iter`].
pub fn inject_schedule() -> InjectSchedule<'static> {
    InjectSchedule::parse(option_env!("REINCARNATE_INJECT").unwrap_or("")).unwrap_or(InjectSchedule::EMPTY)
}

/// Runs a protection domain: start-up, then `init`, then the event loop forever.
///
/// `supervisor` is the PD's supervision channel to its parent (generated as
/// `SUPERVISOR` from `system.xml`). On it the runtime, not the handler, speaks a
/// liveness protocol with the parent: one notification when `init` has returned
/// ("ready"), and one answer to every heartbeat ping, sent from the event loop.
/// A PD stuck in `init` or in a handler answers nothing, and its parent (the
/// reincarnation server) can tell that it hangs.
///
/// `children` are the PD's children (generated as `child::ALL`): on seL4 the
/// runtime refuses an operation on any other id with
/// [`KernelError::NotAChild`] instead of invoking an empty capability slot.
pub fn run<H: Handler>(init: fn() -> H, supervisor: Option<Channel>, children: &[ChildSpec]) -> ! {
    backend::start(ChildSet::of(children));
    let mut handler = init();
    if let Some(ch) = supervisor {
        ch.notify();
    }
    dispatch::event_loop(&mut handler, supervisor)
}

/// [`run`] with the PD's own heap arena (`protection_domain!(init, heap = ..)`):
/// on seL4 the allocator gets `size` bytes at `arena` besides the runtime's
/// [`HEAP_SIZE`](sel4::HEAP_SIZE); the host kernel's PDs have the process heap.
///
/// # Safety
/// `arena..arena + size` is memory of this PD that nothing else ever uses (the
/// `.bss` array that `protection_domain!` declares for it).
#[cfg(target_os = "none")]
#[doc(hidden)]
pub unsafe fn run_with_heap<H: Handler>(
    init: fn() -> H,
    supervisor: Option<Channel>,
    children: &[ChildSpec],
    arena: *mut u8,
    size: usize,
) -> ! {
    // SAFETY: the caller's contract is `add_arena`'s.
    unsafe { sel4::add_arena(arena, size) };
    run(init, supervisor, children)
}

/// Declares the entry point of a protection domain binary.
///
/// `protection_domain!(init)` where `fn init() -> impl Handler`. Expects the
/// constants of [`include_system!`] at the crate root (it uses `SUPERVISOR` and
/// `child::ALL`). `protection_domain!(init, heap = BYTES)` gives a PD that
/// allocates more than the runtime's 256 KiB on seL4 an arena of its own
/// (zeroed, like all of `.bss`, at every start).
#[macro_export]
#[allow(clippy::crate_in_macro_def)] // `SUPERVISOR` and `child` are the PD crate's, on purpose
macro_rules! protection_domain {
    ($init:path, heap = $size:expr) => {
        #[cfg(not(target_os = "none"))]
        fn main() {
            $crate::run($init, crate::SUPERVISOR, crate::child::ALL)
        }

        #[cfg(target_os = "none")]
        static mut __REINCARNATE_HEAP: [u8; $size] = [0; $size];

        /// Called by the runtime's `_start` (seL4) after the image reset.
        #[cfg(target_os = "none")]
        #[unsafe(no_mangle)]
        extern "C" fn __reincarnate_pd_main() -> ! {
            // SAFETY: the arena is this PD's own `.bss` array, named by nothing else.
            unsafe {
                $crate::run_with_heap(
                    $init,
                    crate::SUPERVISOR,
                    crate::child::ALL,
                    (&raw mut __REINCARNATE_HEAP).cast::<u8>(),
                    $size,
                )
            }
        }
    };
    ($init:path) => {
        #[cfg(not(target_os = "none"))]
        fn main() {
            $crate::run($init, crate::SUPERVISOR, crate::child::ALL)
        }

        /// Called by the runtime's `_start` (seL4) after the image reset.
        #[cfg(target_os = "none")]
        #[unsafe(no_mangle)]
        extern "C" fn __reincarnate_pd_main() -> ! {
            $crate::run($init, crate::SUPERVISOR, crate::child::ALL)
        }
    };
}

/// Includes the constants generated from `system.xml` for `program` (see the
/// `microkit-build` crate): modules `channel`, `irq`, `child`, `region`, `setvar`
/// and `PD_NAME`.
#[macro_export]
macro_rules! include_system {
    ($program:literal) => {
        include!(concat!(env!("OUT_DIR"), "/", $program, ".rs"));
    };
}
