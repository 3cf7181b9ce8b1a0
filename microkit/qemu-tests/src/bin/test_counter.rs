//! Reports, on every boot, its `.data` and `.bss` statics as it found them (a
//! fresh copy finds 7 and 0), then changes both and tells the supervisor.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

use core::sync::atomic::{AtomicU64, Ordering};

use microkit::{Handler, clock};
use qemu_tests::{DATA_INITIAL, DIRTY, report};

microkit::include_system!("test_counter");

/// In `.data`.
static DATA: AtomicU64 = AtomicU64::new(DATA_INITIAL);
/// In `.bss`.
static BSS: AtomicU64 = AtomicU64::new(0);

struct Counter;
impl Handler for Counter {}

fn init() -> Counter {
    let init_at = clock::now();
    let r = region::counter_report();
    let boot = r.read_u64(report::BOOTS).unwrap_or(0) + 1;
    // The region is ours and large enough (system.xml): writes cannot fail.
    let _ = r.write_u64(report::INIT_AT, init_at);
    let _ = r.write_u64(report::DATA, DATA.fetch_add(DIRTY, Ordering::Relaxed));
    let _ = r.write_u64(report::BSS, BSS.fetch_add(DIRTY, Ordering::Relaxed));
    let _ = r.write_u64(report::BOOTS, boot);
    channel::TEST_SUPERVISOR.notify();
    Counter
}

microkit::protection_domain!(init);
