//! Spins from `init` on and never returns: the CPU hog of the scheduling test
//! (`tests/scheduling.rs`), which measures how much CPU each spinner gets.
#![forbid(unsafe_code)]

use microkit::{Handler, debug_println};

microkit::include_system!("spinner");

struct Spinner;
impl Handler for Spinner {}

fn init() -> Spinner {
    debug_println!("spinner: spinning");
    let mut x = 0u64;
    loop {
        x = core::hint::black_box(x.wrapping_add(1));
    }
}

microkit::protection_domain!(init);
