//! Floods its supervision channel with notifications at start-up; RS must not
//! care.
#![forbid(unsafe_code)]

use microkit::{Handler, debug_println};

microkit::include_system!("flooder");

struct Flooder;
impl Handler for Flooder {}

fn init() -> Flooder {
    if let Some(ch) = SUPERVISOR {
        for _ in 0..20_000 {
            ch.notify();
        }
    }
    debug_println!("flooder: flooded");
    Flooder
}

microkit::protection_domain!(init);
