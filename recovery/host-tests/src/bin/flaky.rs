//! Panics in `init` on every boot: its policy's backoff and budget decide how
//! often it comes back.
#![forbid(unsafe_code)]

use microkit::{Handler, debug_println};

microkit::include_system!("flaky");

struct Flaky;
impl Handler for Flaky {}

fn init() -> Flaky {
    let boots = recovery_host_tests::count_boot(region::flaky_state());
    debug_println!("flaky: boot {boots}");
    panic!("flaky fails on every boot");
}

microkit::protection_domain!(init);
