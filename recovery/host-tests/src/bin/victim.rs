//! The component `cargo xtask bench recovery` crashes and hangs over and over.
#![forbid(unsafe_code)]

use microkit::{Handler, debug_println};

microkit::include_system!("victim");

struct Victim;
impl Handler for Victim {}

fn init() -> Victim {
    let boots = recovery_host_tests::count_boot(region::victim_state());
    debug_println!("victim: boot {boots}");
    Victim
}

microkit::protection_domain!(init);
