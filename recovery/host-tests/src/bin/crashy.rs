//! Crashes in `init` on its first 1000 boots, then stays up.
#![forbid(unsafe_code)]

use microkit::{Handler, debug_println};

microkit::include_system!("crashy");

struct Crashy;
impl Handler for Crashy {}

fn init() -> Crashy {
    let boots = recovery_host_tests::count_boot(region::crashy_state());
    if boots <= 1000 {
        microkit::host::test_support::raw_write(0x10);
    }
    debug_println!("crashy: boot {boots}: staying up");
    Crashy
}

microkit::protection_domain!(init);
