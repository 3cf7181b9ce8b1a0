//! Never finishes `init` on its first boot; fine afterwards.
#![forbid(unsafe_code)]

use microkit::{Handler, debug_println};

microkit::include_system!("stuck");

struct Stuck;
impl Handler for Stuck {}

fn init() -> Stuck {
    let boots = recovery_host_tests::count_boot(region::stuck_state());
    debug_println!("stuck: boot {boots}");
    if boots == 1 {
        loop {
            std::hint::spin_loop();
        }
    }
    Stuck
}

microkit::protection_domain!(init);
