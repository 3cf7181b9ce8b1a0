//! Counts its own boots three ways: in `.data`, in `.bss` and in a shared region.
//! A fresh copy after a restart starts the statics over; the region keeps counting.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

use core::sync::atomic::{AtomicU64, Ordering};

use microkit::{debug_println, Handler};

microkit::include_system!("counter");

/// In `.data`: 7 in every fresh copy.
static DATA_COUNTER: AtomicU64 = AtomicU64::new(7);
/// In `.bss`: 0 in every fresh copy.
static BSS_COUNTER: AtomicU64 = AtomicU64::new(0);

struct Counter;

impl Handler for Counter {}

fn init() -> Counter {
    let data = DATA_COUNTER.fetch_add(1, Ordering::Relaxed) + 1;
    let bss = BSS_COUNTER.fetch_add(1, Ordering::Relaxed) + 1;
    let state = region::counter_state();
    let boots = state.read_u64(0).unwrap_or(0) + 1;
    if let Err(e) = state.write_u64(0, boots) {
        debug_println!("counter: cannot record the boot: {e}");
    }
    debug_println!("counter: boot {boots}: data counter {data}, bss counter {bss}");
    Counter
}

microkit::protection_domain!(init);
