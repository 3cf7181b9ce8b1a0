//! A quiet child of RS that counts its boots (the admin test restarts, stops,
//! starts and crashes it through RS's admin interface).
#![forbid(unsafe_code)]

use microkit::{Handler, debug_println};

microkit::include_system!("sleeper");

struct Quiet;
impl Handler for Quiet {}

fn init() -> Quiet {
    let boots = recovery_host_tests::count_boot(region::sleeper_state());
    debug_println!("sleeper: boot {boots}");
    Quiet
}

microkit::protection_domain!(init);
