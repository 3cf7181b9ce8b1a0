//! A driver that does nothing but answer heartbeats (its runtime does) and
//! count its boots.
#![forbid(unsafe_code)]

use microkit::{Handler, debug_println};

microkit::include_system!("driver");

struct Driver;
impl Handler for Driver {}

fn init() -> Driver {
    let boots = recovery_host_tests::count_boot(region::driver_state());
    debug_println!("driver: boot {boots}");
    Driver
}

microkit::protection_domain!(init);
