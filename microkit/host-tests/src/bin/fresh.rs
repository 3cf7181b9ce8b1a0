//! Crashes on its first boot only (the boot count lives in a shared region), and
//! prints its `.data` and `.bss` statics on each boot.
#![forbid(unsafe_code)]

use core::sync::atomic::{AtomicU64, Ordering};

use microkit::{Handler, debug_println};

microkit::include_system!("fresh");

static DATA: AtomicU64 = AtomicU64::new(41);
static BSS: AtomicU64 = AtomicU64::new(0);

struct Fresh;
impl Handler for Fresh {}

fn init() -> Fresh {
    let state = region::fresh_state();
    let boots = state.read_u64(0).unwrap_or(0) + 1;
    let _ = state.write_u64(0, boots);
    let data = DATA.fetch_add(1, Ordering::Relaxed) + 1;
    let bss = BSS.fetch_add(1, Ordering::Relaxed) + 1;
    debug_println!("fresh: boot {boots} data {data} bss {bss}");
    if boots == 1 {
        // Dirty the statics once more so a non-fresh restart would show it.
        DATA.store(1000, Ordering::Relaxed);
        BSS.store(1000, Ordering::Relaxed);
        panic!("first boot");
    }
    Fresh
}

microkit::protection_domain!(init);
