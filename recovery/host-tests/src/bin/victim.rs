//! The component `cargo xtask bench recovery` crashes and hangs over and over
//! (host kernel and seL4).
#![cfg_attr(target_os = "none", no_std, no_main)]
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
